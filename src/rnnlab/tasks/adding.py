"""The adding problem (Hochreiter & Schmidhuber 1997): remember two marked numbers, add them.

Input (T, 2) per sequence: a number in [0, 1) and a marker, 1 at exactly two positions;
target: the sum of the two marked numbers, read out after the last step; loss: squared
error. Predicting the mean (1) scores MSE 1/6 ≈ 0.167, so the task is solved only by a
model that carries the two values across up to T steps.

    rnnlab train adding --model lstm --seq-len 100 --params 70k --init chrono --minutes 3
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from rnnlab.config import setting
from rnnlab.data.tasks import adding_problem
from rnnlab.errors import InputError
from rnnlab.tasks.registry import register
from rnnlab.tasks.sequence import (
    GeneratedTask,
    GeneratedTaskConfig,
    check_sequence_config,
    sequence_spec,
)

MEAN_PREDICTOR_MSE = 1.0 / 6.0


@dataclass
class AddingConfig(GeneratedTaskConfig):
    """The adding problem (`rnnlab train adding`)."""

    seq_len: int = setting(100, "T, the sequence length")


def check_adding(cfg: AddingConfig) -> None:
    check_sequence_config("adding", cfg)
    if cfg.seq_len < 2:
        raise InputError(
            f"adding: expected seq_len (T) >= 2 (two marked positions), got {cfg.seq_len}"
        )


class AddingTask(GeneratedTask):
    name = "adding"
    kind = "regression"
    inputs = 2
    outputs = 1

    def __init__(self, cfg: AddingConfig, context):
        self.t_max = float(cfg.seq_len)
        super().__init__(cfg, context)

    def generate(self, n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
        return adding_problem(n, self.cfg.seq_len, seed=seed)

    def describe_data(self) -> str:
        return f"adding T={self.cfg.seq_len} (mean predictor MSE {MEAN_PREDICTOR_MSE:.4f})"


SPEC = register(
    sequence_spec(
        AddingTask,
        AddingConfig,
        summary="the adding problem: sum two marked numbers of a long sequence (MSE)",
        description=(
            "The adding problem: each step holds a number in [0, 1) and a marker; the target "
            "is the sum of the two marked numbers, read out after the last step. The mean "
            "predictor scores MSE 1/6."
        ),
        check=check_adding,
        monitor="loss",
        mode="min",
    )
)
