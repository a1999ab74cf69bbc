"""The `rnnlab` command line, run as a user runs it (subprocesses)."""

import json
import signal
import subprocess
import sys
import time

import pytest

from runhelpers import env, rnnlab
from textgen import make_text

TINY = [
    "--hidden=16",
    "--layers=1",
    "--embed-dim=8",
    "--batch=4",
    "--seq-len=8",
    "--eval-every=5",
    "--eval-tokens=300",
    "--precision=fp32",
    "--progress=false",
]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli")
    corpus = root / "tiny.txt"
    corpus.write_text(make_text(), encoding="utf-8")
    run = root / "run"
    proc = rnnlab("train", "charlm", "--data", corpus, "--steps", 12, "--out", run, *TINY)
    return corpus, run, proc


def test_help_explains_every_subcommand():
    out = rnnlab("--help").stdout
    for sub in ("train", "sample", "eval", "bench"):
        assert sub in out
        assert rnnlab(sub, "--help").returncode == 0
    text = rnnlab("train", "charlm", "--help").stdout
    for flag in (
        "--data",
        "--cell",
        "--layers",
        "--hidden",
        "--seq-len",
        "--batch",
        "--minutes",
        "--steps",
        "--device",
        "--preset",
        "--out",
        "--resume",
        "--lr",
    ):
        assert flag in text


def test_train_writes_a_run(trained):
    _, run, proc = trained
    assert "finished at step 12" in proc.stdout
    assert "val loss" in proc.stdout
    assert (run / "latest.json").exists()
    assert (run / "loss.png").exists()
    assert (run / "metrics.jsonl").exists()


def test_sample_streams_deterministic_text(trained):
    _, run, _ = trained
    a = rnnlab("sample", run, "--prime", "ROMEO:", "--length", 50, "--seed", 3).stdout
    b = rnnlab(
        "sample",
        run / json.loads((run / "latest.json").read_text())["path"],
        "--prime",
        "ROMEO:",
        "--length",
        50,
        "--seed",
        3,
    ).stdout
    assert a == b and a.startswith("ROMEO:") and len(a.rstrip("\n")) >= 50
    c = rnnlab(
        "sample",
        run,
        "--prime",
        "ROMEO:",
        "--length",
        50,
        "--seed",
        4,
        "--top-k",
        3,
        "--top-p",
        0.9,
        "--temperature",
        0.7,
    ).stdout
    assert c.startswith("ROMEO:")


def test_sample_unknown_prime_characters(trained):
    _, run, _ = trained
    proc = rnnlab("sample", run, "--prime", "Zebra€", "--length", 5, check=False)
    assert proc.returncode == 2 and proc.stdout == ""
    assert "'Z'" in proc.stderr and "'€'" in proc.stderr and "Traceback" not in proc.stderr
    ok = rnnlab("sample", run, "--prime", "Zebra€", "--length", 5, "--unknown", "drop")
    assert ok.returncode == 0


def test_eval_prints_loss_and_bpc(trained):
    corpus, run, _ = trained
    out = rnnlab("eval", run, "--json").stdout
    result = json.loads(out)
    assert result["split"] == "test" and result["loss"] > 0
    assert result["bpc"] == pytest.approx(result["loss"] / 0.6931471805599453)
    whole = json.loads(rnnlab("eval", run, "--data", corpus, "--json").stdout)
    assert whole["split"] == "all" and whole["tokens"] == len(corpus.read_text()) - 1
    assert "nats/char" in rnnlab("eval", run).stdout


def test_eval_on_another_corpus_with_unseen_characters(trained):
    _, run, _ = trained
    proc = rnnlab("eval", run, "--data", "shakespeare-mini", check=False)
    assert proc.returncode == 2 and "not in the vocabulary" in proc.stderr
    assert "--unknown drop" in proc.stderr and "Traceback" not in proc.stderr
    result = json.loads(
        rnnlab("eval", run, "--data", "shakespeare-mini", "--unknown", "drop", "--json").stdout
    )
    assert result["split"] == "test" and result["data"] == "shakespeare-mini"


def test_settings_out_of_range_are_clear_errors(tmp_path):
    proc = rnnlab(
        "train", "charlm", "--steps", 2, "--log-every", 0, "--out", tmp_path / "r", check=False
    )
    assert proc.returncode == 2 and "log_every >= 1" in proc.stderr
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize(
    "content, text",
    [
        (None, "expected a corpus name or an existing"),
        (b"", "empty"),
        (b"abc\xff\xfe", "UTF-8"),
        (b"abcdef", "too"),
    ],
)
def test_bad_data_gets_a_clear_error(tmp_path, content, text):
    data = tmp_path / "data.txt"
    if content is not None:
        data.write_bytes(content)
    proc = rnnlab(
        "train", "charlm", "--data", data, "--steps", 2, "--out", tmp_path / "r", *TINY, check=False
    )
    assert proc.returncode == 2, proc.stderr
    assert text in proc.stderr and "Traceback" not in proc.stderr


def test_corrupted_checkpoint_gets_a_clear_error(trained, tmp_path):
    _, run, _ = trained
    bad = tmp_path / "bad.safetensors"
    good = next(run.glob("step-*.safetensors"))
    bad.write_bytes(good.read_bytes()[:1000])
    for cmd in ("sample", "eval"):
        proc = rnnlab(cmd, bad, check=False)
        assert proc.returncode == 2 and "bad.safetensors" in proc.stderr
        assert "Traceback" not in proc.stderr
    proc = rnnlab("sample", tmp_path, check=False)
    assert proc.returncode == 2 and "no checkpoint" in proc.stderr


def test_mismatched_resume_and_existing_run(trained):
    corpus, run, _ = trained
    proc = rnnlab(
        "train", "charlm", "--data", corpus, "--steps", 12, "--out", run, *TINY, check=False
    )
    assert proc.returncode == 2 and "--resume" in proc.stderr
    proc = rnnlab(
        "train",
        "charlm",
        "--data",
        corpus,
        "--steps",
        12,
        "--out",
        run,
        *TINY,
        "--hidden=32",
        "--resume",
        check=False,
    )
    assert proc.returncode == 2 and "hidden" in proc.stderr


def test_sigterm_saves_and_resume_completes(tmp_path):
    corpus = tmp_path / "tiny.txt"
    corpus.write_text(make_text(), encoding="utf-8")
    run = tmp_path / "run"
    args = [
        sys.executable,
        "-m",
        "rnnlab",
        "train",
        "charlm",
        "--data",
        str(corpus),
        "--steps",
        "100000",
        "--out",
        str(run),
        *TINY,
        "--eval-every=0",
    ]
    proc = subprocess.Popen(
        args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env()
    )
    metrics = run / "metrics.jsonl"
    deadline = time.monotonic() + 120
    while not (metrics.exists() and metrics.stat().st_size > 0):
        assert proc.poll() is None and time.monotonic() < deadline
        time.sleep(0.1)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert "interrupted by SIGTERM" in out and "Traceback" not in err
    saved = json.loads((run / "latest.json").read_text())["step"]
    assert saved > 0
    done = rnnlab(
        "train", "charlm", "--data", corpus, "--steps", saved + 3, "--out", run, *TINY, "--resume"
    )
    assert "resuming" in done.stdout and f"finished at step {saved + 3}" in done.stdout
