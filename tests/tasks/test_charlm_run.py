"""The trainer through the character LM run: budgets, resume, signals, non-finite loss."""

import json
import signal

import pytest
import torch

from rnnlab.config import override
from rnnlab.errors import CheckpointError, InputError
from rnnlab.tasks.charlm import CharLMRunConfig, load_charlm, train_charlm
from rnnlab.tasks.lm import LMTask
from rnnlab.train.checkpoint import find_checkpoint, load_checkpoint
from runhelpers import interrupt_at


def small_cfg(data, **kw):
    base = dict(
        data=str(data),
        hidden=16,
        layers=2,
        embed_dim=8,
        dropout=0.1,  # exercises the RNG: resume must restore it
        batch=4,
        seq_len=8,
        steps=24,
        minutes=None,
        log_every=1,
        eval_every=10,
        eval_tokens=500,
        checkpoint_every=7,
        precision="fp32",
        progress=False,
        lr=3e-3,
        warmup=3,
    )
    base.update(kw)
    return override(CharLMRunConfig(), base)


def train_losses(run_dir):
    lines = (run_dir / "metrics.jsonl").read_text().splitlines()
    records = [json.loads(line) for line in lines]
    return {r["step"]: r["loss"] for r in records if r["split"] == "train"}


def quiet(*args, **kwargs):
    pass


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_interrupted_and_resumed_run_equals_uninterrupted(tiny_corpus, tmp_path, monkeypatch, sig):
    cfg = small_cfg(tiny_corpus)
    full = train_charlm(cfg, tmp_path / "full", log=quiet)
    assert full.stopped == "steps" and full.step == 24

    with monkeypatch.context() as m:
        interrupt_at(m, LMTask, 11, sig)
        part = train_charlm(cfg, tmp_path / "part", log=quiet)
    assert part.stopped == "signal" and part.step == 11
    assert signal.Signals(sig).name in part.message and "--resume" in part.message
    assert load_checkpoint(find_checkpoint(tmp_path / "part")).meta["trainer"]["step"] == 11

    resumed = train_charlm(cfg, tmp_path / "part", resume=True, log=quiet)
    assert resumed.stopped == "steps" and resumed.step == 24
    assert train_losses(tmp_path / "part") == train_losses(tmp_path / "full")
    a, _, _, _ = load_charlm(tmp_path / "full")
    b, _, _, _ = load_charlm(tmp_path / "part")
    for (name, p), q in zip(a.state_dict().items(), b.state_dict().values(), strict=True):
        assert torch.equal(p, q), name


def test_non_finite_loss_stops_and_keeps_last_good_checkpoint(tiny_corpus, tmp_path, monkeypatch):
    original = LMTask.train_loss
    calls = {"n": 0}

    def poisoned(self, model):
        calls["n"] += 1
        loss, n = original(self, model)
        return (loss * float("nan"), n) if calls["n"] == 10 else (loss, n)

    monkeypatch.setattr(LMTask, "train_loss", poisoned)
    result = train_charlm(small_cfg(tiny_corpus), tmp_path / "run", log=quiet)
    assert not result.ok and result.stopped == "non-finite"
    assert "step 10" in result.message and "nan" in result.message
    ckpt = load_checkpoint(find_checkpoint(tmp_path / "run"))
    assert ckpt.meta["trainer"]["step"] == 7  # the last periodic checkpoint before the failure
    assert all(torch.isfinite(t).all() for t in ckpt.model_state.values())


def test_minutes_budget_counts_whole_run(tiny_corpus, tmp_path):
    cfg = small_cfg(tiny_corpus, steps=None, minutes=0.01, eval_every=0)
    result = train_charlm(cfg, tmp_path / "run", log=quiet)
    assert result.stopped == "minutes" and result.elapsed >= 0.6
    again = train_charlm(cfg, tmp_path / "run", resume=True, log=quiet)
    assert again.step == result.step  # the budget was already spent


def test_resume_on_empty_directory_starts_fresh(tiny_corpus, tmp_path):
    messages = []
    result = train_charlm(
        small_cfg(tiny_corpus, steps=3), tmp_path / "new", resume=True, log=messages.append
    )
    assert result.step == 3
    assert any("starting a fresh run" in m for m in messages)


def test_existing_run_needs_resume(tiny_corpus, tmp_path):
    cfg = small_cfg(tiny_corpus, steps=2)
    train_charlm(cfg, tmp_path / "run", log=quiet)
    with pytest.raises(InputError, match="already holds a run; pass --resume"):
        train_charlm(cfg, tmp_path / "run", log=quiet)


def test_resume_with_different_model_is_a_clear_error(tiny_corpus, tmp_path):
    cfg = small_cfg(tiny_corpus, steps=2)
    train_charlm(cfg, tmp_path / "run", log=quiet)
    with pytest.raises(CheckpointError, match="hidden: run has 16, asked for 32"):
        train_charlm(cfg, tmp_path / "run", resume=True, explicit={"hidden": 32}, log=quiet)
    # budgets may change: extend the run
    longer = train_charlm(cfg, tmp_path / "run", resume=True, explicit={"steps": 4}, log=quiet)
    assert longer.step == 4


def test_early_stopping(tiny_corpus, tmp_path):
    cfg = small_cfg(tiny_corpus, lr=0.0, warmup=0, eval_every=2, patience=2, steps=50)
    result = train_charlm(cfg, tmp_path / "run", log=quiet)
    assert result.stopped == "early-stopping" and result.step == 6
    assert "has not improved" in result.message


def test_run_directory_contents(tiny_corpus, tmp_path):
    train_charlm(small_cfg(tiny_corpus, steps=8), tmp_path / "run", log=quiet)
    run = tmp_path / "run"
    assert json.loads((run / "config.json").read_text())["hidden"] == 16
    assert (run / "loss.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    records = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    assert {r["split"] for r in records} == {"train", "val"}
    assert all(
        {"loss", "bpc", "tokens_per_s", "lr"} <= r.keys() for r in records if r["split"] == "train"
    )
    ckpt = load_checkpoint(find_checkpoint(run))
    assert ckpt.meta["vocab"]["type"] == "char"
    assert ckpt.meta["config"]["hidden"] == 16
    assert {"python", "numpy", "torch"} <= set(ckpt.meta["rng"])


def test_logged_losses_match_when_interrupted_between_log_lines(tiny_corpus, tmp_path, monkeypatch):
    """The loss window of the train log is part of the checkpoint."""
    cfg = small_cfg(tiny_corpus, log_every=5)
    train_charlm(cfg, tmp_path / "full", log=quiet)
    with monkeypatch.context() as m:
        interrupt_at(m, LMTask, 13)
        train_charlm(cfg, tmp_path / "part", log=quiet)
    train_charlm(cfg, tmp_path / "part", resume=True, log=quiet)
    full, part = train_losses(tmp_path / "full"), train_losses(tmp_path / "part")
    assert sorted(full) == [5, 10, 15, 20, 24]
    assert part == full


def test_resume_with_another_precision(tiny_corpus, tmp_path):
    """The carried state is restored in the parameters' dtype, whatever the run computed in."""
    cfg = small_cfg(tiny_corpus, steps=4, precision="bf16", layers=1, dropout=0.0)
    train_charlm(cfg, tmp_path / "run", log=quiet)
    saved = load_checkpoint(find_checkpoint(tmp_path / "run")).extra_tensors
    assert saved["task.carry.0"].dtype == torch.bfloat16
    result = train_charlm(
        cfg, tmp_path / "run", resume=True, explicit={"steps": 6, "precision": "fp32"}, log=quiet
    )
    assert result.ok and result.step == 6


@pytest.mark.parametrize(
    "setting, text",
    [
        ({"log_every": 0}, "log_every >= 1"),
        ({"checkpoint_every": 0}, "checkpoint_every >= 1"),
        ({"keep_checkpoints": 0}, "keep_checkpoints >= 1"),
        ({"eval_streams": 0}, "eval_streams >= 1"),
        ({"optimizer": "adamax"}, "optimizer in adam, adamw"),
        ({"steps": None, "minutes": None}, "a budget"),
        ({"val_fraction": 0.6, "test_fraction": 0.5}, "val_fraction and test_fraction"),
    ],
)
def test_bad_settings_fail_before_any_work(tiny_corpus, tmp_path, setting, text):
    with pytest.raises(InputError, match=text):
        train_charlm(small_cfg(tiny_corpus, **setting), tmp_path / "run", log=quiet)
    assert not (tmp_path / "run").exists()


def test_fresh_run_starts_a_fresh_log(tiny_corpus, tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "metrics.jsonl").write_text('{"step": 99, "split": "train", "loss": 9.0}\n')
    train_charlm(small_cfg(tiny_corpus, steps=3), run, log=quiet)
    assert max(train_losses(run)) == 3


def test_resume_notices_a_changed_corpus(tiny_corpus, tmp_path):
    cfg = small_cfg(tiny_corpus, steps=2)
    train_charlm(cfg, tmp_path / "run", log=quiet)
    text = tiny_corpus.read_text()
    tiny_corpus.write_text(text[::-1])  # same characters, other text
    with pytest.raises(CheckpointError, match="changed since the run started"):
        train_charlm(cfg, tmp_path / "run", resume=True, explicit={"steps": 4}, log=quiet)


def test_resume_from_a_checkpoint_that_does_not_fit(tiny_corpus, tmp_path):
    from rnnlab.train.checkpoint import save_run_checkpoint

    cfg = small_cfg(tiny_corpus, steps=2)
    train_charlm(cfg, tmp_path / "run", log=quiet)
    ckpt = load_checkpoint(find_checkpoint(tmp_path / "run"))
    state = dict(ckpt.model_state)
    state.pop("decoder.bias")
    save_run_checkpoint(
        tmp_path / "run",
        3,
        model_state=state,
        optimizer_state=ckpt.optimizer_state,
        extra_tensors=ckpt.extra_tensors,
        meta={k: v for k, v in ckpt.meta.items() if k != "step"},
    )
    with pytest.raises(CheckpointError, match=r"decoder\.bias"):
        train_charlm(cfg, tmp_path / "run", resume=True, explicit={"steps": 4}, log=quiet)


def test_relative_and_absolute_data_paths_resume_alike(tiny_corpus, tmp_path, monkeypatch):
    monkeypatch.chdir(tiny_corpus.parent)
    cfg = small_cfg(tiny_corpus.name, steps=2)
    train_charlm(cfg, tmp_path / "run", log=quiet)
    result = train_charlm(
        cfg,
        tmp_path / "run",
        resume=True,
        explicit={"steps": 3, "data": str(tiny_corpus)},
        log=quiet,
    )
    assert result.step == 3


def test_generate_is_seeded_and_leaves_the_global_rng_alone(tiny_corpus, tmp_path):
    from rnnlab.tasks.charlm import generate

    train_charlm(small_cfg(tiny_corpus, steps=2), tmp_path / "run", log=quiet)
    model, vocab, _, _ = load_charlm(tmp_path / "run")
    before = torch.get_rng_state()
    chunks = []
    a = generate(model, vocab, prime="ROMEO:", length=30, seed=5, on_text=chunks.append)
    b = generate(model, vocab, prime="ROMEO:", length=30, seed=5)
    generate(model, vocab, length=10)  # unseeded
    assert torch.equal(before, torch.get_rng_state())
    assert a == b and len(a) == 30
    assert "".join(chunks) == "ROMEO:" + a


def test_resume_survives_a_damaged_metrics_log(tiny_corpus, tmp_path):
    cfg = small_cfg(tiny_corpus, steps=3)
    train_charlm(cfg, tmp_path / "run", log=quiet)
    log = tmp_path / "run" / "metrics.jsonl"
    log.write_text("garbage\n" + log.read_text())
    messages = []
    result = train_charlm(
        cfg, tmp_path / "run", resume=True, explicit={"steps": 5}, log=messages.append
    )
    assert result.step == 5
    assert any("started a new log" in m for m in messages)
    assert list((tmp_path / "run").glob("metrics.jsonl.unreadable-*"))
    assert max(train_losses(tmp_path / "run")) == 5


def test_loss_scaling_trains_and_resumes_exactly(tiny_corpus, tmp_path, monkeypatch):
    """The GradScaler path (on by default when autocasting on CUDA) forced on, on CPU."""
    cfg = small_cfg(tiny_corpus, grad_scaler=True, steps=12)
    full = train_charlm(cfg, tmp_path / "full", log=quiet)
    assert full.ok and full.step == 12
    ckpt = load_checkpoint(find_checkpoint(tmp_path / "full"))
    assert ckpt.meta["trainer"]["grad_scaler"]["scale"] > 1
    with monkeypatch.context() as m:
        interrupt_at(m, LMTask, 5)
        train_charlm(cfg, tmp_path / "part", log=quiet)
    train_charlm(cfg, tmp_path / "part", resume=True, log=quiet)
    assert train_losses(tmp_path / "part") == train_losses(tmp_path / "full")


def test_best_checkpoint_is_kept(tiny_corpus, tmp_path):
    cfg = small_cfg(tiny_corpus, steps=20, eval_every=5, keep_checkpoints=1)
    train_charlm(cfg, tmp_path / "run", log=quiet)
    records = [json.loads(x) for x in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    vals = [r for r in records if r["split"] == "val"]
    best = min(vals, key=lambda r: r["loss"])
    ckpt = load_checkpoint(tmp_path / "run" / "best.safetensors")
    assert ckpt.meta["step"] == best["step"]
    assert ckpt.meta["trainer"]["best_val"] == pytest.approx(best["loss"])
    model, _, _, _ = load_charlm(tmp_path / "run" / "best.safetensors")
    assert model.decoder.weight.shape[1] == 16
