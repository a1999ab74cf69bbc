"""Character sampling speed, side by side: a plain torch.nn loop, the module path, FastStep.

For each model (LSTM, embed 64, vocabulary 65, fp32, random weights; default 1x512, 1x768 and
2x256) it measures, interleaved round-robin, median of `--repeats` after a warm-up, the
characters per second of

* plain:   what a user would write: torch.nn.Embedding → torch.nn.LSTM → torch.nn.Linear,
           softmax, torch.multinomial, one step at a time (weights copied from the model);
* before:  `generate` as it was before FastStep (the CharLM module + `decoding.sample` per
           character), verbatim;
* module:  `generate(stepper="module")`, the fallback that steps the module;
* fast:    `generate(stepper="fast")`, FastStep at batch 1;
* N = 8, 64: `generate_batch(num_samples=N)`, characters per second in total;

and the floor: a step reads every weight it uses once (the recurrent and output weights, a row
of the input table), so characters/s ≤ bandwidth / weight bytes.  The bandwidth is measured
here (median after warm-up): a sum over 256 MiB (memory), a sum over a tensor the size of the
step's weights (they fit in the L3 cache, so this is the binding one) and an addmv of W_hh's
shape, each with 1 and 2 threads.  `--explore` adds one step of the variants considered
(threads, oneDNN vs BLAS, torch's fused lstm_cell, bf16 weights, weight layout).  Prints
Markdown; records nothing.

    .venv/bin/python benchmarks/bench_sampling.py
    .venv/bin/python benchmarks/bench_sampling.py --models 768x1 --repeats 5 --explore
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path

import torch
from torch import nn

from rnnlab.data import CharVocab
from rnnlab.decoding import sample
from rnnlab.machine import describe_machine, machine_info
from rnnlab.models.charlm import CharLM, CharLMConfig
from rnnlab.models.fast_step import FastStep
from rnnlab.tasks.charlm_generate import generate, generate_batch

VOCAB = CharVocab([chr(c) for c in range(33, 33 + 64)] + ["\n"])  # 65 characters
EMBED = 64


def median_time(fn, repeats: int, warmup: int = 1) -> float:
    """Median seconds of `fn()` after `warmup` calls."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def interleaved(fns: dict, repeats: int) -> dict[str, float]:
    """Median seconds of each of `fns`, run round-robin (one warm-up each)."""
    for fn in fns.values():
        fn()
    times = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(t) for name, t in times.items()}


def threads(n: int):
    """Context: torch.set_num_threads(n), restored after."""

    class Threads:
        def __enter__(self):
            self.before = torch.get_num_threads()
            torch.set_num_threads(n)

        def __exit__(self, *exc):
            torch.set_num_threads(self.before)

    return Threads()


# -- the floor ---------------------------------------------------------------------------------


def cache_sizes() -> dict[str, str]:
    """The CPU caches of cpu0 from sysfs: {"L1d": "48K", "L2": "1024K", "L3": "32768K"}."""
    sizes = {}
    for index in sorted(Path("/sys/devices/system/cpu/cpu0/cache").glob("index*")):
        try:
            level = (index / "level").read_text().strip()
            kind = (index / "type").read_text().strip()
            size = (index / "size").read_text().strip()
            shared = (index / "shared_cpu_list").read_text().strip()
        except OSError:
            continue
        if kind != "Instruction":
            sizes[f"L{level}" + ("d" if kind == "Data" else "")] = f"{size} (cpus {shared})"
    return sizes


def step_weight_bytes(model: CharLM) -> int:
    """Bytes one batch-1 FastStep reads: W_hh (and W_ih, biases past the first layer) of every
    layer, the first layer's table row, the decoder."""
    size = model.decoder.weight.element_size()
    total = model.decoder.weight.numel() + model.decoder.bias.numel()
    for index, w in enumerate(model.rnn.layer_weights()):
        total += w.w_hh.numel() + w.w_hh.shape[0]  # W_hh, and a table row or a bias
        if index:
            total += w.w_ih.numel()
        if w.w_hr is not None:
            total += w.w_hr.numel()
    return total * size


def bandwidths(weight_bytes: int, w_hh_shape, repeats: int) -> dict[tuple[str, int], float]:
    """GB/s of: a sum over 256 MiB, a sum over `weight_bytes`, an addmv of `w_hh_shape`."""
    big = torch.randn(64 * 2**20)  # 256 MiB
    resident = torch.randn(weight_bytes // 4)
    w, x, b = torch.randn(*w_hh_shape), torch.randn(w_hh_shape[1]), torch.randn(w_hh_shape[0])
    out = torch.empty(w_hh_shape[0])
    result = {}
    for n in (1, 2):
        with threads(n):
            result["memory sum", n] = big.numel() * 4 / median_time(big.sum, 5) / 1e9
            inner = max(1, 20_000_000 // weight_bytes)

            def cached(inner=inner):
                for _ in range(inner):
                    resident.sum()

            result["cache sum", n] = inner * weight_bytes / median_time(cached, repeats * 3) / 1e9

            def matvec(inner=inner):
                for _ in range(inner):
                    torch.addmv(b, w, x, out=out)

            result["addmv", n] = inner * w.numel() * 4 / median_time(matvec, repeats * 3) / 1e9
    return result


# -- the implementations -----------------------------------------------------------------------


def plain_modules(model: CharLM):
    """torch.nn.Embedding, LSTM and Linear holding the model's weights."""
    cfg = model.config
    embed = nn.Embedding(model.vocab_size, EMBED)
    lstm = nn.LSTM(EMBED, cfg.hidden, cfg.layers)
    linear = nn.Linear(cfg.hidden, model.vocab_size)
    embed.load_state_dict(model.embedding.state_dict())
    lstm.load_state_dict(model.rnn.state_dict())
    linear.load_state_dict(model.decoder.state_dict())
    return embed.eval(), lstm.eval(), linear.eval()


@torch.inference_mode()
def plain_loop(embed, lstm, linear, length: int, seed: int) -> list[int]:
    """The loop a user writes with torch.nn, one character at a time."""
    gen = torch.Generator().manual_seed(seed)
    x = torch.tensor([[VOCAB.chars.index("\n")]])  # (1, 1)
    state, out = None, []
    for _ in range(length):
        y, state = lstm(embed(x), state)  # (1, 1, H)
        probs = torch.softmax(linear(y[-1]), dim=-1)  # (1, V)
        x = torch.multinomial(probs, 1, generator=gen)  # (1, 1)
        out.append(int(x))
    return out


@torch.inference_mode()
def generate_before(model: CharLM, vocab: CharVocab, *, length: int, seed: int) -> str:
    """`generate` before FastStep (empty prime, no options), as it was."""
    gen = torch.Generator().manual_seed(seed)
    ids = vocab.encode("\n").tolist()
    logits, state = model(torch.as_tensor(ids).view(-1, 1))  # (P, 1, V)
    out = []
    for i in range(length):
        nxt = sample(logits[-1], generator=gen)
        out.append(vocab.decode(nxt.tolist()))
        if i + 1 < length:
            logits, state = model(nxt.view(1, 1), state)
    return "".join(out)


def build(spec: str) -> CharLM:
    hidden, layers = (int(v) for v in spec.split("x"))
    torch.manual_seed(0)
    config = CharLMConfig(cell="lstm", layers=layers, hidden=hidden, embed_dim=EMBED)
    return CharLM(len(VOCAB), config).eval()


def measure(spec: str, args) -> dict:
    model = build(spec)
    embed, lstm, linear = plain_modules(model)
    n = args.length
    fns = {
        "plain": lambda: plain_loop(embed, lstm, linear, n, 0),
        "before": lambda: generate_before(model, VOCAB, length=n, seed=0),
        "module": lambda: generate(model, VOCAB, length=n, seed=0, stepper="module"),
        "fast": lambda: generate(model, VOCAB, length=n, seed=0, stepper="fast"),
    }
    batches = {
        f"N={b}": (
            lambda b=b: generate_batch(
                model, VOCAB, num_samples=b, seed=0, length=args.batch_length
            )
        )
        for b in (8, 64)
    }
    with threads(args.threads):
        seconds = interleaved({**fns, **batches}, args.repeats)
    rates = {k: n / seconds[k] for k in fns}
    rates.update({k: int(k[2:]) * args.batch_length / seconds[k] for k in batches})
    by_threads = {}
    for t in (1, 2):
        with threads(t):
            by_threads[t] = interleaved(
                {"fast": fns["fast"], "N=64": batches["N=64"]}, max(3, args.repeats // 2)
            )
    weight_bytes = step_weight_bytes(model)
    bw = bandwidths(weight_bytes, tuple(model.rnn.weight_hh_l0.shape), args.repeats)
    best_cache = max(bw["cache sum", t] for t in (1, 2))
    return {
        "spec": spec,
        "rates": rates,
        "threads": {
            t: {"fast": n / s["fast"], "N=64": 64 * args.batch_length / s["N=64"]}
            for t, s in by_threads.items()
        },
        "bytes": weight_bytes,
        "bw": bw,
        "floor": best_cache * 1e9 / weight_bytes,
        "floor_1": bw["cache sum", 1] * 1e9 / weight_bytes,
        "floor_matvec": max(bw["addmv", t] for t in (1, 2)) * 1e9 / weight_bytes,
        "model": model,
    }


# -- variants considered (--explore) -----------------------------------------------------------


def explore(model: CharLM, repeats: int) -> dict[str, float]:
    """Microseconds of one batch-1 step of the variants considered."""
    tok = torch.tensor([3])
    result = {}
    for matmul in ("blas", "onednn"):
        stepper = FastStep.from_model(model, matmul=matmul)
        stepper.reset(None, 1)
        for t in (1, 2):
            with threads(t):
                result[f"FastStep {matmul}, {t} thread(s)"] = median_time(
                    lambda s=stepper: s.step(tok), repeats * 200, 50
                )
    w = model.rnn.layer_weights()[0]
    if model.config.layers == 1:
        # torch's fused cell: the table row as its bias, no input (an empty W_ih)
        w_hh = w.w_hh.detach()
        table = model.embedding.weight.detach() @ w.w_ih.detach().t() + w.b_ih + w.b_hh
        hidden = model.config.hidden
        h, c = torch.zeros(1, hidden), torch.zeros(1, hidden)
        empty_x, empty_w = torch.empty(1, 0), torch.empty(4 * hidden, 0)
        w_dec, b_dec = model.decoder.weight.detach(), model.decoder.bias.detach()

        @torch.inference_mode()
        def fused():
            h2, c2 = torch.lstm_cell(empty_x, (h, c), empty_w, w_hh, table[3], None)
            h.copy_(h2)
            c.copy_(c2)
            return torch.addmm(b_dec, h, w_dec.t())

        with threads(1):
            result["torch.lstm_cell step, 1 thread"] = median_time(fused, repeats * 200, 50)
    vec = torch.randn(1, w.w_hh.shape[1])
    for dtype in (torch.float32, torch.bfloat16):
        weight, x = w.w_hh.detach().to(dtype), vec.to(dtype)
        weight_t = weight.t().contiguous()
        name = str(dtype).removeprefix("torch.")
        with threads(1), torch.inference_mode():
            result[f"W_hh mat-vec alone, {name}, torch layout (out, in)"] = median_time(
                lambda weight=weight, x=x: torch.mm(x, weight.t()), repeats * 200, 50
            )
            result[f"W_hh mat-vec alone, {name}, transposed (in, out)"] = median_time(
                lambda weight_t=weight_t, x=x: torch.mm(x, weight_t), repeats * 200, 50
            )
    return {k: v * 1e6 for k, v in result.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", default="512x1,768x1,256x2", help="HIDDENxLAYERS,…")
    parser.add_argument("--length", type=int, default=300, help="characters per batch-1 run")
    parser.add_argument("--batch-length", type=int, default=100, help="characters per sample")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--threads", type=int, default=1, help="torch threads of the main table")
    parser.add_argument("--explore", action="store_true", help="also time the variants")
    args = parser.parse_args(argv)

    info = machine_info()
    caches = ", ".join(f"{k} {v}" for k, v in cache_sizes().items())
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    results = [measure(spec, args) for spec in args.models.split(",")]

    print(f"- machine: {describe_machine(info)}; caches: {caches}")
    print(f"- load average at the end: {load} (other work on the machine shows up here)")
    print(
        f"- main table: {args.threads} torch thread(s); median of {args.repeats} after a "
        f"warm-up, interleaved; batch 1: {args.length} characters per call, N samples: "
        f"{args.batch_length} characters each, chars/s in total"
    )
    print(f"- command: `python benchmarks/bench_sampling.py {' '.join(argv or [])}`".rstrip())
    print()
    print(
        "| model | weights/step | plain | before | module | fast | fast/plain | floor | "
        "fast/floor | N=8 | N=64 |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for r in results:
        q = r["rates"]
        hidden, layers = r["spec"].split("x")
        print(
            f"| LSTM {layers}x{hidden} | {r['bytes'] / 1e6:.2f} MB | {q['plain']:,.0f} | "
            f"{q['before']:,.0f} | {q['module']:,.0f} | {q['fast']:,.0f} | "
            f"{q['fast'] / q['plain']:.1f}x | {r['floor']:,.0f} | "
            f"{r['floor'] / q['fast']:.2f}x | {q['N=8']:,.0f} | {q['N=64']:,.0f} |"
        )
    print()
    print("Floor: characters/s = bandwidth / weight bytes per step (GB/s, median):")
    print()
    print(
        "| model | memory sum 1 / 2 thr | cache sum 1 / 2 thr | addmv 1 / 2 thr | "
        "floor (best cache) | floor (1 thr) | addmv rate |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for r in results:
        bw = r["bw"]
        hidden, layers = r["spec"].split("x")
        print(
            f"| LSTM {layers}x{hidden} | {bw['memory sum', 1]:.0f} / {bw['memory sum', 2]:.0f} | "
            f"{bw['cache sum', 1]:.0f} / {bw['cache sum', 2]:.0f} | "
            f"{bw['addmv', 1]:.0f} / {bw['addmv', 2]:.0f} | {r['floor']:,.0f} | "
            f"{r['floor_1']:,.0f} | {r['floor_matvec']:,.0f} |"
        )
    print()
    print("Threads (chars/s):")
    print()
    print("| model | fast, 1 thread | fast, 2 threads | N=64, 1 thread | N=64, 2 threads |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for r in results:
        t = r["threads"]
        hidden, layers = r["spec"].split("x")
        print(
            f"| LSTM {layers}x{hidden} | {t[1]['fast']:,.0f} | {t[2]['fast']:,.0f} | "
            f"{t[1]['N=64']:,.0f} | {t[2]['N=64']:,.0f} |"
        )
    if args.explore:
        print()
        print("One batch-1 step of the variants considered (µs, median):")
        print()
        rows = {r["spec"]: explore(r["model"], args.repeats) for r in results}
        names = list(dict.fromkeys(k for v in rows.values() for k in v))
        print("| variant | " + " | ".join(f"LSTM {s}" for s in rows) + " |")
        print("| --- |" + " ---: |" * len(rows))
        for name in names:
            cells = [f"{rows[s][name]:.1f}" if name in rows[s] else "–" for s in rows]
            print(f"| {name} | " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
