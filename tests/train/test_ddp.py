"""Two processes (torchrun, gloo) take the same step as one process on the same global batch."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from rnnlab.train.checkpoint import find_checkpoint, load_checkpoint

SRC = str(Path(__file__).resolve().parents[2] / "src")


def train(out, corpus, nproc, momentum):
    args = [
        "train",
        "charlm",
        "--data",
        str(corpus),
        "--out",
        str(out),
        "--steps=2",
        "--hidden=16",
        "--layers=2",
        "--embed-dim=8",
        "--batch=8",
        "--seq-len=8",
        "--eval-every=0",
        "--precision=fp32",
        "--progress=false",
        "--device=cpu",
        "--optimizer=sgd",
        f"--momentum={momentum}",
        "--lr=0.05",
        "--threads=1",
    ]
    if nproc == 1:
        cmd = [sys.executable, "-m", "rnnlab", *args]
    else:
        cmd = [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--standalone",
            f"--nproc-per-node={nproc}",
            "-m",
            "rnnlab",
            *args,
        ]
    env = dict(os.environ, PYTHONPATH=SRC + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    if proc.returncode != 0:
        pytest.fail(f"exit status {proc.returncode}\n{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}")
    return load_checkpoint(find_checkpoint(out))


# SGD's update is linear in the gradient, so the comparison is well conditioned; Adam's
# normalised update m / (sqrt(v) + eps) turns rounding differences in near-zero gradients
# (the all-reduce sums in another order) into visible differences.
@pytest.mark.parametrize("momentum", [0.0, 0.9])
def test_two_processes_equal_one(tiny_corpus, tmp_path, momentum):
    one = train(tmp_path / "one", tiny_corpus, 1, momentum)
    two = train(tmp_path / "two", tiny_corpus, 2, momentum)
    assert two.meta["world_size"] == 2
    assert one.meta["trainer"]["step"] == two.meta["trainer"]["step"] == 2
    for name, p in one.model_state.items():
        torch.testing.assert_close(two.model_state[name], p, rtol=1e-5, atol=1e-6, msg=name)
    # the carried recurrent state of all processes is gathered into the checkpoint
    for name, t in one.extra_tensors.items():
        if name.startswith("task.carry"):
            torch.testing.assert_close(two.extra_tensors[name], t, rtol=1e-5, atol=1e-6)
