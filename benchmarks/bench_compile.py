"""What torch.compile buys the `loop` backend (layer norm, zoneout) in training throughput.

Side by side in one run, for each configuration: an eager rnnlab layer and the same layer
under `torch.compile`, one training step each (forward, backward of a squared-sum loss), the
implementations interleaved, median of `--repeats` after warm-up (the compile happens in the
warm-up and its time is reported apart). The plain fused layer (`backend="torch"`) is timed
beside them for scale.

    python benchmarks/bench_compile.py                  # H 256, B 32, T 100, fp32
    python benchmarks/bench_compile.py --hidden 128 --seq-len 50 --record
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import time
from pathlib import Path

import torch

from rnnlab import nn as rnn
from rnnlab.machine import describe_machine, machine_info

HERE = Path(__file__).resolve().parent
CONFIGS = {
    "LSTM layer_norm": ("LSTM", {"layer_norm": True}),
    "LSTM zoneout 0.1": ("LSTM", {"zoneout": 0.1}),
    "GRU layer_norm": ("GRU", {"layer_norm": True}),
}


def step_fn(module, x):
    def step():
        y, _ = module(x)
        y.square().mean().backward()

    return step


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--hidden", type=int, default=256)
    parser.add_argument("--input", type=int, default=64)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--seq-len", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--record", action="store_true", help="append to benchmarks/RESULTS.md")
    args = parser.parse_args()
    torch.manual_seed(0)
    x = torch.randn(args.seq_len, args.batch, args.input)
    tokens = args.seq_len * args.batch
    rows = []
    for label, (name, options) in CONFIGS.items():
        eager = getattr(rnn, name)(args.input, args.hidden, **options).train()
        compiled = torch.compile(eager)
        fused = getattr(rnn, name)(args.input, args.hidden, backend="torch").train()
        steps = {"eager": step_fn(eager, x), "compiled": step_fn(compiled, x),
                 "fused (no extra)": step_fn(fused, x)}  # fmt: skip
        start = time.perf_counter()
        steps["compiled"]()
        compile_s = time.perf_counter() - start
        for _ in range(args.warmup):
            for step in steps.values():
                step()
        times = {k: [] for k in steps}
        for _ in range(args.repeats):
            for key, step in steps.items():
                t = time.perf_counter()
                step()
                times[key].append(time.perf_counter() - t)
        med = {k: statistics.median(v) for k, v in times.items()}
        rows.append((label, med, compile_s))
    lines = [
        f"Training step (forward + backward), fp32, H={args.hidden}, I={args.input}, "
        f"B={args.batch}, T={args.seq_len}, {torch.get_num_threads()} threads, median of "
        f"{args.repeats} after {args.warmup} warm-up",
        "",
        "| layer | eager ms | compiled ms | compiled / eager | tokens/s eager → compiled "
        "| first compiled call s | fused op without the extra, ms |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for label, med, compile_s in rows:
        e, c, f = med["eager"] * 1e3, med["compiled"] * 1e3, med["fused (no extra)"] * 1e3
        lines.append(
            f"| {label} | {e:.1f} | {c:.1f} | {c / e:.2f}x | {tokens / med['eager']:,.0f} → "
            f"{tokens / med['compiled']:,.0f} | {compile_s:.1f} | {f:.1f} |"
        )
    table = "\n".join(lines)
    print(f"Machine: {describe_machine(machine_info('cpu'))}\n{table}")
    if args.record:
        from rnnlab.atomic import append_markdown_section

        when = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
        section = (f"\n## torch.compile and the loop backend ({when})\n\n"
                   f"- command: `python benchmarks/bench_compile.py`\n"
                   f"- machine: {describe_machine(machine_info('cpu'))}\n\n{table}\n")  # fmt: skip
        append_markdown_section(HERE / "RESULTS.md", section, title="# Benchmark results",
                                owner="bench_compile")  # fmt: skip


if __name__ == "__main__":
    main()
