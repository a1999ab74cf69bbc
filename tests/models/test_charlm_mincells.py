"""The character LM with the parallel-scan cells: carried state, options, train and sample."""

import pytest
import torch

from rnnlab.config import override
from rnnlab.errors import InputError
from rnnlab.models.charlm import CharLM, CharLMConfig
from rnnlab.models.recurrent import LockedMinStack, recurrent_layer
from rnnlab.tasks.charlm import CharLMRunConfig, generate, load_charlm, train_charlm
from rnnlab.train.checkpoint import find_checkpoint, load_checkpoint

V = 11


@pytest.mark.parametrize("cell", ["mingru", "minlstm"])
@pytest.mark.parametrize("locked", [False, True])
def test_state_carried_across_windows_equals_one_pass(cell, locked):
    torch.manual_seed(0)
    cfg = CharLMConfig(cell=cell, layers=3, hidden=7, embed_dim=5, dropout=0.2)
    cfg.locked_dropout = locked
    model = CharLM(V, cfg).double().eval()
    if locked:
        assert isinstance(model.rnn, LockedMinStack)
    x = torch.randint(V, (23, 4))
    whole, final = model(x)
    parts, state = [], None
    for lo, hi in ((0, 5), (5, 6), (6, 23)):  # TBPTT windows of uneven lengths, state carried
        out, state = model(x[lo:hi], state)
        state = state.detach()
        parts.append(out)
    torch.testing.assert_close(torch.cat(parts), whole, rtol=1e-9, atol=1e-12)
    torch.testing.assert_close(state, final, rtol=1e-9, atol=1e-12)
    assert state.shape == (3, 4, 7)
    h = model.init_state(4, dtype=torch.float64)
    assert torch.equal(h, torch.zeros(3, 4, 7, dtype=torch.float64))


def test_locked_stack_steps_as_it_scans_and_locks_its_mask():
    torch.manual_seed(1)
    import rnnlab.nn as rnn

    stack = LockedMinStack(rnn.MinGRU, 4, 6, 3, 0.5, False).double()
    x = torch.randn(9, 2, 4, dtype=torch.float64)
    stack.eval()
    y, h = stack(x)
    state = stack.init_state(2, dtype=torch.float64)
    for t in range(9):
        y_t, state = stack.step(x[t], state)
        torch.testing.assert_close(y_t, y[t], rtol=1e-9, atol=1e-12)
    torch.testing.assert_close(state, h, rtol=1e-9, atol=1e-12)
    stack.train()
    dropped = stack.drop(torch.ones(9, 2, 6, dtype=torch.float64))
    assert torch.equal(dropped[0], dropped[8])  # one mask for every timestep


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("proj_size", 3),
        ("layer_norm", True),
        ("zoneout", 0.1),
        ("weight_drop", 0.2),
        ("init", "chrono"),
        ("forget_bias", 1.0),
        ("backend", "loop"),
    ],
)
def test_options_min_cells_lack_are_clear_errors(option, value):
    with pytest.raises(InputError, match=f"mingru cell does not take {option}"):
        recurrent_layer("CharLM", "mingru", 4, 8, **{option: value})


def test_bidirectional_is_refused_by_the_layer():
    import rnnlab.nn as rnn

    with pytest.raises(InputError, match="unidirectional"):
        rnn.MinLSTM(4, 8, bidirectional=True)


@pytest.mark.parametrize("cell", ["mingru", "minlstm"])
def test_charlm_trains_resumes_and_samples_with_a_min_cell(cell, tiny_corpus, tmp_path):
    cfg = override(
        CharLMRunConfig(),
        dict(
            data=str(tiny_corpus),
            cell=cell,
            layers=2,
            hidden=16,
            embed_dim=8,
            batch=4,
            seq_len=8,
            steps=4,
            eval_every=2,
            eval_tokens=200,
            precision="fp32",
            progress=False,
        ),
    )
    run = tmp_path / "run"
    assert train_charlm(cfg, run, log=lambda *a: None).ok
    assert train_charlm(
        override(cfg, {"steps": 6}), run, resume=True, explicit={"steps": 6}, log=lambda *a: None
    ).ok
    model, vocab, saved, _ = load_charlm(run)
    latest = load_checkpoint(find_checkpoint(run)).meta
    assert saved.cell == cell and latest["trainer"]["step"] == 6
    text = generate(model, vocab, prime="a", length=30, seed=3)
    assert len(text) == 30 and text == generate(model, vocab, prime="a", length=30, seed=3)
