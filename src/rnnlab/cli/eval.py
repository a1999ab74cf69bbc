"""`rnnlab eval CKPT …`: held-out metrics of a trained model, for the task it records."""

from __future__ import annotations

import argparse
import json

from rnnlab.cli.options import add_unknown_flags


def add_parser(sub) -> None:
    parser = sub.add_parser(
        "eval",
        help="held-out metrics of a trained model (any task)",
        description=(
            "Evaluate a trained model on a held-out split of its task's data; the task is the "
            "one recorded in the checkpoint. Character LMs: loss in nats/char and bits/char; "
            "with --data NAME that corpus's split, with --data PATH the whole text of that "
            "file or directory. Regression tasks report mse, classification tasks accuracy."
        ),
    )
    parser.add_argument("ckpt", metavar="CKPT", help="run directory or checkpoint file")
    parser.add_argument(
        "--split",
        choices=("test", "val"),
        default="test",
        help="which held-out split (default: test)",
    )
    parser.add_argument("--device", default="cpu", help="cpu | cuda | auto")
    parser.add_argument(
        "--json", action="store_true", help="print one JSON object of metrics on stdout"
    )
    parser.add_argument(
        "--data",
        default=None,
        help="character LM: NAME of a corpus or PATH (default: the run's); pixel: the "
        "directory of IDX files (default: the run's)",
    )
    add_unknown_flags(
        parser,
        "character LM: what to do with characters the model never saw "
        "(default: error, listing them)",
        default=None,
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from rnnlab.errors import InputError
    from rnnlab.tasks import task_of
    from rnnlab.train.run import evaluate_trained
    from rnnlab.train.task import format_metrics

    spec = task_of(args.ckpt)
    given = {
        "data": args.data,
        "unknown": args.unknown,
        "replacement": args.replace_with,
    }
    options = {k: v for k, v in given.items() if v is not None}
    unsupported = sorted(k for k in options if k not in spec.options)
    if unsupported:
        flags = ", ".join("--" + ("replace-with" if k == "replacement" else k) for k in unsupported)
        raise InputError(f"eval: a {spec.name} checkpoint takes no {flags}")
    if spec.evaluate is not None:
        result = spec.evaluate(args.ckpt, split=args.split, device=args.device, **options)
    else:
        result = evaluate_trained(spec, args.ckpt, split=args.split, device=args.device)
    result = {"task": spec.name, **result}
    if args.json:
        print(json.dumps(result))
    elif spec.describe_evaluation is not None:
        print(spec.describe_evaluation(result))
    else:
        print(f"{spec.name} ({result['split']}): {format_metrics(result)}")
    return 0
