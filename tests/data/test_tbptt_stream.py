"""TBPTTStream and eval_layout: layout, carried-state continuity, epochs, resume, ranks."""

import warnings

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from rnnlab.data import IGNORE_INDEX, TBPTTStream, eval_layout
from rnnlab.errors import DataError


def epoch_batches(stream):
    return [stream.next_batch() for _ in range(stream.batches_per_epoch)]


def test_shapes_and_shift():
    stream = TBPTTStream(np.arange(1000), 4, 7)
    x, y = stream.next_batch()
    assert x.shape == y.shape == (7, 4)
    assert x.dtype == y.dtype == torch.int64
    assert torch.equal(y, x + 1)
    assert stream.stream_len == 249
    assert stream.batches_per_epoch == 249 // 7


@given(st.integers(2, 400), st.integers(1, 8), st.integers(1, 12))
def test_batches_continue_each_stream(n, batch_size, seq_len):
    if n < batch_size * seq_len + 1:
        with pytest.raises(DataError, match=f"{batch_size * seq_len + 1}"):
            TBPTTStream(np.arange(n), batch_size, seq_len)
        return
    ids = torch.arange(n) * 3
    stream = TBPTTStream(ids, batch_size, seq_len)
    length = (n - 1) // batch_size
    batches = epoch_batches(stream)
    xs = torch.cat([x for x, _ in batches])  # (bpe·S, B)
    ys = torch.cat([y for _, y in batches])
    used = stream.batches_per_epoch * seq_len
    for b in range(batch_size):
        assert torch.equal(xs[:, b], ids[b * length : b * length + used])
        assert torch.equal(ys[:, b], ids[b * length + 1 : b * length + used + 1])


def test_epoch_wrap_and_new_epoch_flag():
    stream = TBPTTStream(np.arange(101), 2, 10)
    assert stream.batches_per_epoch == 5
    first = epoch_batches(stream)
    assert (stream.epoch, stream.index, stream.progress) == (1, 0, 1.0)
    flags = []
    for k in range(5):
        assert stream.index == k
        x, y = next(stream)
        flags.append(stream.new_epoch)
        assert torch.equal(x, first[k][0])
        assert torch.equal(y, first[k][1])
    assert flags == [True, False, False, False, False]
    assert stream.epoch == 2


def test_state_dict_resume_is_exact():
    ids = np.random.default_rng(0).integers(0, 50, size=2000)
    a = TBPTTStream(ids, 4, 16)
    for _ in range(40):
        a.next_batch()
    state = a.state_dict()
    assert state == {"epoch": 1, "index": 40 - a.batches_per_epoch}
    b = TBPTTStream(ids, 4, 16)
    b.load_state_dict(dict(state))
    for _ in range(2 * a.batches_per_epoch):
        (xa, ya), (xb, yb) = a.next_batch(), b.next_batch()
        assert torch.equal(xa, xb)
        assert torch.equal(ya, yb)
        assert (a.epoch, a.index, a.new_epoch) == (b.epoch, b.index, b.new_epoch)


def test_load_state_dict_rejects_bad_states():
    stream = TBPTTStream(np.arange(101), 2, 10)
    with pytest.raises(DataError, match="index < 5"):
        stream.load_state_dict({"epoch": 0, "index": 5})
    with pytest.raises(DataError, match="'epoch' and 'index'"):
        stream.load_state_dict({"step": 3})
    with pytest.raises(DataError, match="epoch to be an integer"):
        stream.load_state_dict({"epoch": -1, "index": 0})


@pytest.mark.parametrize("world_size", [2, 4])
def test_ranks_see_slices_of_the_single_process_batches(world_size):
    ids = np.random.default_rng(1).integers(0, 30, size=3001)
    single = epoch_batches(TBPTTStream(ids, 8, 12))
    per = 8 // world_size
    for rank in range(world_size):
        stream = TBPTTStream(ids, 8, 12, rank=rank, world_size=world_size)
        assert stream.batches_per_epoch == len(single)
        assert stream.local_batch_size == per
        for (x, y), (xs, ys) in zip(epoch_batches(stream), single, strict=True):
            assert torch.equal(x, xs[:, rank * per : (rank + 1) * per])
            assert torch.equal(y, ys[:, rank * per : (rank + 1) * per])


def test_bad_sizes():
    with pytest.raises(DataError, match="divisible by world_size 4"):
        TBPTTStream(np.arange(1000), 6, 5, rank=0, world_size=4)
    with pytest.raises(DataError, match=r"rank in \[0, 2\)"):
        TBPTTStream(np.arange(1000), 4, 5, rank=2, world_size=2)
    with pytest.raises(DataError, match="seq_len to be an integer >= 1"):
        TBPTTStream(np.arange(1000), 4, 0)
    with pytest.raises(DataError, match="batch_size to be an integer >= 1"):
        TBPTTStream(np.arange(1000), 0, 5)
    with pytest.raises(DataError, match=r"100 tokens are too few.*641"):
        TBPTTStream(np.arange(100), 64, 10)
    with pytest.raises(DataError, match="integer token ids"):
        TBPTTStream(np.zeros((10, 10)), 1, 2)


def test_read_only_numpy_ids_without_warnings():
    ids = np.arange(500)
    ids.flags.writeable = False
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        x, _ = TBPTTStream(ids, 2, 5).next_batch()
        eval_layout(ids, 2)
    assert x[0, 1] == 249


@given(st.integers(2, 300), st.integers(1, 40))
def test_eval_layout_covers_every_target_once(n, streams):
    ids = torch.arange(n)
    x, y = eval_layout(ids, streams)
    assert x.shape == y.shape and x.shape[1] <= min(streams, n - 1)
    real = y != IGNORE_INDEX
    assert torch.equal(y[real].sort().values, torch.arange(1, n))
    assert torch.equal(y[real], x[real] + 1)  # each target follows its input
    # each column is one contiguous stream, so carrying the state down a column is right
    for b in range(x.shape[1]):
        col = x[:, b][real[:, b]]
        assert torch.equal(col, torch.arange(int(col[0]), int(col[0]) + len(col)))
    # padding only at the end of the last stream
    assert real[:, :-1].all()


def test_eval_layout_example():
    x, y = eval_layout(np.arange(12), 2)
    assert x.T.tolist() == [[0, 1, 2, 3, 4, 5], [6, 7, 8, 9, 10, 0]]
    assert y.T.tolist() == [[1, 2, 3, 4, 5, 6], [7, 8, 9, 10, 11, IGNORE_INDEX]]


def test_eval_layout_checks():
    with pytest.raises(DataError, match="at least 2 tokens"):
        eval_layout(np.arange(1), 1)
    with pytest.raises(DataError, match="streams"):
        eval_layout(np.arange(10), 0)
