"""Training throughput of rnnlab's MinGRU and MinLSTM against a 1-layer torch.nn.LSTM.

At equal parameter count: the LSTM has 4H(I + H) + 8H parameters, a min cell G·H'(I + 1)
(G = 2 for minGRU, 3 for minLSTM; with `--min-layers N` each layer above the first adds
G·H'(H' + 1)), and H' is the integer that brings it closest to the LSTM.
For each sequence length T, one training step is ``out, h = model(x)``,
``(out.sum() + h.sum()).backward()`` on x (T, B, I) in float32 (x itself needs no gradient),
gradients cleared outside the timed region. ``warmup`` untimed rounds, then ``repeats`` timed
rounds, each calling every model once, round-robin (starting one further along each round).
Reported: the median step time and tokens/s = B·T / median.

Memory: the min cells' parallel scan keeps several (T, B, H') float32 tensors for backward,
which at H' ≈ 9000 is gigabytes per thousand steps. The bytes each model saves for backward per
token are measured first (saved-tensor hooks at two short lengths); where B sequences at once
would need more than ``--max-memory-gb`` (estimated as ``PEAK_FACTOR`` × saved bytes), the
step runs the B sequences in equal micro-batches whose gradients accumulate (the same
computation, one batch-B step), and the table says which micro-batch ran. Prints a Markdown
table and the machine (CPU model and flags). Nothing is recorded:

    .venv/bin/python benchmarks/bench_mincells.py --hidden 512
    .venv/bin/python benchmarks/bench_mincells.py --hidden 256 --seq-len 100 1024 --threads 1
    .venv/bin/python benchmarks/bench_mincells.py --min-layers 3   # stacked, as the char LM uses
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path

import torch
from torch import Tensor, nn

from rnnlab.machine import describe_machine, machine_info
from rnnlab.nn import MinGRU, MinLSTM

BASELINE = "torch.nn.LSTM"
PEAK_FACTOR = 2.5  # peak resident memory of a step / bytes saved for backward (measured ≈ 2)
GATES = {"MinGRU": 2, "MinLSTM": 3}
CLASSES = {"MinGRU": MinGRU, "MinLSTM": MinLSTM}


def lstm_parameters(input_size: int, hidden: int) -> int:
    """One torch.nn.LSTM layer: W_ih (4H, I), W_hh (4H, H), b_ih and b_hh (4H,)."""
    return 4 * hidden * (input_size + hidden) + 8 * hidden


def min_parameters(kind: str, input_size: int, hidden: int, layers: int = 1) -> int:
    """A min-cell stack: W_ih (G·H, I_k) and b_ih (G·H,) per layer (I_k = H above the first)."""
    first = GATES[kind] * hidden * (input_size + 1)
    return first + (layers - 1) * GATES[kind] * hidden * (hidden + 1)


def matching_hidden(kind: str, input_size: int, target: int, layers: int = 1) -> int:
    """The hidden size H' ≥ 1 whose min-cell parameter count is closest to ``target``."""
    low, high = 1, 1
    while min_parameters(kind, input_size, high, layers) < target:
        low, high = high, 2 * high
    while high - low > 1:
        mid = (low + high) // 2
        if min_parameters(kind, input_size, mid, layers) < target:
            low = mid
        else:
            high = mid
    return min((low, high), key=lambda h: abs(min_parameters(kind, input_size, h, layers) - target))


def step_loss(model: nn.Module, x: Tensor) -> Tensor:
    """``out.sum() + h_n.sum()`` (h_n of the LSTM's (h_n, c_n))."""
    out, state = model(x)
    h = state[0] if isinstance(state, tuple) else state
    return out.sum() + h.sum()


def saved_bytes(model: nn.Module, x: Tensor) -> int:
    """Bytes of the distinct storages autograd saves for backward in one forward on x."""
    storages: dict[int, int] = {}

    def pack(t: Tensor) -> Tensor:
        storage = t.untyped_storage()
        storages[storage.data_ptr()] = storage.nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        step_loss(model, x)
    return sum(storages.values())


def bytes_per_token(model: nn.Module, input_size: int) -> float:
    """Saved-for-backward bytes per (sequence, step), from one sequence at T = 8 and T = 16."""
    short, long = (saved_bytes(model, torch.randn(t, 1, input_size)) for t in (8, 16))
    return max(long - short, 0) / 8


def micro_batch(per_token: float, batch: int, steps: int, budget: float) -> int | None:
    """The largest divisor m of ``batch`` with PEAK_FACTOR·per_token·T·m ≤ budget (None: none)."""
    for m in sorted((d for d in range(1, batch + 1) if batch % d == 0), reverse=True):
        if PEAK_FACTOR * per_token * steps * m <= budget:
            return m
    return None


def train_step(model: nn.Module, chunks: list[Tensor]) -> float:
    """Seconds for forward + backward over the micro-batches (gradients accumulate)."""
    model.zero_grad(set_to_none=True)
    start = time.perf_counter()
    for x in chunks:
        step_loss(model, x).backward()
    return time.perf_counter() - start


def available_memory() -> float:
    """MemAvailable from /proc/meminfo in bytes (8 GiB where it cannot be read)."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return float(line.split()[1]) * 1024
    except OSError:
        pass
    return 8.0 * 2**30


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="bench_mincells.py", description=__doc__.split("\n")[0])
    parser.add_argument("--hidden", type=int, default=512, help="LSTM hidden size H")
    parser.add_argument("--input", type=int, default=64, help="input features I")
    parser.add_argument("--batch", type=int, default=32, help="sequences per step B")
    parser.add_argument(
        "--seq-len", type=int, nargs="+", default=[100, 1024, 4096], help="lengths T"
    )
    parser.add_argument("--warmup", type=int, default=1, help="untimed rounds")
    parser.add_argument("--repeats", type=int, default=3, help="timed rounds (median)")
    parser.add_argument(
        "--threads", type=int, default=None, help="torch CPU threads (default: all cores)"
    )
    parser.add_argument(
        "--max-memory-gb",
        type=float,
        default=None,
        help="memory a step may use (default: half of MemAvailable)",
    )
    parser.add_argument(
        "--min-layers", type=int, default=1, help="stacked min-cell layers (same total count)"
    )
    parser.add_argument("--seed", type=int, default=0)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    sizes = (args.hidden, args.input, args.batch, *args.seq_len)
    if min(sizes) < 1 or args.warmup < 0 or args.repeats < 1:
        raise SystemExit("bench_mincells.py: expected sizes ≥ 1, warmup ≥ 0, repeats ≥ 1")
    threads = args.threads or len(os.sched_getaffinity(0))
    torch.set_num_threads(threads)
    torch.manual_seed(args.seed)
    budget = available_memory() / 2 if args.max_memory_gb is None else args.max_memory_gb * 2**30
    target = lstm_parameters(args.input, args.hidden)
    models: dict[str, tuple[nn.Module, int, int]] = {
        BASELINE: (nn.LSTM(args.input, args.hidden), args.hidden, target)
    }
    layers = args.min_layers
    for kind, cls in CLASSES.items():
        hidden = matching_hidden(kind, args.input, target, layers)
        count = min_parameters(kind, args.input, hidden, layers)
        name = kind if layers == 1 else f"{kind} x{layers}"
        models[name] = (cls(args.input, hidden, num_layers=layers), hidden, count)
    for name, (model, _, count) in models.items():
        assert count == sum(p.numel() for p in model.parameters()), name
    per_token = {name: bytes_per_token(model, args.input) for name, (model, _, _) in models.items()}

    info = machine_info()
    print(f"Machine: {describe_machine(info)}")
    print(f"CPU: {info['cpu']}; flags: {', '.join(info['cpu_flags']) or 'unknown'}")
    print(f"Threads: {threads}; memory budget per step: {budget / 2**30:.1f} GiB")
    print(f"Parameters (LSTM one layer, min cells {layers} layer(s), I = {args.input}):")
    for name, (_, hidden, count) in models.items():
        print(f"  {name}(H={hidden}): {count:,}")
    print()
    print(
        f"Training step (forward + backward), fp32, B = {args.batch}, "
        f"median of {args.repeats} after {args.warmup} warm-up\n"
    )
    print("| T | model | H | params | micro-batch | median ms/step | tokens/s | vs LSTM |")
    print("|---:|---|---:|---:|---:|---:|---:|---:|")
    for steps in args.seq_len:
        x = torch.randn(steps, args.batch, args.input)
        plans = {name: micro_batch(per_token[name], args.batch, steps, budget) for name in models}
        runnable = [name for name, m in plans.items() if m is not None]
        times: dict[str, list[float]] = {name: [] for name in runnable}
        for round_ in range(args.warmup + args.repeats):
            for k in range(len(runnable)):
                name = runnable[(round_ + k) % len(runnable)]
                seconds = train_step(models[name][0], list(x.split(plans[name], dim=1)))
                if round_ >= args.warmup:
                    times[name].append(seconds)
        medians = {name: statistics.median(ts) for name, ts in times.items()}
        for name, (_, hidden, count) in models.items():
            if plans[name] is None:
                need = PEAK_FACTOR * per_token[name] * steps / 2**30
                row = f"skipped: one sequence needs ≈ {need:.1f} GiB | – | – | – |"
            else:
                tokens = args.batch * steps / medians[name]
                ratio = f"{medians[BASELINE] / medians[name]:.2f}×" if BASELINE in medians else "–"
                row = f"{plans[name]} | {medians[name] * 1e3:,.0f} | {tokens:,.0f} | {ratio} |"
            print(f"| {steps} | {name} | {hidden} | {count:,} | {row}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
