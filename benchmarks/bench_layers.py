"""Layer benchmark: rnnlab.nn's RNN/LSTM/GRU against torch.nn's, recorded in RESULTS.md.

The options of `rnnlab bench layers`; by default the dated results are appended to
`RESULTS.md` next to this script (`--no-record` to only print them). Run it on a quiet
machine, with rnnlab installed (`make venv`):

    .venv/bin/python benchmarks/bench_layers.py
    .venv/bin/python benchmarks/bench_layers.py --cells lstm --hidden 512 --threads 4
"""

from __future__ import annotations

import argparse
from pathlib import Path

from rnnlab.cli.bench import add_layers_arguments, run_layers
from rnnlab.errors import InputError

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"


def build_parser() -> argparse.ArgumentParser:
    """The options of `rnnlab bench layers`, recording into `RESULTS` by default."""
    parser = argparse.ArgumentParser(prog="bench_layers.py", description=__doc__.split("\n")[0])
    add_layers_arguments(parser, record=RESULTS)
    parser.add_argument(
        "--no-record",
        dest="record",
        action="store_const",
        const=None,
        help="print the table only, without appending to RESULTS.md",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    """Parse the options, run the benchmark, print and record the table."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return run_layers(args)
    except InputError as err:
        parser.exit(2, f"{parser.prog}: error: {err}\n")


if __name__ == "__main__":
    raise SystemExit(main())
