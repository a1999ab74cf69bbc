"""Layer benchmark: rnnlab.nn's RNN, LSTM and GRU timed against torch.nn's, side by side.

For every point of a grid (cell × hidden H × batch B × sequence length T × mode) one process
builds the torch.nn layer (the baseline) and one `rnnlab.nn` layer per requested backend,
copies the baseline's weights into each (``load_state_dict``) and feeds all of them the same
random input x (T, B, I) and initial state. Modes:

* ``forward``: inference, ``module(x, hx)`` under ``torch.no_grad()`` in eval mode;
* ``train``: ``loss = output.sum() + final-state sums``, ``loss.backward()`` (gradients of
  the weights and of x), gradients cleared between calls outside the timed region.

Timing: ``warmup`` untimed rounds, then ``repeats`` timed rounds. Each round calls every
implementation once, round-robin, starting one further along each round, so drift (turbo,
other processes) hits all of them alike. CPU calls are timed with `time.perf_counter`; CUDA
calls with `torch.cuda.Event` pairs after a synchronisation. Each implementation reports
the median, minimum and interquartile range of its times; ratio = rnnlab median / torch.nn
median, so ratio ≤ 1 means rnnlab is as fast or faster.

Before timing, each rnnlab layer's output is compared with the baseline's
(``max_abs_diff``), a check that both compute the same thing.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import json
import os
import sys
import time
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

import rnnlab.nn
from rnnlab.atomic import append_markdown_section
from rnnlab.backends import NAMES
from rnnlab.errors import InputError
from rnnlab.machine import machine_info
from rnnlab.train.runtime import autocast, resolve_device, resolve_precision

CELLS = ("lstm", "gru", "rnn")
MODES = ("forward", "train")
DTYPES = ("fp32", "bf16")
BASELINE = "torch.nn"
RESULTS_TITLE = "# rnnlab benchmark results\n"

_CLASSES = {"lstm": "LSTM", "gru": "GRU", "rnn": "RNN"}


def check_names(values: tuple[str, ...], allowed: tuple[str, ...]) -> tuple[str, ...]:
    """``values`` if it is a non-empty, duplicate-free selection from ``allowed``.

    Raises:
        InputError: saying what was expected (the caller adds which option it was).
    """
    if not values:
        raise InputError(f"expected at least one of {', '.join(allowed)}")
    for value in values:
        if value not in allowed:
            raise InputError(f"expected each of {', '.join(allowed)}, got {value!r}")
    if len(set(values)) != len(values):
        raise InputError(f"expected each at most once, got {', '.join(values)}")
    return values


def check_sizes(values: tuple[int, ...]) -> tuple[int, ...]:
    """``values`` if it is a non-empty, duplicate-free tuple of integers ≥ 1.

    Raises:
        InputError: saying what was expected (the caller adds which option it was).
    """
    if not values:
        raise InputError("expected at least one integer ≥ 1")
    for value in values:
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise InputError(f"expected integers ≥ 1, got {value!r}")
    if len(set(values)) != len(values):
        raise InputError(f"expected each at most once, got {', '.join(map(str, values))}")
    return values


def check_count(value: Any, minimum: int) -> int:
    """``value`` if it is an integer ≥ ``minimum``, else InputError."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise InputError(f"expected an integer ≥ {minimum}, got {value!r}")
    return value


@dataclasses.dataclass(frozen=True)
class Case:
    """One point of the grid."""

    cell: str
    hidden: int
    batch: int
    seq_len: int
    mode: str


@dataclasses.dataclass
class LayerBenchConfig:
    """What to benchmark and how; every field checked on construction (InputError).

    Attributes:
        cells: cell types, from ``CELLS`` ("rnn" is the tanh Elman RNN).
        hidden: hidden sizes H.
        batch: batch sizes B.
        seq_len: sequence lengths T.
        input_size: input features I (65: a char-rnn one-hot vocabulary).
        layers: stacked layers.
        backends: rnnlab backends timed against torch.nn ("auto", "torch", "loop").
        modes: "forward" (inference) and/or "train" (forward + backward).
        dtype: "fp32", or "bf16" (every implementation runs under autocast).
        device: "cpu", "cuda", "cuda:N", or "auto" (CUDA when available).
        warmup: untimed rounds before timing.
        repeats: timed rounds.
        threads: torch CPU threads during the run (None: leave as is).
        seed: seed for the weights, input and initial state.
    """

    cells: tuple[str, ...] = ("lstm", "gru")
    hidden: tuple[int, ...] = (128, 256, 512)
    batch: tuple[int, ...] = (32, 64)
    seq_len: tuple[int, ...] = (50, 100)
    input_size: int = 65
    layers: int = 1
    backends: tuple[str, ...] = ("auto", "loop")
    modes: tuple[str, ...] = MODES
    dtype: str = "fp32"
    device: str = "auto"
    warmup: int = 3
    repeats: int = 15
    threads: int | None = None
    seed: int = 0

    def __post_init__(self) -> None:
        checks: dict[str, Callable[[Any], Any]] = {
            "cells": lambda v: check_names(tuple(v), CELLS),
            "hidden": lambda v: check_sizes(tuple(v)),
            "batch": lambda v: check_sizes(tuple(v)),
            "seq_len": lambda v: check_sizes(tuple(v)),
            "input_size": lambda v: check_count(v, 1),
            "layers": lambda v: check_count(v, 1),
            "backends": lambda v: check_names(tuple(v), NAMES),
            "modes": lambda v: check_names(tuple(v), MODES),
            "dtype": lambda v: check_names((v,), DTYPES)[0],
            "warmup": lambda v: check_count(v, 0),
            "repeats": lambda v: check_count(v, 1),
            "threads": lambda v: v if v is None else check_count(v, 1),
            "seed": lambda v: check_count(v, 0),
        }
        for name, check in checks.items():
            try:
                setattr(self, name, check(getattr(self, name)))
            except InputError as err:
                raise InputError(f"LayerBenchConfig: {name}: {err}") from None

    def cases(self) -> list[Case]:
        """The grid, in order: cell, then H, B, T, mode."""
        return [
            Case(cell, hidden, batch, seq_len, mode)
            for cell in self.cells
            for hidden in self.hidden
            for batch in self.batch
            for seq_len in self.seq_len
            for mode in self.modes
        ]


@dataclasses.dataclass
class Timing:
    """The times of one implementation at one grid point, in milliseconds.

    Attributes:
        name: ``BASELINE`` ("torch.nn") or the requested rnnlab backend ("auto", "loop", …).
        resolved: the backend that actually ran (``BASELINE`` for the baseline).
        median_ms, min_ms: median and minimum over the timed repeats.
        iqr_ms: interquartile range (75th − 25th percentile) of the repeats.
        max_abs_diff: largest |output − baseline output| of one forward call (0 for the
            baseline itself).
    """

    name: str
    resolved: str
    median_ms: float
    min_ms: float
    iqr_ms: float
    max_abs_diff: float


@dataclasses.dataclass
class LayerResult:
    """One row: a grid point, where it ran, the baseline's times and each backend's.

    ``ratios`` maps each backend name to its median over the baseline's median.
    """

    cell: str
    hidden: int
    batch: int
    seq_len: int
    mode: str
    input_size: int
    layers: int
    dtype: str
    device: str
    threads: int
    warmup: int
    repeats: int
    baseline: Timing
    ours: list[Timing]

    @property
    def ratios(self) -> dict[str, float]:
        """Backend name → ours median / torch.nn median (≤ 1: ours as fast or faster)."""
        return {t.name: t.median_ms / self.baseline.median_ms for t in self.ours}

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict, ``ratios`` included."""
        return {**dataclasses.asdict(self), "ratios": self.ratios}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LayerResult:
        """The row `to_dict` wrote (``ratios`` is recomputed, not read)."""
        fields = {k: v for k, v in data.items() if k != "ratios"}
        fields["baseline"] = Timing(**fields["baseline"])
        fields["ours"] = [Timing(**t) for t in fields["ours"]]
        return cls(**fields)


@contextlib.contextmanager
def _seeded(seed: int) -> Iterator[None]:
    """Seed torch's CPU generator for the block, restoring the caller's state afterwards."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield


def _torch_layer(cell: str, config: LayerBenchConfig, hidden: int) -> nn.Module:
    """The torch.nn layer of ``cell`` (the baseline), on the CPU."""
    layer = getattr(nn, _CLASSES[cell])
    return layer(config.input_size, hidden, config.layers)


def _our_layer(cell: str, config: LayerBenchConfig, hidden: int, backend: str) -> nn.Module:
    """The rnnlab.nn layer of ``cell`` running on ``backend``, on the CPU."""
    layer = getattr(rnnlab.nn, _CLASSES[cell])
    return layer(config.input_size, hidden, config.layers, backend=backend)


def _flatten(output: tuple[torch.Tensor, Any]) -> list[torch.Tensor]:
    """``(y, h)`` or ``(y, (h, c))`` as a flat list of tensors."""
    y, state = output
    return [y, *state] if isinstance(state, tuple) else [y, state]


def _timer(device: torch.device) -> Callable[[Callable[[], None]], float]:
    """A function timing one call of a thunk in milliseconds on ``device``."""
    if device.type == "cuda":

        def cuda_time(thunk: Callable[[], None]) -> float:
            start = torch.cuda.Event(enable_timing=True)
            end = torch.cuda.Event(enable_timing=True)
            torch.cuda.synchronize(device)
            start.record()
            thunk()
            end.record()
            end.synchronize()
            return start.elapsed_time(end)

        return cuda_time

    def cpu_time(thunk: Callable[[], None]) -> float:
        begin = time.perf_counter()
        thunk()
        return (time.perf_counter() - begin) * 1e3

    return cpu_time


class _Runner:
    """One implementation at one grid point: its module and the calls the benchmark makes."""

    def __init__(self, name: str, module: nn.Module, resolved: str) -> None:
        self.name = name
        self.module = module
        self.resolved = resolved
        self.cast: torch.dtype | None = None  # see `cast_operands`

    def cast_operands(self, dtype: torch.dtype) -> None:
        """Run from now on with weights, input and state cast to ``dtype``, autocast off.

        For torch.nn.LSTM under CPU bf16 autocast on a CPU without AVX-512, where torch's
        oneDNN path fails ("could not create a primitive descriptor"): the same computation
        by the route a user would take there.
        """
        self.cast = dtype
        self.resolved = f"{self.resolved} (cast to {str(dtype).removeprefix('torch.')})"

    def __call__(self, x: torch.Tensor, hx: Any) -> tuple[torch.Tensor, Any]:
        if self.cast is None:
            return self.module(x, hx)
        dtype = self.cast

        def cast(t: Any) -> Any:
            return tuple(cast(v) for v in t) if isinstance(t, tuple) else t.to(dtype)

        params = {k: v.to(dtype) for k, v in self.module.named_parameters()}
        with torch.autocast(x.device.type, enabled=False):
            return torch.func.functional_call(self.module, params, (cast(x), cast(hx)))

    def forward(self, x: torch.Tensor, hx: Any, amp: contextlib.AbstractContextManager) -> None:
        """Inference: one forward call without autograd."""
        with torch.no_grad(), amp:
            self(x, hx)

    def train(self, x: torch.Tensor, hx: Any, amp: contextlib.AbstractContextManager) -> None:
        """One forward + backward of output.sum() + final-state sums."""
        with amp:
            loss = sum(t.float().sum() for t in _flatten(self(x, hx)))
        loss.backward()

    def clear(self, x: torch.Tensor) -> None:
        """Drop the gradients the previous call left (weights and x)."""
        self.module.zero_grad(set_to_none=True)
        x.grad = None


def _runners(case: Case, config: LayerBenchConfig, device: torch.device) -> list[_Runner]:
    """The baseline and one rnnlab layer per backend, all with the baseline's weights."""
    with _seeded(config.seed):
        base = _torch_layer(case.cell, config, case.hidden)
        ours = {b: _our_layer(case.cell, config, case.hidden, b) for b in config.backends}
    for layer in ours.values():
        layer.load_state_dict(base.state_dict())
    for layer in (base, *ours.values()):
        layer.to(device).train(case.mode == "train")
    runners = [_Runner(BASELINE, base, BASELINE)]
    runners += [_Runner(b, layer, layer.selected_backend().name) for b, layer in ours.items()]
    return runners


def _inputs(case: Case, config: LayerBenchConfig, device: torch.device) -> tuple[torch.Tensor, Any]:
    """Random input x (T, B, I) and initial state (L, B, H), or (h, c) for the LSTM."""
    generator = torch.Generator().manual_seed(config.seed + 1)
    shape = (config.layers, case.batch, case.hidden)

    def randn(*size: int) -> torch.Tensor:
        return torch.randn(size, generator=generator).to(device)

    x = randn(case.seq_len, case.batch, config.input_size)
    hx = (randn(*shape), randn(*shape)) if case.cell == "lstm" else randn(*shape)
    return x.requires_grad_(case.mode == "train"), hx


def _max_abs_diff(
    runners: list[_Runner], x: torch.Tensor, hx: Any, dtype: torch.dtype
) -> list[float]:
    """Per runner, the largest |output − baseline output| of one inference call.

    A runner that torch's oneDNN cannot run under CPU autocast (see `_Runner.cast_operands`)
    is switched to cast operands here, before any timing.
    """
    outputs = []
    for runner in runners:
        with torch.no_grad():
            try:
                with autocast(x.device, dtype):
                    outputs.append(_flatten(runner(x, hx)))
            except RuntimeError as error:
                if "could not create a primitive" not in str(error) or dtype == torch.float32:
                    raise
                runner.cast_operands(dtype)
                outputs.append(_flatten(runner(x, hx)))
    return [
        max(
            float((a.float() - b.float()).abs().max()) for a, b in zip(out, outputs[0], strict=True)
        )
        for out in outputs
    ]


def bench_case(
    case: Case, config: LayerBenchConfig, device: torch.device, dtype: torch.dtype
) -> LayerResult:
    """Time the baseline and every backend at one grid point, interleaved round-robin.

    Args:
        case: the grid point.
        config: sizes, backends, dtype, warm-up and repeats.
        device: where to run (already resolved, e.g. by `resolve_device`).
        dtype: the autocast dtype (float32: no autocast), e.g. from `resolve_precision`.

    Returns:
        The row for ``case``.
    """
    runners = _runners(case, config, device)
    x, hx = _inputs(case, config, device)
    diffs = _max_abs_diff(runners, x, hx, dtype)
    timer = _timer(device)
    times: list[list[float]] = [[] for _ in runners]
    for round_index in range(config.warmup + config.repeats):
        for k in range(len(runners)):
            i = (round_index + k) % len(runners)
            runner = runners[i]
            runner.clear(x)
            call = runner.train if case.mode == "train" else runner.forward
            elapsed = timer(lambda call=call: call(x, hx, autocast(device, dtype)))
            if round_index >= config.warmup:
                times[i].append(elapsed)
    for runner in runners:
        runner.clear(x)
    timings = []
    for runner, samples, diff in zip(runners, times, diffs, strict=True):
        q1, median, q3 = np.percentile(samples, [25, 50, 75])
        timings.append(
            Timing(
                name=runner.name,
                resolved=runner.resolved,
                median_ms=float(median),
                min_ms=float(min(samples)),
                iqr_ms=float(q3 - q1),
                max_abs_diff=diff,
            )
        )
    return LayerResult(
        cell=case.cell,
        hidden=case.hidden,
        batch=case.batch,
        seq_len=case.seq_len,
        mode=case.mode,
        input_size=config.input_size,
        layers=config.layers,
        dtype=config.dtype,
        device=str(device),
        threads=torch.get_num_threads(),
        warmup=config.warmup,
        repeats=config.repeats,
        baseline=timings[0],
        ours=timings[1:],
    )


@contextlib.contextmanager
def _threads(count: int | None) -> Iterator[None]:
    """Set torch's CPU thread count for the block (unchanged for None), then restore it."""
    before = torch.get_num_threads()
    if count is not None:
        torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def run_layer_bench(config: LayerBenchConfig, *, progress: bool = True) -> list[LayerResult]:
    """Run the whole grid, with a progress bar on stderr.

    One layer per cell and backend is built on the device before timing starts, so a
    configuration a backend cannot run fails at once (InputError), not halfway through the
    grid. Weights are drawn from a seeded fork of torch's generator: the caller's random state
    is left as it was.

    Args:
        config: the grid and timing settings.
        progress: show a tqdm bar (only when stderr is a terminal).

    Returns:
        One `LayerResult` per grid point, in `LayerBenchConfig.cases` order.
    """
    device = resolve_device(config.device)
    dtype = resolve_precision(config.dtype, device)
    for cell in config.cells:
        for backend in config.backends:
            with _seeded(config.seed):
                layer = _our_layer(cell, config, config.hidden[0], backend)
            layer.to(device).selected_backend()
    cases = config.cases()
    rows = []
    with (
        _threads(config.threads),
        tqdm(
            cases,
            desc="bench layers",
            unit="config",
            file=sys.stderr,
            disable=None if progress else True,
            dynamic_ncols=True,
        ) as bar,
    ):
        for case in bar:
            bar.set_postfix_str(
                f"{case.cell} H={case.hidden} B={case.batch} T={case.seq_len} {case.mode}"
            )
            rows.append(bench_case(case, config, device, dtype))
    return rows


def _ms(value: float) -> str:
    """A time in ms with a precision fitting its size (no exponents)."""
    return f"{value:,.1f}" if value >= 100 else f"{value:.2f}" if value >= 10 else f"{value:.3f}"


def _label(name: str, rows: list[LayerResult]) -> str:
    """A backend's column name, with the backend it resolved to when that differs."""
    resolved = sorted({t.resolved for row in rows for t in row.ours if t.name == name})
    return name if resolved == [name] else f"{name}→{'|'.join(resolved)}"


def _columns(rows: list[LayerResult]) -> tuple[list[str], list[list[str]]]:
    """Header and cell texts of the results table."""
    if not rows:
        raise InputError("bench layers: no results to tabulate")
    names = [t.name for t in rows[0].ours]
    labels = [_label(name, rows) for name in names]
    base = "|".join(sorted({row.baseline.resolved for row in rows}))  # e.g. cast to bf16
    header = [
        "cell",
        "H",
        "B",
        "T",
        "mode",
        f"{base} ms",
        *(f"{label} ms" for label in labels),
        *(f"{name} ratio" for name in names),
    ]
    body = []
    for row in rows:
        ratios = row.ratios
        body.append(
            [
                row.cell,
                str(row.hidden),
                str(row.batch),
                str(row.seq_len),
                row.mode,
                *(f"{_ms(t.median_ms)} ({_ms(t.iqr_ms)})" for t in [row.baseline, *row.ours]),
                *(f"{ratios[name]:.2f}" for name in names),
            ]
        )
    return header, body


def _legend(rows: list[LayerResult]) -> str:
    first = rows[0]
    return (
        f"times: median (IQR) in ms over {first.repeats} repeats after {first.warmup} warm-up, "
        f"implementations interleaved; ratio = rnnlab / {BASELINE} (≤ 1: rnnlab as fast or "
        f"faster); {first.device}, {first.dtype}, I={first.input_size}, layers={first.layers}"
    )


def format_table(rows: list[LayerResult]) -> str:
    """The results as an aligned plain-text table with a legend line, for a terminal."""
    header, body = _columns(rows)
    widths = [max(len(r[i]) for r in [header, *body]) for i in range(len(header))]
    left = {"cell", "mode"}

    def line(cells: list[str]) -> str:
        return "  ".join(
            c.ljust(w) if h in left else c.rjust(w)
            for c, w, h in zip(cells, widths, header, strict=True)
        ).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([line(header), rule, *(line(r) for r in body), "", _legend(rows)]) + "\n"


def format_markdown(rows: list[LayerResult]) -> str:
    """The results as a Markdown table (numbers right-aligned)."""
    header, body = _columns(rows)
    align = ["---" if h in ("cell", "mode") else "---:" for h in header]
    lines = ["| " + " | ".join(cells) + " |" for cells in [header, align, *body]]
    return "\n".join(lines) + "\n"


def to_json(rows: list[LayerResult], *, machine: dict[str, Any] | None = None) -> str:
    """Rows and the machine they ran on as a JSON document (``{"machine", "results"}``).

    Args:
        rows: the results.
        machine: the `machine_info` to store (default: this machine, for the rows' device).
    """
    if machine is None:
        machine = machine_info(rows[0].device if rows else "cpu")
    document = {"machine": machine, "results": [row.to_dict() for row in rows]}
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def from_json(text: str) -> list[LayerResult]:
    """The rows of a document `to_json` wrote."""
    try:
        document = json.loads(text)
        return [LayerResult.from_dict(row) for row in document["results"]]
    except (ValueError, KeyError, TypeError) as err:
        raise InputError(f"bench layers: not a layer benchmark JSON document ({err})") from None


def results_section(
    rows: list[LayerResult],
    *,
    machine: dict[str, Any] | None = None,
    now: dt.datetime | None = None,
) -> str:
    """A dated Markdown section: heading, machine and settings, then the results table.

    Args:
        rows: the results (non-empty).
        machine: `machine_info` (default: this machine, for the rows' device).
        now: the section's date (default: now, UTC).
    """
    if not rows:
        raise InputError("bench layers: no results to record")
    machine = machine or machine_info(rows[0].device)
    when = (now or dt.datetime.now(dt.timezone.utc)).astimezone(dt.timezone.utc)
    first = rows[0]
    cores = f"{machine['cores']} logical cores"
    if "cores_available" in machine:
        cores += f" ({machine['cores_available']} available)"
    lines = [
        f"## Layers, {when:%Y-%m-%d %H:%M} UTC",
        "",
        f"- machine: {machine['cpu']}, {cores}, {machine['platform']}",
    ]
    if "gpu" in machine:
        lines.append(f"- GPU: {machine['gpu']}")
    lines += [
        f"- software: torch {machine['torch']}, Python {machine['python']}, "
        f"{first.threads} torch threads",
        f"- settings: device {first.device}, {first.dtype}, input size {first.input_size}, "
        f"layers {first.layers}, warm-up {first.warmup}, repeats {first.repeats}, "
        "implementations interleaved round-robin",
        f"- times: median (IQR) in ms; ratio = rnnlab / {BASELINE} median "
        "(≤ 1: rnnlab as fast or faster)",
        "",
        format_markdown(rows),
    ]
    return "\n".join(lines)


def record_results(
    path: str | os.PathLike,
    rows: list[LayerResult],
    *,
    machine: dict[str, Any] | None = None,
    now: dt.datetime | None = None,
) -> None:
    """Append a dated `results_section` to a RESULTS.md, atomically, keeping what it holds.

    A missing file is created with a title. The new content is written to a temporary file
    next to it, fsynced, and renamed over it, so a reader sees the old file or the new one.

    Args:
        path: the Markdown file; its directory must exist.
        rows: the results (non-empty).
        machine: `machine_info` (default: this machine).
        now: the section's date (default: now, UTC).

    Raises:
        InputError: the directory is missing or ``path`` is not a file.
    """
    section = results_section(rows, machine=machine, now=now)
    append_markdown_section(path, section, title=RESULTS_TITLE, owner="bench layers")
