"""Copy memory (Arjovsky et al. 2016; Bai et al. 2018): repeat ten symbols after a long delay.

Input (T + 20 steps): ten symbols from 1…8, T − 1 blanks, then eleven 9s (the first is the
delimiter that says "now repeat"); target: blanks for T + 10 steps, then the ten symbols.
Loss: cross-entropy over all T + 20 steps, 10 classes. A model that remembers nothing can
at best output blanks and then guess uniformly among the 8 symbols, scoring
10·ln 8 / (T + 20) per step (0.173 at T = 100).

    rnnlab train copy --model tcn --seq-len 100 --channels 10,10,10,10,10,10,10,10 --kernel-size 8
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from rnnlab.config import setting
from rnnlab.data.tasks import COPY_N_CLASSES, copy_memory
from rnnlab.errors import InputError
from rnnlab.tasks.registry import register
from rnnlab.tasks.sequence import (
    GeneratedTask,
    GeneratedTaskConfig,
    check_sequence_config,
    sequence_spec,
)


def memoryless_loss(T: int) -> float:
    """The cross-entropy per step of the best model that remembers nothing: 10·ln 8 / (T + 20)."""
    return 10 * math.log(8) / (T + 20)


@dataclass
class CopyConfig(GeneratedTaskConfig):
    """Copy memory (`rnnlab train copy`)."""

    seq_len: int = setting(100, "T, the delay between the symbols and their recall")


def check_copy(cfg: CopyConfig) -> None:
    check_sequence_config("copy", cfg)
    if cfg.seq_len < 2:
        raise InputError(f"copy: expected seq_len (T) >= 2, got {cfg.seq_len}")


class CopyTask(GeneratedTask):
    name = "copy"
    kind = "classification"
    inputs = COPY_N_CLASSES  # token ids 0..9
    outputs = COPY_N_CLASSES
    tokens = True
    every_step = True

    def __init__(self, cfg: CopyConfig, context):
        self.t_max = float(cfg.seq_len + 20)
        super().__init__(cfg, context)

    def generate(self, n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
        return copy_memory(n, self.cfg.seq_len, seed=seed)

    def describe_data(self) -> str:
        return (
            f"copy memory T={self.cfg.seq_len} "
            f"(memoryless loss {memoryless_loss(self.cfg.seq_len):.4f})"
        )


SPEC = register(
    sequence_spec(
        CopyTask,
        CopyConfig,
        summary="copy memory: repeat ten symbols after T blanks (cross-entropy per step)",
        description=(
            "Copy memory: ten symbols, T − 1 blanks and a delimiter; the model must output "
            "blanks and then repeat the ten symbols. Cross-entropy over all T + 20 steps; "
            "remembering nothing scores 10·ln 8 / (T + 20)."
        ),
        check=check_copy,
        monitor="loss",
        mode="min",
    )
)
