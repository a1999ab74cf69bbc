"""Initialisation schemes for recurrent weights (``init=`` of the cells and layers).

* ``"torch"``: torch.nn's default, every torch-named weight and bias ~ U(−1/√H, 1/√H), drawn
  in torch's registration order (l0: w_ih, w_hh, b_ih, b_hh, w_hr; l0_reverse; l1; …), so
  ``torch.manual_seed(s)`` gives the very weights torch.nn does.
* ``"orthogonal"``: each gate block (H rows) of W_hh orthogonal (semi-orthogonal when it is
  not square, e.g. with proj_size), each gate block of W_ih Xavier-uniform (fan_in = I,
  fan_out = H), W_hr orthogonal, biases zero.
* ``"chrono"`` (Tallec & Ollivier 2018, needs ``t_max``): weights and other biases as
  ``"torch"``; LSTM ``b_f = log(U(1, t_max − 1))``, ``b_i = −b_f``; GRU, whose update gate z
  plays the role of the forget gate (``h' = (1 − z) ⊙ n + z ⊙ h``), ``b_z = log(U(1,
  t_max − 1))``, so ``z = u / (1 + u)`` starts near 1 with forgetting time ``1 / (1 − z) =
  1 + u`` in [2, t_max].  The value goes into b_ih; the same slice of b_hh is zeroed, so the
  total bias is the chrono value.  Vanilla RNNs have no gate: chrono is an error for them.
* ``forget_bias`` (LSTM, with ``"torch"`` or ``"orthogonal"``): after the scheme, the forget
  slice of b_ih is set to the value and that of b_hh to 0, so the total forget bias equals it.

Layer-norm gains start at 1 and their biases at 0 under every scheme.
"""

from __future__ import annotations

import math
import numbers

import torch
from torch import nn

from rnnlab.backends.contract import GATES, LayerWeights
from rnnlab.errors import InputError

SCHEMES = ("torch", "orthogonal", "chrono")

# Index (among the G gate blocks) of the gate that sets how long memory lasts: the LSTM's
# forget gate f (order i, f, g, o) and the GRU's update gate z (order r, z, n).
_FORGET_GATE = {"lstm": 1, "gru": 1}
_INPUT_GATE = 0  # the LSTM's input gate i


def check_init(
    owner: str,
    mode: str,
    scheme: str,
    *,
    bias: bool,
    t_max: float | None,
    forget_bias: float | None,
) -> None:
    """Fail early, naming ``owner``, on an init request that cannot be honoured."""
    if scheme not in SCHEMES:
        raise InputError(f"{owner}: expected init in {SCHEMES}, got {scheme!r}")
    if scheme == "chrono":
        if mode not in _FORGET_GATE:
            raise InputError(f"{owner}: init='chrono' sets gate biases; a vanilla RNN has none")
        if t_max is None:
            raise InputError(f"{owner}: init='chrono' needs t_max (the longest dependency)")
        if isinstance(t_max, bool) or not isinstance(t_max, numbers.Real) or not t_max >= 2:
            raise InputError(f"{owner}: expected t_max to be a number ≥ 2, got {t_max!r}")
        if forget_bias is not None:
            raise InputError(
                f"{owner}: forget_bias and init='chrono' both set the forget-gate bias; choose one"
            )
    elif t_max is not None:
        raise InputError(f"{owner}: t_max is used only with init='chrono', got init={scheme!r}")
    if forget_bias is not None and (
        isinstance(forget_bias, bool) or not isinstance(forget_bias, numbers.Real)
    ):
        raise InputError(f"{owner}: expected forget_bias to be a number, got {forget_bias!r}")
    if not bias and (scheme == "chrono" or forget_bias is not None):
        what = "init='chrono'" if scheme == "chrono" else "forget_bias"
        raise InputError(f"{owner}: {what} needs biases, but bias=False")


def _gate_slice(hidden_size: int, gate: int) -> slice:
    return slice(gate * hidden_size, (gate + 1) * hidden_size)


@torch.no_grad()
def _orthogonal_(w: LayerWeights, gates: int) -> None:
    for block in w.w_hh.chunk(gates):  # G × (H, P)
        nn.init.orthogonal_(block)
    for block in w.w_ih.chunk(gates):  # G × (H, I)
        nn.init.xavier_uniform_(block)
    if w.w_hr is not None:
        nn.init.orthogonal_(w.w_hr)
    for b in (w.b_ih, w.b_hh):
        if b is not None:
            b.zero_()


@torch.no_grad()
def _chrono_(w: LayerWeights, mode: str, hidden_size: int, t_max: float) -> None:
    # b = log(U(1, t_max − 1)), (H,)
    b = torch.empty(hidden_size, dtype=w.b_ih.dtype, device=w.b_ih.device)
    b.uniform_(1.0, t_max - 1.0).log_()
    forget = _gate_slice(hidden_size, _FORGET_GATE[mode])
    w.b_ih[forget] = b
    w.b_hh[forget] = 0.0
    if mode == "lstm":
        input_gate = _gate_slice(hidden_size, _INPUT_GATE)
        w.b_ih[input_gate] = -b
        w.b_hh[input_gate] = 0.0


@torch.no_grad()
def init_weights_(
    weights: list[LayerWeights],
    mode: str,
    hidden_size: int,
    *,
    scheme: str = "torch",
    t_max: float | None = None,
    forget_bias: float | None = None,
) -> None:
    """Initialise a stack's weights in place (see the module docstring for the schemes).

    Args:
        weights: the layer-directions in torch's order (l0, l0_reverse, l1, …); their
            tensors are the parameters to fill.
        mode: "rnn_tanh", "rnn_relu", "lstm" or "gru".
        hidden_size: H.
        scheme: "torch", "orthogonal" or "chrono" (validated by `check_init`).
        t_max: longest dependency for "chrono".
        forget_bias: total LSTM forget-gate bias, or None to keep the scheme's.
    """
    if scheme == "orthogonal":
        for w in weights:
            _orthogonal_(w, GATES[mode])
    else:
        bound = 1.0 / math.sqrt(hidden_size)
        for w in weights:
            for t in w.torch_order():
                nn.init.uniform_(t, -bound, bound)
    if scheme == "chrono":
        for w in weights:
            _chrono_(w, mode, hidden_size, t_max)
    if forget_bias is not None:
        forget = _gate_slice(hidden_size, _FORGET_GATE[mode])
        for w in weights:
            w.b_ih[forget] = forget_bias
            w.b_hh[forget] = 0.0
    for w in weights:
        for ln in (w.ln_ih, w.ln_hh, w.ln_c):
            if ln is not None:
                ln[0].fill_(1.0)
                ln[1].zero_()
