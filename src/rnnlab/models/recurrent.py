"""The recurrent part of a model, configured the same way in every task.

`RecurrentOptions` holds every option of an `rnnlab.nn` layer that a task exposes as a flag
(layer norm, zoneout, DropConnect, locked dropout, forget bias, chrono or orthogonal
initialisation, backend); `recurrent_layer` builds the stacked layer from a cell name, sizes
and those options. The character LM and the sequence models of the memory tasks share both,
so a flag means the same thing in every task.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Literal

import torch
from torch import nn

from rnnlab import nn as rnn
from rnnlab.config import setting
from rnnlab.errors import InputError

CELLS = ("lstm", "gru", "rnn", "mingru", "minlstm")
MIN_CELLS = {"mingru": "MinGRU", "minlstm": "MinLSTM"}  # parallel-scan cells (rnnlab.nn)


@dataclass
class RecurrentOptions:
    """Options of the recurrent layers (the extras of rnnlab.nn.LSTM/GRU/RNN)."""

    nonlinearity: Literal["tanh", "relu"] = setting("tanh", "rnn cell: tanh | relu")
    proj_size: int = setting(0, "LSTM projection size (0: none)")
    layer_norm: bool = setting(False, "layer-normalised cells")
    zoneout: float = setting(0.0, "zoneout probability for h and c")
    weight_drop: float = setting(0.0, "DropConnect probability on W_hh")
    locked_dropout: bool = setting(False, "one dropout mask per sequence for every timestep")
    forget_bias: float | None = setting(None, "LSTM forget-gate bias at initialisation")
    init: Literal["torch", "orthogonal", "chrono"] = setting(
        "torch", "initialisation: torch | orthogonal | chrono"
    )
    t_max: float | None = setting(
        None, "chrono initialisation: longest dependency (none: the task's sequence length)"
    )
    backend: Literal["auto", "torch", "loop"] = setting("auto", "auto | torch | loop")

    def recurrent_options(self) -> dict:
        """These options as a dict of `recurrent_layer` keywords."""
        return {f.name: getattr(self, f.name) for f in fields(RecurrentOptions)}


def recurrent_layer(
    owner: str,
    cell: str,
    input_size: int,
    hidden: int,
    *,
    layers: int = 1,
    dropout: float = 0.0,
    batch_first: bool = False,
    nonlinearity: str = "tanh",
    proj_size: int = 0,
    forget_bias: float | None = None,
    **options,
) -> nn.Module:
    """A stacked `rnnlab.nn.LSTM`, `GRU` or `RNN` (dropout between layers only when stacked).

    Raises InputError (naming `owner`) for an unknown cell, or an LSTM-only option given to
    another cell.
    """
    if cell not in CELLS:
        raise InputError(f"{owner}: expected cell in {', '.join(CELLS)}, got {cell!r}")
    if cell in MIN_CELLS:
        return _min_layer(
            owner,
            cell,
            input_size,
            hidden,
            layers=layers,
            dropout=dropout,
            batch_first=batch_first,
            nonlinearity=nonlinearity,
            proj_size=proj_size,
            forget_bias=forget_bias,
            **options,
        )
    kwargs = dict(
        num_layers=layers,
        dropout=dropout if layers > 1 else 0.0,
        batch_first=batch_first,
        **options,
    )
    if cell == "lstm":
        return rnn.LSTM(input_size, hidden, proj_size=proj_size, forget_bias=forget_bias, **kwargs)
    if proj_size:
        raise InputError(f"{owner}: proj_size is for the lstm cell, not {cell!r}")
    if forget_bias is not None:
        raise InputError(f"{owner}: forget_bias is for the lstm cell, not {cell!r}")
    if cell == "gru":
        return rnn.GRU(input_size, hidden, **kwargs)
    return rnn.RNN(input_size, hidden, nonlinearity=nonlinearity, **kwargs)


def describe_computation(layer: nn.Module) -> str:
    """How a layer from `recurrent_layer` computes: "backend NAME", or "parallel scan" for
    the min cells (which have no backends)."""
    select = getattr(layer, "selected_backend", None)
    return f"backend {select().name}" if select is not None else "parallel scan"


# the options a min cell takes as they are by default (anything else is an InputError)
_MIN_DEFAULTS = {
    "nonlinearity": "tanh",
    "proj_size": 0,
    "forget_bias": None,
    "layer_norm": False,
    "zoneout": 0.0,
    "weight_drop": 0.0,
    "init": "torch",
    "t_max": None,
    "backend": "auto",
}


def _min_layer(
    owner: str,
    cell: str,
    input_size: int,
    hidden: int,
    *,
    layers: int,
    dropout: float,
    batch_first: bool,
    locked_dropout: bool = False,
    **options,
) -> nn.Module:
    """A stack of `rnnlab.nn.MinGRU`/`MinLSTM` layers; options they lack are InputErrors."""
    given = [
        f"{name}={value!r}"
        for name, value in options.items()
        if name in _MIN_DEFAULTS and value != _MIN_DEFAULTS[name]
    ]
    unknown = sorted(set(options) - set(_MIN_DEFAULTS))
    if given or unknown:
        raise InputError(
            f"{owner}: the {cell} cell does not take {', '.join(given + unknown)} (min cells "
            "have no recurrent weights to normalise, drop or initialise, and no projection; "
            "they take layers, hidden, dropout and locked_dropout)"
        )
    layer = getattr(rnn, MIN_CELLS[cell])
    if locked_dropout and dropout and layers > 1:
        return LockedMinStack(layer, input_size, hidden, layers, dropout, batch_first)
    return layer(
        input_size,
        hidden,
        num_layers=layers,
        dropout=dropout if layers > 1 else 0.0,
        batch_first=batch_first,
    )


class LockedMinStack(nn.Module):
    """Min-cell layers with locked (variational) dropout between them: one mask per sequence
    for every timestep. The state is (layers, B, H), as a stacked min layer's."""

    def __init__(self, layer, input_size, hidden, layers, dropout, batch_first):
        super().__init__()
        self.layers = nn.ModuleList(
            layer(input_size if i == 0 else hidden, hidden, batch_first=batch_first)
            for i in range(layers)
        )
        self.drop = rnn.LockedDropout(dropout, batch_first=batch_first)
        self.hidden_size = hidden
        self.num_layers = layers

    def forward(self, x, hx=None):
        finals = []
        for i, layer in enumerate(self.layers):
            if i:
                x = self.drop(x)
            x, h = layer(x, None if hx is None else hx[i : i + 1])
            finals.append(h)
        return x, torch.cat(finals, dim=0)

    def init_state(self, batch: int, device=None, dtype=None):
        return torch.cat([layer.init_state(batch, device, dtype) for layer in self.layers])

    def step(self, x_t, state):
        finals = []
        for i, layer in enumerate(self.layers):
            x_t, h = layer.step(x_t, state[i : i + 1])
            finals.append(h)
        return x_t, torch.cat(finals, dim=0)
