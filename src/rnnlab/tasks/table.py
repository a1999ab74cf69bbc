"""`rnnlab tasks table`: a grid of task × model, trained and tabulated as Bai et al.'s Table 1.

A table preset (TOML, shipped in `rnnlab/presets/tables/` or given by path) names the rows
(a task with its settings), the models of each row (tcn, lstm, gru, rnn, each with its own
settings over the row's) and, for recall, the gaps to sweep:

    title = "…"
    jobs = 2                    # cells trained at once
    threads = 1                 # torch threads per cell

    [rows.adding]
    task = "adding"
    label = "Adding problem T=100"
    settings = { seq_len = 100, minutes = 3, params = "70k" }
    [rows.adding.models.tcn]
    channels = [24, 24, 24, 24, 24, 24]
    [rows.adding.models.lstm]
    init = "chrono"

    [rows.recall]
    task = "recall"
    gaps = [10, 50, 100]        # one cell per gap and model
    shown_gap = 100             # the gap the table shows (all of them go to recall.png)
    seeds = [0, 1, 2]           # optional, any row: one cell per seed, the median is shown

Every cell is an ordinary run, `rnnlab train TASK … --out OUT/CELL` in a subprocess, then
`rnnlab eval OUT/CELL/best.safetensors --json` on the test split. A cell whose run finished
and was evaluated is collected, not trained again, so an interrupted table continues where
it stopped when the same command is given again (unfinished cells resume). Outputs in OUT:
`table.md` (the table, each cell with its training time), `table.json` (every cell: settings,
command, parameters, time, metrics, and the machine) and `recall.png` (accuracy against gap
for each model).
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from rnnlab.atomic import (
    append_markdown_section,
    atomic_write_bytes,
    atomic_write_json,
    atomic_write_text,
)
from rnnlab.config import read_toml
from rnnlab.errors import InputError
from rnnlab.machine import describe_machine, machine_info
from rnnlab.models.sequence import MODELS
from rnnlab.tasks.registry import get_task
from rnnlab.train.checkpoint import find_checkpoint, has_checkpoints, load_meta
from rnnlab.train.config import RESUMABLE

COLUMNS = ("lstm", "gru", "rnn", "tcn")  # the paper's column order
RESULTS_TITLE = "# rnnlab benchmark results\n"
FINISHED = ("steps", "minutes", "early-stopping")
RESULT_FILE = "test.json"


@dataclass
class Cell:
    """One run of the grid."""

    row: str
    task: str
    model: str
    name: str  # its directory under the table's output
    settings: dict[str, Any]
    gap: int | None = None
    seed: int | None = None

    def flags(self) -> list[str]:
        out = ["--model", self.model]
        for key, value in self.settings.items():
            if isinstance(value, (list, tuple)):
                value = ",".join(map(str, value))
            elif isinstance(value, bool):
                value = str(value).lower()
            out += ["--" + key.replace("_", "-"), str(value)]
        return out


@dataclass
class TablePreset:
    """A parsed table preset (see the module docstring)."""

    name: str
    title: str
    jobs: int
    threads: int
    rows: dict[str, dict[str, Any]]
    cells: list[Cell] = field(default_factory=list)


def _preset_folder():
    return resources.files("rnnlab") / "presets" / "tables"


def table_presets() -> list[str]:
    folder = _preset_folder()
    return sorted(
        p.name.removesuffix(".toml") for p in folder.iterdir() if p.name.endswith(".toml")
    )


def _read(name: str) -> tuple[str, dict[str, Any]]:
    if name in table_presets():
        with resources.as_file(_preset_folder() / f"{name}.toml") as path:
            return name, _parse(path)
    path = Path(name)
    if path.suffix == ".toml" or path.is_file():
        return path.stem, _parse(path)
    raise InputError(
        f"tasks table: unknown preset {name!r}; shipped presets: {', '.join(table_presets())} "
        "(or give a path to a .toml file)"
    )


def _parse(path: Path) -> dict[str, Any]:
    try:
        return read_toml(path)
    except InputError as err:
        raise InputError(f"tasks table: {err}") from None


def _int_list(value: Any, what: str, minimum: int) -> list[int] | None:
    """A non-empty list of ints >= `minimum`, or None when absent."""
    if value is None:
        return None
    if (
        not isinstance(value, list)
        or not value
        or any(isinstance(x, bool) or not isinstance(x, int) or x < minimum for x in value)
    ):
        raise InputError(f"{what}: expected a non-empty list of ints >= {minimum}, got {value!r}")
    return value


def _table(value: Any, what: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InputError(f"{what}: expected a table of settings, got {value!r}")
    return value


def load_table_preset(name: str) -> TablePreset:
    """Read and check a table preset; every cell's settings are checked against its task."""
    preset_name, doc = _read(name)
    where = f"tasks table: preset {preset_name!r}"
    rows = doc.get("rows")
    if not isinstance(rows, dict) or not rows:
        raise InputError(f"{where}: expected a [rows.NAME] table for each row")
    preset = TablePreset(
        name=preset_name,
        title=str(doc.get("title", preset_name)),
        jobs=_positive(doc.get("jobs", 1), f"{where}: jobs"),
        threads=_positive(doc.get("threads", 1), f"{where}: threads"),
        rows=rows,
    )
    for key, row in rows.items():
        if not isinstance(row, dict) or "task" not in row:
            raise InputError(f"{where}: row {key!r} needs a task")
        spec = get_task(str(row["task"]))
        models = row.get("models")
        if not isinstance(models, dict) or not models:
            raise InputError(f"{where}: row {key!r} needs [rows.{key}.models.MODEL] tables")
        gaps = _int_list(row.get("gaps"), f"{where}: row {key!r}: gaps", 0)
        if gaps is not None and spec.name != "recall":
            raise InputError(f"{where}: row {key!r}: gaps are a non-empty list, for recall only")
        if gaps is not None:
            row["shown_gap"] = row.get("shown_gap", gaps[-1])
            if row["shown_gap"] not in gaps:
                raise InputError(
                    f"{where}: row {key!r}: shown_gap {row['shown_gap']!r} is not one of the "
                    f"gaps {gaps}"
                )
        seeds = _int_list(row.get("seeds"), f"{where}: row {key!r}: seeds", 0)
        shared = _table(row.get("settings"), f"{where}: row {key!r}: settings")
        for model, own in models.items():
            if model not in MODELS:
                raise InputError(
                    f"{where}: row {key!r}: unknown model {model!r}; expected one of "
                    f"{', '.join(MODELS)}"
                )
            settings = {**shared, **_table(own, f"{where}: row {key!r}: models.{model}")}
            for gap in gaps or [None]:
                for seed in seeds or [None]:
                    cell_settings = dict(settings)
                    name = f"{key}-{model}"
                    if gap is not None:
                        cell_settings["gap"] = gap
                        name += f"-g{gap}"
                    if seed is not None:
                        cell_settings["seed"] = seed
                        name += f"-s{seed}"
                    cell = Cell(key, spec.name, model, name, cell_settings, gap, seed)
                    _check_cell(spec, cell, where)
                    preset.cells.append(cell)
    return preset


def _positive(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InputError(f"{what}: expected an integer >= 1, got {value!r}")
    return value


def _check_cell(spec, cell: Cell, where: str) -> None:
    from rnnlab.train.run import check_config

    try:
        cfg = cell_config(cell)
        check_config(spec, cfg)
    except InputError as err:
        raise InputError(f"{where}: cell {cell.name}: {err}") from None
    if cfg.steps is None and cfg.minutes is None:
        raise InputError(f"{where}: cell {cell.name}: needs a budget (steps or minutes)")


# -- running ---------------------------------------------------------------------------------


def cell_config(cell: Cell, saved: dict[str, Any] | None = None):
    """The run configuration a cell asks for (a budget given alone replaces the other, as on
    the command line); with the `saved` config of its run, "auto" settings take the values
    that run chose."""
    from rnnlab.config import override, with_budget_rule
    from rnnlab.train.run import keep_chosen

    settings = with_budget_rule({**cell.settings, "model": cell.model})
    if saved is not None:
        settings = keep_chosen(saved, settings)
    return override(get_task(cell.task).config(), settings)


def _read_result(directory: Path) -> dict[str, Any] | None:
    """The cell's recorded evaluation (or failure), or None when absent or unreadable."""
    try:
        return json.loads((directory / RESULT_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def cell_status(cell: Cell, directory: Path) -> tuple[str, dict[str, Any] | None]:
    """("new" | "unfinished" | "trained" | "done", the recorded result if done).

    A run that ended under another budget than the cell now asks for is unfinished (it is
    resumed with the new budget); a cell whose run diverged is done, with its failure
    recorded, until its directory is removed. A run with other settings than the cell's is
    an InputError that names the directory.
    """
    from rnnlab.config import differences, from_dict
    from rnnlab.train.run import canonical

    result = _read_result(directory)
    if not has_checkpoints(directory):
        if result is not None and result.get("failed") and result.get("step") is None:
            return "done", result
        return "new", None
    meta = load_meta(directory)
    spec = get_task(cell.task)
    wanted = canonical(spec, cell_config(cell, meta.get("config", {})))
    try:
        saved = from_dict(spec.config, meta.get("config", {}))
    except InputError as err:
        raise InputError(f"tasks table: cell {cell.name}: {directory}: {err}") from None
    changed = differences(saved, wanted, ignore=RESUMABLE)
    if changed:
        raise InputError(
            f"tasks table: cell {cell.name}: the run in {directory} has other settings than "
            f"the preset asks for ({'; '.join(changed)}); remove that directory to train the "
            "cell again, or give another --out"
        )
    if result is not None and result.get("failed") and result.get("step") == meta.get("step"):
        return "done", result
    if meta.get("trainer", {}).get("stopped") not in FINISHED or any(
        getattr(saved, budget) != getattr(wanted, budget) for budget in ("steps", "minutes")
    ):
        return "unfinished", None
    if result is not None and not result.get("failed") and result.get("step") == meta.get("step"):
        return "done", result
    return "trained", None


def _rnnlab(*args: str) -> list[str]:
    return [sys.executable, "-m", "rnnlab", *args]


def train_command(cell: Cell, out: Path, threads: int) -> list[str]:
    return _rnnlab(
        "train",
        cell.task,
        "--out",
        str(out / cell.name),
        "--resume",
        "--progress",
        "false",
        "--threads",
        str(threads),
        *cell.flags(),
    )


def _device(cell: Cell) -> str:
    """Where the cell computes: its `device` setting, else the CPU."""
    return str(cell.settings.get("device", "cpu"))


def _record(cell: Cell, out: Path, threads: int, meta: dict[str, Any] | None) -> dict[str, Any]:
    """What every result of a cell holds: its place in the grid, settings, command, size."""
    trainer = (meta or {}).get("trainer", {})
    return {
        "cell": cell.name,
        "row": cell.row,
        "task": cell.task,
        "model": cell.model,
        "gap": cell.gap,
        "seed": cell.seed,
        "settings": cell.settings,
        "command": " ".join(train_command(cell, out, threads)),
        "step": (meta or {}).get("step"),
        "steps": trainer.get("step"),
        "minutes": trainer.get("elapsed", 0.0) / 60.0,
        "stopped": trainer.get("stopped"),
        "parameters": (meta or {}).get("model", {}).get("parameters"),
    }


def _evaluate(cell: Cell, out: Path, threads: int) -> dict[str, Any]:
    """Test metrics of a finished cell (best checkpoint), with its size and training time."""
    directory = out / cell.name
    best = directory / "best.safetensors"
    target = best if best.exists() else find_checkpoint(directory)
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    proc = subprocess.run(
        _rnnlab("eval", str(target), "--json", "--split", "test", "--device", _device(cell)),
        capture_output=True,
        text=True,
        env=env,
    )
    if proc.returncode != 0:
        raise InputError(
            f"tasks table: evaluating {cell.name} failed: {proc.stderr.strip()[-500:]}"
        )
    result = {
        **_record(cell, out, threads, load_meta(directory)),
        "evaluated_step": load_meta(target).get("step"),
        "metrics": json.loads(proc.stdout),
    }
    atomic_write_json(directory / RESULT_FILE, result)
    return result


def _failed(cell: Cell, out: Path, threads: int, reason: str) -> dict[str, Any]:
    """Record a cell whose run stopped on a non-finite loss: it is tabulated as diverged."""
    directory = out / cell.name
    meta = load_meta(directory) if has_checkpoints(directory) else None
    result = {**_record(cell, out, threads, meta), "failed": reason, "metrics": None}
    atomic_write_json(directory / RESULT_FILE, result)
    return result


def _last_error(log_tail: str) -> str:
    """The error line a failed run printed last (or a generic reason)."""
    for line in reversed(log_tail.splitlines()):
        if "error:" in line:
            return line.split("error:", 1)[1].strip()
    return "the run stopped on a non-finite loss"


def run_table(
    preset: TablePreset,
    out: Path,
    *,
    jobs: int | None = None,
    threads: int | None = None,
    collect_only: bool = False,
    log=print,
) -> list[dict[str, Any]]:
    """Train what is missing (unless `collect_only`), evaluate, and return every cell's result.

    Cells run `jobs` at a time, longest budget first. Ctrl-C or SIGTERM stops the running
    cells (each saves a checkpoint) and raises KeyboardInterrupt; the same call continues.
    """
    jobs = jobs or preset.jobs
    threads = threads or preset.threads
    out.mkdir(parents=True, exist_ok=True)
    (out / "logs").mkdir(exist_ok=True)
    results: dict[str, dict[str, Any]] = {}
    todo: list[Cell] = []
    for cell in preset.cells:
        status, result = cell_status(cell, out / cell.name)
        if status == "done":
            results[cell.name] = result
        elif status == "trained":
            results[cell.name] = _evaluate(cell, out, threads)
        elif not collect_only:
            todo.append(cell)
    if todo:
        todo.sort(key=_budget, reverse=True)
        total = sum(_budget(c) for c in todo) / 60.0
        log(
            f"tasks table: training {len(todo)} cells ({total:.0f} cell-minutes of budget), "
            f"{jobs} at a time with {threads} thread(s) each, into {out}"
        )
        for cell, result in _run_pool(todo, out, jobs, threads, log):
            results[cell.name] = result
    missing = [c.name for c in preset.cells if c.name not in results]
    if missing and not collect_only:
        raise InputError(f"tasks table: no result for {', '.join(missing)}")
    return [results[c.name] for c in preset.cells if c.name in results]


def _budget(cell: Cell) -> float:
    """Seconds of training a cell is given (a steps budget counts as a minute per 1000)."""
    minutes = cell.settings.get("minutes")
    if minutes is not None:
        return 60.0 * float(minutes)
    return 60.0 * float(cell.settings.get("steps", 2000)) / 1000.0


def _run_pool(todo: list[Cell], out: Path, jobs: int, threads: int, log):
    """Run the cells' training commands `jobs` at a time; yield (cell, result) as they end."""
    pending = list(todo)
    running: dict[subprocess.Popen, tuple[Cell, Any, float]] = {}
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "PYTHONUNBUFFERED": "1"}
    try:
        while pending or running:
            while pending and len(running) < jobs:
                cell = pending.pop(0)
                logfile = (out / "logs" / f"{cell.name}.log").open("a", encoding="utf-8")
                cmd = train_command(cell, out, threads)
                logfile.write("$ " + " ".join(cmd) + "\n")
                logfile.flush()
                proc = subprocess.Popen(cmd, stdout=logfile, stderr=subprocess.STDOUT, env=env)
                running[proc] = (cell, logfile, time.monotonic())
                log(f"  started {cell.name}")
            time.sleep(0.5)
            for proc in [p for p in running if p.poll() is not None]:
                cell, logfile, start = running.pop(proc)
                logfile.close()
                logpath = out / "logs" / f"{cell.name}.log"
                tail = logpath.read_text(encoding="utf-8", errors="replace")[-800:]
                if proc.returncode == 1:  # the run stopped on a non-finite loss: diverged
                    reason = _last_error(tail)
                    result = _failed(cell, out, threads, reason)
                    log(f"  diverged {cell.name}: {reason}")
                    yield cell, result
                    continue
                if proc.returncode != 0:
                    raise InputError(
                        f"tasks table: cell {cell.name} failed (exit {proc.returncode}); "
                        f"see {logpath}\n{tail}"
                    )
                status, _ = cell_status(cell, out / cell.name)
                if status != "trained":
                    raise InputError(
                        f"tasks table: cell {cell.name} was interrupted before its budget was "
                        "spent; run the same command to continue"
                    )
                result = _evaluate(cell, out, threads)
                log(
                    f"  done {cell.name}: {format_metric(result)} "
                    f"({result['minutes']:.1f} min, {time.monotonic() - start:.0f} s wall)"
                )
                yield cell, result
    except BaseException:
        for proc in running:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc, (_, logfile, _) in running.items():
            try:
                proc.wait(timeout=120)
            except subprocess.TimeoutExpired:
                proc.kill()
            logfile.close()
        raise


# -- tabulating ------------------------------------------------------------------------------


def headline(result: dict[str, Any]) -> tuple[str, float | None, str]:
    """(metric name, value, "min"|"max") a cell is judged by: mse, loss, or accuracy; the
    value is None for a cell whose run diverged."""
    metrics = result.get("metrics")
    spec = get_task(result["task"])
    if spec.kind == "regression":
        name, mode = "mse", "min"
    elif spec.monitor == "accuracy":
        name, mode = "accuracy", "max"
    else:
        name, mode = "loss", "min"
    return name, (None if metrics is None else float(metrics[name])), mode


def format_metric(result: dict[str, Any]) -> str:
    name, value, _ = headline(result)
    if value is None:
        return "diverged"
    if name == "accuracy":
        return f"{name} {100 * value:.1f}%"
    return f"{name} {_number(value)}"


def _number(value: float) -> str:
    if value == 0 or not math.isfinite(value):
        return str(value)
    return f"{value:.2e}" if abs(value) < 1e-2 else f"{value:.4f}"


def _median(values: list[float]) -> float:
    ordered = sorted(values)
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else 0.5 * (ordered[mid - 1] + ordered[mid])


def _size(counts: list[int]) -> str:
    """A row's model sizes: "70K", or "16K–42K" when they differ by more than 10%."""
    lo, hi = min(counts), max(counts)

    def k(n: int) -> str:
        return f"{n / 1000:.0f}K" if n >= 1000 else str(n)

    return k(round(_median(counts))) if hi <= 1.1 * lo else f"{k(lo)}–{k(hi)}"


def groups(results: list[dict[str, Any]]) -> dict[tuple, list[dict[str, Any]]]:
    """Results by (row, model, gap): the cells that differ only by their seed."""
    out: dict[tuple, list[dict[str, Any]]] = {}
    for result in results:
        out.setdefault((result["row"], result["model"], result.get("gap")), []).append(result)
    return out


def summary(cells: list[dict[str, Any]]) -> dict[str, Any]:
    """The headline metric of cells that differ only by their seed: median, range, time.

    Diverged cells are counted (`diverged`) and left out of the median; when every cell
    diverged, the median and range are None."""
    name, _, mode = headline(cells[0])
    values = [v for v in (headline(c)[1] for c in cells) if v is not None]
    return {
        "metric": name,
        "mode": mode,
        "median": _median(values) if values else None,
        "min": min(values) if values else None,
        "max": max(values) if values else None,
        "seeds": len(cells),
        "diverged": len(cells) - len(values),
        "minutes": _median([c["minutes"] for c in cells]),
        "parameters": [c["parameters"] for c in cells if c.get("parameters")],
    }


def _shown(cell: dict[str, Any]) -> str:
    value = cell["median"]
    if value is None:
        return f"diverged ({cell['minutes']:.1f} min)"
    text = f"{100 * value:.1f}" if cell["metric"] == "accuracy" else _number(value)
    if cell["diverged"]:
        text += f", {cell['diverged']} of {cell['seeds']} diverged"
    return f"{text} ({cell['minutes']:.1f} min)"


def table_markdown(preset: TablePreset, results: list[dict[str, Any]], machine: dict) -> str:
    """The table in the shape of Bai et al. 2018's Table 1, each cell with its training time.

    A cell trained with several seeds shows their median; a swept row (recall) its
    `shown_gap`. The model-size column gives the parameter counts the cells actually have.
    """
    by_row: dict[str, dict[str, dict[str, Any]]] = {}
    for (row_key, model, gap), cells in groups(results).items():
        row = preset.rows[row_key]
        if gap is not None and gap != row["shown_gap"]:
            continue
        by_row.setdefault(row_key, {})[model] = summary(cells)
    columns = [c for c in COLUMNS if any(c in cells for cells in by_row.values())]
    header = ["Sequence modeling task", "Model size (≈)", *[c.upper() for c in columns]]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * 2 + "---:|" * len(columns)]
    seeded = False
    for key, row in preset.rows.items():
        cells = by_row.get(key, {})
        if not cells:
            continue
        first = next(iter(cells.values()))
        mode = first["mode"]
        values = {m: c["median"] for m, c in cells.items()}
        finite = [v for v in values.values() if v is not None]
        best = (max if mode == "max" else min)(finite) if finite else None
        label = row.get("label", key)
        if row.get("gaps") is not None:
            label = f"{label}, gap {row['shown_gap']}"
        counts = [n for c in cells.values() for n in c["parameters"]]
        arrow = "h" if mode == "max" else "ℓ"
        text = [f"{label} ({first['metric']} {arrow})", _size(counts) if counts else ""]
        for model in columns:
            if model not in cells:
                text.append("—")
                continue
            seeded |= cells[model]["seeds"] > 1
            shown = _shown(cells[model])
            won = best is not None and values[model] == best
            text.append(f"**{shown}**" if won else shown)
        lines.append("| " + " | ".join(text) + " |")
    notes = [
        "",
        f"{preset.title}. ℓ: lower is better, h: higher is better; accuracy in %. Each cell is",
        "its test metric (best validation checkpoint) and, in brackets, its training time"
        + ("; cells trained with several seeds show the median." if seeded else "."),
        f"Machine: {describe_machine(machine)}.",
    ]
    return "\n".join(lines + notes + _sweep_tables(preset, results)) + "\n"


def _sweep_tables(preset: TablePreset, results: list[dict[str, Any]]) -> list[str]:
    """For each row swept over gaps: the metric by model and gap (median over seeds)."""
    lines: list[str] = []
    for key, row in preset.rows.items():
        if row.get("gaps") is None:
            continue
        found = {(m, g): summary(c) for (r, m, g), c in groups(results).items() if r == key}
        if not found:
            continue
        gaps = sorted({g for _, g in found})
        models = [m for m in COLUMNS if any(m == fm for fm, _ in found)]
        first = next(iter(found.values()))
        seeds = max(c["seeds"] for c in found.values())
        lines += [
            "",
            f"{row.get('label', key)}, {first['metric']} by gap G"
            + (f" (median of {seeds} seeds, range in brackets)" if seeds > 1 else "")
            + ":",
            "",
            "| model | " + " | ".join(f"G={g}" for g in gaps) + " |",
            "|---|" + "---:|" * len(gaps),
        ]
        for model in models:
            cells = []
            for gap in gaps:
                c = found.get((model, gap))
                if c is None:
                    cells.append("—")
                    continue
                if c["median"] is None:
                    cells.append("diverged")
                    continue
                scale = 100 if c["metric"] == "accuracy" else 1
                text = f"{scale * c['median']:.1f}"
                if c["seeds"] > 1:
                    text += f" ({scale * c['min']:.0f}–{scale * c['max']:.0f})"
                cells.append(text)
            lines.append(f"| {model.upper()} | " + " | ".join(cells) + " |")
    return lines


def recall_png(preset: TablePreset, results: list[dict[str, Any]], path: Path) -> bool:
    """Recall accuracy against the gap, one line per model (the median over seeds, their range
    shaded), chance marked; False without matplotlib or recall cells."""
    curves: dict[str, list[tuple[int, dict[str, Any]]]] = {}
    chance = None
    for (_, model, gap), cells in groups(results).items():
        if cells[0]["task"] != "recall" or gap is None:
            continue
        curves.setdefault(model, []).append((gap, summary(cells)))
        chance = 100.0 / int(cells[0]["settings"].get("n_keys", 8))
    if not curves:
        return False
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        return False
    import io

    figure = Figure(figsize=(7, 4.5), dpi=120, layout="constrained")
    FigureCanvasAgg(figure)
    ax = figure.add_subplot()
    styles = {"lstm": ("o", "-"), "gru": ("s", "--"), "rnn": ("^", "-."), "tcn": ("D", ":")}
    seeds = 1
    for model in [c for c in COLUMNS if c in curves]:
        points = sorted(
            (p for p in curves[model] if p[1]["median"] is not None), key=lambda p: p[0]
        )
        if not points:
            continue
        gaps = [g for g, _ in points]
        median = [100 * c["median"] for _, c in points]
        marker, line = styles[model]
        drawn = ax.plot(gaps, median, marker=marker, linestyle=line, label=model.upper())
        if any(c["seeds"] > 1 for _, c in points):
            seeds = max(c["seeds"] for _, c in points)
            low = [100 * c["min"] for _, c in points]
            high = [100 * c["max"] for _, c in points]
            ax.fill_between(gaps, low, high, color=drawn[0].get_color(), alpha=0.15)
    if chance is not None:
        ax.axhline(chance, color="grey", linestyle=":", label=f"chance ({chance:.1f}%)")
    ax.set_xscale("log")
    ax.set_xlabel("gap G (distractors between key and query)")
    ax.set_ylabel("test accuracy (%)" + (f", median of {seeds} seeds" if seeds > 1 else ""))
    ax.set_ylim(0, 104)
    ax.set_title(f"Long-distance recall: {preset.title}")
    ax.grid(True, alpha=0.3)
    ax.legend()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    atomic_write_bytes(path, buffer.getvalue())
    return True


def record_table(path: Path, preset: TablePreset, out: Path, markdown: str) -> None:
    """Append the table, dated, with its command, to a results file (e.g. RESULTS.md)."""
    now = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    section = (
        f"## Tasks table `{preset.name}` ({now})\n\n"
        f"- command: `rnnlab tasks table --preset {preset.name} --out {out}`\n\n"
        f"{markdown}"
    )
    append_markdown_section(path, section, title=RESULTS_TITLE, owner="tasks table")


def _table_device(results: list[dict[str, Any]]) -> str:
    """The device the table's cells computed on, for the machine description."""
    wanted = {str(r.get("settings", {}).get("device", "cpu")) for r in results}
    if wanted - {"cpu"}:
        try:
            import torch

            if torch.cuda.is_available():
                return "cuda"
        except ImportError:  # pragma: no cover - torch is a dependency
            pass
    return "cpu"


def write_outputs(preset: TablePreset, results: list[dict[str, Any]], out: Path) -> list[Path]:
    """table.md, table.json and recall.png (where there are recall cells) in `out`."""
    machine = machine_info(_table_device(results))
    markdown = table_markdown(preset, results, machine)
    atomic_write_text(out / "table.md", markdown)
    document = {
        "preset": preset.name,
        "title": preset.title,
        "date": dt.date.today().isoformat(),
        "machine": machine,
        "cells": results,
    }
    atomic_write_json(out / "table.json", document)
    written = [out / "table.md", out / "table.json"]
    if recall_png(preset, results, out / "recall.png"):
        written.append(out / "recall.png")
    return written
