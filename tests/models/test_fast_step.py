"""FastStep against the CharLM module it snapshots; batched sampling against single samples."""

import itertools
from pathlib import Path

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from rnnlab import decoding
from rnnlab.cli.main import main
from rnnlab.data import CharVocab
from rnnlab.decoding import sample, sample_rows, sample_seeds
from rnnlab.errors import InputError
from rnnlab.models.charlm import CharLM, CharLMConfig
from rnnlab.models.fast_step import (
    FastStep,
    ModuleStep,
    fast_step_unsupported,
    make_stepper,
    onednn_matmul_available,
)
from rnnlab.tasks.charlm import generate, load_charlm
from rnnlab.tasks.charlm_generate import generate_batch
from runhelpers import rnnlab

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "charlm-0.1.0-step6.safetensors"
FIXTURE_SAMPLE = '\n1ivAVmL"VNkgX]vrIWrmj"sHOc\'luf.JvyPDmkk'  # prime "HAM", seed 1, 40 chars
VOCAB = 11
MATMULS = ["blas", "onednn"] if onednn_matmul_available() else ["blas"]


@pytest.fixture(autouse=True)
def one_thread():
    """One torch thread: on a busy 2-core machine each small parallel op can wait ~10 ms for
    the second thread (and `rnnlab sample` sets threads itself)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def make_model(
    cell="lstm",
    *,
    layers=2,
    hidden=6,
    embed_dim=5,
    proj_size=0,
    layer_norm=False,
    zoneout=0.0,
    tie_weights=False,
    nonlinearity="tanh",
    dtype=torch.float32,
    seed=0,
    **options,
) -> CharLM:
    """A random CharLM in eval mode, biases and layer-norm parameters drawn too."""
    torch.manual_seed(seed)
    config = CharLMConfig(
        cell=cell,
        layers=layers,
        hidden=hidden,
        embed_dim=embed_dim,
        proj_size=proj_size,
        layer_norm=layer_norm,
        zoneout=zoneout,
        tie_weights=tie_weights,
        nonlinearity=nonlinearity,
        **options,
    )
    model = CharLM(VOCAB, config).to(dtype).eval()
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "bias" in name or name.startswith("rnn.ln_"):
                p.normal_()
    return model


def assert_relative(got, expected, tol):
    """max |got − expected| ≤ tol · max |expected| (the scale of the whole tensor)."""
    scale = expected.abs().max().clamp_min(1e-30)
    err = ((got - expected).abs().max() / scale).item()
    assert err <= tol, f"relative error {err:.2e} > {tol:.0e}"


def check_against_module(model, batch, steps, *, tol, matmul="blas", seed=0):
    """Teacher-forced steps from a state the module reached: logits and states agree."""
    gen = torch.Generator().manual_seed(seed)
    x = torch.randint(0, VOCAB, (steps + 3, batch), generator=gen)
    with torch.inference_mode():
        _, state = model(x[:3])
        expected, final = model(x[3:], state)  # (T, B, V)
    stepper = FastStep.from_model(model, matmul=matmul)
    stepper.reset(state)
    for t in range(steps):
        assert_relative(stepper.step(x[3 + t]), expected[t], tol)
    got = stepper.state
    for a, b in zip(
        got if isinstance(got, tuple) else (got,),
        final if isinstance(final, tuple) else (final,),
        strict=True,
    ):
        assert_relative(a, b, tol)


CONFIGS = [
    dict(cell="lstm"),
    dict(cell="lstm", proj_size=4),
    dict(cell="lstm", proj_size=4, embed_dim=4, tie_weights=True),
    dict(cell="lstm", layer_norm=True, zoneout=0.3),
    dict(cell="lstm", layer_norm=True, proj_size=3, zoneout=0.2, embed_dim=0),
    # training-only regularisers and initialisations: nothing to compute in evaluation
    dict(cell="lstm", weight_drop=0.5, dropout=0.3, locked_dropout=True, init="chrono", t_max=9),
    dict(cell="lstm", forget_bias=1.0, init="orthogonal", dropout=0.2, backend="loop"),
    dict(cell="gru"),
    dict(cell="gru", embed_dim=0, layers=3),
    dict(cell="gru", layer_norm=True, zoneout=0.4),
    dict(cell="gru", embed_dim=6, tie_weights=True),
    dict(cell="gru", weight_drop=0.4, dropout=0.5, init="chrono", t_max=5, zoneout=0.1),
    dict(cell="rnn"),
    dict(cell="rnn", nonlinearity="relu", layers=3),
    dict(cell="rnn", layer_norm=True, zoneout=0.25, embed_dim=0),
    dict(cell="rnn", nonlinearity="relu", layer_norm=True, embed_dim=6, tie_weights=True),
]


@pytest.mark.parametrize("batch", [1, 3])
@pytest.mark.parametrize(
    "options", CONFIGS, ids=lambda o: "-".join(f"{k}={v}" for k, v in o.items())
)
def test_float64_steps_are_the_module_math(options, batch):
    """In float64 the stepper and the module agree to rounding: the same math, every option."""
    model = make_model(dtype=torch.float64, **options)
    check_against_module(model, batch, 6, tol=1e-12)


@pytest.mark.parametrize("matmul", MATMULS)
@given(
    cell=st.sampled_from(["lstm", "gru", "rnn_tanh", "rnn_relu"]),
    layers=st.integers(1, 3),
    hidden=st.integers(1, 9),
    embed_dim=st.sampled_from([0, 3, "tied"]),
    proj=st.integers(0, 3),
    layer_norm=st.booleans(),
    zoneout=st.sampled_from([0.0, 0.15, 0.5]),
    batch=st.integers(1, 5),
    seed=st.integers(0, 2**16),
)
def test_float32_steps_match_the_module(
    matmul, cell, layers, hidden, embed_dim, proj, layer_norm, zoneout, batch, seed
):
    """Logits and states at every step within fp32 1e-5 relative, random configs and data."""
    kind, _, nonlinearity = cell.partition("_")
    proj_size = min(proj, hidden - 1) if kind == "lstm" else 0
    out = proj_size or hidden
    model = make_model(
        kind,
        layers=layers,
        hidden=hidden,
        embed_dim=out if embed_dim == "tied" else embed_dim,
        tie_weights=embed_dim == "tied",
        proj_size=proj_size,
        layer_norm=layer_norm,
        zoneout=zoneout,
        nonlinearity=nonlinearity or "tanh",
        seed=seed,
    )
    check_against_module(model, batch, 5, tol=1e-5, matmul=matmul, seed=seed)


def test_the_preset_shape_steps_exactly_at_batch_one_and_many():
    """The cpu-small shape (1 LSTM layer, embed 64, vocab 65), scaled down in width."""
    torch.manual_seed(1)
    model = CharLM(65, CharLMConfig(cell="lstm", layers=1, hidden=96, embed_dim=64)).eval()
    for batch, matmul in itertools.product([1, 8], MATMULS):
        check_against_module(model, batch, 8, tol=1e-5, matmul=matmul)


def test_reset_repeats_a_batch_one_state_and_checks_shapes():
    model = make_model("lstm", layers=2, hidden=5)
    stepper = FastStep.from_model(model)
    h, c = torch.randn(2, 1, 5), torch.randn(2, 1, 5)
    stepper.reset((h, c), 4)
    got_h, got_c = stepper.state
    assert got_h.shape == (2, 4, 5)
    torch.testing.assert_close(got_h, h.expand(2, 4, 5))
    torch.testing.assert_close(got_c, c.expand(2, 4, 5))
    with pytest.raises(InputError, match=r"expected h of shape \(2, 4, 5\)"):
        stepper.reset((torch.zeros(3, 4, 5), torch.zeros(2, 4, 5)))


def test_unsupported_models_fall_back_to_stepping_the_module():
    model = make_model("gru")
    assert fast_step_unsupported(model) is None
    assert isinstance(make_stepper(model), FastStep)
    assert isinstance(make_stepper(model, kind="module"), ModuleStep)

    model.train()
    assert "training mode" in fast_step_unsupported(model)
    assert isinstance(make_stepper(model), ModuleStep)
    with pytest.raises(InputError, match="FastStep: cannot step this model exactly"):
        make_stepper(model, kind="fast")
    model.eval()

    class Scaled(CharLM):
        def forward(self, x, state=None):
            logits, state = super().forward(x, state)
            return 2 * logits, state

    assert "overrides CharLM.forward" in fast_step_unsupported(Scaled(VOCAB, model.config))
    half = make_model("lstm").to(torch.bfloat16)
    assert "bfloat16" in fast_step_unsupported(half)
    with pytest.raises(InputError, match="expected stepper in auto, fast, module"):
        make_stepper(model, kind="turbo")


def test_module_fallback_samples_what_the_module_computes():
    """A model FastStep refuses (a torch.nn.LSTM inside) still samples, by its module."""
    model = make_model("lstm", layers=1, hidden=7)
    plain = torch.nn.LSTM(5, 7)
    plain.load_state_dict(model.rnn.state_dict())
    model.rnn = plain
    assert "not an rnnlab.nn RNN, LSTM or GRU" in fast_step_unsupported(model)
    stepper = make_stepper(model)
    assert isinstance(stepper, ModuleStep)
    x = torch.randint(0, VOCAB, (6, 2))
    with torch.inference_mode():
        expected, _ = model(x)
    stepper.reset(None, 2)
    for t in range(6):
        torch.testing.assert_close(stepper.step(x[t]), expected[t])
    vocab = CharVocab("abcdefghij\n")
    assert len(generate(model, vocab, length=20, seed=3)) == 20


VOCABS = {"newline": CharVocab("abcdefghij\n"), "no newline": CharVocab("abcdefghijk")}
SETTINGS = [
    dict(),
    dict(temperature=0.7),
    dict(top_k=3),
    dict(top_p=0.8, temperature=1.3),
    dict(top_k=5, top_p=0.9, temperature=0.5),
    dict(temperature=0),
]


@pytest.mark.parametrize("settings", SETTINGS, ids=str)
def test_batched_samples_equal_single_samples(settings):
    """Sample i of a batch is the single sample with seed s_i, top-k/top-p/temperature too;
    without a newline in the vocabulary each sample draws its own first character."""
    model = make_model("lstm", layers=2, hidden=8, seed=4)
    seeds = [7, 3, 11]
    for vocab, prime in [(VOCABS["newline"], "abc"), (VOCABS["no newline"], "")]:
        batch = generate_batch(model, vocab, seeds=seeds, prime=prime, length=30, **settings)
        singles = [
            generate(model, vocab, seed=s, prime=prime, length=30, **settings) for s in seeds
        ]
        assert batch == singles
    vocab = VOCABS["newline"]
    assert generate_batch(model, vocab, num_samples=2, seed=5, length=12, **settings) == [
        generate(model, vocab, seed=s, length=12, **settings) for s in (5, 6)
    ]


def test_fast_and_module_steppers_draw_the_same_text():
    for cell in ("lstm", "gru", "rnn"):
        model = make_model(cell, layers=2, hidden=10, layer_norm=cell == "gru", seed=2)
        vocab = VOCABS["newline"]
        fast = generate_batch(model, vocab, seeds=[1, 2, 3, 4], prime="ab", length=40)
        module = generate_batch(
            model, vocab, seeds=[1, 2, 3, 4], prime="ab", length=40, stepper="module"
        )
        assert fast == module


def test_rows_draw_as_single_rows_with_their_own_generators(monkeypatch):
    logits = torch.randn(5, 13) * 2
    for settings, race in itertools.product(SETTINGS, [True, False]):
        monkeypatch.setattr(decoding, "_race_is_multinomial", lambda vocab, device, race=race: race)
        ours = [torch.Generator().manual_seed(s) for s in range(5)]
        theirs = [torch.Generator().manual_seed(s) for s in range(5)]
        for _ in range(4):
            got = sample_rows(logits, ours, **settings).tolist()
            expected = [
                int(sample(logits[b : b + 1], generator=g, **settings))
                for b, g in enumerate(theirs)
            ]
            assert got == expected
        assert all(
            torch.equal(a.get_state(), b.get_state()) for a, b in zip(ours, theirs, strict=True)
        )
    with pytest.raises(InputError, match="one generator per row"):
        sample_rows(logits, ours[:2])


def test_seeds_and_their_checks():
    assert sample_seeds(10, 3) == [10, 11, 12]
    assert len(set(sample_seeds(None, 4))) == 4
    for bad in (0, -1):
        with pytest.raises(InputError, match="num_samples >= 1"):
            sample_seeds(1, bad)
    model, vocab = make_model(), VOCABS["newline"]
    with pytest.raises(InputError, match="expected 3 seeds"):
        generate_batch(model, vocab, num_samples=3, seeds=[1, 2], length=3)
    with pytest.raises(InputError, match="num_samples >= 1"):
        generate_batch(model, vocab, num_samples=0, length=3)


def test_old_fixture_samples_as_before():
    """The 0.1.0 checkpoint's sample (tests/train/test_checkpoint_compat.py) is unchanged."""
    model, vocab, _, _ = load_charlm(FIXTURE)
    for stepper in ("auto", "fast", "module"):
        assert (
            generate(model, vocab, prime="HAM", length=40, seed=1, stepper=stepper)
            == FIXTURE_SAMPLE
        )
    batch = generate_batch(model, vocab, prime="HAM", length=40, seeds=[1, 9, 1])
    assert batch[0] == batch[2] == FIXTURE_SAMPLE and batch[1] != FIXTURE_SAMPLE


def test_cli_prints_several_samples_with_headers(capsys):
    assert (
        main(
            [
                "sample",
                str(FIXTURE),
                "--prime",
                "HAM",
                "--length",
                "40",
                "--seed",
                "1",
                "--num-samples",
                "2",
            ]
        )
        == 0
    )
    out, err = capsys.readouterr()
    texts = [FIXTURE_SAMPLE, generate(*load_charlm(FIXTURE)[:2], prime="HAM", length=40, seed=2)]
    expected = [f"--- sample {i} (seed {i + 1}) ---\nHAM{t}\n" for i, t in enumerate(texts)]
    assert out == "".join(expected)
    assert "2 samples, 80 characters" in err and "chars/s in total" in err and "per sample" in err


def test_cli_rejects_no_samples():
    proc = rnnlab("sample", FIXTURE, "--num-samples", "0", check=False)
    assert proc.returncode == 2 and proc.stdout == ""
    assert "expected --num-samples >= 1, got 0" in proc.stderr and "Traceback" not in proc.stderr


def test_stepping_weights_follow_changes_to_the_model():
    """The weights in stepping form are cached per model and rebuilt when a parameter changes."""
    model = make_model("lstm", layers=2, hidden=6)
    x = torch.randint(0, VOCAB, (4, 2))
    first = FastStep.from_model(model)
    assert FastStep.from_model(model).weights is first.weights
    with torch.no_grad():
        model.rnn.weight_hh_l1.mul_(2)
        model.embedding.weight.add_(1)
    again = FastStep.from_model(model)
    assert again.weights is not first.weights
    with torch.inference_mode():
        expected, _ = model(x)
    again.reset(None, 2)
    for t in range(4):
        assert_relative(again.step(x[t]), expected[t], 1e-5)
    model.decoder = torch.nn.Linear(6, VOCAB)
    assert FastStep.from_model(model).weights is not again.weights


def test_min_cells_sample_through_the_module_fallback():
    """Parallel-scan min cells are not FastStep's: they step their module, batched alike."""
    from rnnlab.models.recurrent import CELLS

    if "mingru" not in CELLS:
        pytest.skip("this version has no min cells")
    model = CharLM(VOCAB, CharLMConfig(cell="mingru", layers=2, hidden=8)).eval()
    assert isinstance(make_stepper(model), ModuleStep)
    vocab = VOCABS["newline"]
    batch = generate_batch(model, vocab, seeds=[1, 2, 3], prime="ab", length=20)
    assert batch == [generate(model, vocab, seed=s, prime="ab", length=20) for s in (1, 2, 3)]
