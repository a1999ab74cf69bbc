"""`rnnlab eval CKPT …`: held-out loss of a trained character model."""

from __future__ import annotations

import argparse
import json

from rnnlab.cli.options import add_unknown_flags


def add_parser(sub) -> None:
    parser = sub.add_parser(
        "eval",
        help="held-out loss (nats/char) and bits per character of a trained model",
        description=(
            "Evaluate a character language model. With a named corpus (or none: the run's "
            "own data) the test split is used, split as in training; with a PATH, the whole "
            "text of that file or directory."
        ),
    )
    parser.add_argument("ckpt", metavar="CKPT", help="run directory or checkpoint file")
    parser.add_argument(
        "--data", default=None, help="NAME of a corpus or PATH (default: the run's)"
    )
    parser.add_argument(
        "--split",
        choices=("test", "val"),
        default="test",
        help="which held-out split of a named corpus (or of the run's data) (default: test)",
    )
    parser.add_argument("--device", default="cpu", help="cpu | cuda | auto")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    add_unknown_flags(
        parser, "what to do with characters the model never saw (default: error, listing them)"
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from rnnlab.train.charlm import evaluate_checkpoint

    result = evaluate_checkpoint(
        args.ckpt,
        args.data,
        split=args.split,
        device=args.device,
        unknown=args.unknown,
        replacement=args.replace_with,
    )
    if args.json:
        print(json.dumps(result))
    else:
        print(
            f"{result['data']} ({result['split']}, {int(result['tokens']):,} characters): "
            f"loss {result['loss']:.4f} nats/char, {result['bpc']:.4f} bits/char"
        )
    return 0
