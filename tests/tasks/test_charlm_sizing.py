"""`hidden = "auto"`: the width rule, its measurement, and that the choice is recorded."""

import types

import pytest
import torch

from rnnlab.config import override
from rnnlab.errors import InputError
from rnnlab.tasks import charlm_sizing as S
from rnnlab.tasks.charlm import CharLMRunConfig, evaluate_checkpoint, load_charlm, train_charlm
from rnnlab.train.checkpoint import find_checkpoint, load_checkpoint
from runhelpers import rnnlab

V = 65


def cfg(**kw):
    base = dict(
        hidden="auto", layers=1, embed_dim=64, batch=64, seq_len=100, minutes=10, steps=None
    )
    return override(CharLMRunConfig(), {**base, **kw})


def quiet(*args, **kwargs):
    pass


def cost(a, b, c):
    """Timings of a machine whose step takes a + b·N(H) seconds."""
    return {h: a + b * S.parameters(c, V, h) for h in S.PROBES}


def test_the_rule_is_deterministic_and_follows_the_machine():
    c = cfg()
    slow = cost(0.05, 2e-7, c)
    first, detail = S.choose_hidden(c, V, slow)
    assert (first, detail) == S.choose_hidden(c, V, dict(slow))  # same timings, same width
    assert detail["hidden"] == first and detail["parameters"] == S.parameters(c, V, first)
    # the chosen width is the largest meeting the rule: the next one would see too few tokens
    assert detail["tokens"] >= S.TOKENS_PER_PARAMETER * detail["parameters"]
    nxt = S.WIDTHS[S.WIDTHS.index(first) + 1]
    seconds = 0.05 + 2e-7 * S.parameters(c, V, nxt)
    assert S.budget_tokens(c, seconds) < S.TOKENS_PER_PARAMETER * S.parameters(c, V, nxt)
    fast, _ = S.choose_hidden(c, V, cost(0.05, 0.5e-7, c))  # a machine 4x faster per product
    longer, _ = S.choose_hidden(cfg(minutes=40), V, slow)
    assert fast > first and longer > first
    smaller, _ = S.choose_hidden(cfg(minutes=1), V, slow)
    assert smaller < first


def test_a_steps_budget_needs_no_measurement():
    c = cfg(minutes=None, steps=2000)
    hidden, detail = S.choose_hidden(c, V, None)
    tokens = 2000 * 64 * 100
    assert detail["tokens"] == tokens and detail["timings"] == {}
    assert tokens >= S.TOKENS_PER_PARAMETER * S.parameters(c, V, hidden)
    with pytest.raises(ValueError):
        S.choose_hidden(cfg(), V, None)


def test_parameter_counts_are_exact():
    c = cfg(layers=2, embed_dim=16)
    from rnnlab.models.charlm import CharLM, CharLMConfig

    for h in (64, 96):
        model = CharLM(V, CharLMConfig.from_config(override(c, {"hidden": h})))
        assert S.parameters(c, V, h) == sum(p.numel() for p in model.parameters())


def test_step_seconds_measures_without_touching_the_rng():
    c = cfg(batch=2, seq_len=5, embed_dim=4)
    before = torch.get_rng_state()
    t = S.step_seconds(c, V, 32, batch=2, device=torch.device("cpu"), dtype=torch.float32)
    assert t > 0 and torch.equal(before, torch.get_rng_state())


def test_step_seconds_times_short_steps_until_min_seconds(monkeypatch):
    """A probe is timed for at least `min_seconds` (short steps are noisy), at least `repeats`
    steps, never more than MAX_REPEATS; the median of what was timed is returned."""
    clock = iter(k / 64 for k in range(10**6))  # each call 1/64 s later (exact in binary)
    monkeypatch.setattr(S, "time", types.SimpleNamespace(perf_counter=lambda: next(clock)))
    steps = []

    class CountingAdam(torch.optim.Adam):
        def step(self, *a, **k):
            steps.append(1)
            return super().step(*a, **k)

    monkeypatch.setattr(S.torch.optim, "Adam", CountingAdam)
    c = cfg(batch=2, seq_len=3, embed_dim=4)
    cpu, f32 = torch.device("cpu"), torch.float32
    t = S.step_seconds(c, V, 8, batch=2, device=cpu, dtype=f32, repeats=3, min_seconds=0.5)
    assert t == 1 / 64 and len(steps) == 1 + 32  # warm-up + 32 timed steps of 1/64 s
    steps.clear()
    S.step_seconds(c, V, 8, batch=2, device=cpu, dtype=f32, repeats=7, min_seconds=0.0)
    assert len(steps) == 1 + 7
    steps.clear()
    S.step_seconds(c, V, 8, batch=2, device=cpu, dtype=f32, repeats=3, min_seconds=1e9)
    assert len(steps) == 1 + S.MAX_REPEATS


def small(data, **kw):
    base = dict(
        data=str(data),
        hidden="auto",
        layers=1,
        embed_dim=8,
        batch=4,
        seq_len=8,
        steps=3,
        minutes=1,
        eval_every=0,
        precision="fp32",
        progress=False,
    )
    return override(CharLMRunConfig(), {**base, **kw})


def test_auto_is_measured_recorded_resumed_and_evaluated(tiny_corpus, tmp_path, monkeypatch):
    timings = []

    def fake_step_seconds(c, vocab, hidden, **kw):
        timings.append(hidden)
        return 1e-3 * hidden  # a made-up machine: the choice is known in advance

    monkeypatch.setattr(S, "step_seconds", fake_step_seconds)
    c = small(tiny_corpus, steps=None, minutes=0.05)
    run = tmp_path / "run"
    messages = []
    train_charlm(c, run, log=messages.append)
    assert sorted(timings) == sorted(S.PROBES)
    _, vocab, saved, ckpt = load_charlm(run)
    expected, _ = S.choose_hidden(c, len(vocab), {h: 1e-3 * h for h in S.PROBES})
    assert saved.hidden == expected and ckpt.meta["config"]["hidden"] == expected
    assert ckpt.meta["sizing"]["hidden"] == expected
    assert any(m.startswith(f"hidden auto: {expected} ") for m in messages)
    # resuming with the preset's "auto" again keeps the run's width and measures nothing
    timings.clear()
    train_charlm(
        override(c, {"minutes": 0.1}),
        run,
        resume=True,
        explicit={"hidden": "auto", "minutes": 0.1},
        log=quiet,
    )
    assert timings == []
    assert load_checkpoint(find_checkpoint(run)).meta["config"]["hidden"] == expected
    assert evaluate_checkpoint(run)["loss"] > 0


def test_a_model_cannot_be_built_with_hidden_auto():
    from rnnlab.models.charlm import CharLM, CharLMConfig

    with pytest.raises(InputError, match="auto"):
        CharLM(V, CharLMConfig(hidden="auto"))


def test_cli_accepts_auto_and_rejects_other_words(tmp_path):
    proc = rnnlab(
        "train", "charlm", "--hidden", "big", "--steps", "1", "--out", tmp_path, check=False
    )
    assert proc.returncode == 2 and "hidden" in proc.stderr and "'auto'" in proc.stderr
    assert "Traceback" not in proc.stderr
    help_text = rnnlab("train", "charlm", "--help").stdout
    assert "INT|auto" in help_text
