"""Recurrent cell math as pure functions of tensors (torch layout, gate orders as torch.nn).

Each cell is split in two so that callers can hoist the input projection over all timesteps:

* a projection, ``gi = x W_ihᵀ + b_ih`` and ``gh = h W_hhᵀ + b_hh`` (`gate_projection`);
* a pointwise part that turns ``gi`` and ``gh`` into the new state (`rnn_pointwise`,
  `lstm_pointwise`, `gru_pointwise`).

`rnn_cell`, `lstm_cell` and `gru_cell` compose the two for a single step.

Layer normalisation (Ba et al. 2016, as in haste's LayerNormLSTM): with ``ln_ih`` and
``ln_hh`` given, each whole projection is normalised over its G·H features with its own gain
and bias *before* the usual biases are added,

    gi = LN_ih(x W_ihᵀ) + b_ih,    gh = LN_hh(h W_hhᵀ) + b_hh,

and for the LSTM ``ln_c`` also normalises the new cell state before its tanh,
``h' = o ⊙ tanh(LN_c(c'))``, while ``c'`` itself is carried un-normalised.  Each ``ln_*`` is
a pair ``(gain, bias)`` of vectors as wide as what it normalises.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from rnnlab.errors import InputError

LN_EPS = 1e-5
NONLINEARITIES = ("tanh", "relu")

LayerNormParams = tuple[Tensor, Tensor]


def gate_projection(
    x: Tensor, weight: Tensor, bias: Tensor | None = None, *, ln: LayerNormParams | None = None
) -> Tensor:
    """Project an input or hidden state onto the gates, optionally layer-normalised.

    Math: ``x Wᵀ + b``, or ``LN(x Wᵀ; gain, beta) + b`` when ``ln = (gain, beta)``.

    Args:
        x: (..., K) input or hidden state.
        weight: (G·H, K) stacked gate weights.
        bias: (G·H,) or None.
        ln: (gain, beta), each (G·H,), or None for no layer norm.

    Returns:
        (..., G·H) gate pre-activations.
    """
    if ln is None:
        return F.linear(x, weight, bias)
    gates = F.linear(x, weight)  # (..., G·H)
    gates = F.layer_norm(gates, gates.shape[-1:], ln[0], ln[1], LN_EPS)
    return gates if bias is None else gates + bias


def rnn_pointwise(gi: Tensor, gh: Tensor, *, nonlinearity: str = "tanh") -> Tensor:
    """Elman RNN update from precomputed projections.

    Math: ``h' = act(gi + gh)`` with act = tanh or relu.

    Args:
        gi: (B, H) input projection ``x W_ihᵀ + b_ih``.
        gh: (B, H) recurrent projection ``h W_hhᵀ + b_hh``.
        nonlinearity: "tanh" or "relu".

    Returns:
        (B, H) new hidden state.
    """
    if nonlinearity == "tanh":
        return torch.tanh(gi + gh)
    if nonlinearity == "relu":
        return torch.relu(gi + gh)
    raise InputError(
        f"rnn_pointwise: expected nonlinearity in {NONLINEARITIES}, got {nonlinearity!r}"
    )


def lstm_pointwise(
    gi: Tensor, gh: Tensor, c: Tensor, *, ln_c: LayerNormParams | None = None
) -> tuple[Tensor, Tensor]:
    """LSTM update from precomputed projections (gate order i, f, g, o).

    Math: ``i, f, g, o = split(gi + gh)``; ``i, f, o = σ(·)``; ``g = tanh(g)``;
    ``c' = f ⊙ c + i ⊙ g``; ``h' = o ⊙ tanh(c')``, or ``o ⊙ tanh(LN_c(c'))`` with ``ln_c``.

    Args:
        gi: (B, 4H) input projection.
        gh: (B, 4H) recurrent projection.
        c: (B, H) cell state.
        ln_c: (gain, beta), each (H,), or None.

    Returns:
        ``(h', c')``, each (B, H); ``h'`` is before any output projection W_hr.
    """
    i, f, g, o = (gi + gh).chunk(4, dim=-1)  # 4 × (B, H)
    c_new = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
    c_out = c_new if ln_c is None else F.layer_norm(c_new, c_new.shape[-1:], *ln_c, LN_EPS)
    h_new = torch.sigmoid(o) * torch.tanh(c_out)
    return h_new, c_new


def gru_pointwise(gi: Tensor, gh: Tensor, h: Tensor) -> Tensor:
    """GRU update from precomputed projections (gate order r, z, n).

    Math: ``r = σ(gi_r + gh_r)``, ``z = σ(gi_z + gh_z)``, ``n = tanh(gi_n + r ⊙ gh_n)``,
    ``h' = (1 − z) ⊙ n + z ⊙ h``; ``gh_n = W_hn h + b_hn`` is why gi and gh stay separate.

    Args:
        gi: (B, 3H) input projection.
        gh: (B, 3H) recurrent projection.
        h: (B, H) hidden state.

    Returns:
        (B, H) new hidden state.
    """
    i_r, i_z, i_n = gi.chunk(3, dim=-1)  # 3 × (B, H)
    h_r, h_z, h_n = gh.chunk(3, dim=-1)
    r = torch.sigmoid(i_r + h_r)
    z = torch.sigmoid(i_z + h_z)
    n = torch.tanh(i_n + r * h_n)
    return n + z * (h - n)


def rnn_cell(
    x: Tensor,
    h: Tensor,
    w_ih: Tensor,
    w_hh: Tensor,
    b_ih: Tensor | None = None,
    b_hh: Tensor | None = None,
    *,
    nonlinearity: str = "tanh",
    ln_ih: LayerNormParams | None = None,
    ln_hh: LayerNormParams | None = None,
) -> Tensor:
    """One Elman RNN step.

    Math: ``h' = act(x W_ihᵀ + b_ih + h W_hhᵀ + b_hh)`` (layer-normalised projections with
    ``ln_ih``/``ln_hh``, see the module docstring).

    Args:
        x: (B, I) input.
        h: (B, H) hidden state.
        w_ih: (H, I); w_hh: (H, H); b_ih, b_hh: (H,) or None.
        nonlinearity: "tanh" or "relu".
        ln_ih, ln_hh: (gain, beta) pairs of shape (H,), or None.

    Returns:
        (B, H) new hidden state.
    """
    gi = gate_projection(x, w_ih, b_ih, ln=ln_ih)  # (B, H)
    gh = gate_projection(h, w_hh, b_hh, ln=ln_hh)  # (B, H)
    return rnn_pointwise(gi, gh, nonlinearity=nonlinearity)


def lstm_cell(
    x: Tensor,
    state: tuple[Tensor, Tensor],
    w_ih: Tensor,
    w_hh: Tensor,
    b_ih: Tensor | None = None,
    b_hh: Tensor | None = None,
    *,
    w_hr: Tensor | None = None,
    ln_ih: LayerNormParams | None = None,
    ln_hh: LayerNormParams | None = None,
    ln_c: LayerNormParams | None = None,
) -> tuple[Tensor, Tensor]:
    """One LSTM step, optionally with an output projection (torch's ``proj_size``).

    Math: ``i, f, g, o = split(x W_ihᵀ + b_ih + h W_hhᵀ + b_hh)``; ``c' = f ⊙ c + i ⊙ g``;
    ``h' = o ⊙ tanh(c')``, then ``h' = h' W_hrᵀ`` with ``w_hr``.  Layer norm: module docstring.

    Args:
        x: (B, I) input.
        state: ``(h, c)`` with h (B, P) (P = proj size, or H without projection) and c (B, H).
        w_ih: (4H, I); w_hh: (4H, P); b_ih, b_hh: (4H,) or None.
        w_hr: (P, H) output projection, or None.
        ln_ih, ln_hh: (gain, beta) pairs of shape (4H,); ln_c: pair of shape (H,); or None.

    Returns:
        ``(h', c')`` with h' (B, P) and c' (B, H).
    """
    h, c = state
    gi = gate_projection(x, w_ih, b_ih, ln=ln_ih)  # (B, 4H)
    gh = gate_projection(h, w_hh, b_hh, ln=ln_hh)  # (B, 4H)
    h_new, c_new = lstm_pointwise(gi, gh, c, ln_c=ln_c)  # (B, H), (B, H)
    if w_hr is not None:
        h_new = F.linear(h_new, w_hr)  # (B, P)
    return h_new, c_new


def gru_cell(
    x: Tensor,
    h: Tensor,
    w_ih: Tensor,
    w_hh: Tensor,
    b_ih: Tensor | None = None,
    b_hh: Tensor | None = None,
    *,
    ln_ih: LayerNormParams | None = None,
    ln_hh: LayerNormParams | None = None,
) -> Tensor:
    """One GRU step.

    Math: ``r, z = σ(split(x W_ihᵀ + b_ih + h W_hhᵀ + b_hh)[:2])``;
    ``n = tanh(W_in x + b_in + r ⊙ (W_hn h + b_hn))``; ``h' = (1 − z) ⊙ n + z ⊙ h``.
    Layer norm: module docstring.

    Args:
        x: (B, I) input.
        h: (B, H) hidden state.
        w_ih: (3H, I); w_hh: (3H, H); b_ih, b_hh: (3H,) or None.
        ln_ih, ln_hh: (gain, beta) pairs of shape (3H,), or None.

    Returns:
        (B, H) new hidden state.
    """
    gi = gate_projection(x, w_ih, b_ih, ln=ln_ih)  # (B, 3H)
    gh = gate_projection(h, w_hh, b_hh, ln=ln_hh)  # (B, 3H)
    return gru_pointwise(gi, gh, h)
