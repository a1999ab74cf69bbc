"""Helpers shared by the tests that run rnnlab as a user does: the CLI, real signals."""

import os
import signal
import subprocess
import sys
from pathlib import Path

SRC = str(Path(__file__).resolve().parents[1] / "src")


def env():
    """The environment for an `rnnlab` subprocess: this checkout's sources first."""
    e = dict(os.environ)
    e["PYTHONPATH"] = SRC + os.pathsep + e.get("PYTHONPATH", "")
    e["PYTHONUNBUFFERED"] = "1"
    e["COLUMNS"] = "100"  # argparse wraps help to the terminal width
    e["OMP_NUM_THREADS"] = "1"  # tiny models: threads only add contention
    return e


def rnnlab(*args, check=True, timeout=180):
    """Run `python -m rnnlab ARGS`; with `check`, a non-zero exit fails with its output."""
    proc = subprocess.run(
        [sys.executable, "-m", "rnnlab", *map(str, args)],
        capture_output=True,
        text=True,
        env=env(),
        timeout=timeout,
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}")
    return proc


def interrupt_at(monkeypatch, task_class, call, sig=signal.SIGINT):
    """Deliver a real signal to this process while the trainer computes batch `call`."""
    calls = {"n": 0}
    original = task_class.train_loss

    def wrapped(self, model):
        calls["n"] += 1
        if calls["n"] == call:
            os.kill(os.getpid(), sig)
        return original(self, model)

    monkeypatch.setattr(task_class, "train_loss", wrapped)
