"""torchrun jobs (gloo) of a generated task: uneven shares, accumulation, per-process RNG.

The adding problem with a batch of 7 sequences: on two processes rank 0 takes rows 0-2 and
rank 1 rows 3-6, so the processes hold different numbers of targets; the trainer must still
take the step one process takes on the whole batch.
"""

import base64
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from rnnlab.config import override
from rnnlab.tasks import get_task
from rnnlab.train.checkpoint import checkpoint_name, find_checkpoint, load_checkpoint
from rnnlab.train.distributed import shares
from rnnlab.train.task import RunContext

SRC = str(Path(__file__).resolve().parents[2] / "src")
ADDING = [
    "train",
    "adding",
    "--model=lstm",
    "--hidden=8",
    "--seq-len=10",
    "--batch=7",
    "--optimizer=sgd",
    "--lr=0.1",
    "--precision=fp32",
    "--device=cpu",
    "--eval-every=0",
    "--val-size=8",
    "--test-size=8",
    "--progress=false",
    "--threads=1",
]


def rnnlab(out, nproc, *flags):
    """Run `rnnlab train adding …` on `nproc` processes; the checkpoint it leaves."""
    args = [*ADDING, "--out", str(out), *flags]
    if nproc == 1:
        cmd = [sys.executable, "-m", "rnnlab", *args]
    else:
        launcher = [sys.executable, "-m", "torch.distributed.run", "--standalone"]
        cmd = [*launcher, f"--nproc-per-node={nproc}", "-m", "rnnlab", *args]
    env = dict(os.environ, PYTHONPATH=SRC + os.pathsep + os.environ.get("PYTHONPATH", ""))
    env["OMP_NUM_THREADS"] = "1"
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    if proc.returncode != 0:
        pytest.fail(f"exit status {proc.returncode}\n{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}")
    return load_checkpoint(find_checkpoint(out))


def initial():
    """The weights every run of ADDING starts from (seed 0)."""
    spec = get_task("adding")
    cfg = override(spec.config(), {"model": "lstm", "hidden": 8, "seq_len": 10, "batch": 7})
    task = spec.build(cfg, RunContext(training=False, log=lambda *a: None))
    torch.manual_seed(cfg.seed)  # as the run path seeds it, after building the task
    return task.build_model().state_dict()


def assert_same_weights(a, b, **tolerance):
    assert a.model_state.keys() == b.model_state.keys()
    for name, p in a.model_state.items():
        torch.testing.assert_close(b.model_state[name], p, msg=name, **tolerance)


def test_uneven_shares_and_accumulation_take_the_one_process_step(tmp_path):
    # the premise: the processes (and their micro-batches) hold different numbers of rows
    assert shares(7, 2, 0, 1) == [slice(0, 3)] and shares(7, 2, 1, 1) == [slice(3, 7)]
    assert shares(7, 2, 0, 2) == [slice(0, 1), slice(1, 3)]
    assert shares(7, 2, 1, 2) == [slice(3, 5), slice(5, 7)]
    one = rnnlab(tmp_path / "one", 1, "--steps=2")
    two = rnnlab(tmp_path / "two", 2, "--steps=2")
    two_acc = rnnlab(tmp_path / "two-acc", 2, "--steps=2", "--accumulate=2")
    for ckpt in (two, two_acc):
        assert ckpt.meta["world_size"] == 2
    for ckpt in (one, two, two_acc):
        assert ckpt.meta["trainer"]["step"] == 2 and ckpt.meta["trainer"]["tokens"] == 14
    # the weights moved well beyond the tolerance of the comparison
    start = initial()
    moved = [(p - start[n]).abs().max() for n, p in one.model_state.items()]
    assert min(moved) > 1e-3
    assert_same_weights(one, two, rtol=1e-5, atol=1e-6)
    assert_same_weights(one, two_acc, rtol=1e-5, atol=1e-6)
    assert one.meta["trainer"]["last_eval"]["loss"] == pytest.approx(
        two.meta["trainer"]["last_eval"]["loss"], rel=1e-5
    )


def test_every_process_continues_its_random_streams_on_resume(tmp_path):
    """Run A trains 4 steps with dropout, checkpointing at step 2; run B resumes that checkpoint.

    B starts from a copy of A's step-2 checkpoint (the state a 2-step run leaves, saved
    mid-run) and trains to step 4 with `--resume`: only if every process restores its own
    random streams does it draw the dropout masks A drew at steps 3 and 4.
    """
    dropout = ["--layers=2", "--dropout=0.3", "--schedule=constant", "--checkpoint-every=2"]
    whole = rnnlab(tmp_path / "whole", 2, *dropout, "--steps=4")
    middle = load_checkpoint(find_checkpoint(tmp_path / "whole" / checkpoint_name(2)))
    assert middle.meta["trainer"]["step"] == 2 and middle.meta["world_size"] == 2
    ranks = middle.meta["rng_ranks"]
    assert len(ranks) == 2 and ranks[0] == middle.meta["rng"]
    assert base64.b64decode(ranks[0]["torch"]) != base64.b64decode(ranks[1]["torch"])

    split = tmp_path / "split"
    split.mkdir()
    shutil.copy(middle.path, split / middle.path.name)
    (split / "latest.json").write_text(json.dumps({"path": middle.path.name, "step": 2}))
    resumed = rnnlab(split, 2, *dropout, "--steps=4", "--resume")
    assert resumed.meta["trainer"]["step"] == whole.meta["trainer"]["step"] == 4
    assert_same_weights(whole, resumed, rtol=0, atol=0)
    got, want = resumed.meta["rng_ranks"], whole.meta["rng_ranks"]
    assert len(got) == 2 and [r["torch"] for r in got] == [r["torch"] for r in want]
    # nothing draws from Python's or NumPy's global generator: each rank's is as restored
    for rank in range(2):
        for key in ("python", "numpy"):
            assert got[rank][key] == ranks[rank][key], (rank, key)
