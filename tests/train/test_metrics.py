"""Metrics log (JSON lines), truncation on resume, bits conversion and the loss plot."""

import json
import math
import sys

import pytest

from rnnlab.errors import DataError, InputError
from rnnlab.train import metrics as metrics_module
from rnnlab.train.metrics import MetricsLog, bits, read_metrics, truncate_after
from rnnlab.train.plot import plot_losses

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _records():
    train = [{"step": s, "split": "train", "loss": 4.0 / s, "lr": 1e-3} for s in range(1, 11)]
    val = [{"step": s, "split": "val", "loss": 4.5 / s} for s in (5, 10)]
    return train[:5] + val[:1] + train[5:] + val[1:]


def test_bits():
    assert bits(math.log(2.0)) == 1.0
    assert bits(0.0) == 0.0
    assert bits(2.0) == pytest.approx(2.0 / 0.6931471805599453, rel=1e-15)


def test_log_append_and_read(tmp_path):
    path = tmp_path / "run" / "metrics.jsonl"
    with MetricsLog(path) as log:
        for record in _records():
            log.append(record)
        assert read_metrics(path) == _records()  # flushed after every record
    lines = path.read_text(encoding="utf-8").splitlines()
    assert json.loads(lines[0]) == {"step": 1, "split": "train", "loss": 4.0, "lr": 1e-3}
    with MetricsLog(path) as log:
        log.append({"step": 11, "split": "train", "loss": 0.3, "note": "é"})
    assert read_metrics(path)[-1] == {"step": 11, "split": "train", "loss": 0.3, "note": "é"}
    assert len(read_metrics(path)) == len(_records()) + 1


@pytest.mark.parametrize(
    ("record", "match"),
    [
        ({"split": "train"}, "int 'step'"),
        ({"step": 1.0, "split": "train"}, "int 'step'"),
        ({"step": 1}, "str 'split'"),
        ({"step": 1, "split": "train", "x": object()}, "JSON-serialisable"),
    ],
)
def test_log_rejects_bad_records(tmp_path, record, match):
    with MetricsLog(tmp_path / "m.jsonl") as log, pytest.raises(InputError, match=match):
        log.append(record)
    assert (tmp_path / "m.jsonl").read_text() == ""


def _write_crashed_log(path):
    """A log whose last write was cut short mid-record."""
    text = "".join(json.dumps(r) + "\n" for r in _records())
    path.write_text(text + '{"step": 11, "split": "tr', encoding="utf-8")


def test_read_tolerates_truncated_final_line(tmp_path):
    path = tmp_path / "m.jsonl"
    _write_crashed_log(path)
    assert read_metrics(path) == _records()


def test_reopening_repairs_truncated_final_line(tmp_path):
    path = tmp_path / "m.jsonl"
    _write_crashed_log(path)
    with MetricsLog(path) as log:
        log.append({"step": 11, "split": "train", "loss": 0.1})
    assert read_metrics(path) == [*_records(), {"step": 11, "split": "train", "loss": 0.1}]


def test_reopening_completes_whole_final_record(tmp_path):
    path = tmp_path / "m.jsonl"
    path.write_text('{"step": 1, "split": "train"}\n{"step": 2, "split": "train"}')
    assert [r["step"] for r in read_metrics(path)] == [1, 2]
    with MetricsLog(path) as log:
        log.append({"step": 3, "split": "train"})
    assert [r["step"] for r in read_metrics(path)] == [1, 2, 3]


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ('{"step": 1, "split": "train"}\nnot json\n{"step": 2, "split": "train"}\n', ":2:"),
        ('{"step": 1, "split": "train"}\n{"step": 2, "spl\n', ":2:"),
        ('{"step": 1, "split": "train"}\n[1, 2]\n', ":2:"),
        ('{"split": "train"}\n', ":1:"),
        ('{"step": 1, "split": "train"}\n\udcff\udcfe garbage\n{"step": 2}\n', ":2:"),
    ],
)
def test_read_rejects_garbage_before_the_end(tmp_path, text, where):
    path = tmp_path / "m.jsonl"
    path.write_bytes(text.encode("utf-8", "surrogateescape"))
    with pytest.raises(DataError, match=f"m\\.jsonl{where}"):
        read_metrics(path)


def test_read_missing_log(tmp_path):
    with pytest.raises(DataError, match=r"no metrics log at .*absent\.jsonl"):
        read_metrics(tmp_path / "absent.jsonl")


def test_truncate_after(tmp_path):
    path = tmp_path / "m.jsonl"
    _write_crashed_log(path)
    original_lines = path.read_bytes().splitlines(keepends=True)
    assert truncate_after(path, 5) == 6  # the cut-short final line is no record
    assert read_metrics(path) == [r for r in _records() if r["step"] <= 5]
    assert path.read_bytes() == b"".join(original_lines[:6])
    assert truncate_after(path, 5) == 0
    assert truncate_after(path, 0) == 6
    assert path.read_bytes() == b""
    assert truncate_after(tmp_path / "absent.jsonl", 3) == 0
    assert not (tmp_path / "absent.jsonl").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.jsonl"]


def test_truncate_after_is_atomic(tmp_path, monkeypatch):
    path = tmp_path / "m.jsonl"
    _write_crashed_log(path)
    before = path.read_bytes()

    def crash(*args):
        raise OSError("simulated crash")

    monkeypatch.setattr(metrics_module, "atomic_write_bytes", crash)
    with pytest.raises(OSError, match="simulated crash"):
        truncate_after(path, 2)
    assert path.read_bytes() == before


# ---------------------------------------------------------------- plot


@pytest.fixture
def pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


@pytest.mark.parametrize("log_x", [False, True])
def test_plot_writes_png_and_leaves_no_figure(tmp_path, pyplot, log_x):
    records = [
        {"step": 0, "split": "train", "loss": 4.2},
        *_records(),
        {"step": 12, "split": "train", "loss": float("nan")},
        {"step": 12, "split": "test", "loss": 0.5},
    ]
    path = tmp_path / "loss.png"
    open_before = pyplot.get_fignums()
    assert plot_losses(records, path, log_x=log_x, title="run") is True
    data = path.read_bytes()
    assert data.startswith(PNG_SIGNATURE) and len(data) > 5_000
    assert pyplot.get_fignums() == open_before
    assert [p.name for p in tmp_path.iterdir()] == ["loss.png"]


def test_plot_without_losses_still_writes_png(tmp_path, pyplot):
    assert plot_losses([{"step": 1, "split": "train", "lr": 0.1}], tmp_path / "p.png")
    assert (tmp_path / "p.png").read_bytes().startswith(PNG_SIGNATURE)


def test_plot_without_matplotlib_returns_false(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    assert plot_losses(_records(), tmp_path / "loss.png") is False
    assert not (tmp_path / "loss.png").exists()
