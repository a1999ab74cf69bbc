"""Per-step loop over `rnnlab.functional`: computes every variant, always available.

Per layer and direction the input projection ``x W_ihᵀ + b_ih`` (layer-normalised with
layer_norm) is one GEMM over all timesteps; each step then does only the recurrent GEMM and
the pointwise cell, unrolled by `rnnlab.functional.unroll` (which also handles ``lengths``
and the reverse direction).  Zoneout masks are drawn per step while training; DropConnect and
locked-dropout masks come from the caller (`Masks`).  Under autocast the recurrence runs in
the dtype of the hoisted input projection.  Packed input is padded, and the output packed
back, by index ops (`_packed_positions`), so that torch.compile traces a packed call whole.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from rnnlab.backends.contract import LayerWeights, Masks, RecurrentSpec, State
from rnnlab.functional.cells import gate_projection, gru_pointwise, lstm_pointwise, rnn_pointwise
from rnnlab.functional.regularize import zoneout, zoneout_mask
from rnnlab.functional.scan import Step, unroll


def _zone(prev: Tensor, new: Tensor, p: float, training: bool) -> Tensor:
    """Zoneout of one state (sampled while training, the expectation otherwise)."""
    if not p:
        return new
    keep = zoneout_mask(new.shape, p, device=new.device) if training else None
    return zoneout(prev, new, p, keep=keep)


def _make_step(spec: RecurrentSpec, w: LayerWeights, w_hh: Tensor, training: bool) -> Step:
    """The step ``(gi_t, state) -> (h', state')`` of one layer-direction.

    Args:
        spec: the stack's configuration (cell type, zoneout).
        w: the layer-direction's weights (W_ih is already applied: gi_t is (B, G·H)).
        w_hh: (G·H, P) recurrent weight, after DropConnect.
        training: sample zoneout masks (else use the zoneout expectation).

    Returns:
        A step for `rnnlab.functional.unroll`; state is h (B, P), or (h (B, P), c (B, H)).
    """
    p_h, p_c = spec.zoneout

    if spec.mode == "lstm":

        def lstm_step(gi_t: Tensor, state: tuple[Tensor, Tensor]):
            h, c = state
            gh = gate_projection(h, w_hh, w.b_hh, ln=w.ln_hh)  # (B, 4H)
            h_new, c_new = lstm_pointwise(gi_t, gh, c, ln_c=w.ln_c)  # (B, H), (B, H)
            if w.w_hr is not None:
                h_new = F.linear(h_new, w.w_hr)  # (B, P)
            h_new = _zone(h, h_new.to(h.dtype), p_h, training)
            c_new = _zone(c, c_new.to(c.dtype), p_c, training)
            return h_new, (h_new, c_new)

        return lstm_step

    def step(gi_t: Tensor, h: Tensor):
        gh = gate_projection(h, w_hh, w.b_hh, ln=w.ln_hh)  # (B, G·H)
        if spec.mode == "gru":
            h_new = gru_pointwise(gi_t, gh, h)
        else:
            h_new = rnn_pointwise(gi_t, gh, nonlinearity=spec.mode.removeprefix("rnn_"))
        h_new = _zone(h, h_new.to(h.dtype), p_h, training)
        return h_new, h_new

    return step


def _packed_positions(
    batch_sizes: Tensor, rows: int, *, device: torch.device
) -> tuple[Tensor, Tensor]:
    """Time step and sequence of each row of packed data: (N,) and (N,).

    Row n of the data belongs to the step t whose rows ``[start_t, start_t + batch_sizes[t])``
    hold it, and is sequence ``n − start_t`` there (packed data lists each step's sequences
    in order). Computed with tensor ops only, so a compiled layer does not read the sizes
    out (unlike `torch.nn.utils.rnn.pad_packed_sequence`, which dynamo does not trace).
    """
    ends = torch.cumsum(batch_sizes, 0)  # (T,)
    n = torch.arange(rows)  # (N,)
    steps = torch.searchsorted(ends, n, right=True)  # (N,)
    seq = n - (ends - batch_sizes)[steps]  # (N,)
    return steps.to(device), seq.to(device)


class LoopBackend:
    """Every variant, one timestep at a time."""

    name = "loop"

    def unsupported(self, spec: RecurrentSpec, device: torch.device) -> str | None:
        """Why ``spec`` cannot be computed exactly here, or None (see `Backend`)."""
        return None

    def forward(
        self,
        spec: RecurrentSpec,
        weights: list[LayerWeights],
        x: Tensor,
        state: State,
        *,
        batch_sizes: Tensor | None = None,
        lengths: Tensor | None = None,
        masks: Masks,
    ) -> tuple[Tensor, State]:
        """Run the stack; arguments and results as `rnnlab.backends.contract.Backend.forward`."""
        if batch_sizes is not None:
            batch = (state[0] if isinstance(state, tuple) else state).shape[1]
            steps, seq = _packed_positions(batch_sizes, x.shape[0], device=x.device)
            padded = x.new_zeros(len(batch_sizes), batch, x.shape[1])
            padded = padded.index_put((steps, seq), x)  # (T, B, I), zero past each length
            lengths = (torch.arange(batch) < batch_sizes[:, None]).sum(0)  # (B,)
            y, state = self.forward(spec, weights, padded, state, lengths=lengths, masks=masks)
            return y[steps, seq], state  # (N, D·P)
        lstm = spec.mode == "lstm"
        h0, c0 = state if lstm else (state, None)
        dirs = spec.num_directions
        h_n, c_n = [], []
        layer_input = x  # (T, B, I)
        for layer in range(spec.num_layers):
            if layer and masks.between_layers is not None:
                layer_input = layer_input * masks.between_layers[layer - 1]  # (T, B, D·P)
            elif layer and spec.dropout and masks.training:
                layer_input = F.dropout(layer_input, spec.dropout, training=True)
            outputs = []
            for direction in range(dirs):
                k = layer * dirs + direction
                w = weights[k]
                gi = gate_projection(layer_input, w.w_ih, w.b_ih, ln=w.ln_ih)  # (T, B, G·H)
                s0 = (h0[k].to(gi.dtype), c0[k].to(gi.dtype)) if lstm else h0[k].to(gi.dtype)
                step = _make_step(spec, w, masks.dropped_w_hh(k, w.w_hh), masks.training)
                ys, final = unroll(step, gi, s0, lengths, reverse=direction == 1)  # (T, B, P)
                outputs.append(ys)
                h_n.append(final[0] if lstm else final)
                if lstm:
                    c_n.append(final[1])
            layer_input = torch.cat(outputs, dim=-1) if dirs == 2 else outputs[0]
        h_n = torch.stack(h_n)  # (L·D, B, P)
        return layer_input, (h_n, torch.stack(c_n)) if lstm else h_n
