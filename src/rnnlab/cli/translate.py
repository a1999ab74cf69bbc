"""`rnnlab translate CKPT "text" …`: the output of a trained seq2seq model for a text."""

from __future__ import annotations

import argparse
import sys


def add_parser(sub) -> None:
    parser = sub.add_parser(
        "translate",
        help="translate texts with a trained seq2seq model",
        description=(
            "Print the output of a trained seq2seq model (rnnlab train seq2seq) for each TEXT, "
            "one line each; with no TEXT, for each line of stdin. CKPT is a run directory (its "
            "latest checkpoint) or a checkpoint file such as RUN/best.safetensors."
        ),
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("ckpt", metavar="CKPT", help="run directory or checkpoint file")
    parser.add_argument("texts", metavar="TEXT", nargs="*", help="source texts")
    parser.add_argument("--beam", type=int, default=None, help="beam width (default: the run's)")
    parser.add_argument(
        "--length-penalty", choices=("none", "average", "wu"), default=None,
        help="length penalty (default: the run's)",
    )  # fmt: skip
    parser.add_argument("--alpha", type=float, default=None, help="Wu et al.'s exponent")
    parser.add_argument("--block-ngram", type=int, default=None, help="forbid repeated n-grams")
    parser.add_argument("--max-output", type=int, default=None, help="longest output (tokens)")
    parser.add_argument(
        "--attention-png", metavar="FILE", default=None,
        help="save the attention heatmap of the (first) text: source along x, output along y",
    )  # fmt: skip
    parser.add_argument("--device", default="cpu", help="cpu | cuda | auto")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from rnnlab.errors import InputError
    from rnnlab.tasks import REGISTRY
    from rnnlab.train.run import load_trained

    texts = args.texts or [line.rstrip("\n") for line in sys.stdin if line.strip()]
    if not texts:
        raise InputError("translate: expected a TEXT (or lines on stdin)")
    overrides = {k: v for k, v in (("max_output", args.max_output),) if v is not None}
    task, model, _, _ = load_trained(
        REGISTRY["seq2seq"], args.ckpt, args.device, overrides=overrides
    )
    options = {
        k: v
        for k, v in (("beam", args.beam), ("length_penalty", args.length_penalty),
                     ("alpha", args.alpha), ("block_ngram", args.block_ngram))
        if v is not None
    }  # fmt: skip
    if options.get("beam", 1) < 1:
        raise InputError(f"translate: expected --beam >= 1, got {options['beam']}")
    outputs = task.translate_ids(model, texts, **options)
    for ids in outputs:
        print(task.text(ids))
    if args.attention_png:
        from rnnlab.tasks.seq2seq_plot import attention_heatmap

        path = attention_heatmap(task, model, texts[0], outputs[0], args.attention_png)
        print(f"attention heatmap: {path}", file=sys.stderr)
    return 0
