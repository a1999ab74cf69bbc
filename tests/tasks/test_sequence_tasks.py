"""The long-memory tasks (adding, copy, pixel, recall) on the shared run path and the CLI."""

import json
import re
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import torch

from rnnlab.config import override
from rnnlab.data.idx import load_idx_images, write_idx
from rnnlab.data.tasks import permutation
from rnnlab.tasks import get_task
from rnnlab.tasks.copy import memoryless_loss
from rnnlab.train.checkpoint import find_checkpoint, load_checkpoint
from rnnlab.train.run import evaluate_trained, load_trained, run_task
from rnnlab.train.task import RunContext
from runhelpers import env, interrupt_at, rnnlab

# One thread: on a small shared machine torch's default thread pool is many times slower.
COMMON = dict(
    progress=False,
    precision="fp32",
    threads=1,
    minutes=None,
    eval_every=0,
    log_every=1,
    checkpoint_every=10_000,
)
HELD_OUT = dict(val_size=100, test_size=200)
TINY_CLI = [
    "--seq-len=10",
    "--hidden=8",
    "--batch=8",
    "--val-size=40",
    "--test-size=60",
    "--threads=1",
    "--precision=fp32",
    "--progress=false",
    "--eval-every=0",
]


def quiet(*args, **kwargs):
    pass


@pytest.fixture(autouse=True, scope="module")
def keep_thread_count():
    """`threads=1` sets torch's global thread count; give it back after this module."""
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


def config(name, **settings):
    spec = get_task(name)
    base = {**COMMON, **(HELD_OUT if name != "pixel" else {}), **settings}
    return spec, override(spec.config(), base)


def train(name, out, *, log=quiet, **settings):
    spec, cfg = config(name, **settings)
    return run_task(spec, cfg, out, log=log)


def build(name, *, log=quiet, **settings):
    spec, cfg = config(name, **{"steps": 1, **settings})
    return spec.build(cfg, RunContext(log=log))


def train_losses(run_dir):
    records = [json.loads(x) for x in (run_dir / "metrics.jsonl").read_text().splitlines()]
    return {r["step"]: r["loss"] for r in records if r["split"] == "train"}


def weights(name, run_dir):
    _, model, _, _ = load_trained(get_task(name), run_dir)
    return model.state_dict()


# -- a. learning within seconds on a CPU (fixed seeds, step budgets) --------------------------


def test_lstm_learns_adding(tmp_path):
    result = train(
        "adding",
        tmp_path / "run",
        seq_len=50,
        model="lstm",
        hidden=32,
        init="chrono",
        lr=1e-2,
        batch=32,
        steps=1500,
        log_every=100,
    )
    assert result.step == 1500
    metrics = evaluate_trained(get_task("adding"), tmp_path / "run", split="test")
    assert metrics["mse"] < 0.02  # the mean predictor scores 1/6


def test_tcn_learns_adding(tmp_path):
    # kernel 4, 4 levels: receptive field 1 + 2·3·15 = 91 ≥ T = 50
    result = train(
        "adding",
        tmp_path / "run",
        seq_len=50,
        model="tcn",
        channels="16,16,16,16",
        kernel_size=4,
        lr=2e-3,
        batch=32,
        steps=1000,
        log_every=100,
    )
    assert result.step == 1000
    metrics = evaluate_trained(get_task("adding"), tmp_path / "run", split="test")
    assert metrics["mse"] < 0.02


def test_tcn_learns_copy_memory(tmp_path):
    # T + 20 = 30 steps; kernel 4, 3 levels: receptive field 1 + 2·3·7 = 43
    result = train(
        "copy",
        tmp_path / "run",
        seq_len=10,
        model="tcn",
        channels="16,16,16",
        kernel_size=4,
        lr=1e-2,
        batch=32,
        steps=1200,
        log_every=100,
    )
    assert result.step == 1200
    metrics = evaluate_trained(get_task("copy"), tmp_path / "run", split="test")
    assert metrics["loss"] < memoryless_loss(10) / 10  # 0.069; remembering nothing: 0.693
    assert metrics["accuracy"] > 0.95


@pytest.mark.parametrize("model", ["gru", "lstm"])
def test_recurrent_model_learns_recall(tmp_path, model):
    result = train(
        "recall",
        tmp_path / "run",
        gap=5,
        model=model,
        hidden=32,
        lr=1e-2,
        batch=32,
        steps=300,
        log_every=100,
    )
    assert result.step == 300
    metrics = evaluate_trained(get_task("recall"), tmp_path / "run", split="test")
    assert metrics["accuracy"] > 0.9  # chance: 1/8


# -- b. resume equivalence --------------------------------------------------------------------

RESUME = dict(
    seq_len=10,
    hidden=8,
    layers=2,
    channels="6,6",
    kernel_size=3,
    dropout=0.2,  # the RNG matters: resume must restore it
    batch=8,
    steps=14,
    eval_every=5,
    checkpoint_every=4,
    lr=1e-2,
    warmup=2,
    val_size=30,
    test_size=30,
)


@pytest.mark.parametrize(
    "name, model, sig",
    [
        ("adding", "lstm", signal.SIGINT),
        ("adding", "lstm", signal.SIGTERM),
        ("copy", "tcn", signal.SIGTERM),
    ],
)
def test_interrupted_and_resumed_run_equals_uninterrupted(tmp_path, monkeypatch, name, model, sig):
    spec = get_task(name)
    full = train(name, tmp_path / "full", model=model, **RESUME)
    assert full.stopped == "steps" and full.step == 14

    with monkeypatch.context() as m:
        interrupt_at(m, spec.build, 7, sig)
        part = train(name, tmp_path / "part", model=model, **RESUME)
    assert part.stopped == "signal" and part.step == 7
    assert signal.Signals(sig).name in part.message and "--resume" in part.message

    spec, cfg = config(name, model=model, **RESUME)
    resumed = run_task(spec, cfg, tmp_path / "part", resume=True, log=quiet)
    assert resumed.stopped == "steps" and resumed.step == 14
    assert train_losses(tmp_path / "part") == train_losses(tmp_path / "full")
    a, b = weights(name, tmp_path / "full"), weights(name, tmp_path / "part")
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key


def test_cli_sigterm_saves_and_resume_completes(tmp_path):
    run = tmp_path / "run"
    args = [sys.executable, "-m", "rnnlab", "train", "adding", "--out", str(run), *TINY_CLI]
    proc = subprocess.Popen(
        [*args, "--steps=100000", "--log-every=1"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env(),
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
    done = rnnlab("train", "adding", "--out", run, *TINY_CLI, "--steps", saved + 3, "--resume")
    assert "resuming" in done.stdout and f"finished at step {saved + 3}" in done.stdout


# -- c. the data order does not depend on the accumulation ------------------------------------


@pytest.mark.parametrize("accumulate", [2, 3])
def test_accumulation_gives_the_same_steps(tmp_path, accumulate):
    settings = dict(
        seq_len=10,
        hidden=8,
        batch=7,  # micro-batches of unequal size
        steps=4,
        optimizer="sgd",
        lr=0.5,
        schedule="constant",
        val_size=20,
        test_size=20,
    )
    train("adding", tmp_path / "one", accumulate=1, **settings)
    train("adding", tmp_path / "many", accumulate=accumulate, **settings)
    one, many = train_losses(tmp_path / "one"), train_losses(tmp_path / "many")
    assert one.keys() == many.keys() == {1, 2, 3, 4}
    assert many == pytest.approx(one, rel=1e-5)
    a, b = weights("adding", tmp_path / "one"), weights("adding", tmp_path / "many")
    assert one[4] != one[1]
    for key in a:
        torch.testing.assert_close(b[key], a[key], rtol=1e-5, atol=1e-6)


# -- d. rnnlab eval ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    small = dict(hidden=8, batch=8, steps=5, val_size=40, test_size=60)
    train("adding", root / "adding", seq_len=10, **small)
    train("copy", root / "copy", seq_len=5, **small)
    train("recall", root / "recall", gap=3, **small)
    return root


def test_eval_json_for_adding(runs):
    result = json.loads(rnnlab("eval", runs / "adding", "--json").stdout)
    assert {"task", "loss", "mse", "split"} <= result.keys()
    assert result["task"] == "adding" and result["split"] == "test"
    assert result["loss"] == result["mse"] > 0
    assert result["count"] == 60
    here = evaluate_trained(get_task("adding"), runs / "adding", split="test")
    assert result["loss"] == pytest.approx(here["loss"], rel=1e-6)


def test_eval_val_split_and_readable_output(runs):
    val = json.loads(rnnlab("eval", runs / "adding", "--split", "val", "--json").stdout)
    test = json.loads(rnnlab("eval", runs / "adding", "--json").stdout)
    assert val["split"] == "val" and val["count"] == 40 and val["loss"] != test["loss"]
    text = rnnlab("eval", runs / "adding").stdout
    assert text.startswith("adding (test): loss ") and "{" not in text


@pytest.mark.parametrize("name, per_sequence", [("copy", 5 + 20), ("recall", 1)])
def test_eval_json_for_classification(runs, name, per_sequence):
    result = json.loads(rnnlab("eval", runs / name, "--json").stdout)
    assert result["task"] == name and result["split"] == "test" and result["loss"] > 0
    assert 0.0 <= result["accuracy"] <= 1.0
    assert result["count"] == 60 * per_sequence
    text = rnnlab("eval", runs / name, "--split", "val").stdout
    assert text.startswith(f"{name} (val): loss ") and "accuracy" in text


# -- e. bad input is a clear error ------------------------------------------------------------


@pytest.mark.parametrize(
    "args, text",
    [
        (["train", "foo"], "invalid choice: 'foo'"),
        (
            ["train", "adding", "--model", "foo"],
            "expected model in tcn, lstm, gru, rnn, mingru, minlstm, got 'foo'",
        ),
        (["train", "adding", "--params", "5"], "--params 5 is too small"),
        (["train", "adding", "--seq-len", "1"], "seq_len (T) >= 2"),
        (["train", "recall", "--gap", "50", "--seq-len", "20"], "the gap 50 is longer than"),
        (["train", "recall", "--gap", "-1"], "expected gap >= 0, got -1"),
        (["train", "adding", "--model", "tcn", "--channels", ""], "'channels' needs"),
        (["train", "adding", "--channels", "4,x"], "'channels' needs a comma-separated list"),
        (["train", "adding", "--batch", "0"], "expected batch >= 1, got 0"),
        (["train", "adding", "--batch", "2", "--accumulate", "4"], "cannot be split into 4"),
    ],
)
def test_bad_input_is_a_clear_error(tmp_path, args, text):
    out = tmp_path / "run"
    proc = rnnlab(*args, "--steps", 2, "--out", out, "--threads", 1, check=False)
    assert proc.returncode == 2, proc.stderr
    assert text in proc.stderr and "Traceback" not in proc.stderr
    assert not out.exists()


def test_small_budget_message_gives_the_smallest_count(tmp_path):
    proc = rnnlab("train", "adding", "--params", 5, "--steps", 2, "--out", tmp_path, check=False)
    assert proc.returncode == 2
    assert re.search(r"smallest lstm model \(width 1\) has [\d,]+ parameters", proc.stderr)


# -- f. --params N: the exact count, printed and recorded -------------------------------------


def test_params_budget_is_printed_recorded_and_rebuilt(tmp_path):
    run = tmp_path / "run"
    proc = rnnlab("train", "adding", "--params", "20k", "--steps", 2, "--out", run, *TINY_CLI)
    first = proc.stdout.splitlines()[0]
    match = re.search(r"lstm 1x(\d+), .*?([\d,]+) parameters \(budget 20,000\)", first)
    assert match, first
    hidden, printed = int(match.group(1)), int(match.group(2).replace(",", ""))
    ckpt = load_checkpoint(find_checkpoint(run))
    assert ckpt.meta["model"]["parameters"] == printed
    assert ckpt.meta["model"]["hidden"] == hidden
    assert sum(t.numel() for t in ckpt.model_state.values()) == printed
    _, model, _, _ = load_trained(get_task("adding"), run)
    assert sum(p.numel() for p in model.parameters()) == printed
    assert ckpt.meta["model"]["kind"] == "lstm"
    assert abs(printed - 20_000) < 8 * hidden + 21  # within one width step (4H² + 17H + 1)
    result = json.loads(rnnlab("eval", run, "--json").stdout)
    here = evaluate_trained(get_task("adding"), run)
    assert result["loss"] == pytest.approx(here["loss"], rel=1e-6)


def test_params_budget_sizes_a_tcn(tmp_path):
    messages = []
    train(
        "adding",
        tmp_path / "run",
        seq_len=10,
        model="tcn",
        channels="9,9,9",
        kernel_size=3,
        params="5k",
        steps=1,
        log=messages.append,
        val_size=20,
        test_size=20,
    )
    meta = load_checkpoint(find_checkpoint(tmp_path / "run")).meta["model"]
    assert meta["kind"] == "tcn" and len(meta["channels"]) == 3
    assert len(set(meta["channels"])) == 1 and meta["channels"] != [9, 9, 9]
    _, model, _, _ = load_trained(get_task("adding"), tmp_path / "run")
    assert sum(p.numel() for p in model.parameters()) == meta["parameters"]
    assert f"{meta['parameters']:,} parameters (budget 5,000)" in messages[0]


# -- g. pixel-by-pixel images from IDX files --------------------------------------------------


def write_images(root, n_train, n_test, seed):
    """A tiny image set; pixels 0-2 of each image encode (its row, its file)."""
    root.mkdir()
    rng = np.random.default_rng(seed)
    for prefix, n, mark, gz in (("train", n_train, 0, True), ("t10k", n_test, 255, False)):
        images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
        flat = images.reshape(n, -1)
        flat[:, 0], flat[:, 1], flat[:, 2] = np.arange(n) // 256, np.arange(n) % 256, mark
        labels = rng.integers(0, 10, size=n, dtype=np.uint8)
        name = f"{prefix}-images-idx3-ubyte" + (".gz" if gz else "")
        write_idx(root / name, images, gzip=gz)
        name = f"{prefix}-labels-idx1-ubyte" + ("" if gz else ".gz")
        write_idx(root / name, labels, gzip=not gz)
    return root


def decode(task, x):
    """(N, 784, 1) normalised pixels (in order) → the (row, file mark) each image encodes."""
    pixels = torch.round((x[:, :3, 0].double() * task.std + task.mean) * 255).long()
    return [(int(p[0]) * 256 + int(p[1]), int(p[2])) for p in pixels]


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    return write_images(tmp_path_factory.mktemp("pixel") / "images", 300, 100, seed=0)


PIXEL = dict(batch=16, val_size=50, steps=3)


@pytest.mark.parametrize("model", ["tcn", "lstm"])
def test_pixel_trains_and_evaluates_on_the_test_images(tmp_path, images, model):
    run = tmp_path / "run"
    result = train(
        "pixel", run, data_dir=str(images), model=model, hidden=4, channels="4,4", **PIXEL
    )
    assert result.stopped == "steps" and result.step == 3
    assert 0.0 <= result.last_eval["accuracy"] <= 1.0
    metrics = json.loads(rnnlab("eval", run, "--json").stdout)
    assert metrics["task"] == "pixel" and metrics["split"] == "test"
    assert metrics["count"] == 100 and 0.0 <= metrics["accuracy"] <= 1.0
    if model == "tcn":
        other = write_images(tmp_path / "other", 80, 60, seed=1)
        elsewhere = json.loads(rnnlab("eval", run, "--data", other, "--json").stdout)
        assert elsewhere["count"] == 60 and elsewhere["loss"] != metrics["loss"]


def test_pixel_permutation_is_seeded_and_applied(images):
    settings = dict(data_dir=str(images), **PIXEL)
    plain = build("pixel", **settings)
    a = build("pixel", permute=True, **settings)
    b = build("pixel", permute=True, **settings)
    other = build("pixel", permute=True, data_seed=1, **settings)
    plain_other = build("pixel", data_seed=1, **settings)
    order0, order1 = permutation(784, seed=0), permutation(784, seed=1)
    assert not torch.equal(order0, order1)

    x, y = plain.train_batch(0)
    xa, ya = a.train_batch(0)
    xb, yb = b.train_batch(0)
    assert torch.equal(xa, xb) and torch.equal(ya, yb)  # same data_seed, same order
    assert torch.equal(ya, y) and torch.equal(xa, x[:, order0])
    assert not torch.equal(xa, x)
    xo, yo = other.train_batch(0)
    xp, yp = plain_other.train_batch(0)
    assert torch.equal(yo, yp) and torch.equal(xo, xp[:, order1])

    test_plain, labels = plain.held_out("test")
    test0, labels0 = a.held_out("test")
    test1, labels1 = other.held_out("test")
    assert torch.equal(labels0, labels) and torch.equal(labels1, labels)
    assert torch.equal(test0, test_plain[:, order0]) and torch.equal(test1, test_plain[:, order1])


def test_pixel_validation_images_are_held_out_of_the_training_files(images):
    task = build("pixel", data_dir=str(images), batch=25, val_size=50)
    val_x, val_y = task.held_out("val")
    val = decode(task, val_x)
    assert len(val) == 50 and len(set(val)) == 50
    assert all(mark == 0 for _, mark in val)  # training-file images
    _, train_labels = load_idx_images(images, "train")
    assert torch.equal(val_y, train_labels[[row for row, _ in val]])
    seen = []
    for i in range(250 // 25):  # one epoch of the 250 training rows
        x, _ = task.train_batch(i)
        seen += decode(task, x)
    assert len(set(seen)) == 250 and all(mark == 0 for _, mark in seen)
    assert not set(seen) & set(val)
    assert {row for row, _ in set(seen) | set(val)} == set(range(300))
    test = decode(task, task.held_out("test")[0])
    assert sorted(test) == [(row, 255) for row in range(100)]


def test_pixel_missing_data_dir_is_a_clear_error(tmp_path):
    out = tmp_path / "run"
    proc = rnnlab(
        "train",
        "pixel",
        "--data-dir",
        tmp_path / "nothing",
        "--steps",
        2,
        "--out",
        out,
        check=False,
    )
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "dataset-fashion-mnist" in proc.stderr and "--data-dir" in proc.stderr
    assert str(tmp_path / "nothing") in proc.stderr
    assert not out.exists()


# -- h. the data stream is deterministic ------------------------------------------------------


@pytest.mark.parametrize(
    "name, settings",
    [("adding", {"seq_len": 10}), ("copy", {"seq_len": 5}), ("recall", {"gap": 4})],
)
def test_training_stream_and_held_out_sets_are_seeded(name, settings):
    settings = dict(batch=8, val_size=8, test_size=8, **settings)
    a, b = build(name, **settings), build(name, **settings)
    c = build(name, data_seed=1, **settings)
    first = [a.train_batch(i) for i in range(3)]
    for i, (x, y) in enumerate(first):
        xb, yb = b.train_batch(i)
        assert torch.equal(x, xb) and torch.equal(y, yb)
        assert x.shape[0] == y.shape[0] == 8
        assert not torch.equal(x, c.train_batch(i)[0])
    assert not torch.equal(first[0][0], first[1][0])
    val, test = a.held_out("val"), a.held_out("test")
    assert torch.equal(val[0], b.held_out("val")[0]) and torch.equal(test[0], b.held_out("test")[0])
    assert not torch.equal(val[0], test[0])
    for x, _ in first:
        assert not torch.equal(x, val[0]) and not torch.equal(x, test[0])


# -- i. recall with a TCN too short to see the key --------------------------------------------


def test_recall_notes_a_tcn_that_cannot_see_the_key():
    messages = []
    build("recall", gap=5, model="tcn", channels="4", kernel_size=2, log=messages.append)
    notes = [m for m in messages if "cannot see the key" in m]
    assert len(notes) == 1 and "receptive field (3)" in notes[0] and "(7)" in notes[0]
    messages.clear()
    build("recall", gap=5, model="tcn", channels="4,4", kernel_size=2, log=messages.append)
    assert not any("cannot see the key" in m for m in messages)  # receptive field 7
