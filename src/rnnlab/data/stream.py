"""Truncated-BPTT batches over one long token sequence, as in char-rnn.

Layout: N tokens are cut into B contiguous streams of L = (N − 1) // B tokens each (the tail is
dropped); stream b is ids[b·L : (b+1)·L] and its targets are ids[b·L + 1 : (b+1)·L + 1]. Batch k
of an epoch is the window k·S : (k+1)·S of every stream, returned time-major:

    x = streams[:, k·S:(k+1)·S].T   # (S, B)
    y = targets[:, k·S:(k+1)·S].T   # (S, B), x shifted by one token

so batch k + 1 continues each stream exactly where batch k stopped, and the recurrent state can
be carried (detached) from one batch to the next. There are L // S batches per epoch; a last
partial window is dropped, so every training batch has the same shape. After the last window the
next epoch restarts at the stream starts, and the carried state must then be reset.
"""

from __future__ import annotations

from collections.abc import Iterator
from numbers import Integral
from typing import Any

import numpy as np
import torch

from rnnlab.errors import DataError


def _as_ids(ids: Any, who: str) -> torch.Tensor:
    """`ids` as a contiguous (N,) int64 CPU tensor (sharing memory with `ids` where it can)."""
    if isinstance(ids, np.ndarray) and not ids.flags.writeable:
        ids = ids.copy()
    t = torch.as_tensor(ids)
    if t.ndim != 1 or t.dtype.is_floating_point or t.dtype.is_complex or t.dtype == torch.bool:
        raise DataError(
            f"{who}: expected (N,) integer token ids, got shape {tuple(t.shape)} of dtype {t.dtype}"
        )
    return t.to(device="cpu", dtype=torch.int64).contiguous()


def _check_positive(who: str, **sizes: int) -> None:
    """Raise DataError unless every size is an int >= 1."""
    for name, value in sizes.items():
        if isinstance(value, bool) or not isinstance(value, Integral) or value < 1:
            raise DataError(f"{who}: expected {name} to be an integer >= 1, got {value!r}")


class TBPTTStream:
    """Endless truncated-BPTT batches over `ids`, optionally one rank's share of them.

    With `world_size` W > 1 the global layout (B streams) is the same for every rank; rank r
    gets the contiguous block of streams [r·B/W, (r+1)·B/W), so the W ranks together see
    exactly the batches one process would.

    Position: `epoch` and `index` name the next batch to be returned (`index` in
    [0, batches_per_epoch)). After `next_batch()`, `new_epoch` is True when the batch returned
    was the first window of an epoch: the streams restarted, reset the carried state.
    `state_dict()` / `load_state_dict()` save and restore the position for an exact resume (the
    carried recurrent state is the caller's to save; without it, resume from a zero state).

    Args:
        ids: (N,) token ids (NumPy array, torch tensor or list).
        batch_size: the global number of streams B; divisible by `world_size`.
        seq_len: the window length S.
        rank: this process's rank r in [0, world_size).
        world_size: number of processes W sharing the batches.

    Raises:
        DataError: on bad sizes, or if N < B·S + 1 (too few tokens for one window).
    """

    def __init__(
        self, ids: Any, batch_size: int, seq_len: int, *, rank: int = 0, world_size: int = 1
    ):
        _check_positive(
            "TBPTTStream", batch_size=batch_size, seq_len=seq_len, world_size=world_size
        )
        if isinstance(rank, bool) or not isinstance(rank, Integral) or not 0 <= rank < world_size:
            raise DataError(f"TBPTTStream: expected rank in [0, {world_size}), got {rank!r}")
        if batch_size % world_size:
            raise DataError(
                f"TBPTTStream: expected batch_size divisible by world_size {world_size}, got "
                f"{batch_size}; use a batch size that is a multiple of the number of processes"
            )
        ids = _as_ids(ids, "TBPTTStream")
        n = ids.numel()
        need = batch_size * seq_len + 1
        if n < need:
            raise DataError(
                f"TBPTTStream: {n:,} tokens are too few for batch_size {batch_size} x seq_len "
                f"{seq_len}: one window needs at least {need:,} (batch_size x seq_len + 1)"
            )
        length = (n - 1) // batch_size
        per_rank = batch_size // world_size
        rows = slice(rank * per_rank, (rank + 1) * per_rank)
        self.batch_size = int(batch_size)
        self.seq_len = int(seq_len)
        self.rank = int(rank)
        self.world_size = int(world_size)
        self.stream_len = length
        self._x = ids[: batch_size * length].view(batch_size, length)[rows]  # (B/W, L)
        self._y = ids[1 : batch_size * length + 1].view(batch_size, length)[rows]  # (B/W, L)
        self.batches_per_epoch = length // seq_len
        self.epoch = 0
        self.index = 0
        self.new_epoch = False

    @property
    def local_batch_size(self) -> int:
        """Streams in this rank's batches: batch_size // world_size."""
        return self.batch_size // self.world_size

    def batch(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Window `index` of an epoch, without moving the position.

        Returns:
            (x, y): (S, B/W) int64 inputs and targets, y = x shifted by one token.
        """
        if not 0 <= index < self.batches_per_epoch:
            raise DataError(
                f"TBPTTStream: expected a batch index in [0, {self.batches_per_epoch}), got {index}"
            )
        cols = slice(index * self.seq_len, (index + 1) * self.seq_len)
        return self._x[:, cols].T.contiguous(), self._y[:, cols].T.contiguous()  # (S, B/W)

    def next_batch(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The next batch; advances the position, wrapping to the next epoch.

        Returns:
            (x, y): (S, B/W) int64 inputs and targets; `new_epoch` tells whether to reset state.
        """
        x, y = self.batch(self.index)
        self.new_epoch = self.index == 0
        self.index += 1
        if self.index == self.batches_per_epoch:
            self.epoch += 1
            self.index = 0
        return x, y

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        return self

    def __next__(self) -> tuple[torch.Tensor, torch.Tensor]:
        return self.next_batch()

    @property
    def progress(self) -> float:
        """Epochs completed so far, fractional: epoch + index / batches_per_epoch."""
        return self.epoch + self.index / self.batches_per_epoch

    def state_dict(self) -> dict[str, int]:
        """The position of the next batch: {"epoch": int, "index": int}."""
        return {"epoch": self.epoch, "index": self.index}

    def load_state_dict(self, state: dict[str, int]) -> None:
        """Restore a position saved by `state_dict()`.

        Raises:
            DataError: if `state` lacks the keys or the index is out of range for this layout.
        """
        try:
            epoch, index = state["epoch"], state["index"]
        except (KeyError, TypeError):
            raise DataError(
                f"TBPTTStream.load_state_dict: expected a dict with 'epoch' and 'index', "
                f"got {state!r}"
            ) from None
        for name, value in (("epoch", epoch), ("index", index)):
            if isinstance(value, bool) or not isinstance(value, Integral) or value < 0:
                raise DataError(
                    f"TBPTTStream.load_state_dict: expected {name} to be an integer >= 0, "
                    f"got {value!r}"
                )
        if index >= self.batches_per_epoch:
            raise DataError(
                f"TBPTTStream.load_state_dict: expected index < {self.batches_per_epoch} "
                f"(batches per epoch of this layout), got {index}; was the state saved with a "
                "different corpus, batch size or sequence length?"
            )
        self.epoch, self.index, self.new_epoch = int(epoch), int(index), False


IGNORE_INDEX = -100


def eval_layout(ids: Any, streams: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Every target of `ids` laid out as contiguous streams, for an exact held-out loss.

    The N − 1 targets ids[1:] are cut into contiguous streams of L = ⌈(N − 1) / streams⌉
    positions, B = ⌈(N − 1) / L⌉ of them (at most `streams`); the last stream is padded with
    inputs 0 and targets IGNORE_INDEX. Reading the columns window by window with the state
    carried predicts every target exactly once, each with as much context as its stream holds.

    Args:
        ids: (N,) token ids, N >= 2.
        streams: the most streams to use.

    Returns:
        (x, y): (L, B) int64 inputs and targets, y[t, b] the target after x[t, b].

    Raises:
        DataError: on fewer than 2 tokens or streams < 1.
    """
    _check_positive("eval_layout", streams=streams)
    ids = _as_ids(ids, "eval_layout")
    n = ids.numel() - 1
    if n < 1:
        raise DataError(f"eval_layout: expected at least 2 tokens (input and target), got {n + 1}")
    length = -(-n // min(streams, n))
    streams = -(-n // length)
    x = torch.zeros(streams * length, dtype=torch.int64)
    y = torch.full((streams * length,), IGNORE_INDEX, dtype=torch.int64)
    x[:n], y[:n] = ids[:-1], ids[1:]
    return x.view(streams, length).T.contiguous(), y.view(streams, length).T.contiguous()
