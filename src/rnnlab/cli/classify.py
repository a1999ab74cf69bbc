"""`rnnlab classify CKPT "text" …`: the label a trained classifier gives a text."""

from __future__ import annotations

import argparse
import json
import sys


def add_parser(sub) -> None:
    parser = sub.add_parser(
        "classify",
        help="label texts with a trained classifier",
        description=(
            "Print the label and its probability that a trained classifier (rnnlab train "
            "classify) gives each TEXT, one line each (label<TAB>probability<TAB>text); with "
            "no TEXT, each line of stdin. CKPT is a run directory (its latest checkpoint) or a "
            "checkpoint file such as RUN/best.safetensors."
        ),
    )
    parser.add_argument("ckpt", metavar="CKPT", help="run directory or checkpoint file")
    parser.add_argument("texts", metavar="TEXT", nargs="*", help="texts to label")
    parser.add_argument(
        "--json", action="store_true", help="one JSON object per text: label, probability, all"
    )
    parser.add_argument("--device", default="cpu", help="cpu | cuda | auto")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from rnnlab.errors import InputError
    from rnnlab.tasks import REGISTRY
    from rnnlab.train.run import load_trained

    texts = args.texts or [line.rstrip("\n") for line in sys.stdin if line.strip()]
    if not texts:
        raise InputError("classify: expected a TEXT (or lines on stdin)")
    task, model, _, _ = load_trained(REGISTRY["classify"], args.ckpt, args.device)
    for text, (label, prob, probs) in zip(texts, task.classify(model, texts), strict=True):
        if args.json:
            every = dict(zip(task.labels, probs, strict=True))
            print(json.dumps({"text": text, "label": label, "probability": prob, "labels": every}))
        else:
            print(f"{label}\t{prob:.3f}\t{text}")
    return 0
