"""The CPU bar, side by side: `rnnlab train charlm --preset cpu-small` against the plain baseline.

Runs, one after the other on the same machine, the torch.nn baseline
(`benchmarks/baseline_charlm.py`) and rnnlab's preset as is, with `--precision fp32` forced
(which stands in for a CPU without native bf16; the baseline is fp32 in both), and with any
`--extra` flags, each for the same number of minutes on the same Shakespeare text, then
measures each on the held-out validation and test splits the same way (every character
predicted once, 32 carried streams). Prints a Markdown table and appends it, dated, with the
machine (CPU model and flags), to benchmarks/RESULTS.md.

    python benchmarks/charlm_vs_baseline.py            # 3 x 10 minutes
    python benchmarks/charlm_vs_baseline.py --extra "--cell mingru --layers 3"
    python benchmarks/charlm_vs_baseline.py --minutes 1 --no-record
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import platform
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def run(cmd: list[str], log: Path) -> str:
    """Run a command, teeing its output into `log`; return the output."""
    print("$", " ".join(cmd), flush=True)
    proc = subprocess.run(cmd, capture_output=True, text=True)
    log.write_text(proc.stdout + proc.stderr, encoding="utf-8")
    if proc.returncode != 0:
        sys.exit(f"failed ({proc.returncode}); see {log}\n{proc.stderr[-2000:]}")
    return proc.stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--preset", default="cpu-small")
    parser.add_argument("--out", type=Path, default=Path("runs/bar"))
    parser.add_argument("--record", type=Path, default=HERE / "RESULTS.md")
    parser.add_argument("--no-record", action="store_true")
    parser.add_argument(
        "--no-fp32", action="store_true", help="skip the run with --precision fp32 forced"
    )
    parser.add_argument(
        "--extra",
        action="append",
        default=[],
        metavar="FLAGS",
        help='another run of the preset with these flags, e.g. --extra "--cell mingru"',
    )
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

    rows = [("baseline: torch.nn LSTM(64, 512), fp32, batch 32, Adam 3e-3", baseline)]
    for name, flags in variants(args):
        rows.append(train_variant(py, args, name, flags))
    from rnnlab.machine import describe_machine, machine_info

    date = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    command = "python benchmarks/charlm_vs_baseline.py " + shlex.join(sys.argv[1:])
    lines = [
        f"## Character LM on CPU, {args.minutes:g} minutes each, side by side ({date})",
        "",
        f"- machine: {describe_machine(machine_info('cpu'))}, Python {platform.python_version()}",
        f"- command: `{command.strip()}`",
        "- held-out loss in nats/char on Shakespeare's val and test splits (90/5/5, "
        "every character once); each run alone on the machine, one after the other",
        "",
        "| model | steps | tokens/s | val loss | test loss | baseline − this, test |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name, r in rows:
        gap = baseline["test_loss"] - r["test_loss"]
        lines.append(
            f"| {name} | {r['steps']:,} | {r['tokens_per_s']:,.0f} | "
            f"{r['val_loss']:.4f} | {r['test_loss']:.4f} | "
            + ("" if r is baseline else f"{gap:+.4f}")
            + " |"
        )
    lines.append("")
    table = "\n".join(lines)
    print(table)
    if not args.no_record:
        from rnnlab.atomic import atomic_write_text

        previous = args.record.read_text(encoding="utf-8") if args.record.exists() else ""
        atomic_write_text(args.record, previous.rstrip("\n") + "\n\n" + table)


def variants(args) -> list[tuple[str, list[str]]]:
    """The rnnlab runs: the preset as is, then with fp32 forced (a CPU without native bf16),
    then each `--extra` set of flags."""
    out = [("as-is", [])]
    if not args.no_fp32:
        out.append(("fp32", ["--precision", "fp32"]))
    for i, extra in enumerate(args.extra):
        out.append((f"extra{i + 1}", extra.split()))
    return out


def train_variant(py: str, args, name: str, flags: list[str]) -> tuple[str, dict]:
    """Train the preset with `flags` for the budget, evaluate it; (row label, figures)."""
    run_dir = args.out / f"rnnlab-{name}"
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
            *flags,
        ],
        args.out / f"rnnlab-{name}.log",
    )
    ours = {}
    for split in ("val", "test"):
        out = run(
            [py, "-m", "rnnlab", "eval", str(run_dir), "--split", split, "--json"],
            args.out / f"eval-{name}-{split}.log",
        )
        ours[f"{split}_loss"] = json.loads(out)["loss"]
    records = [json.loads(x) for x in (run_dir / "metrics.jsonl").read_text().splitlines()]
    train = [r for r in records if r["split"] == "train"]
    ours["steps"] = train[-1]["step"]
    ours["tokens_per_s"] = sum(r["tokens_per_s"] for r in train) / len(train)
    from rnnlab.train.checkpoint import load_checkpoint

    meta = load_checkpoint(run_dir).meta
    config = meta["config"]
    precision = meta["trainer"]["precision"]
    given = " ".join(flags) or "as is"
    label = (
        f"rnnlab --preset {args.preset} ({given}): {config['cell']} {config['layers']}x"
        f"{config['hidden']}, batch {config['batch']}, seq {config['seq_len']}, {precision}"
    )
    return label, ours


if __name__ == "__main__":
    main()
