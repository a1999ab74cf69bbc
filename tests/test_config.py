"""Config dataclasses: overrides, coercion, TOML presets, the budget rule."""

from dataclasses import dataclass

import pytest

from rnnlab.cli.options import explicit_settings, load_preset, preset_names, with_budget_rule
from rnnlab.config import from_dict, load_toml, override, to_dict
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
