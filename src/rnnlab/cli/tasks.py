"""`rnnlab tasks …`: the registered tasks, and the task × model table (Bai et al.'s Table 1)."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_parser(sub) -> None:
    parser = sub.add_parser(
        "tasks",
        help="list the tasks; train and tabulate a grid of task x model",
        description="The registered tasks, and `tasks table`: a grid of task x model.",
    )
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    listing = actions.add_parser("list", help="the registered tasks and their metrics")
    listing.set_defaults(run=run_list)
    from rnnlab.tasks.table import table_presets

    table = actions.add_parser(
        "table",
        help="train (or collect) a grid of task x model and write the table",
        description=(
            "Train every cell of a table preset that has not finished (each an ordinary "
            "`rnnlab train` run under --out), evaluate each on its test split, and write "
            "table.md (in the shape of Bai et al. 2018's Table 1, each cell with its training "
            "time), table.json and recall.png (recall accuracy against the gap). Finished "
            "cells are collected, not retrained; after an interruption the same command "
            "continues."
        ),
    )
    table.add_argument(
        "--preset",
        default="cpu",
        help=f"a shipped table preset ({', '.join(table_presets())}) or a TOML file (default: cpu)",
    )
    table.add_argument(
        "--out", type=Path, default=None, help="output directory (default: runs/table-PRESET)"
    )
    table.add_argument("--jobs", type=int, default=None, help="cells trained at once")
    table.add_argument("--threads", type=int, default=None, help="torch threads per cell")
    table.add_argument(
        "--collect-only",
        action="store_true",
        help="train nothing: tabulate the cells that have finished",
    )
    table.add_argument("--dry-run", action="store_true", help="print each cell's command and stop")
    table.add_argument(
        "--record",
        type=Path,
        default=None,
        metavar="FILE",
        help="also append the table, dated, to FILE (e.g. benchmarks/RESULTS.md)",
    )
    table.set_defaults(run=run_table)


def run_list(args: argparse.Namespace) -> int:
    from rnnlab.tasks import REGISTRY

    for name, spec in sorted(REGISTRY.items()):
        direction = "lower" if spec.mode == "min" else "higher"
        print(
            f"{name:<8} {spec.summary}\n         metrics: {', '.join(spec.metrics)}; "
            f"monitored: {spec.monitor} ({direction} is better)"
        )
    return 0


def run_table(args: argparse.Namespace) -> int:
    from rnnlab.errors import InputError
    from rnnlab.tasks.table import (
        format_metric,
        load_table_preset,
        record_table,
        run_table,
        train_command,
        write_outputs,
    )

    for name in ("jobs", "threads"):
        value = getattr(args, name)
        if value is not None and value < 1:
            raise InputError(f"tasks table: expected --{name} >= 1, got {value}")
    preset = load_table_preset(args.preset)
    out = args.out or Path("runs") / f"table-{preset.name}"
    if args.dry_run:
        for cell in preset.cells:
            print(" ".join(train_command(cell, out, args.threads or preset.threads)))
        return 0
    try:
        results = run_table(
            preset,
            out,
            jobs=args.jobs,
            threads=args.threads,
            collect_only=args.collect_only,
            log=lambda message: print(message, flush=True),
        )
    except KeyboardInterrupt:
        print(
            f"tasks table: stopped; the running cells saved checkpoints in {out}. "
            "The same command continues.",
            flush=True,
        )
        raise
    if not results:
        raise InputError(f"tasks table: no finished cell in {out} to tabulate")
    for result in results:
        print(f"{result['cell']:<22} {format_metric(result)}  ({result['minutes']:.1f} min)")
    for path in write_outputs(preset, results, out):
        print(f"wrote {path}")
    if args.record is not None:
        record_table(args.record, preset, out, (out / "table.md").read_text(encoding="utf-8"))
        print(f"appended the table to {args.record}")
    return 0
