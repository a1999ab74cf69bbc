"""`rnnlab sample CKPT …`: generate text from a trained language model, streaming it.

With ``--num-samples N`` (N > 1) the N samples are drawn together in one batch, sample i with
seed s + i, each exactly the text a single sample with that seed gives; they are printed
when done, each after a line ``--- sample i (seed s) ---``.  stdout carries the text only;
the throughput goes to stderr.
"""

from __future__ import annotations

import argparse
import sys
import time

from rnnlab.cli.options import add_unknown_flags


def add_parser(sub) -> None:
    parser = sub.add_parser(
        "sample",
        help="generate text from a trained language model",
        description=(
            "Generate text from a language model, printing characters as they come. "
            "CKPT is a run directory (its latest checkpoint) or a checkpoint file."
        ),
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("ckpt", metavar="CKPT", help="run directory or checkpoint file")
    parser.add_argument("--prime", default="", help="text to start from (printed first)")
    parser.add_argument("--length", type=int, default=500, help="characters to generate")
    parser.add_argument(
        "--temperature", type=float, default=1.0, help="softmax temperature (0: greedy)"
    )
    parser.add_argument("--top-k", type=int, default=None, help="sample from the k most likely")
    parser.add_argument(
        "--top-p", type=float, default=None, help="sample from the smallest set of mass >= p"
    )
    parser.add_argument("--seed", type=int, default=None, help="random seed (default: random)")
    parser.add_argument("--device", default="cpu", help="cpu | cuda | auto")
    parser.add_argument(
        "--num-samples",
        type=int,
        default=1,
        metavar="N",
        help="independent samples drawn together in one batch (sample i: seed + i)",
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch CPU threads: a batch-1 step is one mat-vec that a second thread does not "
        "speed up, and on a busy machine an extra thread can stall each step for "
        "milliseconds; try more for a large --num-samples on idle cores",
    )
    parser.add_argument(
        "--stepper",
        choices=("auto", "fast", "module"),
        default="auto",
        help="fast: rnnlab's generation stepper; module: step the model's forward; auto: "
        "fast where it computes the model exactly",
    )
    add_unknown_flags(parser, "what to do with prime characters the model never saw")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from rnnlab.errors import InputError

    if args.num_samples < 1:
        raise InputError(f"sample: expected --num-samples >= 1, got {args.num_samples}")
    if args.threads < 1:
        raise InputError(f"sample: expected --threads >= 1, got {args.threads}")

    import torch

    from rnnlab.decoding import sample_seeds
    from rnnlab.tasks import task_of

    spec = task_of(args.ckpt)
    if spec.sample is None:
        raise InputError(
            f"sample: a {spec.name} model generates no text; `rnnlab eval {args.ckpt}` measures it"
        )
    if args.num_samples > 1 and spec.sample_batch is None:
        raise InputError(f"sample: a {spec.name} model draws one sample at a time")
    torch.set_num_threads(args.threads)
    out = sys.stdout
    options = dict(
        device=args.device,
        prime=args.prime,
        length=args.length,
        temperature=args.temperature,
        top_k=args.top_k,
        top_p=args.top_p,
        unknown=args.unknown,
        replacement=args.replace_with,
        stepper=args.stepper,
    )

    def emit(text: str) -> None:
        out.write(text)
        out.flush()

    start = time.perf_counter()
    if args.num_samples == 1:
        texts = [spec.sample(args.ckpt, seed=args.seed, on_text=emit, **options)]
        seconds = time.perf_counter() - start
        out.write("\n")
    else:
        seeds = sample_seeds(args.seed, args.num_samples)
        texts = spec.sample_batch(args.ckpt, seeds=seeds, **options)
        seconds = time.perf_counter() - start
        for i, (seed, text) in enumerate(zip(seeds, texts, strict=True)):
            out.write(f"--- sample {i} (seed {seed}) ---\n{args.prime}{text}\n")
    out.flush()
    total = sum(len(text) for text in texts)
    rate = total / max(seconds, 1e-9)
    if args.num_samples == 1:
        report = f"{total} characters in {seconds:.2f} s, {rate:,.0f} chars/s"
    else:
        report = (
            f"{args.num_samples} samples, {total} characters in {seconds:.2f} s: "
            f"{rate:,.0f} chars/s in total, {rate / args.num_samples:,.0f} per sample"
        )
    print(f"[{report}]", file=sys.stderr)
    return 0
