"""Dataclass configs: defaults in code, TOML presets and `--key=value` flags only override them.

A config is a flat dataclass. Each field is one of

    bool | int | float | str              a scalar
    Literal["a", "b", ...]                a choice among fixed strings (or ints)
    tuple[int, ...] (or float, str)       a list, written "25,25,25" on the command line
    X | None                              any of the above, or none

and carries its help text in its metadata (`setting(default, "help")`), so that flags and
their help are generated from the dataclass and no setting is written twice. A subclass that
only changes a default (`steps: int | None = 2000`) inherits the help of the base's field.

`override(cfg, mapping)` returns a new config with the mapping's values coerced to each
field's type; unknown keys and values of the wrong type raise `InputError` naming the key and
the type. Integers take the suffixes k and M (`70k` = 70000, `1.5M` = 1500000).
"""

from __future__ import annotations

import dataclasses
import re
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
_SCALARS = (bool, int, float, str)
_SUFFIX = re.compile(r"^([0-9]*\.?[0-9]+)\s*([kKmM])$")
_MULTIPLIER = {"k": 1_000, "m": 1_000_000}


def setting(default: Any, help: str = "", **kwargs: Any) -> Any:
    """A config field with its help text: `hidden: int = setting(256, "units per layer")`."""
    return dataclasses.field(default=default, metadata={"help": help}, **kwargs)


@dataclasses.dataclass(frozen=True)
class FieldSpec:
    """What a config field accepts.

    Attributes:
        name: the field's name.
        base: bool, int, float or str (the element type of a list).
        optional: None is allowed.
        choices: the allowed values of a Literal field, else None.
        sequence: a tuple of `base` values (written comma-separated).
        default: the dataclass default.
        help: the help text (inherited from a base class's field of the same name).
    """

    name: str
    base: type
    optional: bool
    choices: tuple | None
    sequence: bool
    default: Any
    help: str
    words: tuple[str, ...] = ()  # words accepted besides a `base` value (e.g. "auto")

    @property
    def type_text(self) -> str:
        """How the value is written: INT, FLOAT, BOOL, STR, INT,INT,… or a|b|c."""
        if self.choices is not None:
            return "|".join(map(str, self.choices))
        word = "BOOL" if self.base is bool else self.base.__name__.upper()
        text = f"{word},{word},…" if self.sequence else word
        return "|".join([text, *self.words])

    def describe(self) -> str:
        """`a int`, `a list of int`, `one of a, b`, with `or none` where allowed."""
        if self.choices is not None:
            text = "one of " + ", ".join(map(str, self.choices))
        elif self.sequence:
            text = f"a comma-separated list of {self.base.__name__}"
        else:
            text = f"a {self.base.__name__}"
        text += "".join(f" or {word!r}" for word in self.words)
        return text + (" or none" if self.optional else "")


def _words(tp: Any) -> tuple[str, ...] | None:
    """The strings of a `Literal["a", "b"]`, else None."""
    if typing.get_origin(tp) is typing.Literal:
        args = typing.get_args(tp)
        if all(isinstance(a, str) for a in args):
            return args
    return None


def _unwrap(cls: type, name: str, tp: Any) -> tuple[type, bool, tuple | None, bool, tuple]:
    """(base type, optional, choices, sequence, words) of a field's annotation.

    `int | Literal["auto"]` is an int field that also accepts the word "auto".
    """
    optional = False
    words: tuple[str, ...] = ()
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        optional = len(args) < len(typing.get_args(tp))
        if len(args) == 2 and _words(args[1]) and args[0] in (int, float):
            words = _words(args[1])
            args = args[:1]
        if len(args) != 1:
            raise TypeError(f"{cls.__name__}.{name}: unsupported type {tp}")
        tp = args[0]
        if words:
            return tp, optional, None, False, words
    if typing.get_origin(tp) is typing.Literal:
        choices = typing.get_args(tp)
        kinds = {type(c) for c in choices}
        if len(kinds) != 1 or kinds.pop() not in (int, str):
            raise TypeError(f"{cls.__name__}.{name}: a Literal of str or of int, got {tp}")
        return type(choices[0]), optional, choices, False, ()
    if typing.get_origin(tp) is tuple:
        args = typing.get_args(tp)
        if len(args) != 2 or args[1] is not Ellipsis or args[0] not in _SCALARS:
            raise TypeError(f"{cls.__name__}.{name}: expected tuple[X, ...], got {tp}")
        return args[0], optional, None, True, ()
    if tp not in _SCALARS:
        raise TypeError(f"{cls.__name__}.{name}: unsupported type {tp}")
    return tp, optional, None, False, ()


def _inherited_help(cls: type, name: str) -> str:
    for klass in cls.__mro__:
        for f in dataclasses.fields(klass) if dataclasses.is_dataclass(klass) else ():
            if f.name == name and f.metadata.get("help"):
                return f.metadata["help"]
    return ""


def field_specs(cls: type) -> dict[str, FieldSpec]:
    """Each field of a config dataclass, by name, as a `FieldSpec`."""
    hints = typing.get_type_hints(cls, include_extras=False)
    out = {}
    for f in dataclasses.fields(cls):
        base, optional, choices, sequence, words = _unwrap(cls, f.name, hints[f.name])
        default = f.default if f.default is not dataclasses.MISSING else None
        out[f.name] = FieldSpec(
            f.name, base, optional, choices, sequence, default, _inherited_help(cls, f.name), words
        )
    return out


def _scalar(tp: type, value: Any) -> Any:
    """`value` as a `tp` (bool, int, float, str); ValueError when it is not one."""
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
        if not isinstance(value, str):
            return int(value)
        text = value.strip().replace("_", "")
        match = _SUFFIX.match(text)
        if match:
            number = float(match.group(1)) * _MULTIPLIER[match.group(2).lower()]
            if not number.is_integer():
                raise ValueError(value)
            return int(number)
        return int(text, 0)
    if tp is float:
        if isinstance(value, bool):
            raise ValueError(value)
        return float(value)
    if not isinstance(value, str):
        raise ValueError(value)
    return value


def _coerce_spec(owner: str, spec: FieldSpec, value: Any) -> Any:
    if isinstance(value, str) and spec.choices and value.strip() in spec.choices:
        return value.strip()  # a choice named like a null word ("none") is that choice
    if value is None or (isinstance(value, str) and value.strip().lower() in _NONE_WORDS):
        if spec.optional:
            return None
        raise InputError(f"{owner}: setting {spec.name!r} needs {spec.describe()}, got {value!r}")
    if isinstance(value, str) and value.strip().lower() in spec.words:
        return value.strip().lower()
    try:
        if spec.sequence:
            items = value.split(",") if isinstance(value, str) else value
            if isinstance(items, (str, bytes)) or not isinstance(items, (list, tuple)):
                raise ValueError(value)
            if isinstance(value, str):
                items = [item.strip() for item in items]
            result: Any = tuple(_scalar(spec.base, item) for item in items)
            if isinstance(value, str) and any(not item.strip() for item in items):
                raise ValueError(value)
        else:
            result = _scalar(spec.base, value)
    except (TypeError, ValueError, OverflowError):
        raise InputError(
            f"{owner}: setting {spec.name!r} needs {spec.describe()}, got {value!r}"
        ) from None
    if spec.choices is not None and result not in spec.choices:
        allowed = ", ".join(map(str, spec.choices))
        raise InputError(f"{owner}: expected {spec.name} in {allowed}, got {value!r}")
    return result


def coerce(cls: type, key: str, value: Any) -> Any:
    """Convert `value` (from TOML, JSON or a command-line string) to the type of field `key`."""
    specs = field_specs(cls)
    if key not in specs:
        known = ", ".join(sorted(specs))
        raise InputError(f"{cls.__name__}: unknown setting {key!r}; known settings: {known}")
    return _coerce_spec(cls.__name__, specs[key], value)


def override(cfg: C, values: dict[str, Any]) -> C:
    """Return a copy of `cfg` with `values` (keys may use '-' for '_') applied and coerced."""
    changes = {}
    for key, value in values.items():
        name = key.replace("-", "_")
        changes[name] = coerce(type(cfg), name, value)
    return dataclasses.replace(cfg, **changes)


def to_dict(cfg: Any) -> dict[str, Any]:
    """The config as a plain dict (JSON- and TOML-friendly: tuples become lists)."""
    return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(cfg).items()}


def from_dict(cls: type[C], values: dict[str, Any]) -> C:
    """Build a config from a dict, e.g. one read back from a checkpoint's JSON."""
    return override(cls(), values)


BUDGETS = ("steps", "minutes")


def with_budget_rule(values: dict[str, Any]) -> dict[str, Any]:
    """A layer of settings that gives one budget alone clears the other.

    So `--minutes 10` replaces a preset's (or the default) `steps`, rather than adding to it.
    """
    given = [b for b in BUDGETS if b in values]
    if len(given) == 1:
        other = BUDGETS[1 - BUDGETS.index(given[0])]
        return {**values, other: None}
    return dict(values)


def differences(old: Any, new: Any, *, ignore: frozenset[str] = frozenset()) -> list[str]:
    """`name: run has X, asked for Y` for each field (not in `ignore`) that differs."""
    return [
        f"{f.name}: run has {getattr(old, f.name)!r}, asked for {getattr(new, f.name)!r}"
        for f in dataclasses.fields(new)
        if f.name not in ignore and getattr(old, f.name) != getattr(new, f.name)
    ]


def read_toml(path: str | Path) -> dict[str, Any]:
    """A TOML file as it is; a missing, unreadable or invalid file is an InputError."""
    path = Path(path)
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        raise InputError(f"preset file {str(path)!r} does not exist") from None
    except OSError as err:
        raise InputError(f"preset file {str(path)!r} cannot be read: {err.strerror}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as err:
        raise InputError(f"preset file {str(path)!r} is not valid TOML: {err}") from None


def load_toml(path: str | Path) -> dict[str, Any]:
    """Read a TOML preset into a flat dict; tables are flattened (their keys must be unique)."""
    path = Path(path)
    data = read_toml(path)
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
