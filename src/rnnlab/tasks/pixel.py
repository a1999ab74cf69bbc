"""Pixel-by-pixel image classification (sequential / permuted MNIST, Fashion-MNIST).

Each 28×28 image is read one pixel per step, row by row (784 steps), and classified after
the last; with `--permute` the pixels are read in a fixed random order (drawn from
`data_seed`), which spreads the dependencies over the whole sequence. Data: IDX files (the
MNIST format, gzip or plain) from `--data-dir`, by default Debian's `dataset-fashion-mnist`
in /usr/share/datasets/fashion-mnist; MNIST's files work the same. The validation images
are held out of the training set (seeded); the test accuracy is on the official test set.

    rnnlab train pixel --model tcn --minutes 20
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch

from rnnlab.config import override, setting
from rnnlab.data.idx import DEFAULT_IMAGE_DIR, load_idx_images
from rnnlab.data.tasks import permutation
from rnnlab.errors import CheckpointError, InputError
from rnnlab.tasks.registry import register
from rnnlab.tasks.sequence import (
    SequenceTask,
    SequenceTaskConfig,
    check_sequence_config,
    sequence_spec,
    stream_seed,
)
from rnnlab.train.run import evaluate_trained


@dataclass
class PixelConfig(SequenceTaskConfig):
    """Pixel-by-pixel image classification (`rnnlab train pixel`)."""

    model: Literal["tcn", "lstm", "gru", "rnn", "mingru", "minlstm"] = "tcn"
    batch: int = 64
    eval_every: int = 500
    data_dir: str = setting(
        DEFAULT_IMAGE_DIR, "directory of the IDX files (train-images-idx3-ubyte[.gz], …)"
    )
    permute: bool = setting(False, "read the pixels in a fixed random order (from data_seed)")
    val_size: int = setting(5000, "validation images, held out of the training images")


def check_pixel(cfg: PixelConfig) -> None:
    check_sequence_config("pixel", cfg)


def canonical_pixel(cfg: PixelConfig) -> PixelConfig:
    return override(cfg, {"data_dir": str(Path(cfg.data_dir).expanduser().resolve())})


class PixelTask(SequenceTask):
    name = "pixel"
    kind = "classification"
    inputs = 1
    outputs = 10

    def __init__(self, cfg: PixelConfig, context):
        self.cfg = cfg
        self.t_max = 784.0
        self._images: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}
        self._rows_cache: tuple[np.ndarray, np.ndarray] | None = None
        self._order: torch.Tensor | None = None
        stats = (context.saved or {}).get("pixels")
        if stats is None:
            self.mean, self.std = self._statistics()
        else:
            try:
                self.mean, self.std = float(stats["mean"]), float(stats["std"])
            except (KeyError, TypeError, ValueError):
                raise CheckpointError(
                    "pixel: the checkpoint's pixel statistics are damaged"
                ) from None
        super().__init__(cfg, context)
        if context.training:  # the training images are loaded: check what depends on them now
            train, _ = self._rows()
            if len(train) < cfg.batch:
                raise InputError(
                    f"pixel: batch {cfg.batch} is larger than the {len(train)} training images"
                )

    def _statistics(self) -> tuple[float, float]:
        """Mean and standard deviation of the training images' pixels (scaled to [0, 1])."""
        images, _ = self._split_images("train")
        values = images.float().div_(255.0)
        return float(values.mean()), float(values.std())

    def _split_images(self, part: str) -> tuple[torch.Tensor, torch.Tensor]:
        """The IDX images of "train" (all training images) or "test"."""
        if part not in self._images:
            images, labels = load_idx_images(self.cfg.data_dir, part)
            self._images[part] = (images.flatten(1), labels)  # (N, H·W)
        return self._images[part]

    def _rows(self) -> tuple[np.ndarray, np.ndarray]:
        """Training and validation rows of the training images (a seeded split)."""
        if self._rows_cache is None:
            n = self._split_images("train")[0].shape[0]
            if self.cfg.val_size >= n:
                raise InputError(
                    f"pixel: val_size {self.cfg.val_size} leaves no training images out of {n}"
                )
            rng = np.random.Generator(np.random.PCG64(stream_seed(self.cfg.data_seed, 1, 0)))
            order = rng.permutation(n)
            self._rows_cache = order[self.cfg.val_size :], order[: self.cfg.val_size]
        return self._rows_cache

    def _sequences(self, images: torch.Tensor) -> torch.Tensor:
        """(N, H·W) uint8 → (N, H·W, 1) normalised floats, in reading order."""
        x = (images.float() / 255.0 - self.mean) / self.std  # (N, H·W)
        if self.cfg.permute:
            if self._order is None or len(self._order) != x.shape[1]:
                self._order = permutation(x.shape[1], seed=self.cfg.data_seed)
            x = x[:, self._order]
        return x.unsqueeze(-1)  # (N, H·W, 1)

    def train_batch(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        train, _ = self._rows()
        per_epoch = len(train) // self.cfg.batch
        epoch, k = divmod(index, per_epoch)
        rng = np.random.Generator(np.random.PCG64(stream_seed(self.cfg.data_seed, 0, epoch)))
        rows = train[rng.permutation(len(train))[k * self.cfg.batch : (k + 1) * self.cfg.batch]]
        images, labels = self._split_images("train")
        rows_t = torch.from_numpy(rows)
        return self._sequences(images[rows_t]), labels[rows_t]

    def held_out(self, split: str) -> tuple[torch.Tensor, torch.Tensor]:
        if split not in ("val", "test"):
            raise InputError(f"pixel: expected split val or test, got {split!r}")
        if split not in self._held_out:
            if split == "test":
                images, labels = self._split_images("test")
            else:
                _, val = self._rows()
                rows = torch.from_numpy(val)
                images, labels = self._split_images("train")
                images, labels = images[rows], labels[rows]
            self._held_out[split] = (self._sequences(images), labels)
        return self._held_out[split]

    def meta(self) -> dict[str, Any]:
        return {**super().meta(), "pixels": {"mean": self.mean, "std": self.std}}

    def describe_data(self) -> str:
        name = Path(self.cfg.data_dir).name
        order = "permuted" if self.cfg.permute else "in order"
        return f"pixel-by-pixel {name} (784 steps, {order})"


def evaluate_pixel(path, *, split: str = "test", device: str = "cpu", data: str | None = None):
    """`rnnlab eval` for pixel models: `data` names another directory of IDX files."""
    overrides = {"data_dir": str(Path(data).expanduser().resolve())} if data else None
    return evaluate_trained(SPEC, path, split=split, device=device, overrides=overrides)


SPEC = register(
    sequence_spec(
        PixelTask,
        PixelConfig,
        summary="pixel-by-pixel image classification (784 steps; Fashion-MNIST, MNIST)",
        description=(
            "Classify 28x28 images read one pixel per step (784 steps), optionally in a fixed "
            "permuted order (--permute). Reads IDX files (gzip or plain) from --data-dir, by "
            "default Debian's dataset-fashion-mnist."
        ),
        check=check_pixel,
        monitor="accuracy",
        mode="max",
        canonical=canonical_pixel,
        evaluate=evaluate_pixel,
        options=("data",),
    )
)
