"""`rnnlab train TASK …`: train a model on any registered task, on the one run path."""

from __future__ import annotations

import argparse
import sys

from rnnlab.cli.options import add_config_flags, explicit_settings, flag_values, preset_names

RUN_HELP = (
    "Any setting can be given as --name VALUE; precedence: defaults < --preset < flags. A run "
    "directory holds config.json, metrics.jsonl, loss.png and the checkpoints. Ctrl-C "
    "(SIGINT) or SIGTERM saves a checkpoint; the same command with --resume continues the run."
)


def add_parser(sub) -> None:
    from rnnlab.tasks import REGISTRY

    listing = "\n".join(f"  {name:<10} {spec.summary}" for name, spec in sorted(REGISTRY.items()))
    parser = sub.add_parser(
        "train",
        help="train a model on a task",
        description=f"Train a model on a task.\n\ntasks:\n{listing}",
        epilog="`rnnlab train TASK --help` lists the task's settings with their defaults.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    tasks = parser.add_subparsers(dest="task", metavar="TASK", required=True)
    for name, spec in sorted(REGISTRY.items()):
        task = tasks.add_parser(
            name, help=spec.summary, description=f"{spec.description} {RUN_HELP}".strip()
        )
        presets = preset_names(name)
        task.add_argument(
            "--preset",
            metavar="NAME",
            help=(f"a shipped preset ({', '.join(presets)}) or " if presets else "")
            + "a path to a TOML file of settings",
        )
        task.add_argument(
            "--out", metavar="DIR", default=spec.out, help=f"run directory (default: {spec.out})"
        )
        task.add_argument(
            "--resume",
            action="store_true",
            help="continue the run in --out from its latest checkpoint (fresh run if it has none)",
        )
        add_config_flags(task, spec.config)
        task.set_defaults(run=run_train)


def run_train(args: argparse.Namespace) -> int:
    from rnnlab.config import override
    from rnnlab.errors import InputError
    from rnnlab.tasks import get_task
    from rnnlab.train.run import run_task

    spec = get_task(args.task)
    explicit = explicit_settings(spec.config, args.preset, flag_values(args), spec.name)
    cfg = override(spec.config(), explicit)
    if cfg.steps is None and cfg.minutes is None:
        raise InputError(f"train {spec.name}: give a budget, --steps N or --minutes M")
    result = run_task(spec, cfg, args.out, resume=args.resume, explicit=explicit, log=_log)
    if not result.main_process:  # under torchrun only the first process reports
        return 0 if result.ok else 1
    if not result.ok:
        print(f"rnnlab train: error: {result.message}", file=sys.stderr)
        return 1
    _log(result.message)
    if result.last_eval and result.stopped != "signal":
        _log(f"validation at step {result.last_eval['step']}: {result.eval_text}")
    return 0


def _log(message: str) -> None:
    print(message, flush=True)
