"""`rnnlab tasks table`: presets, running a tiny grid, collecting, resuming, the outputs."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from rnnlab.errors import InputError
from rnnlab.tasks.table import (
    cell_status,
    headline,
    load_table_preset,
    run_table,
    table_markdown,
    table_presets,
    write_outputs,
)

SRC = str(Path(__file__).resolve().parents[2] / "src")

TINY = """
title = "tiny"
jobs = 2
threads = 1

[rows.adding]
task = "adding"
label = "Adding T=8"
settings = { seq_len = 8, steps = STEPS, eval_every = 0, val_size = 20, test_size = 30, hidden = 4 }
[rows.adding.models.lstm]
lr = 1e-2
[rows.adding.models.tcn]
channels = [3, 3]
kernel_size = 2

[rows.recall]
task = "recall"
label = "Recall"
gaps = [1, 3]
shown_gap = 3
seeds = [0, 1]
settings = { steps = STEPS, eval_every = 0, val_size = 20, test_size = 30, hidden = 4 }
[rows.recall.models.gru]
"""


@pytest.fixture(autouse=True)
def src_on_path(monkeypatch):
    """The table runs cells as `python -m rnnlab` subprocesses: they must find the package."""
    monkeypatch.setenv("PYTHONPATH", SRC + os.pathsep + os.environ.get("PYTHONPATH", ""))


def write_preset(tmp_path, steps=3, name="tiny.toml"):
    path = tmp_path / name
    path.write_text(TINY.replace("STEPS", str(steps)))
    return path


def quiet(*args, **kwargs):
    pass


def test_shipped_presets_parse_and_check_every_cell():
    assert {"cpu", "paper"} <= set(table_presets())
    for name in table_presets():
        preset = load_table_preset(name)
        assert preset.cells
        assert {c.task for c in preset.cells} >= {"adding", "copy", "pixel"}
    cpu = load_table_preset("cpu")
    recall = [c for c in cpu.cells if c.task == "recall"]
    assert len({c.gap for c in recall}) >= 3  # the decline with the gap needs several gaps
    paper = load_table_preset("paper")
    adding = next(c for c in paper.cells if c.task == "adding")
    copy = next(c for c in paper.cells if c.task == "copy")
    assert adding.settings["seq_len"] == 600 and copy.settings["seq_len"] == 1000


@pytest.mark.parametrize(
    "text, message",
    [
        ("title = 'x'\n", "rows.NAME"),
        ("[rows.a]\nlabel = 'no task'\n", "needs a task"),
        ("[rows.a]\ntask = 'nosuch'\n[rows.a.models.lstm]\n", "unknown task 'nosuch'"),
        ("[rows.a]\ntask = 'adding'\n", "models"),
        ("[rows.a]\ntask = 'adding'\n[rows.a.models.transformer]\n", "unknown model"),
        (
            "[rows.a]\ntask = 'adding'\ngaps = [1]\n[rows.a.models.lstm]\n",
            "gaps are a non-empty list, for recall only",
        ),
        (
            "[rows.a]\ntask = 'adding'\nsettings = {seq_len = 1, steps = 2}\n"
            "[rows.a.models.lstm]\n",
            "cell a-lstm: adding: expected seq_len",
        ),
        (
            "[rows.a]\ntask = 'adding'\nsettings = {hiddn = 3, steps = 2}\n[rows.a.models.lstm]\n",
            "unknown setting 'hiddn'",
        ),
        ("jobs = 0\n[rows.a]\ntask = 'adding'\n[rows.a.models.lstm]\n", "jobs"),
        (
            "[rows.a]\ntask = 'adding'\nseeds = [-1]\n[rows.a.models.lstm]\n",
            "seeds: expected a non-empty list of ints >= 0",
        ),
        (
            "[rows.a]\ntask = 'recall'\ngaps = [1.5]\n[rows.a.models.lstm]\n",
            "gaps: expected a non-empty list of ints",
        ),
        (
            "[rows.a]\ntask = 'recall'\ngaps = [1, 2]\nshown_gap = 3\n[rows.a.models.lstm]\n",
            "shown_gap 3 is not one of the gaps",
        ),
        ("[rows.a]\ntask = 'adding'\nsettings = 3\n[rows.a.models.lstm]\n", "table of settings"),
        ("[rows.a]\ntask = 'adding'\nmodels = {lstm = 3}\n", "models.lstm: expected a table"),
        ("[rows.a\n", "not valid TOML"),
    ],
)
def test_bad_presets_are_clear_errors(tmp_path, text, message):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(InputError, match=message):
        load_table_preset(str(path))


def test_unknown_preset_name_lists_the_shipped_ones():
    with pytest.raises(InputError, match="shipped presets: cpu"):
        load_table_preset("nope")


def test_tiny_table_runs_collects_and_writes_outputs(tmp_path):
    preset = load_table_preset(str(write_preset(tmp_path)))
    assert [c.name for c in preset.cells] == [
        "adding-lstm",
        "adding-tcn",
        "recall-gru-g1-s0",
        "recall-gru-g1-s1",
        "recall-gru-g3-s0",
        "recall-gru-g3-s1",
    ]
    out = tmp_path / "table"
    results = run_table(preset, out, log=quiet)
    assert [r["cell"] for r in results] == [c.name for c in preset.cells]
    for result in results:
        assert result["steps"] == 3 and result["stopped"] == "steps"
        assert result["parameters"] > 0 and result["minutes"] > 0
        name, value, _ = headline(result)
        assert name == ("mse" if result["task"] == "adding" else "accuracy")
        assert value == result["metrics"][name]
        assert (out / result["cell"] / "test.json").exists()
    written = write_outputs(preset, results, out)
    assert {p.name for p in written} == {"table.md", "table.json", "recall.png"}
    assert (out / "recall.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    doc = json.loads((out / "table.json").read_text())
    assert doc["machine"]["cpu"] and len(doc["cells"]) == 6
    assert {c["seed"] for c in doc["cells"] if c["task"] == "recall"} == {0, 1}
    markdown = (out / "table.md").read_text()
    lines = markdown.splitlines()
    assert lines[0].startswith("| Sequence modeling task | Model size")
    assert "| LSTM |" in lines[0] and "| TCN |" in lines[0] and "GRU" in lines[0]
    sizes = sorted(r["parameters"] for r in results if r["task"] == "adding")
    size = f"{sizes[0]}–{sizes[1]}" if sizes[1] > 1.1 * sizes[0] else str(sizes[0])
    adding_line = next(line for line in lines if line.startswith("| Adding T=8 (mse ℓ) |"))
    assert f"| {size} |" in adding_line  # the sizes the cells actually have
    assert adding_line.count("**") == 2  # the best of the row is bold
    recall_line = next(line for line in lines if line.startswith("| Recall, gap 3"))
    g3 = sorted(r["metrics"]["accuracy"] for r in results if r["gap"] == 3)
    assert f"{100 * (g3[0] + g3[1]) / 2:.1f}" in recall_line  # the median of the two seeds
    assert "Machine:" in markdown and "min)" in adding_line and "median" in markdown

    # a second call trains nothing: every cell is collected from its finished run
    stamps = {p: p.stat().st_mtime_ns for p in out.glob("*/latest.json")}
    again = run_table(preset, out, log=quiet)
    assert again == results
    assert stamps == {p: p.stat().st_mtime_ns for p in out.glob("*/latest.json")}


def test_unfinished_cells_resume_and_collect_only_skips_them(tmp_path):
    out = tmp_path / "table"
    run_table(load_table_preset(str(write_preset(tmp_path, steps=2))), out, log=quiet)
    longer = load_table_preset(str(write_preset(tmp_path, steps=4, name="longer.toml")))
    # the cells' runs exist with 2 of 4 steps: finished under the old budget, not the new one
    assert cell_status(longer.cells[0], out / "adding-lstm")[0] == "unfinished"
    results = run_table(longer, out, log=quiet)
    assert all(r["steps"] == 4 for r in results)
    metrics = (out / "adding-lstm" / "metrics.jsonl").read_text().splitlines()
    steps = [json.loads(line)["step"] for line in metrics if '"train"' in line]
    assert steps == [2, 4]  # continued from step 2, not started again


def test_collect_only_tabulates_what_finished(tmp_path):
    out = tmp_path / "table"
    preset = load_table_preset(str(write_preset(tmp_path)))
    assert run_table(preset, out, collect_only=True, log=quiet) == []
    run_table(preset, out, log=quiet)
    (out / "recall-gru-g1-s0" / "test.json").unlink()  # evaluated again on collection
    results = run_table(preset, out, collect_only=True, log=quiet)
    assert len(results) == 6
    text = table_markdown(preset, results, {"cpu": "test CPU", "cores": 2, "torch": "x"})
    assert "test CPU" in text


def test_cli_dry_run_and_bad_flags(tmp_path):
    env = dict(os.environ)
    preset = write_preset(tmp_path)
    cmd = [sys.executable, "-m", "rnnlab", "tasks", "table", "--preset", str(preset)]
    proc = subprocess.run([*cmd, "--dry-run"], capture_output=True, text=True, env=env)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert len(lines) == 6 and all(" train " in line and "--resume" in line for line in lines)
    assert "--gap 3 --seed 1" in lines[5] and "--channels 3,3" in lines[1]
    proc = subprocess.run([*cmd, "--jobs", "0"], capture_output=True, text=True, env=env)
    assert proc.returncode == 2 and "--jobs >= 1" in proc.stderr
    assert "Traceback" not in proc.stderr
    out = tmp_path / "out"
    record = tmp_path / "RESULTS.md"
    record.write_text("# results\n\nearlier entry\n")
    proc = subprocess.run(
        [*cmd, "--out", str(out), "--record", str(record)], capture_output=True, text=True, env=env
    )
    assert proc.returncode == 0, proc.stderr
    text = record.read_text()
    assert text.startswith("# results\n\nearlier entry\n\n## Tasks table `tiny` (")
    assert (out / "table.md").read_text() in text and "rnnlab tasks table --preset tiny" in text
    listing = subprocess.run(
        [sys.executable, "-m", "rnnlab", "tasks", "list"], capture_output=True, text=True, env=env
    )
    assert listing.returncode == 0
    for name in ("adding", "copy", "pixel", "recall", "charlm"):
        assert name in listing.stdout


DIVERGING = """
title = "diverging"
[rows.adding]
task = "adding"
label = "Adding T=8"
settings = { seq_len = 8, steps = 3, eval_every = 0, val_size = 20, test_size = 30, hidden = 4 }
[rows.adding.models.lstm]
lr = 1e-2
[rows.adding.models.rnn]
lr = 1e30
"""


def test_a_diverged_cell_is_recorded_and_tabulated_not_fatal(tmp_path):
    path = tmp_path / "diverging.toml"
    path.write_text(DIVERGING)
    preset = load_table_preset(str(path))
    out = tmp_path / "table"
    results = run_table(preset, out, log=quiet)
    by_model = {r["model"]: r for r in results}
    assert by_model["lstm"]["metrics"]["mse"] >= 0 and not by_model["lstm"].get("failed")
    failed = by_model["rnn"]
    assert failed["metrics"] is None and "inf" in failed["failed"]
    assert headline(failed)[1] is None
    text = table_markdown(preset, results, {"cpu": "test CPU", "cores": 2, "torch": "x"})
    line = next(row for row in text.splitlines() if row.startswith("| Adding T=8"))
    assert "diverged" in line and line.count("**") == 2  # the LSTM is the row's best
    write_outputs(preset, results, out)
    assert json.loads((out / "table.json").read_text())["cells"][1]["failed"]
    # the diverged cell is done: a second call does not train it again
    assert cell_status(preset.cells[1], out / "adding-rnn")[0] == "done"
    assert run_table(preset, out, log=quiet) == results


def test_a_cell_whose_run_ends_early_is_an_error_naming_it(tmp_path, monkeypatch):
    import rnnlab.tasks.table as table

    preset = load_table_preset(str(write_preset(tmp_path)))
    # a training command that exits 0 without finishing (as a run stopped by a signal does)
    monkeypatch.setattr(table, "train_command", lambda *a: [sys.executable, "-c", "pass"])
    with pytest.raises(InputError, match="adding-lstm was interrupted"):
        run_table(preset, tmp_path / "table", jobs=1, log=quiet)


def test_a_run_with_other_settings_is_an_error_naming_its_directory(tmp_path):
    out = tmp_path / "table"
    run_table(load_table_preset(str(write_preset(tmp_path, steps=2))), out, log=quiet)
    other = write_preset(tmp_path, steps=2, name="other.toml")
    other.write_text(other.read_text().replace("hidden = 4", "hidden = 5"))
    with pytest.raises(InputError, match=r"adding-lstm.*other settings.*hidden"):
        run_table(load_table_preset(str(other)), out, log=quiet)
