"""unroll: plain loop, lengths (frozen state, zero output), reverse, tuple inputs."""

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from rnnlab.errors import InputError
from rnnlab.functional import lstm_cell, rnn_cell, unroll


def rnn_step(w_ih, w_hh):
    def step(x, h):
        h = rnn_cell(x, h, w_ih, w_hh)
        return h, h

    return step


def test_unroll_equals_manual_loop_both_directions():
    torch.manual_seed(0)
    xs, h0 = torch.randn(5, 3, 2), torch.randn(3, 4)
    w_ih, w_hh = torch.randn(4, 2), torch.randn(4, 4)
    step = rnn_step(w_ih, w_hh)
    for reverse in (False, True):
        ys, h = unroll(step, xs, h0, reverse=reverse)
        expected, state = [None] * 5, h0
        for t in reversed(range(5)) if reverse else range(5):
            state = rnn_cell(xs[t], state, w_ih, w_hh)
            expected[t] = state
        torch.testing.assert_close(ys, torch.stack(expected))
        torch.testing.assert_close(h, state)


@given(
    steps=st.integers(1, 6),
    lengths=st.lists(st.integers(1, 6), min_size=1, max_size=4),
    reverse=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_lengths_equal_running_each_sequence_alone(steps, lengths, reverse, seed):
    lengths = [min(n, steps) for n in lengths]
    torch.manual_seed(seed)
    batch = len(lengths)
    xs = torch.randn(steps, batch, 2)
    h0, c0 = torch.randn(batch, 3), torch.randn(batch, 3)
    w_ih, w_hh = torch.randn(12, 2), torch.randn(12, 3)

    def step(x, state):
        h, c = lstm_cell(x, state, w_ih, w_hh)
        return h, (h, c)

    ys, (h, c) = unroll(step, xs, (h0, c0), torch.tensor(lengths), reverse=reverse)
    for b, n in enumerate(lengths):
        alone, (hb, cb) = unroll(
            step, xs[:n, b : b + 1], (h0[b : b + 1], c0[b : b + 1]), reverse=reverse
        )
        torch.testing.assert_close(ys[:n, b], alone[:, 0])
        assert torch.equal(ys[n:, b], torch.zeros_like(ys[n:, b]))
        torch.testing.assert_close(h[b], hb[0])
        torch.testing.assert_close(c[b], cb[0])


def test_tuple_inputs_are_sliced_together():
    xs = (torch.arange(4.0).view(4, 1), 10 * torch.arange(4.0).view(4, 1))

    def step(x, total):
        a, b = x
        total = total + a + b
        return total, total

    ys, final = unroll(step, xs, torch.zeros(1))
    assert ys.squeeze(1).tolist() == [0.0, 11.0, 33.0, 66.0]
    assert final.item() == 66.0


def test_zero_steps_fail_early():
    with pytest.raises(InputError, match="unroll: expected at least one time step"):
        unroll(lambda x, h: (h, h), torch.zeros(0, 2, 3), torch.zeros(2, 3))
