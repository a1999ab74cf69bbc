"""Task generators: shapes, dtypes, layouts, targets, determinism, pinned values, bad arguments."""

import hashlib

import numpy as np
import pytest
import torch

from rnnlab.data import (
    COPY_BLANK,
    COPY_DELIMITER,
    COPY_N_CLASSES,
    RECALL_QUERY,
    RecallLayout,
    adding_problem,
    copy_memory,
    permutation,
    recall_task,
    recall_vocab_size,
)
from rnnlab.errors import InputError


def digest(*tensors):
    """sha256 of the tensors' little-endian bytes (the same on every platform)."""
    h = hashlib.sha256()
    for t in tensors:
        a = t.numpy()
        h.update(a.astype(a.dtype.newbyteorder("<")).tobytes())
    return h.hexdigest()


def test_adding_shapes_ranges_markers_and_target():
    x, y = adding_problem(64, 30, seed=3)
    assert x.shape == (64, 30, 2) and x.dtype == torch.float32
    assert y.shape == (64,) and y.dtype == torch.float32
    values, marks = x[..., 0], x[..., 1]
    assert values.min() >= 0 and values.max() < 1
    assert set(marks.unique().tolist()) == {0.0, 1.0}
    assert (marks.sum(1) == 2).all()
    assert torch.equal(y, (values * marks).sum(1))


def test_adding_marker_positions_cover_all_pairs_including_ends():
    x, _ = adding_problem(2000, 3, seed=0)
    pairs = {tuple(torch.nonzero(row).flatten().tolist()) for row in x[..., 1]}
    assert pairs == {(0, 1), (0, 2), (1, 2)}


def test_adding_mean_predictor_scores_about_one_sixth():
    _, y = adding_problem(20000, 10, seed=1)
    assert abs(((y - 1) ** 2).mean().item() - 1 / 6) < 0.01


@pytest.mark.parametrize("T", [1, 2, 7])
def test_copy_layout_and_target(T):
    x, y = copy_memory(32, T, seed=5)
    assert x.shape == y.shape == (32, T + 20)
    assert x.dtype == y.dtype == torch.int64
    symbols = x[:, :10]
    assert symbols.min() >= 1 and symbols.max() <= 8
    assert (x[:, 10 : T + 9] == COPY_BLANK).all()
    assert (x[:, T + 9 :] == COPY_DELIMITER).all() and x[:, T + 9 :].shape[1] == 11
    assert (y[:, : T + 10] == COPY_BLANK).all()
    assert torch.equal(y[:, T + 10 :], symbols)
    assert x.max() < COPY_N_CLASSES and y.max() < COPY_N_CLASSES


def test_copy_symbols_use_all_of_1_to_8():
    x, _ = copy_memory(50, 1, seed=0)
    assert set(x[:, :10].unique().tolist()) == set(range(1, 9))


@pytest.mark.parametrize("gap", [0, 1, 25])
def test_recall_layout_and_target(gap):
    layout = RecallLayout(5, 3)
    x, y = recall_task(200, gap, seed=2, n_keys=5, n_distractors=3)
    assert x.shape == (200, gap + 2) and x.dtype == torch.int64
    assert y.shape == (200,) and y.dtype == torch.int64
    assert (x[:, -1] == RECALL_QUERY).all() and layout.query == RECALL_QUERY == 0
    assert set(x[:, 0].unique().tolist()) == set(layout.keys) == {1, 2, 3, 4, 5}
    if gap:
        assert set(x[:, 1:-1].unique().tolist()) == set(layout.distractors) == {6, 7, 8}
    assert torch.equal(y, x[:, 0] - 1)
    assert all(layout.value_of(int(k)) == int(v) for k, v in zip(x[:, 0], y, strict=True))
    assert x.max() < layout.vocab_size == recall_vocab_size(5, 3) == 9
    assert y.min() >= 0 and y.max() < layout.n_classes == 5


def test_recall_defaults():
    x, _ = recall_task(10, 4, seed=0)
    assert recall_vocab_size() == RecallLayout().vocab_size == 17
    assert x[:, 0].max() <= 8 and x[:, 1:-1].min() >= 9 and x.max() <= 16


def test_recall_layout_value_of_rejects_non_keys():
    layout = RecallLayout(3, 2)
    assert [layout.value_of(k) for k in (1, 2, 3)] == [0, 1, 2]
    for bad in (0, 4, True, 1.0):
        with pytest.raises(InputError, match=r"RecallLayout\.value_of: expected a key token"):
            layout.value_of(bad)


def test_permutation_is_a_permutation():
    p = permutation(784, seed=9)
    assert p.shape == (784,) and p.dtype == torch.int64
    assert torch.equal(p.sort().values, torch.arange(784))
    assert not torch.equal(p, torch.arange(784))


def _generate(name, seed):
    return {
        "adding": lambda: adding_problem(8, 12, seed=seed),
        "copy": lambda: copy_memory(8, 12, seed=seed),
        "recall": lambda: recall_task(8, 12, seed=seed),
        "permutation": lambda: (permutation(50, seed=seed),),
    }[name]()


@pytest.mark.parametrize("name", ["adding", "copy", "recall", "permutation"])
def test_same_seed_same_data_different_seed_different(name):
    a, b, c = _generate(name, 11), _generate(name, 11), _generate(name, 12)
    assert all(torch.equal(s, t) for s, t in zip(a, b, strict=True))
    assert not all(torch.equal(s, t) for s, t in zip(a, c, strict=True))


def test_global_rngs_untouched():
    np_state = np.random.get_state()[1].copy()  # noqa: NPY002 (the legacy global RNG)
    torch_state = torch.get_rng_state().clone()
    adding_problem(4, 5, seed=0)
    copy_memory(4, 5, seed=0)
    recall_task(4, 5, seed=0)
    permutation(5, seed=0)
    assert (np.random.get_state()[1] == np_state).all()  # noqa: NPY002
    assert torch.equal(torch.get_rng_state(), torch_state)


def test_pinned_values():
    x, y = adding_problem(2, 5, seed=7)
    assert x[0, :, 0].tolist() == [
        0.9449049234390259,
        0.6250954270362854,
        0.6841799020767212,
        0.8972137570381165,
        0.5782924294471741,
    ]
    assert x[..., 1].tolist() == [[0, 1, 0, 0, 1], [1, 0, 0, 0, 1]]
    assert y.tolist() == [1.2033878564834595, 1.0758519172668457]
    assert copy_memory(1, 1, seed=7)[0].tolist() == [[8, 6, 6, 8, 5, 7, 7, 2, 1, 3] + [9] * 11]
    x, y = recall_task(2, 3, seed=7)
    assert x.tolist() == [[8, 14, 16, 13, 0], [6, 15, 15, 10, 0]] and y.tolist() == [7, 5]
    assert permutation(8, seed=7).tolist() == [0, 6, 7, 2, 4, 5, 1, 3]


@pytest.mark.parametrize(
    ("make", "expected"),
    [
        (
            lambda: adding_problem(16, 50, seed=1234),
            "c3331e4876e4434ce6277545f8f590e095daf379fd6ca8a068a352c85ef3e02a",
        ),
        (
            lambda: copy_memory(16, 30, seed=1234),
            "876aa7d1cc2e537832e04b396553f1fc7a709d58f07778143b247c212da07169",
        ),
        (
            lambda: recall_task(16, 20, seed=1234),
            "4e1d6e16277015379faa67d57884983edcbb2e049efc784f2953f4034196e163",
        ),
        (
            lambda: (permutation(784, seed=1234),),
            "1f50dd7d95ae958203cf7cb028d634cb5f5f1981220af8796066de33eb6b82be",
        ),
    ],
)
def test_pinned_checksums(make, expected):
    assert digest(*make()) == expected


def test_numpy_integers_accepted():
    x, _ = adding_problem(np.int64(3), np.int32(4), seed=np.uint8(1))
    assert x.shape == (3, 4, 2)
    assert torch.equal(x, adding_problem(3, 4, seed=1)[0])


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: adding_problem(0, 5, seed=0), r"adding_problem: expected n ≥ 1, got 0"),
        (lambda: adding_problem(3, 1, seed=0), r"adding_problem: expected T ≥ 2 .*got 1"),
        (lambda: adding_problem(3, 5.0, seed=0), r"adding_problem: expected T to be an int"),
        (lambda: adding_problem(True, 5, seed=0), r"adding_problem: expected n to be an int"),
        (lambda: adding_problem(3, 5, seed=-1), r"adding_problem: expected seed ≥ 0"),
        (lambda: adding_problem(3, 5, seed=None), r"adding_problem: expected seed to be an int"),
        (lambda: adding_problem(3, 5, seed=False), r"adding_problem: expected seed to be an int"),
        (lambda: copy_memory(3, 0, seed=0), r"copy_memory: expected T ≥ 1, got 0"),
        (lambda: copy_memory(-2, 3, seed=0), r"copy_memory: expected n ≥ 1"),
        (lambda: copy_memory(3, "5", seed=0), r"copy_memory: expected T to be an int"),
        (lambda: copy_memory(3, 5, seed=1.5), r"copy_memory: expected seed to be an int"),
        (lambda: recall_task(3, -1, seed=0), r"recall_task: expected gap ≥ 0, got -1"),
        (lambda: recall_task(0, 3, seed=0), r"recall_task: expected n ≥ 1"),
        (lambda: recall_task(3, 3, seed=0, n_keys=1), r"recall_task: expected n_keys ≥ 2"),
        (
            lambda: recall_task(3, 3, seed=0, n_distractors=0),
            r"recall_task: expected n_distractors ≥ 1",
        ),
        (
            lambda: recall_task(3, 3, seed=0, n_keys=True),
            r"recall_task: expected n_keys to be an int",
        ),
        (lambda: recall_task(3, 3.0, seed=0), r"recall_task: expected gap to be an int"),
        (lambda: recall_task(3, 3, seed=-5), r"recall_task: expected seed ≥ 0"),
        (lambda: permutation(0, seed=0), r"permutation: expected n ≥ 1"),
        (lambda: permutation(4, seed="1"), r"permutation: expected seed to be an int"),
        (lambda: recall_vocab_size(1, 3), r"RecallLayout: expected n_keys ≥ 2"),
        (lambda: recall_vocab_size(3, 0), r"RecallLayout: expected n_distractors ≥ 1"),
        (lambda: RecallLayout(4.0, 2), r"RecallLayout: expected n_keys to be an int"),
    ],
)
def test_bad_arguments(call, message):
    with pytest.raises(InputError, match=message):
        call()


def test_seed_is_keyword_only():
    with pytest.raises(TypeError):
        adding_problem(3, 5, 0)
