"""Config dataclasses: overrides, coercion, TOML presets, the budget rule."""

import json
from dataclasses import dataclass
from typing import Literal

import pytest

from rnnlab.cli.options import explicit_settings, load_preset, preset_names, with_budget_rule
from rnnlab.config import field_specs, from_dict, load_toml, override, setting, to_dict
from rnnlab.errors import InputError


@dataclass
class Cfg:
    steps: int | None = 10
    minutes: float | None = None
    lr: float = 0.1
    name: str = "x"
    flag: bool = False


def test_override_coerces_strings():
    cfg = override(Cfg(), {"steps": "20", "lr": "3e-3", "flag": "yes", "name": "y"})
    assert (cfg.steps, cfg.lr, cfg.flag, cfg.name) == (20, 3e-3, True, "y")
    assert override(Cfg(), {"steps": "none"}).steps is None
    assert from_dict(Cfg, to_dict(cfg)) == cfg


@pytest.mark.parametrize(
    "values, text",
    [
        ({"stepz": 1}, "unknown setting 'stepz'"),
        ({"steps": "ten"}, "'steps' needs a int"),
        ({"steps": 1.5}, "'steps' needs a int"),
        ({"lr": None}, "'lr' needs a float"),
        ({"flag": "maybe"}, "'flag' needs a bool"),
    ],
)
def test_override_errors(values, text):
    with pytest.raises(InputError, match=text):
        override(Cfg(), values)


def test_toml_flattens_and_reports(tmp_path):
    path = tmp_path / "p.toml"
    path.write_text('lr = 0.5\n[model]\nname = "m"\n')
    assert load_toml(path) == {"lr": 0.5, "name": "m"}
    path.write_text("lr = = 1")
    with pytest.raises(InputError, match="not valid TOML"):
        load_toml(path)
    with pytest.raises(InputError, match="does not exist"):
        load_toml(tmp_path / "missing.toml")


def test_budget_rule():
    assert with_budget_rule({"minutes": 10}) == {"minutes": 10, "steps": None}
    assert with_budget_rule({"steps": 5}) == {"steps": 5, "minutes": None}
    assert with_budget_rule({"steps": 5, "minutes": 1}) == {"steps": 5, "minutes": 1}


def test_shipped_presets_load_and_flags_win():
    assert {"cpu-small", "gpu-large", "demo"} <= set(preset_names())
    from rnnlab.tasks.charlm import CharLMRunConfig

    for name in preset_names():
        cfg = override(CharLMRunConfig(), explicit_settings(CharLMRunConfig, name, {}))
        assert cfg.minutes is not None or cfg.steps is not None
    merged = explicit_settings(CharLMRunConfig, "cpu-small", {"steps": "7"})
    cfg = override(CharLMRunConfig(), merged)
    assert cfg.steps == 7 and cfg.minutes is None
    assert load_preset("cpu-small")["data"] == "shakespeare"
    with pytest.raises(InputError, match="unknown preset 'nope'"):
        load_preset("nope")


def test_preset_name_wins_over_a_directory_of_that_name(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "cpu-small").mkdir()
    assert load_preset("cpu-small")["data"] == "shakespeare"
    (tmp_path / "dir.toml").mkdir()
    with pytest.raises(InputError, match="cannot be read"):
        load_preset("dir.toml")


# -- choices, lists, int suffixes, help ----------------------------------------------------


@dataclass
class Rich:
    """Settings of every kind."""

    widths: tuple[int, ...] = setting((25, 25), "widths per level")
    names: tuple[str, ...] | None = setting(None, "names, if any")
    mode: Literal["fast", "slow", "exact"] = setting("fast", "how to run")
    level: Literal[1, 2, 3] = setting(1, "a level")
    size: int = setting(10, "a size")
    limit: int | None = setting(None, "a limit")


@dataclass
class Bigger(Rich):
    """Only a default changes."""

    size: int = 20


def test_tuple_fields_from_text_lists_and_json():
    cfg = override(Rich(), {"widths": "25,25,25", "names": "a,b"})
    assert cfg.widths == (25, 25, 25) and cfg.names == ("a", "b")
    assert override(Rich(), {"widths": [4, 8]}).widths == (4, 8)
    assert override(Rich(), {"widths": (3,)}).widths == (3,)
    assert override(Rich(), {"names": "none"}).names is None
    saved = to_dict(cfg)
    assert saved["widths"] == [25, 25, 25] and saved["names"] == ["a", "b"]
    back = from_dict(Rich, json.loads(json.dumps(saved)))
    assert back == cfg and isinstance(back.widths, tuple) and isinstance(back.names, tuple)


@pytest.mark.parametrize("value", ["25,,25", "25,", ",25", "25,x", "2.5,3", ["a"], [1.5], 25])
def test_tuple_fields_reject_empty_and_wrong_items(value):
    with pytest.raises(InputError, match="'widths' needs a comma-separated list of int"):
        override(Rich(), {"widths": value})


def test_literal_choices():
    assert override(Rich(), {"mode": "exact"}).mode == "exact"
    assert override(Rich(), {"level": "3"}).level == 3
    with pytest.raises(InputError, match="expected mode in fast, slow, exact, got 'quick'"):
        override(Rich(), {"mode": "quick"})
    with pytest.raises(InputError, match="expected level in 1, 2, 3, got 4"):
        override(Rich(), {"level": 4})
    with pytest.raises(InputError, match="'mode' needs one of fast, slow, exact"):
        override(Rich(), {"mode": None})


@pytest.mark.parametrize(
    "text, value",
    [("70k", 70_000), ("70K", 70_000), ("1.5M", 1_500_000), ("1.5k", 1_500), ("2m", 2_000_000)],
)
def test_int_suffixes(text, value):
    assert override(Rich(), {"size": text}).size == value
    assert override(Rich(), {"limit": text}).limit == value


@pytest.mark.parametrize("text", ["70kb", "1.2345k", "k", "70 kk", "1e3k"])
def test_bad_int_suffixes(text):
    with pytest.raises(InputError, match="'size' needs a int"):
        override(Rich(), {"size": text})


def test_help_is_inherited_by_a_subclass_that_changes_a_default():
    specs = field_specs(Bigger)
    assert specs["size"].help == "a size" and specs["size"].default == 20
    assert field_specs(Rich)["size"].default == 10
    assert override(Bigger(), {"size": "3k"}).size == 3000


def test_field_specs_describe_each_kind():
    specs = field_specs(Rich)
    assert list(specs) == ["widths", "names", "mode", "level", "size", "limit"]
    widths, names, mode, level = specs["widths"], specs["names"], specs["mode"], specs["level"]
    assert (widths.base, widths.sequence, widths.optional, widths.choices) == (
        int,
        True,
        False,
        None,
    )
    assert widths.default == (25, 25) and widths.help == "widths per level"
    assert (names.base, names.sequence, names.optional) == (str, True, True)
    assert (mode.base, mode.choices, mode.sequence, mode.optional) == (
        str,
        ("fast", "slow", "exact"),
        False,
        False,
    )
    assert (level.base, level.choices) == (int, (1, 2, 3))
    assert (specs["limit"].optional, specs["size"].optional) == (True, False)
    assert widths.type_text == "INT,INT,…" and mode.type_text == "fast|slow|exact"
    assert names.describe() == "a comma-separated list of str or none"


def test_a_choice_named_none_is_that_choice_not_null():
    from dataclasses import dataclass
    from typing import Literal

    from rnnlab.config import coerce

    @dataclass
    class WithNone:
        attention: Literal["general", "none"] = "general"
        penalty: float | None = 1.0

    assert coerce(WithNone, "attention", "none") == "none"
    assert coerce(WithNone, "penalty", "none") is None


def test_cpu_small_decays_matrices_not_biases_with_adamw():
    """The preset's regulariser: decoupled weight decay on the matrices and the embedding,
    none on biases, as the preset's comment and the README say."""
    import torch

    from rnnlab.models.charlm import CharLM, CharLMConfig
    from rnnlab.tasks.charlm import CharLMRunConfig
    from rnnlab.train.optim import build_optimizer, param_groups

    cfg = override(CharLMRunConfig(), explicit_settings(CharLMRunConfig, "cpu-small", {}))
    assert cfg.optimizer == "adamw" and cfg.weight_decay > 0
    model = CharLM(30, CharLMConfig.from_config({**to_dict(cfg), "hidden": 24}))
    opt = build_optimizer(param_groups(model, cfg.weight_decay), cfg)
    assert isinstance(opt, torch.optim.AdamW)
    decay = {id(p): g["weight_decay"] for g in opt.param_groups for p in g["params"]}
    for name, p in model.named_parameters():
        assert decay[id(p)] == (0.0 if "bias" in name else cfg.weight_decay), name
