"""Seeded generators for the long-memory benchmarks: adding, copy memory, recall, permutations.

Every generator is a pure function of its arguments: it builds its own
`numpy.random.Generator(numpy.random.PCG64(seed))`, draws with `random` / `integers` /
`permutation` only, in a fixed documented order, and never touches a global RNG. The same
arguments therefore give the same data on any machine and platform (the tests pin values, so
a change in NumPy's streams would be caught). Results are torch tensors on the CPU.

- `adding_problem`: x (n, T, 2) float32, y (n,) float32 = the sum of the two marked values.
  Predicting the mean (1) scores MSE 1/6; a model must remember the two marked values.
- `copy_memory`: x, y (n, T + 20) int64 over 10 classes; y repeats the 10 leading symbols of
  x after the delimiter. Predicting blanks then uniform symbols scores cross-entropy
  10·ln 8 / (T + 20) per step.
- `recall_task`: the long-distance dependency of the lectures ("I grew up in France … I speak
  fluent ___"): a key, `gap` distractors, a query; the target is the key's value. Token
  layout in `RecallLayout`.
- `permutation`: a fixed seeded permutation, e.g. of the 784 pixels of a 28×28 image.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from rnnlab.errors import InputError

COPY_N_SYMBOLS = 10  # symbols to remember
COPY_BLANK = 0
COPY_DELIMITER = 9  # also fills the recall phase of the input
COPY_SYMBOL_LOW, COPY_SYMBOL_HIGH = 1, 8  # symbols are drawn from 1..8 inclusive
COPY_N_CLASSES = 10  # 0 blank, 1..8 symbols, 9 delimiter

RECALL_QUERY = 0  # the query token of recall_task


@dataclass(frozen=True)
class RecallLayout:
    """The token layout of `recall_task`.

    Tokens (vocabulary size V = 1 + n_keys + n_distractors):
        0                                   the query token (always the last input token)
        1 .. n_keys                         keys (always the first input token)
        n_keys + 1 .. n_keys + n_distractors distractors (fill the gap)

    The value of key k is class k − 1 (one-to-one; n_keys classes).

    Attributes:
        n_keys: number of keys (= number of target classes), >= 2.
        n_distractors: number of distractor tokens, >= 1.
    """

    n_keys: int = 8
    n_distractors: int = 8

    def __post_init__(self) -> None:
        _check_int("RecallLayout", "n_keys", self.n_keys, minimum=2)
        _check_int("RecallLayout", "n_distractors", self.n_distractors, minimum=1)

    @property
    def query(self) -> int:
        """The query token (0)."""
        return RECALL_QUERY

    @property
    def keys(self) -> range:
        """The key tokens, 1 .. n_keys."""
        return range(1, self.n_keys + 1)

    @property
    def distractors(self) -> range:
        """The distractor tokens, n_keys + 1 .. n_keys + n_distractors."""
        return range(self.n_keys + 1, self.n_keys + self.n_distractors + 1)

    @property
    def vocab_size(self) -> int:
        """Input vocabulary size, 1 + n_keys + n_distractors."""
        return 1 + self.n_keys + self.n_distractors

    @property
    def n_classes(self) -> int:
        """Number of target classes (one per key)."""
        return self.n_keys

    def value_of(self, key: int) -> int:
        """The class tied to key token `key` (key − 1).

        Args:
            key: a key token, 1 .. n_keys.

        Returns:
            the class index in 0 .. n_keys − 1.

        Raises:
            InputError: if `key` is not a key token.
        """
        if isinstance(key, bool) or not isinstance(key, int | np.integer) or key not in self.keys:
            raise InputError(
                f"RecallLayout.value_of: expected a key token in 1..{self.n_keys}, got {key!r}"
            )
        return int(key) - 1


def recall_vocab_size(n_keys: int = 8, n_distractors: int = 8) -> int:
    """Input vocabulary size of `recall_task`: V = 1 + n_keys + n_distractors.

    Args:
        n_keys: number of keys, >= 2.
        n_distractors: number of distractor tokens, >= 1.

    Returns:
        V.

    Raises:
        InputError: if an argument is not an int in range.
    """
    return RecallLayout(n_keys, n_distractors).vocab_size


def adding_problem(n: int, T: int, *, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The adding problem (Hochreiter & Schmidhuber 1997): sum the two marked numbers.

    x[b, t, 0] ~ U[0, 1);  x[b, t, 1] = 1 at exactly two distinct positions p1 ≠ p2 (drawn
    uniformly without replacement from 0..T−1), else 0;  y[b] = x[b, p1, 0] + x[b, p2, 0].

    Draw order (part of the contract): values `random((n, T), float32)`, then p1
    `integers(0, T, n)`, then q `integers(0, T − 1, n)` with p2 = q + (q >= p1).

    Args:
        n: number of sequences, >= 1.
        T: sequence length, >= 2.
        seed: an int >= 0.

    Returns:
        x: (n, T, 2) float32.
        y: (n,) float32.

    Raises:
        InputError: if an argument is not an int in range.
    """
    n = _check_int("adding_problem", "n", n, minimum=1)
    T = _check_int("adding_problem", "T", T, minimum=2, why="two marked positions")
    rng = _rng("adding_problem", seed)
    values = rng.random((n, T), dtype=np.float32)  # (n, T) in [0, 1)
    p1 = rng.integers(0, T, size=n, dtype=np.int64)  # (n,)
    q = rng.integers(0, T - 1, size=n, dtype=np.int64)  # (n,)
    p2 = q + (q >= p1)  # uniform over positions != p1
    rows = np.arange(n)
    marks = np.zeros((n, T), dtype=np.float32)
    marks[rows, p1] = 1.0
    marks[rows, p2] = 1.0
    x = np.stack([values, marks], axis=-1)  # (n, T, 2)
    y = values[rows, p1] + values[rows, p2]  # (n,) float32
    return torch.from_numpy(x), torch.from_numpy(y)


def copy_memory(n: int, T: int, *, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The copy-memory task (Arjovsky et al. 2016): recall 10 symbols after T steps.

    With s = 10 symbols drawn uniformly from 1..8, blank 0 and delimiter 9 (length T + 20):
        x = s, 0 × (T − 1), 9 × 11       (the first 9 is the delimiter: "output now")
        y = 0 × (T + 10), s
    so y[:, T + 10:] == x[:, :10] and y is blank elsewhere. 10 classes (0..9).

    Draw order: symbols `integers(1, 9, (n, 10))`.

    Args:
        n: number of sequences, >= 1.
        T: the delay (blanks between the symbols and the delimiter, plus one), >= 1.
        seed: an int >= 0.

    Returns:
        x: (n, T + 20) int64.
        y: (n, T + 20) int64.

    Raises:
        InputError: if an argument is not an int in range.
    """
    n = _check_int("copy_memory", "n", n, minimum=1)
    T = _check_int("copy_memory", "T", T, minimum=1)
    rng = _rng("copy_memory", seed)
    k = COPY_N_SYMBOLS
    symbols = rng.integers(
        COPY_SYMBOL_LOW, COPY_SYMBOL_HIGH + 1, size=(n, k), dtype=np.int64
    )  # (n, 10)
    x = np.full((n, T + 2 * k), COPY_BLANK, dtype=np.int64)  # (n, T + 20)
    x[:, :k] = symbols
    x[:, T + k - 1 :] = COPY_DELIMITER  # 11 nines: delimiter + recall phase
    y = np.full((n, T + 2 * k), COPY_BLANK, dtype=np.int64)
    y[:, T + k :] = symbols
    return torch.from_numpy(x), torch.from_numpy(y)


def recall_task(
    n: int,
    gap: int,
    *,
    seed: int,
    n_keys: int = 8,
    n_distractors: int = 8,
    length: int | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Long-distance recall: a key, `gap` distractors, a query; predict the key's value.

    x[b] = (k_b, d_b1, …, d_b,gap, 0) with k_b ~ U{1..n_keys}, d ~ U{n_keys+1 .. n_keys +
    n_distractors}; y[b] = k_b − 1. See `RecallLayout` for the token layout (vocabulary size
    1 + n_keys + n_distractors, n_keys classes). Chance accuracy is 1 / n_keys. With a
    `length` L > gap + 2, the sequence starts with L − gap − 2 further distractors, so that
    sequences of every gap can have the same length and differ only in the distance between
    key and query.

    Draw order: keys `integers(1, n_keys + 1, n)`, then distractors
    `integers(n_keys + 1, n_keys + n_distractors + 1, (n, gap))`, then (with a longer
    `length`) the leading distractors `integers(…, (n, L − gap − 2))`.

    Args:
        n: number of sequences, >= 1.
        gap: distractors between key and query, >= 0 (0: the key, then the query).
        seed: an int >= 0.
        n_keys: number of keys and of classes, >= 2.
        n_distractors: number of distractor tokens, >= 1.
        length: the sequence length L >= gap + 2 (None: gap + 2).

    Returns:
        x: (n, L) int64 tokens, the key at position L − gap − 2 and the query at L − 1.
        y: (n,) int64 classes in 0..n_keys − 1.

    Raises:
        InputError: if an argument is not an int in range, or the gap does not fit the length.
    """
    n = _check_int("recall_task", "n", n, minimum=1)
    gap = _check_int("recall_task", "gap", gap, minimum=0)
    if length is None:
        length = gap + 2
    length = _check_int("recall_task", "length", length, minimum=2)
    if gap > length - 2:
        raise InputError(
            f"recall_task: the gap {gap} is longer than a sequence of length {length} allows "
            f"(at most length − 2 = {length - 2}: the key and the query take two positions)"
        )
    layout = RecallLayout(
        _check_int("recall_task", "n_keys", n_keys, minimum=2),
        _check_int("recall_task", "n_distractors", n_distractors, minimum=1),
    )
    rng = _rng("recall_task", seed)
    keys = rng.integers(layout.keys.start, layout.keys.stop, size=n, dtype=np.int64)  # (n,)
    distractors = rng.integers(
        layout.distractors.start, layout.distractors.stop, size=(n, gap), dtype=np.int64
    )  # (n, gap)
    lead = rng.integers(
        layout.distractors.start,
        layout.distractors.stop,
        size=(n, length - gap - 2),
        dtype=np.int64,
    )  # (n, L − gap − 2)
    x = np.empty((n, length), dtype=np.int64)
    start = length - gap - 2  # the key's position
    x[:, :start] = lead
    x[:, start] = keys
    x[:, start + 1 : -1] = distractors
    x[:, -1] = layout.query
    y = keys - 1
    return torch.from_numpy(x), torch.from_numpy(y)


def permutation(n: int, *, seed: int) -> torch.Tensor:
    """A fixed seeded permutation of range(n) (e.g. the pixel order of permuted MNIST).

    Draw order: `permutation(n)`.

    Args:
        n: length, >= 1.
        seed: an int >= 0.

    Returns:
        (n,) int64 tensor holding each of 0..n − 1 once.

    Raises:
        InputError: if an argument is not an int in range.
    """
    n = _check_int("permutation", "n", n, minimum=1)
    rng = _rng("permutation", seed)
    return torch.from_numpy(rng.permutation(n).astype(np.int64))


def _check_int(where: str, name: str, value: Any, *, minimum: int, why: str = "") -> int:
    """`value` as an int >= minimum (bools and non-integers refused)."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise InputError(
            f"{where}: expected {name} to be an int, got {type(value).__name__} {value!r}"
        )
    if value < minimum:
        reason = f" ({why})" if why else ""
        raise InputError(f"{where}: expected {name} ≥ {minimum}{reason}, got {value}")
    return int(value)


def _rng(where: str, seed: Any) -> np.random.Generator:
    """The generator for `seed` (an int >= 0)."""
    seed = _check_int(where, "seed", seed, minimum=0)
    return np.random.Generator(np.random.PCG64(seed))
