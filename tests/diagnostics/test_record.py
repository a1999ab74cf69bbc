"""The activation recorder against the model's own forward, chunked against one-shot."""

import inspect

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from rnnlab.diagnostics.record import (
    GATES,
    QUANTITIES,
    CellRecorder,
    check_unit,
    record,
    record_chunks,
)
from rnnlab.errors import InputError
from rnnlab.models.charlm import CharLM, CharLMConfig

V = 11
CASES = [
    ("lstm", {}),
    ("gru", {}),
    ("rnn", {}),
    ("rnn", {"nonlinearity": "relu"}),
    ("mingru", {}),
    ("minlstm", {}),
    ("lstm", {"proj_size": 3, "layer_norm": True, "zoneout": 0.2}),
    ("lstm", {"embed_dim": 0, "dropout": 0.3, "weight_drop": 0.2}),
    ("gru", {"layer_norm": True, "zoneout": 0.1}),
    ("mingru", {"dropout": 0.3, "locked_dropout": True}),
]


def model_of(cell, seed=0, **options):
    torch.manual_seed(seed)
    options = {"embed_dim": 5, **options}
    cfg = CharLMConfig(cell=cell, layers=2, hidden=6, **options)
    return CharLM(V, cfg).double().eval()


def ids_of(n, seed=1):
    return torch.randint(0, V, (n,), generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("cell, options", CASES)
def test_recording_equals_the_models_forward(cell, options):
    model = model_of(cell, **options)
    ids = ids_of(40)
    with torch.no_grad():
        logits, state = model(ids[:, None])
        e = model.embedding(ids[:, None]) if model.embedding is not None else None
        e = F.one_hot(ids[:, None], V).double() if e is None else e
        y, _ = model.rnn(e)
    rec = record(model, ids, chunk=9, top_k=4, dtype=np.float64)
    assert tuple(rec.values) == QUANTITIES[cell]
    assert all(v.dtype == np.float64 and v.shape[:2] == (2, 40) for v in rec.values.values())
    np.testing.assert_allclose(rec.values["h"][-1], y[:, 0].numpy(), rtol=0, atol=1e-12)
    h_n = state[0] if isinstance(state, tuple) else state
    np.testing.assert_allclose(rec.values["h"][:, -1], h_n[:, 0].numpy(), rtol=0, atol=1e-12)
    if cell == "lstm":
        np.testing.assert_allclose(rec.values["c"][:, -1], state[1][:, 0], rtol=0, atol=1e-12)
    top = torch.softmax(logits[:, 0], -1).topk(4, -1)
    np.testing.assert_array_equal(rec.top_ids, top.indices.numpy())
    np.testing.assert_allclose(rec.top_probs, top.values.numpy(), rtol=0, atol=1e-12)
    for gate in GATES[cell]:
        assert ((rec.values[gate] > 0) & (rec.values[gate] < 1)).all()
    h = rec.state[0] if isinstance(rec.state, tuple) else rec.state
    torch.testing.assert_close(h, h_n, rtol=0, atol=1e-12)


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_every_layers_state_at_every_chunk_boundary_equals_the_forward_on_the_prefix(cell):
    model = model_of(cell)
    ids = ids_of(24)
    for part in record_chunks(model, ids, chunk=5, dtype=np.float64):
        end = part.start + len(part)
        with torch.no_grad():
            _, state = model(ids[:end, None])
        mine = part.state if isinstance(part.state, tuple) else (part.state,)
        theirs = state if isinstance(state, tuple) else (state,)
        for a, b in zip(mine, theirs, strict=True):
            torch.testing.assert_close(a, b, rtol=0, atol=1e-12)


def test_lstm_and_gru_gates_satisfy_their_equations():
    rec = record(model_of("lstm"), ids_of(30), dtype=np.float64).values
    c_prev = np.concatenate([np.zeros_like(rec["c"][:, :1]), rec["c"][:, :-1]], 1)
    np.testing.assert_allclose(rec["c"], rec["f"] * c_prev + rec["i"] * rec["g"], atol=1e-12)
    np.testing.assert_allclose(rec["h"], rec["o"] * np.tanh(rec["c"]), atol=1e-12)
    rec = record(model_of("gru"), ids_of(30), dtype=np.float64).values
    h_prev = np.concatenate([np.zeros_like(rec["h"][:, :1]), rec["h"][:, :-1]], 1)
    np.testing.assert_allclose(rec["h"], (1 - rec["z"]) * rec["n"] + rec["z"] * h_prev, atol=1e-12)


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn", "minlstm"])
def test_chunked_recording_with_carried_state_equals_one_shot(cell):
    model = model_of(cell)
    ids = ids_of(50)
    whole = record(model, ids, chunk=10_000, top_k=3, dtype=np.float64)
    for chunk in (1, 7, 49):
        parts = record(model, ids, chunk=chunk, top_k=3, dtype=np.float64)
        for q in whole.values:
            np.testing.assert_allclose(parts.values[q], whole.values[q], rtol=0, atol=1e-13)
        np.testing.assert_array_equal(parts.top_ids, whole.top_ids)
    # a second half started from the first half's state continues the same recording
    first = record(model, ids[:20], dtype=np.float64)
    second = record(model, ids[20:], state=first.state, start=20, dtype=np.float64)
    assert second.start == 20
    for q in whole.values:
        np.testing.assert_allclose(second.values[q], whole.values[q][:, 20:], atol=1e-13)


def test_large_texts_are_streamed_chunk_by_chunk():
    model = model_of("gru").float()
    ids = np.random.default_rng(0).integers(0, V, 30_000)
    chunks = record_chunks(model, ids, chunk=4_000, dtype=np.float16)
    assert inspect.isgenerator(chunks)  # nothing is computed before it is asked for
    starts = []
    for part in chunks:
        assert len(part) <= 4_000 and part.values["h"].dtype == np.float16
        starts.append(part.start)
    assert starts == list(range(0, 30_000, 4_000))


def test_recorder_reports_widths_ranges_and_checks_units():
    recorder = CellRecorder(model_of("lstm", proj_size=3))
    assert recorder.widths == {"h": (2, 3), **{q: (2, 6) for q in "cifog"}}
    assert recorder.ranges() == {
        "h": "free",
        "c": "free",
        "g": "tanh",
        **dict.fromkeys("ifo", "gate"),
    }
    assert CellRecorder(model_of("gru")).ranges()["h"] == "tanh"
    check_unit(recorder.widths, 1, "c", 5)
    with pytest.raises(InputError, match=r"unit 6 is out of range: c has units 0..5"):
        check_unit(recorder.widths, 0, "c", 6)
    with pytest.raises(InputError, match=r"unit 3 is out of range: h has units 0..2"):
        check_unit(recorder.widths, 0, "h", 3)
    with pytest.raises(InputError, match=r"layer 2 is out of range"):
        check_unit(recorder.widths, 2, "h", 0)
    with pytest.raises(InputError, match=r"unknown quantity 'r'.*h, c, i, f, o, g"):
        check_unit(recorder.widths, 0, "r", 0)


def test_bad_inputs_are_clear_errors():
    with pytest.raises(InputError, match=r"expected a CharLM.*got Linear"):
        CellRecorder(torch.nn.Linear(2, 2))
    model = model_of("lstm")
    with pytest.raises(InputError, match=r"character ids in \[0, 11\)"):
        record(model, [0, 11])
    with pytest.raises(InputError, match="at least one character"):
        record(model, np.zeros(0, np.int64))
    with pytest.raises(InputError, match="chunk >= 1"):
        record(model, [1, 2], chunk=0)
    with pytest.raises(InputError, match="integer ids"):
        record(model, np.zeros((2, 2), np.int64))
