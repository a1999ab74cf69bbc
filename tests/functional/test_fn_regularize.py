"""Regulariser pieces: inverted-dropout masks and zoneout mixing."""

import torch

from rnnlab.functional import dropout_mask, zoneout, zoneout_mask


def test_dropout_mask_values_and_rate():
    torch.manual_seed(0)
    mask = dropout_mask((200, 50), 0.25, dtype=torch.float64)
    assert set(mask.unique().tolist()) <= {0.0, 1.0 / 0.75}
    assert abs((mask == 0).float().mean().item() - 0.25) < 0.02
    assert abs(mask.mean().item() - 1.0) < 0.03


def test_dropout_mask_extremes_and_dtype():
    assert torch.equal(dropout_mask((3, 2), 0.0), torch.ones(3, 2))
    assert torch.equal(dropout_mask((3, 2), 1.0), torch.zeros(3, 2))
    assert dropout_mask((2,), 0.5, dtype=torch.float64).dtype == torch.float64


def test_zoneout_training_picks_previous_where_kept():
    prev, new = torch.zeros(2, 3), torch.ones(2, 3)
    keep = torch.tensor([[True, False, True], [False, False, True]])
    out = zoneout(prev, new, 0.5, keep=keep)
    assert torch.equal(out, (~keep).float())


def test_zoneout_evaluation_is_the_expectation():
    prev, new = torch.randn(4, 5), torch.randn(4, 5)
    torch.testing.assert_close(zoneout(prev, new, 0.3), 0.3 * prev + 0.7 * new)
    assert torch.equal(zoneout(prev, new, 0.0), new)
    torch.testing.assert_close(zoneout(prev, new, 1.0), prev)


def test_zoneout_mask_rate():
    torch.manual_seed(1)
    mask = zoneout_mask((100, 100), 0.3)
    assert mask.dtype == torch.bool
    assert abs(mask.float().mean().item() - 0.3) < 0.02
