"""Dataclass configs: defaults in code, TOML presets and `--key=value` flags only override them.

A config is a flat dataclass whose fields are bool, int, float, str or `X | None` of those.
`override(cfg, mapping)` returns a new config with the mapping's values coerced to each field's
type; unknown keys and values of the wrong type raise `InputError` naming the key and the type.
"""

from __future__ import annotations

import dataclasses
import sys
import types
import typing
from pathlib import Path
from typing import Any, TypeVar

from rnnlab.errors import InputError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

C = TypeVar("C")

_NONE_WORDS = ("none", "null", "")
_TRUE_WORDS = ("1", "true", "yes", "on")
_FALSE_WORDS = ("0", "false", "no", "off")


def field_types(cls: type) -> dict[str, tuple[type, bool]]:
    """Map each field of a config dataclass to (base type, whether None is allowed)."""
    hints = typing.get_type_hints(cls)
    out = {}
    for f in dataclasses.fields(cls):
        tp = hints[f.name]
        optional = False
        if typing.get_origin(tp) in (typing.Union, types.UnionType):
            args = [a for a in typing.get_args(tp) if a is not type(None)]
            optional = len(args) < len(typing.get_args(tp))
            if len(args) != 1:
                raise TypeError(f"{cls.__name__}.{f.name}: unsupported type {tp}")
            tp = args[0]
        if tp not in (bool, int, float, str):
            raise TypeError(f"{cls.__name__}.{f.name}: unsupported type {tp}")
        out[f.name] = (tp, optional)
    return out


def coerce(cls: type, key: str, value: Any) -> Any:
    """Convert `value` (from TOML, JSON or a command-line string) to the type of field `key`."""
    types_ = field_types(cls)
    if key not in types_:
        known = ", ".join(sorted(types_))
        raise InputError(f"{cls.__name__}: unknown setting {key!r}; known settings: {known}")
    tp, optional = types_[key]
    if value is None or (isinstance(value, str) and value.strip().lower() in _NONE_WORDS):
        if optional:
            return None
        raise InputError(f"{cls.__name__}: setting {key!r} needs a {tp.__name__}, got {value!r}")
    try:
        if tp is bool:
            if isinstance(value, bool):
                return value
            word = str(value).strip().lower()
            if word in _TRUE_WORDS:
                return True
            if word in _FALSE_WORDS:
                return False
            raise ValueError(value)
        if tp is int:
            if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
                raise ValueError(value)
            return int(value) if not isinstance(value, str) else int(value.strip(), 0)
        if tp is float:
            if isinstance(value, bool):
                raise ValueError(value)
            return float(value)
        if not isinstance(value, str):
            raise ValueError(value)
        return value
    except (TypeError, ValueError):
        raise InputError(
            f"{cls.__name__}: setting {key!r} needs a {tp.__name__}"
            f"{' or none' if optional else ''}, got {value!r}"
        ) from None


def override(cfg: C, values: dict[str, Any]) -> C:
    """Return a copy of `cfg` with `values` (keys may use '-' for '_') applied and coerced."""
    changes = {}
    for key, value in values.items():
        name = key.replace("-", "_")
        changes[name] = coerce(type(cfg), name, value)
    return dataclasses.replace(cfg, **changes)


def to_dict(cfg: Any) -> dict[str, Any]:
    """The config as a plain dict (JSON- and TOML-friendly)."""
    return dataclasses.asdict(cfg)


def from_dict(cls: type[C], values: dict[str, Any]) -> C:
    """Build a config from a dict, e.g. one read back from a checkpoint's JSON."""
    return override(cls(), values)


def load_toml(path: str | Path) -> dict[str, Any]:
    """Read a TOML preset into a flat dict; tables are flattened (their keys must be unique)."""
    path = Path(path)
    try:
        with path.open("rb") as fh:
            data = tomllib.load(fh)
    except FileNotFoundError:
        raise InputError(f"preset file {str(path)!r} does not exist") from None
    except OSError as err:
        raise InputError(f"preset file {str(path)!r} cannot be read: {err.strerror}") from None
    except tomllib.TOMLDecodeError as err:
        raise InputError(f"preset file {str(path)!r} is not valid TOML: {err}") from None
    flat: dict[str, Any] = {}

    def walk(table: dict[str, Any]) -> None:
        for key, value in table.items():
            if isinstance(value, dict):
                walk(value)
            elif key in flat:
                raise InputError(f"preset file {str(path)!r} sets {key!r} twice")
            else:
                flat[key] = value

    walk(data)
    return flat
