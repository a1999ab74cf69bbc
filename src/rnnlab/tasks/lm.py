"""Language modelling with truncated BPTT: the `Task` a recurrent LM trains under.

Training reads the split as B contiguous streams (`rnnlab.data.TBPTTStream`); each batch is
the next window of `seq_len` tokens of every stream and the recurrent state is carried from
one batch to the next, detached, as char-rnn does. At the end of an epoch the streams start
again from their beginnings and the state is reset.

Held-out loss reads the split as `streams` contiguous streams with carried state, so that
every target is predicted once with as much context as the layout allows.

The training loss is the summed cross-entropy of the window with its count of targets; the
trainer turns it into the mean over the global batch.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from rnnlab.data import IGNORE_INDEX, TBPTTStream, eval_layout
from rnnlab.errors import InputError
from rnnlab.models.charlm import detach_state
from rnnlab.train import distributed as D
from rnnlab.train.metrics import bits
from rnnlab.train.plot import plot_losses
from rnnlab.train.task import Task, format_metrics


class LMTask(Task):
    """Next-token prediction over token-id splits with state carried across batches.

    Args:
        splits: token ids per split name ("train", "val", "test"), 1-D int arrays.
        batch_size: global number of training streams (divided among processes).
        seq_len: truncated-BPTT window.
        device: where batches go.
        eval_streams, eval_seq_len: layout of held-out evaluation.
        dist_info: this process's place in a torchrun job.
        state_dtype: dtype of a restored carried state (the model's parameters'); under
            autocast the carried state may be in a lower precision, which a resumed run with
            other settings must not inherit.
        accumulate: micro-batches per optimizer step: each window's streams are split into
            this many groups, taken one after the other with their own carried states, so
            the step is the same as with the whole batch at once.
    """

    def __init__(
        self,
        splits: dict[str, np.ndarray],
        *,
        batch_size: int,
        seq_len: int,
        device: torch.device,
        eval_streams: int = 32,
        eval_seq_len: int = 256,
        dist_info: D.DistInfo | None = None,
        state_dtype: torch.dtype = torch.float32,
        accumulate: int = 1,
    ):
        self.splits = splits
        self.state_dtype = state_dtype
        self.device = device
        self.dist = dist_info or D.DistInfo()
        self.eval_streams = eval_streams
        self.eval_seq_len = eval_seq_len
        self.stream = TBPTTStream(
            splits["train"],
            batch_size,
            seq_len,
            rank=self.dist.rank,
            world_size=self.dist.world_size,
        )
        self.carry = None
        local = batch_size // self.dist.world_size
        if accumulate > local:
            raise InputError(
                f"LMTask: accumulate {accumulate} needs at least as many streams per process, "
                f"got {local}"
            )
        self.groups = D.shares(local, 1, 0, accumulate)
        self._micro = 0  # the next micro-batch of the current window
        self._window = None  # (x, y, fresh) of the current window
        self._parts: list = []  # the new carried state of each group done so far

    def train_loss(self, model: nn.Module) -> tuple[torch.Tensor, int]:
        """Summed loss on the next window (or its next group of streams, when accumulating).

        The state carried in from the previous window is detached.
        """
        if self._micro == 0:
            x, y = self.stream.next_batch()
            self._window = (x, y, self.stream.new_epoch)  # new epoch: start from a zero state
            self._parts = []
        x, y, fresh = self._window
        group = self.groups[self._micro]
        carry = None if fresh or self.carry is None else _select(self.carry, group)
        logits, state = model(x[:, group].to(self.device), carry)  # (S, b, V)
        self._parts.append(detach_state(state))
        self._micro = (self._micro + 1) % len(self.groups)
        if self._micro == 0:
            self.carry = _join(self._parts)
        loss = F.cross_entropy(
            logits.float().flatten(0, 1), y[:, group].to(self.device).flatten(), reduction="sum"
        )
        return loss, y[:, group].numel()

    @torch.no_grad()
    def evaluate(
        self, model: nn.Module, split: str = "val", *, max_tokens: int | None = None
    ) -> dict[str, float]:
        """Mean cross-entropy (nats per token) over the split (its first `max_tokens` targets)."""
        ids = self.splits[split]
        if max_tokens is not None:
            ids = ids[: max_tokens + 1]
        result = held_out_loss(model, ids, self.eval_streams, self.eval_seq_len, self.device)
        return {**result, "bpc": bits(result["loss"])}

    def plot(self, records: list[dict[str, Any]], path: Path) -> bool:
        return plot_losses(records, path, unit="character")

    def train_metrics(self, loss: float) -> dict[str, float]:
        return {"bpc": bits(loss)}

    def format_metrics(self, metrics: dict[str, float]) -> str:
        text = f"loss {metrics['loss']:.4f} nats/char"
        if "bpc" in metrics:
            text += f", {metrics['bpc']:.4f} bpc"
        rest = format_metrics(metrics, skip=("loss", "bpc"))
        return f"{text}, {rest}" if rest else text

    def state(self) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
        tensors = {}
        if self.carry is not None:
            parts = self.carry if isinstance(self.carry, tuple) else (self.carry,)
            for i, s in enumerate(parts):
                tensors[f"carry.{i}"] = D.gather_cat(s, self.dist, dim=1).cpu()
        return {"stream": self.stream.state_dict()}, tensors

    def load_state(self, meta: dict[str, Any], tensors: dict[str, torch.Tensor]) -> None:
        self.stream.load_state_dict(meta["stream"])
        parts = [tensors[f"carry.{i}"] for i in range(len(tensors))]
        if not parts:
            self.carry = None
            return
        local = self.stream.batch_size // self.dist.world_size
        lo = self.dist.rank * local
        parts = [p[:, lo : lo + local].to(self.device, self.state_dtype) for p in parts]
        self.carry = tuple(parts) if len(parts) > 1 else parts[0]


def _select(state, columns: slice):
    """The carried state of some streams (the batch is dim 1 of every part)."""
    if isinstance(state, tuple):
        return tuple(s[:, columns] for s in state)
    return state[:, columns]


def _join(parts: list):
    """Carried states of consecutive groups of streams, as one state."""
    if len(parts) == 1:
        return parts[0]
    if isinstance(parts[0], tuple):
        return tuple(torch.cat(group, dim=1) for group in zip(*parts, strict=True))
    return torch.cat(parts, dim=1)


@torch.no_grad()
def held_out_loss(
    model: nn.Module, ids: np.ndarray, streams: int, seq_len: int, device: torch.device
) -> dict[str, float]:
    """Mean cross-entropy of `model` on every target of `ids`.

    The targets are laid out by `rnnlab.data.eval_layout` (`streams` contiguous streams) and
    read window by window with the state carried, so each is predicted exactly once.
    Returns {"loss": nats per token, "tokens": N − 1}.
    """
    was_training = model.training
    model.eval()
    x, y = (t.to(device) for t in eval_layout(ids, streams))  # (L, B)
    total, state = 0.0, None
    for t in range(0, x.shape[0], seq_len):
        logits, state = model(x[t : t + seq_len], state)
        total += F.cross_entropy(
            logits.float().flatten(0, 1),
            y[t : t + seq_len].flatten(),
            ignore_index=IGNORE_INDEX,
            reduction="sum",
        ).item()
    model.train(was_training)
    n = len(ids) - 1
    return {"loss": total / n, "tokens": float(n)}
