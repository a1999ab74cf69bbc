"""split_ids and check_split_sizes: contiguous deterministic splits, clear size errors."""

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from rnnlab.data import check_split_sizes, split_ids
from rnnlab.errors import DataError


def test_default_sizes_and_order():
    ids = np.arange(1000)
    parts = split_ids(ids)
    assert list(parts) == ["train", "val", "test"]
    assert [len(p) for p in parts.values()] == [900, 50, 50]
    assert parts["train"][-1] == 899
    assert parts["val"][0] == 900
    assert parts["test"][0] == 950


@given(
    st.integers(0, 5000),
    st.tuples(st.integers(0, 100), st.integers(0, 100), st.integers(0, 100)).filter(any),
)
def test_contiguous_and_close_to_fractions(n, weights):
    fractions = tuple(w / sum(weights) for w in weights)
    ids = np.arange(n)
    parts = split_ids(ids, fractions)
    assert np.array_equal(np.concatenate(list(parts.values())), ids)
    for part, f in zip(parts.values(), fractions, strict=True):
        assert abs(len(part) - n * f) <= 1.5
        if f == 0:
            assert len(part) == 0


def test_deterministic_and_views():
    ids = torch.arange(777)
    a, b = split_ids(ids, (0.8, 0.1, 0.1)), split_ids(ids, (0.8, 0.1, 0.1))
    for key in a:
        assert torch.equal(a[key], b[key])
    assert a["train"].data_ptr() == ids.data_ptr()


def test_zero_fractions():
    parts = split_ids(np.arange(10), (1, 0, 0))
    assert [len(p) for p in parts.values()] == [10, 0, 0]
    parts = split_ids(np.arange(10), (0.5, 0.5, 0))
    assert [len(p) for p in parts.values()] == [5, 5, 0]


@pytest.mark.parametrize(
    ("fractions", "match"),
    [
        ((0.9, 0.2, -0.1), ">= 0"),
        ((0.5, 0.2, 0.2), "summing to 1"),
        ((0.5, 0.5), "three fractions"),
        ((float("nan"), 0.5, 0.5), "finite"),
        (("a", "b", "c"), "three numbers"),
    ],
)
def test_bad_fractions(fractions, match):
    with pytest.raises(DataError, match=match):
        split_ids(np.arange(10), fractions)


def test_check_split_sizes_ok():
    parts = split_ids(np.arange(1000))
    check_split_sizes(parts, batch_size=8, seq_len=100)


def test_train_too_small_says_what_is_needed():
    parts = split_ids(np.arange(1000))
    with pytest.raises(DataError) as err:
        check_split_sizes(parts, batch_size=64, seq_len=100)
    msg = str(err.value)
    assert "1,000 characters" in msg
    assert "train 900" in msg
    assert "6,401" in msg


def test_eval_split_too_small():
    parts = split_ids(np.arange(30))
    assert [len(p) for p in parts.values()] == [27, 2, 1]
    with pytest.raises(DataError, match="test split needs at least 2"):
        check_split_sizes(parts, batch_size=1, seq_len=4)
    check_split_sizes(parts, batch_size=1, seq_len=4, eval_splits=("val",))
