"""Long-distance recall: the lectures' "I grew up in France … I speak fluent ___".

A key token, a gap of G distractor tokens, a query token: predict the value tied to the key
(one of `n_keys`, chance 1/n_keys). With `--seq-len L` longer than G + 2, the sequence
starts with further distractors, so runs at different gaps see sequences of one length
and differ only in the distance from key to query. `rnnlab tasks table` trains one model per
gap and plots accuracy against G.

    rnnlab train recall --model gru --gap 100 --params 20k --minutes 2
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from rnnlab.config import setting
from rnnlab.data.tasks import RecallLayout, recall_task
from rnnlab.errors import InputError
from rnnlab.nn.tcn import receptive_field
from rnnlab.tasks.registry import register
from rnnlab.tasks.sequence import (
    GeneratedTask,
    GeneratedTaskConfig,
    check_sequence_config,
    sequence_spec,
)


@dataclass
class RecallConfig(GeneratedTaskConfig):
    """Long-distance recall (`rnnlab train recall`)."""

    gap: int = setting(50, "G, distractor tokens between the key and the query")
    seq_len: int | None = setting(None, "sequence length L >= G + 2 (none: G + 2)")
    n_keys: int = setting(8, "keys (and values: the classes)")
    n_distractors: int = setting(8, "distinct distractor tokens")


def check_recall(cfg: RecallConfig) -> None:
    check_sequence_config("recall", cfg)
    if cfg.gap < 0:
        raise InputError(f"recall: expected gap >= 0, got {cfg.gap}")
    if cfg.seq_len is not None and cfg.gap > cfg.seq_len - 2:
        raise InputError(
            f"recall: the gap {cfg.gap} is longer than the sequence allows: seq_len "
            f"{cfg.seq_len} holds at most a gap of {cfg.seq_len - 2} (the key and the query "
            "take two positions)"
        )
    if cfg.n_keys < 2 or cfg.n_distractors < 1:
        raise InputError(
            f"recall: expected n_keys >= 2 and n_distractors >= 1, "
            f"got {cfg.n_keys} and {cfg.n_distractors}"
        )


class RecallTask(GeneratedTask):
    name = "recall"
    kind = "classification"
    tokens = True

    def __init__(self, cfg: RecallConfig, context):
        self.layout = RecallLayout(cfg.n_keys, cfg.n_distractors)
        self.length = cfg.seq_len if cfg.seq_len is not None else cfg.gap + 2
        self.inputs = self.layout.vocab_size
        self.outputs = self.layout.n_classes
        self.t_max = float(cfg.gap + 2)
        super().__init__(cfg, context)
        model = self.model_config
        if model.model == "tcn":
            reach = receptive_field(model.kernel_size, len(model.channels))
            if reach < cfg.gap + 2:
                self.log(
                    f"note: the TCN's receptive field ({reach}) is shorter than the distance "
                    f"from key to query ({cfg.gap + 2}): it cannot see the key"
                )

    def generate(self, n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
        cfg = self.cfg
        return recall_task(
            n,
            cfg.gap,
            seed=seed,
            n_keys=cfg.n_keys,
            n_distractors=cfg.n_distractors,
            length=self.length,
        )

    def describe_data(self) -> str:
        return (
            f"recall gap {self.cfg.gap}, length {self.length}, {self.cfg.n_keys} keys "
            f"(chance {1 / self.cfg.n_keys:.3f})"
        )


SPEC = register(
    sequence_spec(
        RecallTask,
        RecallConfig,
        summary="long-distance recall: a key, G distractors, a query; predict the key's value",
        description=(
            "Long-distance recall: a key token, a gap of G distractor tokens and a query; "
            "the model must output the value tied to the key. Accuracy; chance is 1/n_keys."
        ),
        check=check_recall,
        monitor="accuracy",
        mode="max",
    )
)
