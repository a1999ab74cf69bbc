"""CharLM: shapes, options, weight tying, one-hot input, learning."""

import pytest
import torch

from rnnlab.errors import InputError
from rnnlab.models.charlm import CharLM, CharLMConfig


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
@pytest.mark.parametrize("embed_dim", [0, 12])
def test_shapes_and_state(cell, embed_dim):
    model = CharLM(20, CharLMConfig(cell=cell, layers=2, hidden=12, embed_dim=embed_dim))
    x = torch.randint(0, 20, (7, 3))
    logits, state = model(x)
    assert logits.shape == (7, 3, 20)
    zero = model.init_state(3)
    logits2, _ = model(x, zero)
    torch.testing.assert_close(logits, logits2)
    h = state[0] if cell == "lstm" else state
    assert h.shape == (2, 3, 12)


def test_state_carries_context():
    torch.manual_seed(0)
    model = CharLM(10, CharLMConfig(hidden=16, layers=1))
    x = torch.randint(0, 10, (12, 2))
    whole, _ = model(x)
    first, state = model(x[:5])
    rest, _ = model(x[5:], state)
    torch.testing.assert_close(torch.cat([first, rest]), whole, rtol=1e-5, atol=1e-6)


def test_tied_weights_share_the_matrix():
    model = CharLM(15, CharLMConfig(hidden=8, embed_dim=8, tie_weights=True))
    assert model.decoder.weight is model.embedding.weight
    with pytest.raises(InputError, match="tie_weights needs embed_dim"):
        CharLM(15, CharLMConfig(hidden=8, embed_dim=4, tie_weights=True))


def test_projection_and_bad_options():
    model = CharLM(9, CharLMConfig(hidden=16, proj_size=6, layers=2))
    logits, (h, c) = model(torch.randint(0, 9, (4, 2)))
    assert h.shape == (2, 2, 6) and c.shape == (2, 2, 16) and logits.shape == (4, 2, 9)
    with pytest.raises(InputError, match="proj_size is for the lstm cell"):
        CharLM(9, CharLMConfig(cell="gru", proj_size=4))
    with pytest.raises(InputError, match="expected cell in lstm, gru, rnn"):
        CharLM(9, CharLMConfig(cell="transformer"))
    with pytest.raises(InputError, match=r"expected x of shape \(T, B\)"):
        model(torch.zeros(3, 2))


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
def test_overfits_one_batch(cell):
    torch.manual_seed(0)
    model = CharLM(12, CharLMConfig(cell=cell, hidden=32, layers=1, embed_dim=8))
    x = torch.randint(0, 12, (16, 4))
    y = torch.roll(x, -1, 0)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(150):
        logits, _ = model(x)
        loss = torch.nn.functional.cross_entropy(logits.flatten(0, 1), y.flatten())
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < 0.05
