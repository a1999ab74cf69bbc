"""Turning a config dataclass into command-line flags, and presets into overrides.

Every field of the config becomes `--field-name VALUE` (also `--field-name=VALUE`), with the
help text and default the dataclass gives it (`rnnlab.config.setting`); choices are listed
and lists are written comma-separated (`--channels 25,25,25`). Presets are TOML files
shipped in `rnnlab/presets/TASK/` (by name) or given by path. Precedence: defaults < preset <
flags. A budget given alone replaces the other: a preset or flags that set only `minutes`
clear `steps`, and the other way round.
"""

from __future__ import annotations

import argparse
from importlib import resources
from pathlib import Path
from typing import Any

from rnnlab.config import coerce, field_specs, load_toml, with_budget_rule
from rnnlab.errors import InputError


def _shown(value: Any) -> str:
    if value is None:
        return "none"
    if isinstance(value, tuple):
        return ",".join(map(str, value))
    return str(value)


def _declaring_class(cls: type, name: str) -> type:
    """The most basic class of `cls`'s MRO that declares the field `name`."""
    owner = cls
    for klass in cls.__mro__:
        if name in getattr(klass, "__annotations__", {}):
            owner = klass
    return owner


def add_config_flags(parser: argparse.ArgumentParser, cls: type) -> None:
    """Add one `--name` flag per config field; unset flags stay absent from the namespace.

    The flags are grouped by the dataclass that declares them, in `cls`'s MRO order (the
    task's own settings first), each group titled by its class's docstring summary.
    """
    groups: dict[type, argparse._ArgumentGroup] = {}
    specs = field_specs(cls)
    order = [k for k in cls.__mro__ if any(_declaring_class(cls, n) is k for n in specs)]
    for klass in order:
        title = (klass.__doc__ or klass.__name__).strip().splitlines()[0].rstrip(".")
        groups[klass] = parser.add_argument_group(title)
    for spec in specs.values():
        text = spec.help
        if spec.choices is not None and "|" not in text:
            text = f"{text}: {' | '.join(map(str, spec.choices))}" if text else ""
        groups[_declaring_class(cls, spec.name)].add_argument(
            "--" + spec.name.replace("_", "-"),
            dest=f"cfg_{spec.name}",
            metavar=spec.type_text if spec.choices is None else "{" + spec.type_text + "}",
            default=argparse.SUPPRESS,
            help=f"{text} (default: {_shown(spec.default)})".strip(),
        )


def flag_values(args: argparse.Namespace) -> dict[str, str]:
    """The config fields the user gave on the command line, as raw strings."""
    return {k.removeprefix("cfg_"): v for k, v in vars(args).items() if k.startswith("cfg_")}


def _preset_folder(task: str):
    return resources.files("rnnlab") / "presets" / task


def preset_names(task: str = "charlm") -> list[str]:
    """The presets shipped for `task`."""
    folder = _preset_folder(task)
    if not folder.is_dir():
        return []
    return sorted(
        p.name.removesuffix(".toml") for p in folder.iterdir() if p.name.endswith(".toml")
    )


def load_preset(name: str, task: str = "charlm") -> dict[str, Any]:
    """A preset of `task` by name (shipped) or by path to a TOML file."""
    path = Path(name)
    shipped = preset_names(task)
    if name in shipped:
        with resources.as_file(_preset_folder(task) / f"{name}.toml") as p:
            return load_toml(p)
    if path.suffix == ".toml" or path.is_file():
        return load_toml(path)
    listed = ", ".join(shipped) if shipped else "none"
    raise InputError(
        f"preset: unknown preset {name!r} for {task}; shipped presets: {listed} "
        "(or give a path to a .toml file)"
    )


def explicit_settings(
    cls: type, preset: str | None, flags: dict[str, Any], task: str = "charlm"
) -> dict[str, Any]:
    """Preset then flags, each with the budget rule; values checked against `cls`."""
    merged: dict[str, Any] = {}
    for layer in (load_preset(preset, task) if preset else {}, flags):
        merged.update(with_budget_rule(layer))
    for key, value in merged.items():
        coerce(cls, key.replace("-", "_"), value)
    return merged


def add_unknown_flags(parser, help: str, default: str | None = "error") -> None:
    """--unknown error|drop|replace and --replace-with CHAR, for text the vocabulary lacks."""
    parser.add_argument(
        "--unknown", choices=("error", "drop", "replace"), default=default, help=help
    )
    parser.add_argument(
        "--replace-with", metavar="CHAR", default=None, help="replacement for --unknown replace"
    )


def read_text_arg(command: str, path: str | Path, limit: int | None = None) -> tuple[str, bool]:
    """The UTF-8 text of a ``--text FILE`` option: (the text, whether it was cut at ``limit``).

    With ``limit``, no more than the first ``limit`` characters are read (`read_text_head`).
    InputError naming ``command`` if the file is missing, a directory, unreadable, not UTF-8
    or empty.
    """
    from rnnlab.data.textfiles import decode_utf8, read_text_head
    from rnnlab.errors import DataError

    file = Path(path)
    if not file.is_file():
        what = "is a directory; give one text file" if file.is_dir() else "no such file"
        raise InputError(f"{command}: --text {path}: {what}")
    try:
        if limit is None:
            text, cut = decode_utf8(file.read_bytes(), str(file)), False
        else:
            text, cut = read_text_head(file, limit)
    except OSError as err:
        raise InputError(
            f"{command}: --text {path} cannot be read ({err.strerror or err})"
        ) from None
    except DataError as err:
        raise InputError(f"{command}: --text {path} is not UTF-8 text ({err})") from None
    if not text:
        raise InputError(f"{command}: --text {path} is empty; give a text to run the model over")
    return text, cut
