"""`rnnlab train TASK`, `eval` and `sample` for every task: help, dispatch, clear errors."""

import json
import re

import pytest

from rnnlab.config import override
from rnnlab.tasks import REGISTRY, get_task
from rnnlab.train.config import TrainConfig
from rnnlab.train.run import run_task
from runhelpers import rnnlab


def quiet(*args, **kwargs):
    pass


@pytest.fixture(scope="module")
def adding_run(tmp_path_factory):
    """A one-step run of the adding problem with a tiny LSTM."""
    run = tmp_path_factory.mktemp("cli-tasks") / "adding"
    spec = get_task("adding")
    settings = dict(
        model="lstm",
        hidden=4,
        seq_len=5,
        batch=4,
        steps=1,
        val_size=4,
        test_size=4,
        eval_every=0,
        precision="fp32",
        device="cpu",
        progress=False,
    )
    assert run_task(spec, override(spec.config(), settings), run, log=quiet).ok
    return run


def test_train_help_lists_every_task_with_its_summary():
    out = rnnlab("train", "--help").stdout
    assert {"charlm", "adding", "copy", "pixel", "recall"} <= set(REGISTRY)
    for name, spec in REGISTRY.items():
        assert re.search(rf"^\s+{re.escape(name)}\s+{re.escape(spec.summary)}$", out, re.M), name


def options_by_section(help_text):
    """{section title: {flag: its help, unwrapped}} of an argparse help text."""
    sections, entry = {}, None
    for line in help_text.splitlines():
        if line and not line.startswith(" ") and line.endswith(":"):
            current = sections.setdefault(line[:-1], {})
        elif line.startswith("  -"):
            flag = line.split()[0]
            entry = current.setdefault(flag, [])
            entry.append(line)
        elif line.startswith("   ") and entry is not None:
            entry.append(line)
    return {
        title: {flag: " ".join(" ".join(lines).split()) for flag, lines in flags.items()}
        for title, flags in sections.items()
    }


def test_task_help_lists_its_settings_with_defaults_grouped():
    out = rnnlab("train", "adding", "--help").stdout
    sections = options_by_section(out)
    flags = {flag: text for section in sections.values() for flag, text in section.items()}
    for flag, default in (
        ("--seq-len", "100"),
        ("--model", "lstm"),
        ("--params", "none"),
        ("--channels", "25,25,25,25,25,25,25,25"),
        ("--init", "torch"),
        ("--forget-bias", "none"),
        ("--accumulate", "1"),
    ):
        assert flag in flags, flag
        assert flags[flag].endswith(f"(default: {default})"), flags[flag]
    assert flags["--model"].startswith("--model {tcn|lstm|gru|rnn|mingru|minlstm} ")
    assert flags["--channels"].startswith("--channels INT,INT,… ")
    # the task's own settings form a section before the training settings
    own = get_task("adding").config.__doc__.strip().splitlines()[0].rstrip(".")
    training = TrainConfig.__doc__.strip().splitlines()[0].rstrip(".")
    titles = list(sections)
    assert own in titles and training in titles
    assert titles.index(own) < titles.index(training)
    assert "--seq-len" in sections[own] and "--accumulate" not in sections[own]
    assert {"--accumulate", "--steps", "--lr"} <= set(sections[training])
    assert "--seq-len" not in sections[training]


def test_unknown_task_exits_2_without_traceback():
    proc = rnnlab("train", "nosuchtask", check=False)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "nosuchtask" in proc.stderr and "adding" in proc.stderr


def test_sample_on_an_adding_checkpoint_is_a_clear_error(adding_run):
    proc = rnnlab("sample", adding_run, check=False)
    assert proc.returncode == 2 and proc.stdout == "" and "Traceback" not in proc.stderr
    assert "adding" in proc.stderr and "rnnlab eval" in proc.stderr


def test_eval_of_an_adding_run_takes_no_data(adding_run):
    proc = rnnlab("eval", adding_run, "--data", "x", check=False)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "adding" in proc.stderr and "--data" in proc.stderr
    result = json.loads(rnnlab("eval", adding_run, "--split", "val", "--json").stdout)
    assert result["task"] == "adding" and result["split"] == "val"
    assert result["mse"] == result["loss"] > 0
