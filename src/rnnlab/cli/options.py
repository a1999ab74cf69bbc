"""Turning a config dataclass into command-line flags, and presets into overrides.

Every field of the config becomes `--field-name VALUE` (also `--field-name=VALUE`); presets are
TOML files shipped in `rnnlab/presets/` (by name) or given by path. Precedence: defaults <
preset < flags. A budget given alone replaces the other: a preset or flags that set only
`minutes` clear `steps`, and the other way round.
"""

from __future__ import annotations

import argparse
import dataclasses
from importlib import resources
from pathlib import Path
from typing import Any

from rnnlab.config import coerce, field_types, load_toml
from rnnlab.errors import InputError

BUDGETS = ("steps", "minutes")


def add_config_flags(
    parser: argparse.ArgumentParser, cls: type, helps: dict[str, str], *, group_title: str
) -> None:
    """Add one `--name` flag per config field; unset flags stay absent from the namespace."""
    group = parser.add_argument_group(group_title)
    types = field_types(cls)
    for f in dataclasses.fields(cls):
        tp, _ = types[f.name]
        default = f.default
        text = helps.get(f.name, "")
        shown = "none" if default is None else default
        group.add_argument(
            "--" + f.name.replace("_", "-"),
            dest=f"cfg_{f.name}",
            metavar=tp.__name__.upper() if tp is not bool else "BOOL",
            default=argparse.SUPPRESS,
            help=f"{text} (default: {shown})".strip(),
        )


def flag_values(args: argparse.Namespace) -> dict[str, str]:
    """The config fields the user gave on the command line, as raw strings."""
    return {k.removeprefix("cfg_"): v for k, v in vars(args).items() if k.startswith("cfg_")}


def preset_names() -> list[str]:
    folder = resources.files("rnnlab") / "presets"
    return sorted(
        p.name.removesuffix(".toml") for p in folder.iterdir() if p.name.endswith(".toml")
    )


def load_preset(name: str) -> dict[str, Any]:
    """A preset by name (shipped) or by path to a TOML file."""
    path = Path(name)
    if path.suffix == ".toml" or path.is_file():
        return load_toml(path)
    if name not in preset_names():
        raise InputError(
            f"preset: unknown preset {name!r}; shipped presets: {', '.join(preset_names())} "
            "(or give a path to a .toml file)"
        )
    with resources.as_file(resources.files("rnnlab") / "presets" / f"{name}.toml") as p:
        return load_toml(p)


def with_budget_rule(values: dict[str, Any]) -> dict[str, Any]:
    """A layer that sets one budget alone clears the other."""
    given = [b for b in BUDGETS if b in values]
    if len(given) == 1:
        other = BUDGETS[1 - BUDGETS.index(given[0])]
        return {**values, other: None}
    return dict(values)


def explicit_settings(cls: type, preset: str | None, flags: dict[str, Any]) -> dict[str, Any]:
    """Preset then flags, each with the budget rule; values checked against `cls`."""
    merged: dict[str, Any] = {}
    for layer in (load_preset(preset) if preset else {}, flags):
        merged.update(with_budget_rule(layer))
    for key, value in merged.items():
        coerce(cls, key.replace("-", "_"), value)
    return merged


def add_unknown_flags(parser, help: str) -> None:
    """--unknown error|drop|replace and --replace-with CHAR, for text the vocabulary lacks."""
    parser.add_argument(
        "--unknown", choices=("error", "drop", "replace"), default="error", help=help
    )
    parser.add_argument(
        "--replace-with", metavar="CHAR", default=None, help="replacement for --unknown replace"
    )
