"""The contract every recurrent backend implements: what to compute and with which weights.

A backend runs a whole stack (layers × directions) of one cell type:

    output, state = backend.forward(spec, weights, x, state, batch_sizes=…, lengths=…, masks=…)

* ``x`` is time-major padded input (T, B, I), or the data (N, I) of a packed sequence with
  its ``batch_sizes`` (T,) (then sorted by decreasing length, as torch packs it).
* ``state`` is h0 (L·D, B, P) for RNN/GRU or the pair (h0, c0) with c0 (L·D, B, H) for the
  LSTM, P = proj_size or H, in the batch order of ``x``; the returned state has the same form.
* ``output`` is (T, B, D·P), zero past each sequence's length, or packed data (N, D·P).
* ``lengths`` (B,) only with padded input: steps t ≥ lengths[b] are skipped (see
  `rnnlab.functional.unroll`).
* ``masks`` carries the random masks drawn once per forward call, so that every backend
  applies the same ones.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import torch
from torch import Tensor

GATES = {"rnn_tanh": 1, "rnn_relu": 1, "lstm": 4, "gru": 3}

State = Tensor | tuple[Tensor, Tensor]


@dataclass(frozen=True)
class RecurrentSpec:
    """What a recurrent stack computes; backends decide from it whether they can.

    Attributes:
        mode: "rnn_tanh", "rnn_relu", "lstm" or "gru".
        input_size, hidden_size, num_layers, bias, bidirectional, proj_size: as torch.nn.
        dropout: probability of dropping a layer's output before the next layer (training).
        locked_dropout: one dropout mask per sequence for all timesteps (then the masks come
            in `Masks.between_layers`) instead of a fresh mask per step.
        layer_norm: layer-normalised projections (and LSTM cell state).
        zoneout: (p_h, p_c) zoneout probabilities for h and, for the LSTM, c.
        weight_drop: DropConnect probability on W_hh (masks come in `Masks.weight_hh`).
    """

    mode: str
    input_size: int
    hidden_size: int
    num_layers: int = 1
    bias: bool = True
    bidirectional: bool = False
    proj_size: int = 0
    dropout: float = 0.0
    locked_dropout: bool = False
    layer_norm: bool = False
    zoneout: tuple[float, float] = (0.0, 0.0)
    weight_drop: float = 0.0

    @property
    def num_directions(self) -> int:
        return 2 if self.bidirectional else 1

    @property
    def output_size(self) -> int:
        """P: width of h (proj_size when projecting, else hidden_size)."""
        return self.proj_size or self.hidden_size

    @property
    def gate_size(self) -> int:
        """G·H: rows of W_ih and W_hh."""
        return GATES[self.mode] * self.hidden_size

    def layer_input_size(self, layer: int) -> int:
        return self.input_size if layer == 0 else self.output_size * self.num_directions


@dataclass(frozen=True)
class LayerWeights:
    """The weights of one layer in one direction (torch layout).

    Attributes:
        w_ih: (G·H, I_layer); w_hh: (G·H, P); b_ih, b_hh: (G·H,) or None.
        w_hr: (P, H) LSTM output projection, or None.
        ln_ih, ln_hh: (gain, bias) of the projections' layer norms, each (G·H,), or None.
        ln_c: (gain, bias) of the LSTM cell-state layer norm, each (H,), or None.
    """

    w_ih: Tensor
    w_hh: Tensor
    b_ih: Tensor | None = None
    b_hh: Tensor | None = None
    w_hr: Tensor | None = None
    ln_ih: tuple[Tensor, Tensor] | None = None
    ln_hh: tuple[Tensor, Tensor] | None = None
    ln_c: tuple[Tensor, Tensor] | None = None

    def torch_order(self) -> list[Tensor]:
        """The tensors torch's fused ops take, in their order: w_ih, w_hh[, b_ih, b_hh][, w_hr]."""
        bias = [] if self.b_ih is None else [self.b_ih, self.b_hh]
        proj = [] if self.w_hr is None else [self.w_hr]
        return [self.w_ih, self.w_hh, *bias, *proj]


@dataclass(frozen=True)
class Masks:
    """Random masks of one forward call (absent outside training).

    Attributes:
        training: whether regularisers are active (dropout, zoneout sampling).
        weight_hh: one DropConnect mask per layer-direction, each shaped like its W_hh and
            already scaled by 1 / (1 − p); or None.
        between_layers: one locked-dropout mask (B, D·P) per layer boundary (num_layers − 1
            of them), scaled by 1 / (1 − p), rows in the batch order of ``x``; or None.
    """

    training: bool = False
    weight_hh: tuple[Tensor, ...] | None = None
    between_layers: tuple[Tensor, ...] | None = None

    def dropped_w_hh(self, index: int, w_hh: Tensor) -> Tensor:
        """W_hh of layer-direction ``index`` after DropConnect (W_hh itself without masks)."""
        return w_hh if self.weight_hh is None else w_hh * self.weight_hh[index]


def permute_state(state: State, order: Tensor) -> State:
    """Reorder the batch axis (1) of a state, e.g. into or out of a packed sequence's order."""
    if isinstance(state, tuple):
        return tuple(s.index_select(1, order) for s in state)
    return state.index_select(1, order)


class Backend(Protocol):
    """A way to run a recurrent stack; see the module docstring for the call."""

    name: str

    def unsupported(self, spec: RecurrentSpec, device: torch.device) -> str | None:
        """Why this backend cannot compute ``spec`` on ``device`` exactly, or None if it can."""
        ...

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
        """Run the stack; ``weights`` lists layer-directions as l0, l0_reverse, l1, …"""
        ...
