"""The layer benchmark harness on tiny grids: rows, tables, JSON, RESULTS.md, CLI options.

Only the harness is checked here; no assertion is ever made about speed.
"""

import argparse
import dataclasses
import datetime as dt
import importlib.util
import json
import math
import os
import platform
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from rnnlab.bench import (
    BASELINE,
    CELLS,
    LayerBenchConfig,
    LayerResult,
    format_markdown,
    format_table,
    from_json,
    machine_info,
    record_results,
    run_layer_bench,
    to_json,
)
from rnnlab.cli import bench as cli_bench
from rnnlab.errors import InputError

TINY = {"hidden": (8,), "batch": (2,), "seq_len": (3,), "warmup": 1, "repeats": 2}
TINY_FLAGS = ["--hidden", "8", "--batch", "2", "--seq-len", "3", "--warmup", "1", "--repeats", "2"]
BACKENDS = ("auto", "torch", "loop")
RESOLVED = {"auto": "torch", "torch": "torch", "loop": "loop"}
SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_layers.py"
NOW = dt.datetime(2025, 3, 4, 5, 6, tzinfo=dt.timezone.utc)


@pytest.fixture(scope="module")
def rows():
    config = LayerBenchConfig(cells=CELLS, backends=BACKENDS, device="cpu", **TINY)
    return run_layer_bench(config, progress=False)


def _check_timing(timing, name, resolved):
    assert timing.name == name
    assert timing.resolved == resolved
    assert timing.median_ms > 0
    assert 0 < timing.min_ms <= timing.median_ms
    assert timing.iqr_ms >= 0
    assert math.isfinite(timing.max_abs_diff)


def test_rows_cover_the_grid_with_every_field(rows):
    assert [(r.cell, r.mode) for r in rows] == [(c, m) for c in CELLS for m in ("forward", "train")]
    for row in rows:
        for field in dataclasses.fields(LayerResult):
            assert getattr(row, field.name) is not None, field.name
        assert (row.hidden, row.batch, row.seq_len) == (8, 2, 3)
        assert (row.input_size, row.layers, row.dtype, row.device) == (65, 1, "fp32", "cpu")
        assert (row.warmup, row.repeats) == (1, 2)
        assert row.threads == torch.get_num_threads()
        _check_timing(row.baseline, BASELINE, BASELINE)
        assert row.baseline.max_abs_diff == 0
        assert [t.name for t in row.ours] == list(BACKENDS)
        for timing in row.ours:
            _check_timing(timing, timing.name, RESOLVED[timing.name])


def test_every_backend_computes_what_torch_nn_computes(rows):
    for row in rows:
        for timing in row.ours:
            assert timing.max_abs_diff < 1e-5, (row.cell, row.mode, timing.name)


def test_ratios_are_ours_over_torch(rows):
    for row in rows:
        assert set(row.ratios) == set(BACKENDS)
        for timing in row.ours:
            assert row.ratios[timing.name] == timing.median_ms / row.baseline.median_ms


def test_text_table_has_headers_and_aligned_rows(rows):
    text = format_table(rows)
    lines = text.splitlines()
    header, rule = lines[0], lines[1]
    for title in ("cell", "H", "B", "T", "mode", "torch.nn ms", "auto→torch ms", "loop ms"):
        assert title in header
    for name in BACKENDS:
        assert f"{name} ratio" in header
    body = lines[2 : 2 + len(rows)]
    assert all(len(line) == len(rule) for line in body)
    assert body[0].split()[:5] == ["lstm", "8", "2", "3", "forward"]
    ratio = rows[0].ratios["loop"]
    assert body[0].split()[-1] == f"{ratio:.2f}"
    assert "median (IQR)" in text
    assert "ratio = rnnlab / torch.nn" in text


def test_markdown_table(rows):
    lines = format_markdown(rows).splitlines()
    assert lines[0].startswith("| cell | H | B | T | mode | torch.nn ms |")
    assert lines[1].startswith("| --- | ---: |")
    assert len(lines) == 2 + len(rows)
    assert all(line.startswith("| ") and line.endswith(" |") for line in lines)
    assert all(line.count("|") == lines[0].count("|") for line in lines)


def test_json_round_trip(rows):
    text = to_json(rows)
    document = json.loads(text)
    assert {"cpu", "cores", "platform", "python", "torch"} <= set(document["machine"])
    assert document["results"][0]["ratios"] == rows[0].ratios
    assert from_json(text) == rows


def test_from_json_rejects_other_documents():
    with pytest.raises(InputError, match="not a layer benchmark JSON"):
        from_json('{"rows": []}')
    with pytest.raises(InputError, match="not a layer benchmark JSON"):
        from_json("not json")


def test_record_appends_a_dated_section_keeping_content(rows, tmp_path):
    path = tmp_path / "RESULTS.md"
    existing = "# Results\n\nHand-written notes that must survive.\n\n## Older run\n\n| a |\n"
    path.write_text(existing, encoding="utf-8")
    machine = machine_info("cpu")
    record_results(path, rows, machine=machine, now=NOW)
    first = path.read_text(encoding="utf-8")
    assert first.startswith(existing)
    section = first[len(existing) :]
    assert "## Layers, 2025-03-04 05:06 UTC" in section
    assert machine["cpu"] in section
    assert f"torch {torch.__version__}" in section
    assert f"{rows[0].threads} torch threads" in section
    assert format_markdown(rows) in section

    record_results(path, rows, machine=machine, now=NOW + dt.timedelta(days=1))
    second = path.read_text(encoding="utf-8")
    assert second.startswith(first.rstrip("\n"))
    assert second.count("## Layers, ") == 2
    assert "## Layers, 2025-03-05 05:06 UTC" in second
    assert sorted(p.name for p in tmp_path.iterdir()) == ["RESULTS.md"]


def test_record_creates_a_titled_file(rows, tmp_path):
    path = tmp_path / "RESULTS.md"
    record_results(path, rows, now=NOW)
    text = path.read_text(encoding="utf-8")
    assert text.startswith("# rnnlab benchmark results\n\n## Layers, 2025-03-04 05:06 UTC")


def test_record_needs_an_existing_directory(rows, tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        record_results(tmp_path / "missing" / "RESULTS.md", rows)
    with pytest.raises(InputError, match="not a file"):
        record_results(tmp_path, rows)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "without empty items"),
        ("128,,256", "without empty items"),
        ("128,x", "got 'x' in '128,x'"),
        ("1.5", "got '1.5'"),
        ("-4", "got '-4'"),
        ("0", "integers ≥ 1, got 0"),
        ("8,8", "at most once"),
    ],
)
def test_bad_size_lists_error_clearly(text, message):
    with pytest.raises(InputError, match=message):
        cli_bench.parse_sizes(text)


def test_size_and_name_lists_parse():
    assert cli_bench.parse_sizes(" 128, 256,512 ") == (128, 256, 512)
    assert cli_bench.parse_names("lstm, rnn", CELLS) == ("lstm", "rnn")
    with pytest.raises(InputError, match="expected each of lstm, gru, rnn, got 'lsmt'"):
        cli_bench.parse_names("lstm,lsmt", CELLS)
    with pytest.raises(InputError, match="at most once"):
        cli_bench.parse_names("gru,gru", CELLS)


def _parser():
    parser = argparse.ArgumentParser(prog="rnnlab")
    cli_bench.add_parser(parser.add_subparsers(dest="command", required=True))
    return parser


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--hidden", "12,x"], "argument --hidden: expected comma-separated integers"),
        (["--seq-len", "50,,100"], "argument --seq-len: expected a comma-separated list"),
        (["--cells", "lstm,transformer"], "argument --cells: expected each of lstm, gru, rnn"),
        (["--backends", "auto,fast"], "argument --backends: expected each of auto, torch"),
        (["--modes", "eval"], "argument --modes: expected each of forward, train"),
        (["--repeats", "0"], "argument --repeats: expected an integer ≥ 1, got 0"),
        (["--warmup", "x"], "argument --warmup: expected an integer ≥ 0, got 'x'"),
        (["--dtype", "fp16"], "argument --dtype: invalid choice"),
    ],
)
def test_cli_rejects_bad_options(flags, message, capsys):
    with pytest.raises(SystemExit) as exit_info:
        _parser().parse_args(["bench", "layers", *flags])
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


def test_config_rejects_bad_values():
    with pytest.raises(InputError, match="LayerBenchConfig: hidden: expected integers ≥ 1"):
        LayerBenchConfig(hidden=(0,))
    with pytest.raises(InputError, match="LayerBenchConfig: cells: expected at least one"):
        LayerBenchConfig(cells=())
    with pytest.raises(InputError, match="LayerBenchConfig: dtype: expected each of fp32, bf16"):
        LayerBenchConfig(dtype="fp16")
    with pytest.raises(InputError, match="LayerBenchConfig: threads: expected an integer ≥ 1"):
        LayerBenchConfig(threads=0)


def test_run_leaves_random_state_and_threads_alone():
    state, threads = torch.get_rng_state(), torch.get_num_threads()
    config = LayerBenchConfig(cells=("gru",), modes=("forward",), threads=1, device="cpu", **TINY)
    [row] = run_layer_bench(config, progress=False)
    assert row.threads == 1
    assert torch.equal(torch.get_rng_state(), state)
    assert torch.get_num_threads() == threads


def test_unavailable_backend_fails_before_timing():
    config = LayerBenchConfig(cells=("gru",), backends=("triton",), device="cpu", **TINY)
    with pytest.raises(InputError, match="triton"):
        run_layer_bench(config, progress=False)


def test_help_explains_itself(capsys):
    with pytest.raises(SystemExit) as exit_info:
        _parser().parse_args(["bench", "--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert "layers" in out and "torch.nn" in out
    with pytest.raises(SystemExit):
        _parser().parse_args(["bench", "layers", "--help"])
    out = capsys.readouterr().out
    for flag in ("--device", "--cells", "--hidden", "--batch", "--seq-len", "--input-size"):
        assert flag in out
    for flag in ("--backends", "--modes", "--dtype", "--warmup", "--repeats", "--threads"):
        assert flag in out
    assert "--json" in out and "--record" in out


def test_bench_needs_a_benchmark(capsys):
    with pytest.raises(SystemExit) as exit_info:
        _parser().parse_args(["bench"])
    assert exit_info.value.code == 2
    assert "BENCHMARK" in capsys.readouterr().err


def test_cli_runs_prints_and_writes(tmp_path, capsys):
    before = torch.get_num_threads()
    record = tmp_path / "RESULTS.md"
    output = tmp_path / "layers.json"
    flags = ["--device", "cpu", "--cells", "gru", "--backends", "loop", "--modes", "train"]
    flags += ["--threads", "1", "--json", str(output), "--record", str(record)]
    args = _parser().parse_args(["bench", "layers", *TINY_FLAGS, *flags])
    assert args.run(args) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].split() == [
        *("cell", "H", "B", "T", "mode", "torch.nn", "ms", "loop", "ms", "loop", "ratio")
    ]
    [row] = from_json(output.read_text(encoding="utf-8"))
    assert (row.cell, row.mode, row.threads) == ("gru", "train", 1)
    assert torch.get_num_threads() == before
    assert format_markdown([row]) in record.read_text(encoding="utf-8")


def test_cli_checks_output_paths_before_running(tmp_path):
    args = _parser().parse_args(
        ["bench", "layers", *TINY_FLAGS, "--json", str(tmp_path / "no" / "x.json")]
    )
    with pytest.raises(InputError, match=r"--json: directory .* does not exist"):
        args.run(args)


def test_bf16_under_autocast_runs():
    config = LayerBenchConfig(cells=("lstm",), dtype="bf16", device="cpu", **TINY)
    rows = run_layer_bench(config, progress=False)
    assert [r.dtype for r in rows] == ["bf16", "bf16"]
    assert all(t.median_ms > 0 for r in rows for t in [r.baseline, *r.ours])


def test_script_records_next_to_itself_by_default(tmp_path, capsys):
    spec = importlib.util.spec_from_file_location("bench_layers_script", SCRIPT)
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    assert script.build_parser().parse_args([]).record == SCRIPT.parent / "RESULTS.md"
    assert script.build_parser().parse_args(["--no-record"]).record is None
    record = tmp_path / "RESULTS.md"
    flags = ["--device", "cpu", "--cells", "rnn", "--modes", "forward", "--record", str(record)]
    assert script.main([*TINY_FLAGS, *flags]) == 0
    assert "rnn" in capsys.readouterr().out
    assert "## Layers, " in record.read_text(encoding="utf-8")
    with pytest.raises(SystemExit) as exit_info:
        script.main([*TINY_FLAGS, "--device", "tpu", "--no-record"])
    assert exit_info.value.code == 2
    assert "device" in capsys.readouterr().err


@pytest.mark.gpu
def test_cuda_timing_runs():
    config = LayerBenchConfig(cells=("lstm", "gru"), device="cuda", **TINY)
    rows = run_layer_bench(config, progress=False)
    assert all(r.device.startswith("cuda") for r in rows)
    for row in rows:
        _check_timing(row.baseline, BASELINE, BASELINE)
        for timing in row.ours:
            assert timing.median_ms > 0
            assert timing.max_abs_diff < 1e-2  # cuDNN may use TF32


@pytest.mark.skipif(platform.machine() not in ("x86_64", "AMD64"), reason="oneDNN ISA cap is x86")
def test_bf16_bench_where_torch_lstm_cannot_autocast():
    """On a CPU without AVX-512 (simulated by capping oneDNN at AVX2), torch.nn.LSTM under bf16
    autocast fails; the benchmark times it on bf16-cast operands instead and says so."""
    script = (
        "import json\n"
        "from rnnlab.bench import LayerBenchConfig, format_table, run_layer_bench\n"
        f"config = LayerBenchConfig(cells=('lstm',), dtype='bf16', device='cpu', **{TINY!r})\n"
        "rows = run_layer_bench(config, progress=False)\n"
        "print(format_table(rows))\n"
        "print(json.dumps([[r.baseline.resolved, r.baseline.median_ms,"
        " [t.max_abs_diff for t in r.ours]] for r in rows]))\n"
    )
    env = {**os.environ, "ONEDNN_MAX_CPU_ISA": "AVX2"}
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    rows = json.loads(done.stdout.strip().splitlines()[-1])
    assert "torch.nn (cast to bfloat16) ms" in done.stdout  # the table's baseline column
    assert len(rows) == 2
    for resolved, median, diffs in rows:
        assert "cast to bfloat16" in resolved
        assert median > 0
        assert all(d < 5e-2 for d in diffs)
