"""`rnnlab` entry point: dispatches to one module per subcommand."""

from __future__ import annotations

import argparse
import importlib
import os
import signal
import sys
import threading

from rnnlab.errors import InputError

# modules under rnnlab.cli, each defining `add_parser(subparsers)`, which sets `run`
SUBCOMMANDS = (
    "train",
    "sample",
    "eval",
    "translate",
    "classify",
    "tasks",
    "bench",
    "viz",
    "gradflow",
)


def build_parser() -> argparse.ArgumentParser:
    from rnnlab import __version__

    parser = argparse.ArgumentParser(
        prog="rnnlab",
        description="Recurrent sequence models: train, sample, evaluate, translate, classify, "
        "benchmark, and look inside (gradient flow, interpretable cells).",
    )
    parser.add_argument("--version", action="version", version=f"rnnlab {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module in SUBCOMMANDS:
        mod = importlib.import_module(f"rnnlab.cli.{module}")
        mod.add_parser(sub)
    return parser


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra:
        # texts given after an option (`rnnlab classify CKPT --json "text"`): argparse has
        # already closed the TEXT list; commands that take texts take these too
        if hasattr(args, "texts") and not any(e.startswith("-") for e in extra):
            args.texts = [*args.texts, *extra]
        else:
            parser.error(f"unrecognized arguments: {' '.join(extra)}")
    # SIGTERM outside training ends the command like Ctrl-C; training installs its own handler
    main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _interrupt) if main_thread else None
    try:
        return int(args.run(args) or 0)
    except InputError as err:
        print(f"rnnlab {args.command}: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"rnnlab {args.command}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # the reader went away (`rnnlab … | head`): stop quietly, as Unix tools do, and keep
        # Python from failing again when it flushes stdout at exit
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    finally:
        if main_thread:
            signal.signal(signal.SIGTERM, previous)


if __name__ == "__main__":
    raise SystemExit(main())
