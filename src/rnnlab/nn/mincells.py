"""minGRU and minLSTM (Feng et al. 2024, "Were RNNs All We Needed?"): parallel-scan recurrences.

Every gate depends on the input x_t only, never on h_{t−1}, so each layer is a linear
recurrence ``h_t = a_t ⊙ h_{t−1} + b_t`` whose coefficients come from one matmul over the whole
sequence. With g(a) = a + ½ for a ≥ 0 and σ(a) for a < 0 (always positive):

    minGRU:  z = σ(W_z x + b_z),  h̃ = g(W_h x + b_h);   a = 1 − z,  b = z ⊙ h̃
    minLSTM: f = σ(W_f x + b_f),  i = σ(W_i x + b_i),  h̃ = g(W_h x + b_h)
             f' = f / (f + i),  i' = i / (f + i);       a = f',     b = i' ⊙ h̃

Training runs the recurrence for all t at once, in log space (the paper's log-space version):

    log a*_t = Σ_{s≤t} log a_s
    h_t = a*_t ⊙ h_0 + exp(log a*_t + logcumsumexp_{s≤t}(log b_s − log a*_s))

with every log taken from the pre-activations without forming a probability first:
log(1 − z) = −softplus(a_z), log z = −softplus(−a_z), log σ(a) = −softplus(−a),
log f' = −softplus(log i − log f), log i' = −softplus(log f − log i), log g(a) = log(a + ½)
for a ≥ 0 and −softplus(−a) otherwise. b > 0 always, so its log exists; the h_0 term stays
separate and linear, so any real h_0 (negative too) works. The scan runs in float32 at least
(bfloat16 pre-activations under autocast are cast up) and its result is cast back to the
dtype the linear layer produced; float64 stays float64. Precision: the scan adds log a*_t back
to a log-sum of size about −log a*_t, so its relative error grows like |log a*_T|·ε of the scan
dtype (≈ 3·10⁻⁴ in float32 at T = 4096 with the default init, ≈ 10⁻¹² in float64).

Generation runs the same recurrence one step at a time (`init_state`, `step`), with no scan.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rnnlab.errors import InputError
from rnnlab.nn.regularize import check_probability
from rnnlab.nn.validate import (
    check_bool,
    check_int,
    check_like_parameters,
    check_tensor,
    time_major_input,
)


def log_g(a: Tensor) -> Tensor:
    """log g(a): log(a + ½) for a ≥ 0, log σ(a) = −softplus(−a) for a < 0 (finite everywhere)."""
    return torch.where(a >= 0, torch.log(a.clamp_min(0) + 0.5), -F.softplus(-a))


def g(a: Tensor) -> Tensor:
    """g(a) = a + ½ for a ≥ 0, σ(a) for a < 0: positive, continuous, linear for a ≥ 0."""
    return torch.where(a >= 0, a + 0.5, torch.sigmoid(a))


def log_linear_scan(log_a: Tensor, log_b: Tensor, h0: Tensor | None) -> Tensor:
    """All states of ``h_t = a_t ⊙ h_{t−1} + b_t`` at once, from log a and log b (b > 0).

    Math: log a*_t = cumsum_t log a,
    ``h_t = a*_t ⊙ h_0 + exp(log a*_t + logcumsumexp_{s≤t}(log b_s − log a*_s))``.

    Args:
        log_a, log_b: (T, B, H), time first.
        h0: (B, H), any sign, or None for zeros.

    Returns:
        h_1..h_T, (T, B, H).
    """
    log_a_star = torch.cumsum(log_a, dim=0)  # (T, B, H)
    h = torch.exp(log_a_star + torch.logcumsumexp(log_b - log_a_star, dim=0))  # (T, B, H)
    if h0 is not None:
        h = h + torch.exp(log_a_star) * h0
    return h


def _scan_dtype(a: Tensor) -> torch.dtype:
    """float32 for half / bfloat16 pre-activations, else their own dtype."""
    return torch.promote_types(a.dtype, torch.float32)


def mingru_scan(gates: Tensor, h0: Tensor | None = None) -> Tensor:
    """minGRU over a whole sequence by the log-space parallel scan.

    Math (pre-activations u = W_ih x + b_ih split as u_z, u_h):
        log a = −softplus(u_z),  log b = −softplus(−u_z) + log g(u_h)
        h_t = a*_t ⊙ h_0 + exp(log a*_t + logcumsumexp(log b − log a*))   (`log_linear_scan`)

    Args:
        gates: pre-activations u, (T, B, 2H), blocks z then h.
        h0: (B, H) or None for zeros.

    Returns:
        h_1..h_T, (T, B, H), in the dtype of ``gates`` (computed in float32 at least).
    """
    u_z, u_h = gates.to(_scan_dtype(gates)).chunk(2, dim=-1)  # (T, B, H) each
    log_a = -F.softplus(u_z)
    log_b = -F.softplus(-u_z) + log_g(u_h)
    h0 = None if h0 is None else h0.to(u_z.dtype)
    return log_linear_scan(log_a, log_b, h0).to(gates.dtype)


def minlstm_scan(gates: Tensor, h0: Tensor | None = None) -> Tensor:
    """minLSTM over a whole sequence by the log-space parallel scan.

    Math (pre-activations u = W_ih x + b_ih split as u_f, u_i, u_h):
        log f = −softplus(−u_f),  log i = −softplus(−u_i)
        log a = log f' = −softplus(log i − log f)
        log b = log i' + log g(u_h) = −softplus(log f − log i) + log g(u_h)
        h_t = a*_t ⊙ h_0 + exp(log a*_t + logcumsumexp(log b − log a*))   (`log_linear_scan`)

    Args:
        gates: pre-activations u, (T, B, 3H), blocks f, i, h.
        h0: (B, H) or None for zeros.

    Returns:
        h_1..h_T, (T, B, H), in the dtype of ``gates`` (computed in float32 at least).
    """
    u_f, u_i, u_h = gates.to(_scan_dtype(gates)).chunk(3, dim=-1)  # (T, B, H) each
    d = F.softplus(-u_i) - F.softplus(-u_f)  # log f − log i
    log_a = -F.softplus(-d)
    log_b = -F.softplus(d) + log_g(u_h)
    h0 = None if h0 is None else h0.to(u_f.dtype)
    return log_linear_scan(log_a, log_b, h0).to(gates.dtype)


def mingru_step(gates: Tensor, h: Tensor) -> Tensor:
    """One minGRU step: ``h' = (1 − z) ⊙ h + z ⊙ g(u_h)``, z = σ(u_z).

    Args:
        gates: pre-activations u_t, (B, 2H), blocks z then h.
        h: h_{t−1}, (B, H).

    Returns:
        h_t, (B, H), in the dtype of ``gates`` (computed in float32 at least).
    """
    u_z, u_h = gates.to(_scan_dtype(gates)).chunk(2, dim=-1)  # (B, H) each
    z = torch.sigmoid(u_z)
    return ((1 - z) * h.to(z.dtype) + z * g(u_h)).to(gates.dtype)


def minlstm_step(gates: Tensor, h: Tensor) -> Tensor:
    """One minLSTM step: ``h' = f' ⊙ h + (1 − f') ⊙ g(u_h)``, f' = f / (f + i) = σ(log f − log i).

    Args:
        gates: pre-activations u_t, (B, 3H), blocks f, i, h.
        h: h_{t−1}, (B, H).

    Returns:
        h_t, (B, H), in the dtype of ``gates`` (computed in float32 at least).
    """
    u_f, u_i, u_h = gates.to(_scan_dtype(gates)).chunk(3, dim=-1)  # (B, H) each
    f_norm = torch.sigmoid(F.softplus(-u_i) - F.softplus(-u_f))  # f'
    return (f_norm * h.to(f_norm.dtype) + (1 - f_norm) * g(u_h)).to(gates.dtype)


class _MinRecurrent(nn.Module):
    """Shared layer machinery of `MinGRU` and `MinLSTM`: parameters, stacking, checks, state."""

    gates: int  # gate blocks G per layer: weight_ih_l{k} is (G·H, I_k)
    scan: Callable[[Tensor, Tensor | None], Tensor]  # (T, B, G·H), h_0 → (T, B, H)
    cell: Callable[[Tensor, Tensor], Tensor]  # (B, G·H), h_{t−1} → h_t

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        *,
        bidirectional: bool = False,
        proj_size: int = 0,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
        **unsupported: object,
    ) -> None:
        super().__init__()
        owner = type(self).__name__
        if unsupported:
            names = ", ".join(sorted(unsupported))
            raise InputError(
                f"{owner}: unsupported option(s) {names}: min cells take input_size, "
                "hidden_size, num_layers, bias, batch_first, dropout, device and dtype only "
                "(they are unidirectional, without projection)"
            )
        if check_bool(owner, "bidirectional", bidirectional):
            raise InputError(
                f"{owner}: bidirectional=True is not supported: min cells are unidirectional "
                "without projection"
            )
        if check_int(owner, "proj_size", proj_size, minimum=0):
            raise InputError(
                f"{owner}: proj_size={proj_size} is not supported: min cells are "
                "unidirectional without projection (expected proj_size=0)"
            )
        self.input_size = check_int(owner, "input_size", input_size, minimum=1)
        self.hidden_size = check_int(owner, "hidden_size", hidden_size, minimum=1)
        self.num_layers = check_int(owner, "num_layers", num_layers, minimum=1)
        self.bias = check_bool(owner, "bias", bias)
        self.batch_first = check_bool(owner, "batch_first", batch_first)
        self.dropout = check_probability(owner, "dropout", dropout)
        if self.dropout and self.num_layers == 1:
            warnings.warn(
                f"{owner}: dropout acts between stacked layers, so non-zero dropout expects "
                f"num_layers > 1, got dropout={self.dropout} and num_layers=1",
                stacklevel=2,
            )
        factory = {"device": device, "dtype": dtype}
        rows = self.gates * self.hidden_size
        for layer in range(self.num_layers):
            width = self.input_size if layer == 0 else self.hidden_size
            self.register_parameter(
                f"weight_ih_l{layer}", nn.Parameter(torch.empty(rows, width, **factory))
            )
            if self.bias:
                self.register_parameter(
                    f"bias_ih_l{layer}", nn.Parameter(torch.empty(rows, **factory))
                )
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Every parameter from U(−1/√H, 1/√H), in registration order, as torch.nn.GRU does."""
        bound = 1.0 / math.sqrt(self.hidden_size)
        for weight in self.parameters():
            nn.init.uniform_(weight, -bound, bound)

    def layer_weights(self, layer: int) -> tuple[Tensor, Tensor | None]:
        """(weight_ih_l{layer} (G·H, I_k), bias_ih_l{layer} (G·H,) or None)."""
        bias = getattr(self, f"bias_ih_l{layer}") if self.bias else None
        return getattr(self, f"weight_ih_l{layer}"), bias

    def extra_repr(self) -> str:
        parts = [f"{self.input_size}, {self.hidden_size}"]
        if self.num_layers != 1:
            parts.append(f"num_layers={self.num_layers}")
        if not self.bias:
            parts.append("bias=False")
        if self.batch_first:
            parts.append("batch_first=True")
        if self.dropout:
            parts.append(f"dropout={self.dropout}")
        return ", ".join(parts)

    def forward(self, input: Tensor, hx: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """Run the stack over a whole sequence by the parallel scan (no loop over time).

        Args:
            input: (T, B, I), (B, T, I) with batch_first, or unbatched (T, I); T ≥ 1.
            hx: h_0, (L, B, H) ((L, H) for unbatched input), any real values, or None for
                zeros.

        Returns:
            ``(output, h_n)``: output (T, B, H) (batch_first / unbatched like the input), the
            last layer's states h_1..h_T; h_n shaped like hx, each layer's state at T. Both in
            the dtype the layers' matmuls produce (bfloat16 under a bfloat16 autocast).
        """
        owner = type(self).__name__
        x, batched = self._time_major(owner, input)  # (T, B, I)
        weight = self.weight_ih_l0
        check_like_parameters(owner, "input", x, weight)
        h0 = self._initial_state(owner, hx, x.shape[1], batched)  # (L, B, H) or None
        out, finals = x, []
        for layer in range(self.num_layers):
            if layer and self.dropout and self.training:
                out = F.dropout(out, self.dropout, training=True)
            gates = F.linear(out, *self.layer_weights(layer))  # (T, B, G·H)
            out = self.scan(gates, None if h0 is None else h0[layer])  # (T, B, H)
            finals.append(out[-1])
        h_n = torch.stack(finals)  # (L, B, H)
        if not batched:
            return out.squeeze(1), h_n.squeeze(1)  # (T, H), (L, H)
        return (out.transpose(0, 1) if self.batch_first else out), h_n

    def init_state(
        self,
        batch: int,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> Tensor:
        """Zero state for `batch` sequences: (L, B, H); defaults: the parameters' device, dtype."""
        batch = check_int(f"{type(self).__name__}.init_state", "batch", batch, minimum=1)
        weight = self.weight_ih_l0
        device = weight.device if device is None else device
        dtype = weight.dtype if dtype is None else dtype
        return torch.zeros(self.num_layers, batch, self.hidden_size, device=device, dtype=dtype)

    def step(self, x_t: Tensor, state: Tensor) -> tuple[Tensor, Tensor]:
        """Advance one time step by the sequential recurrence (no scan; never dropout).

        Args:
            x_t: (B, I), the input at time t.
            state: (L, B, H), from `init_state` or the previous `step`.

        Returns:
            y_t (B, H), equal to ``forward(x)[0][t]`` in eval mode, and the new state
            (L, B, H), equal to forward's h_n after t.
        """
        owner = f"{type(self).__name__}.step"
        weight = self.weight_ih_l0
        x = check_tensor(owner, "x_t", x_t, ("B", self.input_size))
        check_like_parameters(owner, "x_t", x, weight)
        shape = (self.num_layers, x.shape[0], self.hidden_size)
        check_tensor(owner, "state", state, shape)
        check_like_parameters(owner, "state", state, weight)
        h, layers = x, []
        for layer in range(self.num_layers):
            gates = F.linear(h, *self.layer_weights(layer))  # (B, G·H)
            h = self.cell(gates, state[layer])  # (B, H)
            layers.append(h)
        return h, torch.stack(layers)

    def _time_major(self, owner: str, input: object) -> tuple[Tensor, bool]:
        """Validate the input and return it as (T, B, I), and whether it was batched."""
        return time_major_input(owner, input, self.input_size, self.batch_first)

    def _initial_state(self, owner: str, hx: object, batch: int, batched: bool) -> Tensor | None:
        """Validate ``hx`` and return it as (L, B, H); None stays None (zeros)."""
        if hx is None:
            return None
        if batched:
            pattern = (self.num_layers, batch, self.hidden_size)
        else:
            pattern = (self.num_layers, self.hidden_size)
        h0 = check_tensor(owner, "h_0", hx, pattern)
        check_like_parameters(owner, "h_0", h0, self.weight_ih_l0)
        return h0 if batched else h0.unsqueeze(1)


class MinGRU(_MinRecurrent):
    """minGRU stack (Feng et al. 2024), parallel scan in log space; torch.nn.GRU-like API.

    Math per layer (weight_ih_l{k} rows: z then h, (2H, I_k)):
        z_t = σ(W_z x_t + b_z),  h̃_t = g(W_h x_t + b_h)
        h_t = (1 − z_t) ⊙ h_{t−1} + z_t ⊙ h̃_t
    with g(a) = a + ½ (a ≥ 0), σ(a) (a < 0); see the module docstring for the scan.

    Args:
        input_size, hidden_size, num_layers, bias, batch_first, dropout, device, dtype: as
            torch.nn.GRU (dropout between layers, in training only).
        bidirectional, proj_size: accepted only as False / 0 (min cells are unidirectional
            without projection); anything else is an InputError (a ValueError).

    Parameters: ``weight_ih_l{k}`` (2H, I_k) and ``bias_ih_l{k}`` (2H,), I_0 = I, I_k = H,
    drawn from U(−1/√H, 1/√H). No recurrent weights: the gates see x_t only.
    """

    gates = 2
    scan = staticmethod(mingru_scan)
    cell = staticmethod(mingru_step)


class MinLSTM(_MinRecurrent):
    """minLSTM stack (Feng et al. 2024), parallel scan in log space; torch.nn.GRU-like API.

    Math per layer (weight_ih_l{k} rows: f, i, h, (3H, I_k)):
        f_t = σ(W_f x_t + b_f),  i_t = σ(W_i x_t + b_i),  h̃_t = g(W_h x_t + b_h)
        f'_t = f_t / (f_t + i_t),  i'_t = i_t / (f_t + i_t)
        h_t = f'_t ⊙ h_{t−1} + i'_t ⊙ h̃_t
    with g(a) = a + ½ (a ≥ 0), σ(a) (a < 0); see the module docstring for the scan. One
    state tensor h: the min cell has no separate cell state.

    Args:
        input_size, hidden_size, num_layers, bias, batch_first, dropout, device, dtype: as
            torch.nn.GRU (dropout between layers, in training only).
        bidirectional, proj_size: accepted only as False / 0 (min cells are unidirectional
            without projection); anything else is an InputError (a ValueError).

    Parameters: ``weight_ih_l{k}`` (3H, I_k) and ``bias_ih_l{k}`` (3H,), I_0 = I, I_k = H,
    drawn from U(−1/√H, 1/√H).
    """

    gates = 3
    scan = staticmethod(minlstm_scan)
    cell = staticmethod(minlstm_step)
