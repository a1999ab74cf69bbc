"""The NumPy character language model: exact gradients, sampling, and that it really learns."""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from refhelpers import torch_unroll
from rnnlab.errors import InputError
from rnnlab.reference import NumpyCharLM, train_charlm

TEXT = "hello world\n" * 50


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn_tanh"])
def test_learns_a_repetitive_text(cell):
    model, losses = train_charlm(TEXT, cell=cell, hidden_size=32, steps=300, seed=1)
    assert len(losses) == 300
    uniform = math.log(model.vocab_size)
    assert np.mean(losses[:5]) > 0.5 * uniform
    assert np.mean(losses[-20:]) < 0.05 * uniform
    start = model.encode("h")[0]
    ids = model.sample(start, 48, temperature=0.2, rng=np.random.default_rng(0))
    assert "h" + model.decode(ids) == ("hello world\n" * 5)[:49]


def test_embedding_adam_and_norm_clipping_also_learn():
    model, losses = train_charlm(
        TEXT,
        cell="gru",
        hidden_size=24,
        embedding_size=8,
        steps=250,
        lr=1e-2,
        optimizer="adam",
        clip=1.0,
        clip_mode="norm",
    )
    assert "embed" in model.params
    assert np.mean(losses[-20:]) < 0.1 * math.log(model.vocab_size)
    ids = model.sample(model.encode("w")[0], 11, temperature=0.0)
    assert model.decode(ids) == "orld\nhello "


@pytest.mark.parametrize(("cell", "embedding"), [("lstm", None), ("gru", 5), ("rnn_relu", 3)])
def test_loss_and_grads_match_torch(cell, embedding):
    model = NumpyCharLM(6, 4, cell=cell, embedding_size=embedding, seed=3)
    rng = np.random.default_rng(4)
    inputs = rng.integers(0, 6, (7, 2))
    inputs[3] = inputs[0]
    targets = rng.integers(0, 6, (7, 2))
    h0 = rng.standard_normal((2, 4))
    state = (h0, rng.standard_normal((2, 4))) if cell == "lstm" else h0
    loss, grads, new_state = model.loss_and_grads(inputs, targets, state)

    t = {k: torch.tensor(v, requires_grad=True) for k, v in model.params.items()}
    ids = torch.from_numpy(inputs)
    x = t["embed"][ids] if embedding else F.one_hot(ids, 6).double()
    tstate = tuple(map(torch.tensor, state if cell == "lstm" else (state,)))
    hs, final = torch_unroll(cell, x, tstate, t)
    logits = hs @ t["w_out"].T + t["b_out"]
    ref = F.cross_entropy(logits.reshape(-1, 6), torch.from_numpy(targets).reshape(-1))
    ref.backward()
    assert loss == pytest.approx(ref.item(), rel=1e-12)
    assert set(grads) == set(model.params)
    for k, p in t.items():
        np.testing.assert_allclose(grads[k], p.grad.numpy(), rtol=1e-9, atol=1e-12, err_msg=k)
    mine = new_state if cell == "lstm" else (new_state,)
    for a, b in zip(mine, final, strict=True):
        np.testing.assert_allclose(a, b.detach().numpy(), rtol=1e-12)


def test_sampling_is_seeded_and_respects_temperature():
    model = NumpyCharLM(5, 8, cell="lstm", seed=0)
    a = model.sample(1, 30, rng=np.random.default_rng(5))
    b = model.sample(1, 30, rng=np.random.default_rng(5))
    c = model.sample(1, 30, rng=np.random.default_rng(6))
    assert a == b
    assert a != c
    assert all(0 <= i < 5 for i in a)
    greedy = model.sample(1, 10, temperature=0.0)
    assert model.sample(1, 10, temperature=1e-3, rng=np.random.default_rng(7)) == greedy


def test_training_callback_and_wraparound():
    calls = []
    model, losses = train_charlm(
        "abcab",
        cell="rnn_tanh",
        hidden_size=3,
        seq_length=2,
        steps=7,
        log_every=3,
        callback=lambda step, loss, m: calls.append((step, m)),
    )
    assert [s for s, _ in calls] == [3, 6]
    assert all(m is model for _, m in calls)
    assert len(losses) == 7
    assert model.decode(model.encode("cab")) == "cab"


def test_charlm_rejects_bad_input():
    with pytest.raises(InputError, match=r"NumpyCharLM: expected cell to be one of"):
        NumpyCharLM(5, 4, cell="tcn")
    with pytest.raises(InputError, match=r"NumpyCharLM: expected positive sizes"):
        NumpyCharLM(0, 4)
    model = NumpyCharLM(5, 4, chars="abcde")
    with pytest.raises(InputError, match=r"expected inputs in \[0, 5\)"):
        model.loss_and_grads([0, 5], [1, 2])
    with pytest.raises(InputError, match=r"expected targets of shape \(2, 1\), got \(3, 1\)"):
        model.loss_and_grads([0, 1], [1, 2, 3])
    with pytest.raises(InputError, match=r"NumpyCharLM.encode: character 'z' not in vocab"):
        model.encode("az")
    with pytest.raises(InputError, match=r"NumpyCharLM.decode: the model was built without"):
        NumpyCharLM(5, 4).decode([0])
    with pytest.raises(InputError, match=r"NumpyCharLM.sample: expected temperature >= 0"):
        model.sample(0, 3, temperature=-1.0)
    with pytest.raises(InputError, match=r"train_charlm: expected seq_length >= 1 and a text"):
        train_charlm("abc", seq_length=5)
    with pytest.raises(InputError, match=r"train_charlm: expected optimizer to be one of"):
        train_charlm(TEXT, optimizer="rmsprop")
