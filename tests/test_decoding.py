"""Greedy and sampled decoding: temperature, top-k, top-p."""

import pytest
import torch

from rnnlab.decoding import filter_logits, greedy, sample
from rnnlab.errors import InputError


def test_greedy_picks_argmax():
    logits = torch.tensor([[0.1, 2.0, -1.0], [3.0, 0.0, 2.9]])
    assert greedy(logits).tolist() == [1, 0]
    assert sample(logits, temperature=0).tolist() == [1, 0]


def test_top_k_keeps_k_largest():
    logits = torch.tensor([[1.0, 4.0, 3.0, 2.0]])
    kept = torch.isfinite(filter_logits(logits, top_k=2))
    assert kept.tolist() == [[False, True, True, False]]


def test_top_p_keeps_smallest_nucleus():
    probs = torch.tensor([[0.5, 0.3, 0.15, 0.05]])
    logits = probs.log()
    assert torch.isfinite(filter_logits(logits, top_p=0.5)).tolist() == [
        [True, False, False, False]
    ]
    assert torch.isfinite(filter_logits(logits, top_p=0.8)).tolist() == [[True, True, False, False]]
    assert torch.isfinite(filter_logits(logits, top_p=0.81)).tolist() == [[True, True, True, False]]
    # the most likely token always survives
    assert torch.isfinite(filter_logits(logits, top_p=0.01)).sum() == 1


def test_sampling_follows_distribution_and_seed():
    probs = torch.tensor([0.7, 0.2, 0.1])
    logits = probs.log().expand(20000, 3)
    gen = torch.Generator().manual_seed(0)
    draws = sample(logits, generator=gen)
    freq = torch.bincount(draws, minlength=3).float() / len(draws)
    assert torch.allclose(freq, probs, atol=0.02)
    again = sample(logits, generator=torch.Generator().manual_seed(0))
    assert torch.equal(draws, again)


def test_low_temperature_sharpens():
    logits = torch.tensor([1.0, 0.5, 0.0]).expand(5000, 3)
    gen = torch.Generator().manual_seed(1)
    cold = sample(logits, temperature=0.1, generator=gen)
    assert (cold == 0).float().mean() > 0.95


def test_top_k_never_samples_outside():
    logits = torch.randn(2000, 10, generator=torch.Generator().manual_seed(2))
    gen = torch.Generator().manual_seed(3)
    draws = sample(logits, top_k=3, generator=gen)
    top3 = torch.topk(logits, 3, dim=-1).indices
    assert (top3 == draws[:, None]).any(dim=-1).all()


@pytest.mark.parametrize(
    "kwargs, text",
    [
        ({"temperature": -1.0}, "temperature >= 0"),
        ({"top_k": 0}, "top_k >= 1"),
        ({"top_p": 0.0}, "0 < top_p <= 1"),
        ({"top_p": 1.5}, "0 < top_p <= 1"),
    ],
)
def test_bad_settings(kwargs, text):
    with pytest.raises(InputError, match=text):
        sample(torch.zeros(1, 3), **kwargs)
