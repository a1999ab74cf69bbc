"""The contract between the model-agnostic trainer and a task (character LM, classifier, …)."""

from __future__ import annotations

from typing import Any, Protocol

import torch
from torch import nn


class Task(Protocol):
    """What the trainer asks of a task.

    A task owns its data stream and anything carried between batches (e.g. the recurrent
    state of truncated BPTT), so that the trainer stays the same for every model.
    """

    def train_loss(self, model: nn.Module) -> tuple[torch.Tensor, int]:
        """Take the next training batch and return (mean loss in nats per token, tokens).

        `model` may be wrapped in DistributedDataParallel; call it, do not reach inside.
        """
        ...

    def evaluate(
        self, model: nn.Module, split: str = "val", *, max_tokens: int | None = None
    ) -> dict[str, float]:
        """Held-out metrics on `split`; at least {"loss": nats per token, "tokens": count}.

        Must not draw from any random number generator (resume equivalence depends on it).
        """
        ...

    def state(self) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
        """Everything needed to continue exactly: a JSON-able part and tensors.

        Called on every process at the same step (it may use collectives under DDP); the
        returned state describes the whole job, not just this process's share.
        """
        ...

    def load_state(self, meta: dict[str, Any], tensors: dict[str, torch.Tensor]) -> None:
        """Restore what `state()` returned (possibly saved with another number of processes)."""
        ...
