"""Character-level language model: embedding (or one-hot) → stacked RNN/LSTM/GRU → linear.

    e_t = E[x_t]            (or one_hot(x_t))                     # (T, B, E)
    h_t = RNN(e_t, h_{t-1}) (rnnlab.nn.RNN/LSTM/GRU, any options)  # (T, B, H)
    p(x_{t+1} | x_≤t) = softmax(W h_t + b)                        # (T, B, V)

Dropout (`dropout`) is applied to the embeddings, between recurrent layers and before the
decoder (the non-recurrent connections, as Zaremba et al. 2014); with `locked_dropout` all
three use one mask per sequence for every timestep (variational dropout). With `tie_weights` the
decoder reuses the embedding matrix (Press & Wolf 2017), which needs embed_dim equal to the
recurrent output size.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from rnnlab import nn as rnn
from rnnlab.config import setting
from rnnlab.errors import InputError
from rnnlab.models.recurrent import CELLS, RecurrentOptions, recurrent_layer


@dataclass
class CharLMConfig(RecurrentOptions):
    """The character LM's shape (`CharLM`)."""

    cell: Literal["lstm", "gru", "rnn", "mingru", "minlstm"] = setting(
        "lstm", "recurrent cell (mingru, minlstm: parallel-scan cells, Feng et al. 2024)"
    )
    layers: int = setting(2, "stacked recurrent layers")
    hidden: int | Literal["auto"] = setting(
        256, "hidden units per layer (auto: sized to this machine and the budget at start-up)"
    )
    embed_dim: int = setting(64, "character embedding size (0: one-hot input)")
    dropout: float = setting(0.0, "dropout on embeddings, between layers and before the decoder")
    tie_weights: bool = setting(False, "decoder shares the embedding matrix")

    @classmethod
    def from_config(cls, cfg) -> CharLMConfig:
        """Pick this class's fields out of a larger (run) config or a dict."""
        get = cfg.get if isinstance(cfg, dict) else lambda k, d: getattr(cfg, k, d)
        return cls(**{f.name: get(f.name, f.default) for f in fields(cls)})


class CharLM(nn.Module):
    """A character language model over a vocabulary of `vocab_size` symbols."""

    def __init__(self, vocab_size: int, config: CharLMConfig | None = None):
        super().__init__()
        cfg = config or CharLMConfig()
        if cfg.cell not in CELLS:
            raise InputError(f"CharLM: expected cell in {', '.join(CELLS)}, got {cfg.cell!r}")
        if vocab_size < 2:
            raise InputError(f"CharLM: expected a vocabulary of at least 2, got {vocab_size}")
        if not isinstance(cfg.hidden, int):
            raise InputError(
                f"CharLM: expected hidden to be a number of units, got {cfg.hidden!r} (a run "
                "chooses hidden = 'auto' at start-up; build the model from its recorded config)"
            )
        for name in ("layers", "hidden"):
            if getattr(cfg, name) < 1:
                raise InputError(f"CharLM: expected {name} >= 1, got {getattr(cfg, name)}")
        if cfg.embed_dim < 0:
            raise InputError(f"CharLM: expected embed_dim >= 0, got {cfg.embed_dim}")
        self.config = cfg
        self.vocab_size = vocab_size
        out_size = cfg.proj_size or cfg.hidden
        if cfg.embed_dim:
            self.embedding = nn.Embedding(vocab_size, cfg.embed_dim)
            in_size = cfg.embed_dim
        else:
            self.embedding = None
            in_size = vocab_size
        self.rnn = recurrent_layer(
            "CharLM",
            cfg.cell,
            in_size,
            cfg.hidden,
            layers=cfg.layers,
            dropout=cfg.dropout,
            **cfg.recurrent_options(),
        )
        self.drop = (
            rnn.LockedDropout(cfg.dropout) if cfg.locked_dropout else nn.Dropout(cfg.dropout)
        )
        self.decoder = nn.Linear(out_size, vocab_size)
        if cfg.tie_weights:
            if not cfg.embed_dim or cfg.embed_dim != out_size:
                raise InputError(
                    f"CharLM: tie_weights needs embed_dim equal to the recurrent output size "
                    f"({out_size}), got embed_dim={cfg.embed_dim}"
                )
            self.decoder.weight = self.embedding.weight

    def init_state(self, batch: int, device=None, dtype=None):
        """Zero recurrent state for `batch` sequences: h (L, B, H_out) and, for LSTM, c."""
        p = self.decoder.weight
        device, dtype = device or p.device, dtype or p.dtype
        cfg = self.config
        h = torch.zeros(cfg.layers, batch, cfg.proj_size or cfg.hidden, device=device, dtype=dtype)
        if cfg.cell == "lstm":
            return h, torch.zeros(cfg.layers, batch, cfg.hidden, device=device, dtype=dtype)
        return h

    def forward(self, x: torch.Tensor, state=None):
        """Logits for the next character.

        Args:
            x: (T, B) int64 character ids.
            state: recurrent state from `init_state` or a previous call (None: zeros).
        Returns:
            logits (T, B, V) and the new state.
        """
        if x.dim() != 2 or x.dtype != torch.long:
            raise InputError(
                f"CharLM: expected x of shape (T, B) and dtype int64, "
                f"got {tuple(x.shape)} {x.dtype}"
            )
        if self.embedding is not None:
            e = self.embedding(x)  # (T, B, E)
        else:
            e = F.one_hot(x, self.vocab_size).to(self.decoder.weight.dtype)  # (T, B, V)
        y, state = self.rnn(self.drop(e), state)  # (T, B, H_out)
        return self.decoder(self.drop(y)), state  # (T, B, V)


def detach_state(state):
    """Cut the graph behind a carried state (truncated BPTT)."""
    if state is None:
        return None
    if isinstance(state, tuple):
        return tuple(s.detach() for s in state)
    return state.detach()
