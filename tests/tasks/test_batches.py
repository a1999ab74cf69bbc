"""The data position of seq2seq and classify: micro-batch shares, resume, epoch orders."""

import pytest

from rnnlab.errors import CheckpointError, InputError
from rnnlab.tasks.batches import EpochOrder, MicroBatches
from rnnlab.train.distributed import DistInfo


def test_each_global_batch_is_drawn_once_and_shared_out():
    drawn = []

    def draw(i):
        drawn.append(i)
        return f"batch{i}"

    cursor = MicroBatches("t", 10, 2, DistInfo(rank=1, world_size=2), draw)
    got = [cursor.next() for _ in range(4)]
    assert drawn == [0, 1]
    assert [(b, r.start, r.stop, i) for b, r, i in got] == [
        ("batch0", 5, 7, 0), ("batch0", 7, 10, 0), ("batch1", 5, 7, 1), ("batch1", 7, 10, 1),
    ]  # fmt: skip
    assert cursor.state() == {"index": 2}
    cursor.next()  # half-way through batch 2: a resume starts batch 2 afresh
    resumed = MicroBatches("t", 10, 2, DistInfo(rank=1, world_size=2), draw)
    resumed.load_state({"index": 2})
    assert resumed.next()[2] == 2 and resumed.next()[1] == slice(7, 10)
    with pytest.raises(CheckpointError, match="t: the checkpoint lacks its data position"):
        resumed.load_state({})
    with pytest.raises(InputError, match="batch 3 is too small for 2 processes x 2"):
        MicroBatches("t", 3, 2, DistInfo(rank=0, world_size=2), draw)


def test_epoch_order_covers_full_batches_and_is_seeded():
    lengths = [i % 7 for i in range(103)]
    order = EpochOrder(lengths, 10, lambda epoch: 100 + epoch)
    assert order.per_epoch == 10  # full batches only
    epoch0 = [order(i) for i in range(10)]
    seen = sorted(int(x) for b in epoch0 for x in b)
    assert len(seen) == len(set(seen)) == 100
    again = EpochOrder(lengths, 10, lambda epoch: 100 + epoch)
    assert all((again(i) == epoch0[i]).all() for i in range(10))
    assert any((order(10 + i) != epoch0[i]).any() for i in range(10))  # epoch 1 reshuffles
