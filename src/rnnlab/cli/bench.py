"""`rnnlab bench layers …`: time rnnlab's recurrent layers against torch.nn's."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rnnlab.atomic import atomic_write_text
from rnnlab.backends import NAMES
from rnnlab.bench.layers import (
    CELLS,
    DTYPES,
    MODES,
    LayerBenchConfig,
    check_count,
    check_names,
    check_sizes,
    format_table,
    record_results,
    run_layer_bench,
    to_json,
)
from rnnlab.errors import InputError

_DEFAULTS = LayerBenchConfig()


def split_list(text: str) -> tuple[str, ...]:
    """The items of a comma-separated list (spaces around items ignored).

    Raises:
        InputError: an empty list or an empty item (``"lstm,,gru"``).
    """
    items = tuple(item.strip() for item in text.split(","))
    if any(not item for item in items):
        raise InputError(f"expected a comma-separated list without empty items, got {text!r}")
    return items


def parse_names(text: str, allowed: tuple[str, ...]) -> tuple[str, ...]:
    """A comma-separated selection from ``allowed``, e.g. ``"lstm,gru"``; InputError if not."""
    return check_names(split_list(text), allowed)


def parse_sizes(text: str) -> tuple[int, ...]:
    """Comma-separated integers ≥ 1, e.g. ``"128,256,512"``; InputError if not."""
    items = split_list(text)
    for item in items:
        if not item.isdecimal():
            raise InputError(f"expected comma-separated integers ≥ 1, got {item!r} in {text!r}")
    return check_sizes(tuple(int(item) for item in items))


def _option(parse: Callable[[str], Any]) -> Callable[[str], Any]:
    """An argparse ``type`` from a parser raising InputError (argparse names the option)."""

    def convert(text: str) -> Any:
        try:
            return parse(text)
        except InputError as err:
            raise argparse.ArgumentTypeError(str(err)) from None

    return convert


def _count(minimum: int) -> Callable[[str], int]:
    """An argparse ``type`` for one integer ≥ ``minimum``."""

    def parse(text: str) -> int:
        if not text.strip().isdecimal():
            raise InputError(f"expected an integer ≥ {minimum}, got {text!r}")
        return check_count(int(text), minimum)

    return _option(parse)


def _names(allowed: tuple[str, ...]) -> Callable[[str], tuple[str, ...]]:
    return _option(lambda text: parse_names(text, allowed))


def _joined(values: tuple) -> str:
    return ",".join(map(str, values))


def add_layers_arguments(parser: argparse.ArgumentParser, *, record: Path | None = None) -> None:
    """Add the options of the layer benchmark to ``parser`` (shared with the script).

    Args:
        parser: the parser to extend.
        record: the default of ``--record`` (None: do not record unless asked).
    """
    sizes = _option(parse_sizes)
    parser.add_argument(
        "--device", default=_DEFAULTS.device, help="cpu | cuda | cuda:N | auto (CUDA if present)"
    )
    parser.add_argument(
        "--cells",
        type=_names(CELLS),
        default=_DEFAULTS.cells,
        metavar="LIST",
        help=f"cells to time, comma-separated from {_joined(CELLS)} (rnn: tanh) "
        f"(default: {_joined(_DEFAULTS.cells)})",
    )
    for flag, field, what in (
        ("--hidden", "hidden", "hidden sizes H"),
        ("--batch", "batch", "batch sizes B"),
        ("--seq-len", "seq_len", "sequence lengths T"),
    ):
        default = getattr(_DEFAULTS, field)
        parser.add_argument(
            flag,
            type=sizes,
            default=default,
            metavar="LIST",
            help=f"{what}, comma-separated (default: {_joined(default)})",
        )
    parser.add_argument(
        "--input-size",
        type=_count(1),
        default=_DEFAULTS.input_size,
        metavar="N",
        help="input features I, e.g. a one-hot vocabulary (default: %(default)s)",
    )
    parser.add_argument(
        "--layers",
        type=_count(1),
        default=_DEFAULTS.layers,
        metavar="N",
        help="stacked layers (default: %(default)s)",
    )
    parser.add_argument(
        "--backends",
        type=_names(NAMES),
        default=_DEFAULTS.backends,
        metavar="LIST",
        help="rnnlab backends timed against torch.nn, comma-separated from "
        f"{_joined(NAMES)} (default: {_joined(_DEFAULTS.backends)})",
    )
    parser.add_argument(
        "--modes",
        type=_names(MODES),
        default=_DEFAULTS.modes,
        metavar="LIST",
        help="forward (inference, no autograd) and/or train (forward + backward) "
        f"(default: {_joined(_DEFAULTS.modes)})",
    )
    parser.add_argument(
        "--dtype",
        choices=DTYPES,
        default=_DEFAULTS.dtype,
        help="fp32, or bf16 under autocast (default: %(default)s)",
    )
    parser.add_argument(
        "--warmup",
        type=_count(0),
        default=_DEFAULTS.warmup,
        metavar="N",
        help="untimed rounds before timing (default: %(default)s)",
    )
    parser.add_argument(
        "--repeats",
        type=_count(1),
        default=_DEFAULTS.repeats,
        metavar="N",
        help="timed rounds; medians are reported (default: %(default)s)",
    )
    parser.add_argument(
        "--threads",
        type=_count(1),
        default=None,
        metavar="N",
        help="torch CPU threads (default: torch's choice)",
    )
    parser.add_argument(
        "--seed",
        type=_count(0),
        default=_DEFAULTS.seed,
        metavar="N",
        help="seed for weights, inputs and initial states (default: %(default)s)",
    )
    parser.add_argument(
        "--json", type=Path, default=None, metavar="PATH", help="also write the results as JSON"
    )
    parser.add_argument(
        "--record",
        type=Path,
        default=record,
        metavar="PATH",
        help="append a dated section with the Markdown table to this RESULTS.md "
        f"(default: {record if record is not None else 'do not record'})",
    )


def add_parser(sub) -> None:
    """Register `rnnlab bench` and its benchmarks (`layers`) on the top-level subparsers."""
    parser = sub.add_parser(
        "bench",
        help="time rnnlab's implementations against torch.nn",
        description=(
            "Benchmarks that time rnnlab's implementations against torch.nn in one process, "
            "with identical weights and inputs, interleaved so drift hits all alike. "
            "Timings are only meaningful on a quiet machine."
        ),
    )
    kinds = parser.add_subparsers(dest="benchmark", metavar="BENCHMARK", required=True)
    layers = kinds.add_parser(
        "layers",
        help="rnnlab.nn RNN/LSTM/GRU layers vs torch.nn's, per backend",
        description=(
            "Time rnnlab.nn's recurrent layers (each requested backend) against torch.nn's "
            "over a grid of cell × H × B × T × mode, and print a table of median times (IQR) "
            "and ratios rnnlab / torch.nn (≤ 1: rnnlab as fast or faster). "
            "Lists are comma-separated, e.g. --hidden 128,256."
        ),
    )
    add_layers_arguments(layers)
    layers.set_defaults(run=run_layers)


def _check_output(path: Path | None, flag: str) -> None:
    """Fail before the benchmark runs if ``path`` cannot be written where asked."""
    if path is None:
        return
    if not path.parent.is_dir():
        raise InputError(f"{flag}: directory {path.parent} does not exist")
    if path.exists() and not path.is_file():
        raise InputError(f"{flag}: {path} is not a file")


def run_layers(args: argparse.Namespace) -> int:
    """Run the layer benchmark from parsed options; print the table; write JSON / RESULTS.md."""
    _check_output(args.json, "--json")
    _check_output(args.record, "--record")
    config = LayerBenchConfig(
        cells=args.cells,
        hidden=args.hidden,
        batch=args.batch,
        seq_len=args.seq_len,
        input_size=args.input_size,
        layers=args.layers,
        backends=args.backends,
        modes=args.modes,
        dtype=args.dtype,
        device=args.device,
        warmup=args.warmup,
        repeats=args.repeats,
        threads=args.threads,
        seed=args.seed,
    )
    rows = run_layer_bench(config)
    sys.stdout.write(format_table(rows))
    sys.stdout.flush()
    if args.json is not None:
        atomic_write_text(args.json, to_json(rows))
        print(f"results written to {args.json}", file=sys.stderr)
    if args.record is not None:
        record_results(args.record, rows)
        print(f"results recorded in {args.record}", file=sys.stderr)
    return 0
