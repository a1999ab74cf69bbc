"""A checkpoint written by rnnlab 0.1.0 still loads, evaluates, samples and resumes alike.

The fixture was written by the previous release with

    rnnlab train charlm --data shakespeare-mini --steps 6 --hidden 16 --layers 2
        --embed-dim 8 --batch 4 --seq-len 8 --eval-every 3 --eval-tokens 300 --precision fp32
        --progress false --dropout 0.1 --checkpoint-every 3 --grad-scaler true --seed 3

and the expected numbers below are what that release computed from it (evaluating it, and
resuming it to step 9 on the CPU).
"""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from rnnlab.config import from_dict
from rnnlab.tasks.charlm import (
    CharLMRunConfig,
    evaluate_checkpoint,
    generate,
    load_charlm,
    train_charlm,
)

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "charlm-0.1.0-step6.safetensors"
SRC = str(Path(__file__).resolve().parents[2] / "src")
TEST_LOSS = 4.234120677033076
SAMPLE = '\n1ivAVmL"VNkgX]vrIWrmj"sHOc\'luf.JvyPDmkk'
RESUMED_TRAIN_LOSS = 4.243730227152507  # step 9, the mean over steps 7-9
RESUMED_VAL_LOSS = 4.228412272135417  # step 9


def quiet(*args, **kwargs):
    pass


@pytest.fixture
def one_thread():
    """One torch thread: on a busy machine two threads spin on each other in the LSTM."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def test_old_checkpoint_evaluates_and_samples_as_before(one_thread):
    result = evaluate_checkpoint(FIXTURE)
    assert result["split"] == "test" and result["data"] == "shakespeare-mini"
    assert result["loss"] == pytest.approx(TEST_LOSS, rel=1e-9)
    model, vocab, cfg, ckpt = load_charlm(FIXTURE)
    assert ckpt.meta["rnnlab_version"] == "0.1.0" and cfg.hidden == 16 and cfg.seed == 3
    assert generate(model, vocab, prime="HAM", length=40, seed=1) == SAMPLE


def test_old_checkpoint_resumes_as_the_previous_release_did(tmp_path, one_thread):
    run = tmp_path / "run"
    run.mkdir()
    shutil.copy(FIXTURE, run / "step-00000006.safetensors")
    (run / "latest.json").write_text(json.dumps({"path": "step-00000006.safetensors", "step": 6}))
    _, _, _, ckpt = load_charlm(run)
    cfg = from_dict(CharLMRunConfig, ckpt.meta["config"])
    # the saved device is "auto"; the expected values were computed on the CPU
    result = train_charlm(cfg, run, resume=True, explicit={"steps": 9, "device": "cpu"}, log=quiet)
    assert result.ok and result.stopped == "steps" and result.step == 9
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    at_9 = {r["split"]: r for r in records if r["step"] == 9}
    assert set(at_9) == {"train", "val"}
    assert at_9["train"]["loss"] == pytest.approx(RESUMED_TRAIN_LOSS, rel=1e-6)
    assert at_9["val"]["loss"] == pytest.approx(RESUMED_VAL_LOSS, rel=1e-6)
    assert [r["step"] for r in records] == [9, 9]  # the log restarts after the checkpoint


def test_old_checkpoint_through_the_cli():
    env = dict(os.environ, PYTHONPATH=SRC + os.pathsep + os.environ.get("PYTHONPATH", ""))
    env["OMP_NUM_THREADS"] = "1"
    proc = subprocess.run(
        [sys.executable, "-m", "rnnlab", "eval", str(FIXTURE), "--json"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["task"] == "charlm" and result["split"] == "test"
    assert result["loss"] == pytest.approx(TEST_LOSS, rel=1e-9)
