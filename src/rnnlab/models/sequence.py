"""Sequence models for the long-memory tasks: an encoder over time and a linear read-out.

    e_t = x_t  |  one_hot(x_t)  |  E[x_t]                       # (B, T, F)
    h   = TCN(e)  or  RNN/LSTM/GRU(e)                           # (B, T, H)
    out = W h_T + b          (read-out at the last step)        # (B, K)
       or W h_t + b for every t (read-out at every step)        # (B, T, K)

The encoder is a `rnnlab.nn.TemporalConvNet` (causal, so h_t sees inputs ≤ t) or a stacked
`rnnlab.nn.LSTM/GRU/RNN` with every recurrent option (`RecurrentOptions`). A model is sized
either by explicit widths (`hidden` for recurrent encoders, `channels` for the TCN) or by a
parameter budget (`size_for_params`), which keeps the depth and chooses the width whose
parameter count is closest to the budget.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields, replace
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from rnnlab import nn as rnn
from rnnlab.config import setting
from rnnlab.errors import InputError
from rnnlab.models.recurrent import CELLS, RecurrentOptions, recurrent_layer

MODELS = ("tcn", *CELLS)
MAX_WIDTH = 1 << 14


@dataclass
class SequenceModelConfig(RecurrentOptions):
    """The sequence model: a TCN or a recurrent encoder and a linear read-out."""

    model: Literal["tcn", "lstm", "gru", "rnn", "mingru", "minlstm"] = setting(
        "lstm", "the encoder"
    )
    params: int | None = setting(
        None, "parameter budget, e.g. 70k: the width is chosen to match (none: the widths given)"
    )
    hidden: int = setting(128, "recurrent encoders: hidden units per layer")
    layers: int = setting(1, "recurrent encoders: stacked layers")
    channels: tuple[int, ...] = setting(
        (25,) * 8, "tcn: widths per level, comma-separated (the number of levels is its length)"
    )
    kernel_size: int = setting(7, "tcn: kernel size")
    dropout: float = setting(
        0.0, "dropout (tcn: after every convolution; recurrent: between stacked layers)"
    )
    embed_dim: int = setting(0, "token inputs: embedding size (0: one-hot)")

    def model_options(self) -> SequenceModelConfig:
        """Only this class's fields (out of a larger run config)."""
        return SequenceModelConfig(
            **{f.name: getattr(self, f.name) for f in fields(SequenceModelConfig)}
        )


def check_model_config(owner: str, cfg: SequenceModelConfig) -> None:
    """Settings of the sequence model in range, or an InputError naming `owner`."""
    if cfg.model not in MODELS:
        raise InputError(f"{owner}: expected model in {', '.join(MODELS)}, got {cfg.model!r}")
    for name in ("hidden", "layers", "kernel_size"):
        if getattr(cfg, name) < 1:
            raise InputError(f"{owner}: expected {name} >= 1, got {getattr(cfg, name)}")
    if not cfg.channels or min(cfg.channels) < 1:
        raise InputError(
            f"{owner}: expected channels as one or more widths >= 1, got {cfg.channels!r}"
        )
    if cfg.embed_dim < 0:
        raise InputError(f"{owner}: expected embed_dim >= 0, got {cfg.embed_dim}")
    if cfg.params is not None and cfg.params < 1:
        raise InputError(f"{owner}: expected params >= 1 or none, got {cfg.params}")
    if not 0.0 <= cfg.dropout < 1.0:
        raise InputError(f"{owner}: expected dropout in [0, 1), got {cfg.dropout}")


class SequenceModel(nn.Module):
    """An encoder over time and a linear read-out, at the last step or at every step.

    Args:
        inputs: the number of input features (float input of shape (B, T, inputs)), or, with
            `tokens=True`, the vocabulary size (int64 input of shape (B, T)).
        outputs: K, the read-out size (1 for a scalar regression target, else the classes).
        config: the encoder and its options.
        tokens: the input is token ids (one-hot or embedded, see `embed_dim`).
        every_step: read out at every step (B, T, K) rather than at the last one (B, K).
        t_max: the longest dependency, for chrono initialisation when `config.t_max` is unset.
    """

    def __init__(
        self,
        inputs: int,
        outputs: int,
        config: SequenceModelConfig,
        *,
        tokens: bool = False,
        every_step: bool = False,
        t_max: float | None = None,
    ):
        super().__init__()
        check_model_config("SequenceModel", config)
        self.config = config
        self.inputs, self.outputs = inputs, outputs
        self.tokens, self.every_step = tokens, every_step
        self.embedding = None
        features = inputs
        if tokens and config.embed_dim:
            self.embedding = nn.Embedding(inputs, config.embed_dim)
            features = config.embed_dim
        if config.model == "tcn":
            self.encoder = rnn.TemporalConvNet(
                features, config.channels, config.kernel_size, config.dropout
            )
            width = config.channels[-1]
        else:
            options = config.recurrent_options()
            if options["t_max"] is None and config.init == "chrono":
                options["t_max"] = t_max
            self.encoder = recurrent_layer(
                "SequenceModel",
                config.model,
                features,
                config.hidden,
                layers=config.layers,
                dropout=config.dropout,
                batch_first=True,
                **options,
            )
            width = config.proj_size or config.hidden
        self.readout = nn.Linear(width, outputs)

    @property
    def receptive_field(self) -> int | None:
        """How many steps back the TCN sees (None: a recurrent encoder sees them all)."""
        return self.encoder.receptive_field if self.config.model == "tcn" else None

    def _features(self, x: torch.Tensor) -> torch.Tensor:
        if self.tokens:
            if x.dim() != 2 or x.dtype != torch.long:
                raise InputError(
                    f"SequenceModel: expected token ids of shape (B, T) and dtype int64, "
                    f"got {tuple(x.shape)} {x.dtype}"
                )
            if self.embedding is not None:
                return self.embedding(x)  # (B, T, E)
            return F.one_hot(x, self.inputs).to(self.readout.weight.dtype)  # (B, T, V)
        if x.dim() != 3 or x.shape[-1] != self.inputs:
            raise InputError(
                f"SequenceModel: expected input of shape (B, T, {self.inputs}), "
                f"got {tuple(x.shape)}"
            )
        return x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, T, F) floats or (B, T) ids → (B, K), or (B, T, K) with `every_step`."""
        e = self._features(x)  # (B, T, F)
        if self.config.model == "tcn":
            h = self.encoder(e.transpose(1, 2)).transpose(1, 2)  # (B, T, H)
        else:
            h, _ = self.encoder(e)  # (B, T, H)
        if not self.every_step:
            h = h[:, -1]  # (B, H)
        return self.readout(h)


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def with_width(cfg: SequenceModelConfig, width: int) -> SequenceModelConfig:
    """`cfg` with its encoder's width set: every TCN level, or the recurrent hidden size."""
    if cfg.model == "tcn":
        return replace(cfg, channels=(width,) * len(cfg.channels))
    return replace(cfg, hidden=width)


def _count(build: Callable[[SequenceModelConfig], nn.Module], cfg: SequenceModelConfig) -> int:
    """The parameter count of `build(cfg)`, built on the meta device (no memory, no random
    draws) where the model allows it, else on the CPU inside a forked RNG."""
    try:
        with torch.device("meta"):
            return count_parameters(build(cfg))
    except (RuntimeError, NotImplementedError, TypeError, ValueError):
        with torch.random.fork_rng(devices=[]):
            return count_parameters(build(cfg))


def size_for_params(
    owner: str, cfg: SequenceModelConfig, build: Callable[[SequenceModelConfig], nn.Module]
) -> tuple[SequenceModelConfig, int]:
    """The width whose model has the parameter count closest to `cfg.params`.

    The depth (TCN levels, recurrent layers) and every other option stay as given; the
    count grows with the width, so the search doubles the width until it passes the budget,
    then bisects. Models are built inside a forked RNG, so sizing draws nothing from the
    caller's random streams.

    Returns (the config with that width, its exact parameter count).

    Raises:
        InputError: the budget is smaller than the model of width 1.
    """
    target = cfg.params
    if target is None:
        return cfg, _count(build, cfg)
    counts: dict[int, int] = {}

    def count(width: int) -> int:
        if width not in counts:
            counts[width] = _count(build, with_width(cfg, width))
        return counts[width]

    smallest = cfg.proj_size + 1 if cfg.model == "lstm" else 1  # hidden > proj_size
    if count(smallest) > target:
        raise InputError(
            f"{owner}: --params {target:,} is too small: the smallest {cfg.model} model "
            f"(width {smallest}) has {count(smallest):,} parameters"
        )
    lo, hi = smallest, 2 * smallest
    while count(hi) < target:
        if hi >= MAX_WIDTH:
            raise InputError(f"{owner}: --params {target:,} needs a width over {MAX_WIDTH:,}")
        lo, hi = hi, 2 * hi
    while hi - lo > 1:  # count(lo) < target <= count(hi)
        mid = (lo + hi) // 2
        if count(mid) < target:
            lo = mid
        else:
            hi = mid
    best = min((lo, hi), key=lambda w: (abs(count(w) - target), w))
    return with_width(cfg, best), count(best)
