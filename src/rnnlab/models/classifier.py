"""Sequence classifier: embedding, (bi)directional recurrent encoder, pooling, linear head.

o_1 … o_T = BiRNN(Embed(x_1) … Embed(x_T))            (lengths: steps past T_b are padding)
last:       z = [→h_{T_b}; ←h_1]                       (each direction's final state)
mean:       z = (1/T_b) Σ_{t ≤ T_b} o_t
attention:  a = softmax_t(vᵀ tanh(W o_t + b)),  z = Σ_t a_t o_t    (Yang et al. 2016)
p(y | x) = softmax(W_out dropout(z))
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from rnnlab.errors import InputError
from rnnlab.functional.attention import attend, lengths_mask
from rnnlab.models.recurrent import recurrent_layer

POOLINGS = ("last", "mean", "attention")
CLASSIFIER_CELLS = ("lstm", "gru", "rnn")


class Classifier(nn.Module):
    """Many-to-one: a label for a sequence of tokens.

    Args:
        vocab: vocabulary size; classes: number of labels.
        embed_dim: E; hidden: H per direction; layers; cell "lstm" | "gru" | "rnn".
        bidirectional: read the sequence both ways (the pooled width is 2H).
        pooling: "last", "mean" or "attention".
        dropout: on embeddings, between layers and before the head.
        pad: the padding token id.
        encoder_options: further `rnnlab.nn` layer options (layer_norm, zoneout, …).
    """

    def __init__(
        self,
        vocab: int,
        classes: int,
        *,
        embed_dim: int = 128,
        hidden: int = 128,
        layers: int = 1,
        cell: str = "lstm",
        bidirectional: bool = True,
        pooling: str = "attention",
        dropout: float = 0.0,
        pad: int = 0,
        **encoder_options: Any,
    ):
        super().__init__()
        owner = "Classifier"
        if pooling not in POOLINGS:
            raise InputError(f"{owner}: expected pooling in {', '.join(POOLINGS)}, got {pooling!r}")
        if cell not in CLASSIFIER_CELLS:
            raise InputError(
                f"{owner}: expected cell in {', '.join(CLASSIFIER_CELLS)}, got {cell!r}"
            )
        if classes < 2:
            raise InputError(f"{owner}: expected at least 2 classes, got {classes}")
        self.cell, self.pooling, self.bidirectional = cell, pooling, bidirectional
        self.layers = layers
        self.embed = nn.Embedding(vocab, embed_dim, padding_idx=pad)
        self.encoder = recurrent_layer(
            owner, cell, embed_dim, hidden, layers=layers, dropout=dropout,
            bidirectional=bidirectional, **encoder_options,
        )  # fmt: skip
        width = hidden * (2 if bidirectional else 1)
        if pooling == "attention":
            self.score = nn.Linear(width, width)  # W, b
            self.v = nn.Parameter(torch.empty(width).uniform_(-1, 1) / width**0.5)
        self.drop = nn.Dropout(dropout)
        self.head = nn.Linear(width, classes)

    def forward(
        self, tokens: Tensor, lengths: Tensor, *, return_weights: bool = False
    ) -> Tensor | tuple[Tensor, Tensor]:
        """Logits (B, classes) of token sequences (T, B) of the given lengths (B,).

        With `return_weights` (attention pooling) also the weights (B, T).
        """
        if tokens.dim() != 2:
            raise InputError(
                f"Classifier: expected tokens of shape (T, B), got {tuple(tokens.shape)}"
            )
        lengths = torch.as_tensor(lengths)
        if lengths.shape != (tokens.shape[1],) or (
            len(lengths) and (int(lengths.min()) < 1 or int(lengths.max()) > tokens.shape[0])
        ):
            raise InputError(
                f"Classifier: expected {tokens.shape[1]} lengths in [1, {tokens.shape[0]}], "
                f"got {lengths.tolist()}"
            )
        out, final = self.encoder(self.drop(self.embed(tokens)), lengths=lengths.cpu())
        weights = None
        if self.pooling == "last":
            h_n = final[0] if self.cell == "lstm" else final  # (layers·D, B, H)
            D = 2 if self.bidirectional else 1
            z = h_n[-D:].transpose(0, 1).reshape(tokens.shape[1], -1)  # top layer's directions
        else:
            keys = out.transpose(0, 1)  # (B, T, W)
            mask = lengths_mask(lengths.to(keys.device), keys.shape[1])
            if self.pooling == "mean":
                z = (keys * mask[..., None]).sum(1) / lengths.to(keys.device)[:, None]
            else:
                scores = torch.tanh(self.score(keys)) @ self.v  # (B, T)
                z, weights = attend(scores, keys, mask)
        logits = self.head(self.drop(z))
        if return_weights:
            if weights is None:
                raise InputError("Classifier: only attention pooling has weights")
            return logits, weights
        return logits
