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

from torch import nn

from rnnlab import nn as rnn
from rnnlab.config import setting
from rnnlab.errors import InputError

CELLS = ("lstm", "gru", "rnn")


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
