"""The CPU bar, side by side: `rnnlab train charlm --preset cpu-small` against the plain baseline.

Runs, one after the other on the same machine, the torch.nn baseline
(`benchmarks/baseline_charlm.py`) and rnnlab's preset, each for the same number of minutes on
the same Shakespeare text, then measures both on the held-out validation and test splits the
same way (every character predicted once, 32 carried streams). Prints a Markdown table and
appends it, dated, with the machine, to benchmarks/RESULTS.md.

    python benchmarks/charlm_vs_baseline.py            # 10 + 10 minutes
    python benchmarks/charlm_vs_baseline.py --minutes 1 --no-record
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shutil
import subprocess
import sys
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent


def run(cmd: list[str], log: Path) -> str:
    """Run a command, teeing its output into `log`; return the output."""
    print("$", " ".join(cmd), flush=True)
    proc = subprocess.run(cmd, capture_output=True, text=True)
    log.write_text(proc.stdout + proc.stderr, encoding="utf-8")
    if proc.returncode != 0:
        sys.exit(f"failed ({proc.returncode}); see {log}\n{proc.stderr[-2000:]}")
    return proc.stdout


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--preset", default="cpu-small")
    parser.add_argument("--out", type=Path, default=Path("runs/bar"))
    parser.add_argument("--record", type=Path, default=HERE / "RESULTS.md")
    parser.add_argument("--no-record", action="store_true")
    args = parser.parse_args()

    from rnnlab.data import load_corpus
    from rnnlab.data.cache import resolve_cache_dir

    load_corpus("shakespeare")  # fetch and cache once, outside both budgets
    text = resolve_cache_dir(None) / "shakespeare" / "shakespeare.txt"
    if args.out.exists():
        shutil.rmtree(args.out)
    args.out.mkdir(parents=True)
    py = sys.executable

    out = run(
        [py, str(HERE / "baseline_charlm.py"), "--data", str(text), "--minutes", str(args.minutes)],
        args.out / "baseline.log",
    )
    baseline = json.loads(out.strip().splitlines()[-1])

    run_dir = args.out / "rnnlab"
    run(
        [
            py,
            "-m",
            "rnnlab",
            "train",
            "charlm",
            "--preset",
            args.preset,
            "--out",
            str(run_dir),
            "--minutes",
            str(args.minutes),
            "--progress",
            "false",
        ],
        args.out / "rnnlab.log",
    )
    ours = {}
    for split in ("val", "test"):
        out = run(
            [py, "-m", "rnnlab", "eval", str(run_dir), "--split", split, "--json"],
            args.out / f"eval-{split}.log",
        )
        ours[f"{split}_loss"] = json.loads(out)["loss"]
    records = [json.loads(x) for x in (run_dir / "metrics.jsonl").read_text().splitlines()]
    train = [r for r in records if r["split"] == "train"]
    ours["steps"] = train[-1]["step"]
    ours["tokens_per_s"] = sum(r["tokens_per_s"] for r in train) / len(train)
    config = json.loads((run_dir / "config.json").read_text())
    from rnnlab.train.checkpoint import load_checkpoint

    precision = load_checkpoint(run_dir).meta["trainer"]["precision"]

    rows = [
        ("baseline: torch.nn LSTM(64, 512), fp32, batch 32, Adam 3e-3", baseline),
        (
            f"rnnlab --preset {args.preset}: {config['cell']} {config['layers']}x"
            f"{config['hidden']}, batch {config['batch']}, seq {config['seq_len']}, "
            f"{precision}",
            ours,
        ),
    ]
    date = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        f"## Character LM on CPU, {args.minutes:g} minutes each, side by side ({date})",
        "",
        f"- machine: {cpu_name()}, {os.cpu_count()} cores, torch {torch.__version__}, "
        f"Python {platform.python_version()}",
        f"- command: `python benchmarks/charlm_vs_baseline.py --minutes {args.minutes:g}`",
        "- held-out loss in nats/char on Shakespeare's val and test splits (90/5/5, "
        "every character once)",
        "",
        "| model | steps | tokens/s | val loss | test loss |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for name, r in rows:
        lines.append(
            f"| {name} | {r['steps']:,} | {r['tokens_per_s']:,.0f} | "
            f"{r['val_loss']:.4f} | {r['test_loss']:.4f} |"
        )
    gap_val = baseline["val_loss"] - ours["val_loss"]
    gap_test = baseline["test_loss"] - ours["test_loss"]
    lines += [
        "",
        f"baseline − rnnlab: {gap_val:+.4f} nats/char on val, {gap_test:+.4f} on test.",
        "",
    ]
    table = "\n".join(lines)
    print(table)
    if not args.no_record:
        from rnnlab.atomic import atomic_write_text

        previous = args.record.read_text(encoding="utf-8") if args.record.exists() else ""
        atomic_write_text(args.record, previous.rstrip("\n") + "\n\n" + table)


if __name__ == "__main__":
    main()
