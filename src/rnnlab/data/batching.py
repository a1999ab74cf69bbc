"""Batches of variable-length token sequences: a length-bucketed epoch order, padding.

An epoch's order is a seeded permutation of the examples, cut into chunks of `chunk` batches
whose examples are sorted by length (so a batch holds sequences of similar length and little
padding), the batches of the epoch then shuffled. Only full batches are used (unless there is
none). The same (lengths, batch, seed) gives the same batches on any machine.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch


def bucketed_epoch(
    lengths: Sequence[int], batch: int, seed: int, *, chunk: int = 50
) -> list[np.ndarray]:
    """The batches (arrays of example indices) of one epoch."""
    lengths = np.asarray(lengths)
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(lengths))
    batches = []
    for lo in range(0, len(order), batch * chunk):
        part = order[lo : lo + batch * chunk]
        part = part[np.argsort(lengths[part], kind="stable")]
        batches += [part[i : i + batch] for i in range(0, len(part), batch)]
    batches = [b for b in batches if len(b) == batch] or batches
    return [batches[i] for i in rng.permutation(len(batches))]


def pad_time_major(
    sequences: Sequence[Sequence[int]], pad: int, *, empty: int | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """(T, B) tokens padded with `pad`, and the lengths (B,).

    An empty sequence becomes the single token `empty` (a model needs one step to read);
    without `empty` it is a ValueError.
    """
    rows = []
    for s in sequences:
        if not len(s):
            if empty is None:
                raise ValueError("pad_time_major: an empty sequence")
            s = [empty]
        rows.append(list(s))
    lengths = torch.tensor([len(s) for s in rows], dtype=torch.long)
    out = torch.full((int(lengths.max()) if rows else 0, len(rows)), pad, dtype=torch.long)
    for b, s in enumerate(rows):
        out[: len(s), b] = torch.tensor(s, dtype=torch.long)
    return out, lengths
