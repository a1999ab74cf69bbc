"""Where the seq2seq and classify tasks are in their training data.

`MicroBatches`: global batch i (the same on any number of processes) is drawn once, and this
process takes its share of its rows in `accumulate` consecutive micro-batches; the position
(the next global batch) is what a checkpoint saves. `EpochOrder`: global batch i of a fixed
training set, epoch i // n of length-bucketed orders (`rnnlab.data.batching.bucketed_epoch`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from rnnlab.data.batching import bucketed_epoch
from rnnlab.errors import CheckpointError, InputError
from rnnlab.train import distributed as D
from rnnlab.train.distributed import DistInfo


class MicroBatches:
    """This process's micro-batches of the global batches `draw(0)`, `draw(1)`, …"""

    def __init__(
        self, owner: str, batch: int, accumulate: int, dist: DistInfo, draw: Callable[[int], Any]
    ):
        if dist.world_size * accumulate > batch:
            raise InputError(
                f"{owner}: batch {batch} is too small for {dist.world_size} processes "
                f"x {accumulate} micro-batches"
            )
        self.owner, self.draw = owner, draw
        self.groups = D.shares(batch, dist.world_size, dist.rank, accumulate)
        self.index = 0  # the next global batch
        self._micro = 0
        self._batch: Any = None

    def next(self) -> tuple[Any, slice, int]:
        """(the global batch, this micro-batch's rows of it, the global batch's index)."""
        index = self.index
        if self._micro == 0:
            self._batch = self.draw(index)
        batch, rows = self._batch, self.groups[self._micro]
        self._micro = (self._micro + 1) % len(self.groups)
        if self._micro == 0:
            self.index += 1
            self._batch = None
        return batch, rows, index

    def state(self) -> dict[str, Any]:
        return {"index": self.index}

    def load_state(self, meta: dict[str, Any]) -> None:
        try:
            self.index = int(meta["index"])
        except (KeyError, TypeError, ValueError):
            raise CheckpointError(f"{self.owner}: the checkpoint lacks its data position") from None
        self._micro, self._batch = 0, None


class EpochOrder:
    """The rows of global batch i of a fixed training set: epoch i // n's bucketed order."""

    def __init__(self, lengths: Sequence[int], batch: int, seed_of_epoch: Callable[[int], int]):
        self.lengths, self.batch, self.seed_of_epoch = list(lengths), batch, seed_of_epoch
        self._epoch: tuple[int, list[np.ndarray]] | None = None
        self.per_epoch = len(self._batches(0))

    def _batches(self, epoch: int) -> list[np.ndarray]:
        if self._epoch is None or self._epoch[0] != epoch:
            order = bucketed_epoch(self.lengths, self.batch, self.seed_of_epoch(epoch))
            self._epoch = (epoch, order)
        return self._epoch[1]

    def __call__(self, index: int) -> np.ndarray:
        return self._batches(index // self.per_epoch)[index % self.per_epoch]
