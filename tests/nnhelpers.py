"""Shared pieces of the rnnlab.nn tests: torch.nn twins, oneDNN switch, comparisons."""

import torch
from torch import nn as tnn

import rnnlab.nn as rnn
from rnnlab.backends.torch_fused import onednn_off  # noqa: F401  (re-exported for tests)


def twins(kind, *args, backend="auto", seed=0, **kwargs):
    """(ours, torch.nn's) built with the same arguments; ours loads torch's weights (strict)."""
    torch.manual_seed(seed)
    theirs = getattr(tnn, kind)(*args, **kwargs)
    ours = getattr(rnn, kind)(*args, backend=backend, **kwargs)
    ours.load_state_dict(theirs.state_dict())
    return ours, theirs


def as_tuple(state):
    return state if isinstance(state, tuple) else (state,)


def assert_close(actual, expected, rtol=1e-5, atol=1e-6):
    torch.testing.assert_close(actual, expected, rtol=rtol, atol=atol)


def readout(output, state, seed=123):
    """A scalar using every output and state entry with random weights (for gradients)."""
    gen = torch.Generator().manual_seed(seed)
    total = 0.0
    for t in (output, *as_tuple(state)):
        total = total + (t * torch.randn(t.shape, generator=gen, dtype=t.dtype)).sum()
    return total
