"""`rnnlab sample CKPT …`: generate text from a trained language model, streaming it."""

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
    add_unknown_flags(parser, "what to do with prime characters the model never saw")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from rnnlab.errors import InputError
    from rnnlab.tasks import task_of

    spec = task_of(args.ckpt)
    if spec.sample is None:
        raise InputError(
            f"sample: a {spec.name} model generates no text; `rnnlab eval {args.ckpt}` measures it"
        )
    out = sys.stdout

    def emit(text: str) -> None:
        out.write(text)
        out.flush()

    start = time.perf_counter()
    text = spec.sample(
        args.ckpt,
        device=args.device,
        prime=args.prime,
        length=args.length,
        temperature=args.temperature,
        top_k=args.top_k,
        top_p=args.top_p,
        seed=args.seed,
        unknown=args.unknown,
        replacement=args.replace_with,
        on_text=emit,
    )
    seconds = time.perf_counter() - start
    out.write("\n")
    out.flush()
    rate = len(text) / max(seconds, 1e-9)
    print(f"[{len(text)} characters in {seconds:.2f} s, {rate:,.0f} chars/s]", file=sys.stderr)
    return 0
