"""`rnnlab viz cells`: files written, the table printed, a planted unit found, clear errors."""

import csv

import pytest
import torch

from rnnlab.cli.main import main
from rnnlab.config import override
from rnnlab.data.vocab import CharVocab
from rnnlab.tasks import get_task
from rnnlab.tasks.charlm import CharLMRunConfig, train_charlm
from rnnlab.train.checkpoint import find_checkpoint, load_checkpoint, save_checkpoint
from rnnlab.train.run import run_task
from runhelpers import rnnlab
from textgen import make_text

TINY = dict(
    batch=4,
    steps=3,
    minutes=None,
    eval_every=0,
    checkpoint_every=10_000,
    precision="fp32",
    progress=False,
    threads=1,
)


def quiet(*args, **kwargs):
    pass


@pytest.fixture(autouse=True, scope="module")
def keep_thread_count():
    """`threads=1` sets torch's global thread count; give it back after this module."""
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """A tiny character LM, a copy with an upper-case detector wired in, a TCN, a text."""
    root = tmp_path_factory.mktemp("viz")
    text = root / "text.txt"
    text.write_text(make_text(6_000)[:6_000], encoding="utf-8")
    cfg = override(
        CharLMRunConfig(),
        dict(data=str(text), hidden=10, layers=2, embed_dim=6, seq_len=8, **TINY),
    )
    train_charlm(cfg, root / "charlm", log=quiet)

    ckpt = load_checkpoint(find_checkpoint(root / "charlm"))
    wired = dict(ckpt.model_state)
    wire_upper_case_unit(wired, CharVocab.from_json(ckpt.meta["vocab"]), hidden=10, unit=4)
    save_checkpoint(root / "wired.safetensors", model_state=wired, meta=ckpt.meta)

    spec = get_task("adding")
    tcn = override(spec.config(), dict(model="tcn", seq_len=10, val_size=20, test_size=20, **TINY))
    run_task(spec, tcn, root / "tcn", log=quiet)
    return root


def wire_upper_case_unit(state: dict, vocab: CharVocab, *, hidden: int, unit: int) -> None:
    """Layer 0's unit `unit` follows the case of the current character: embedding column 0
    is ±1 (+ for upper case), g = tanh(3 · that), i ≈ 1, f ≈ 0, o ≈ 1, no recurrent input."""
    case = torch.tensor([1.0 if c.isupper() else -1.0 for c in vocab.chars])
    state["embedding.weight"][:, 0] = case
    for k, gate in enumerate("ifgo"):  # torch's gate order
        row = k * hidden + unit
        state["rnn.weight_ih_l0"][row] = 0.0
        state["rnn.weight_hh_l0"][row] = 0.0
        state["rnn.bias_hh_l0"][row] = 0.0
        state["rnn.bias_ih_l0"][row] = {"i": 8.0, "f": -8.0, "g": 0.0, "o": 8.0}[gate]
    state["rnn.weight_ih_l0"][2 * hidden + unit, 0] = 3.0


def read_csv(path):
    return list(csv.DictReader(path.read_text("utf-8").splitlines()))


def test_cells_writes_the_page_the_csv_and_the_figure(runs, tmp_path):
    out = tmp_path / "out"
    proc = rnnlab(
        "viz", "cells", runs / "charlm", "--text", runs / "text.txt", "--out", out,
        "--regex", "name=[A-Z]{2,}:", "--top", "2", "--page-chars", "300",
    )  # fmt: skip
    assert {p.name for p in out.iterdir()} == {"cells.html", "search.csv", "saturation.png"}
    rows = read_csv(out / "search.csv")
    assert list(rows[0]) == ["feature", "layer", "quantity", "unit", "correlation"]
    assert {r["feature"] for r in rows} >= {"column", "to_newline", "upper", "name"}
    assert all(-1 <= float(r["correlation"]) <= 1 for r in rows)
    lines = proc.stdout.splitlines()
    assert lines[0].startswith("viz cells: lstm, 2 layers of 10 units; 6,000 characters")
    header = next(i for i, line in enumerate(lines) if line.split()[:2] == ["feature", "layer"])
    assert lines[header + 1].split()[0] in {r["feature"] for r in rows}
    assert "comment: skipped (constant over the text)" in proc.stdout
    assert (out / "saturation.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    page = (out / "cells.html").read_text("utf-8")
    assert "http://" not in page and "https://" not in page
    assert '"initial":{"layer":' in page


def test_cells_finds_the_wired_unit(runs, tmp_path, capsys):
    out = tmp_path / "out"
    code = main(["viz", "cells", str(runs / "wired.safetensors"), "--text",
                 str(runs / "text.txt"), "--out", str(out)])  # fmt: skip
    assert code == 0
    rows = [r for r in read_csv(out / "search.csv") if r["feature"] == "upper"]
    assert len(rows) == 5
    assert (rows[0]["layer"], rows[0]["unit"]) == ("0", "4") and float(
        rows[0]["correlation"]
    ) > 0.99
    assert "upper" in capsys.readouterr().out


def test_long_texts_are_cut_with_a_note_and_the_page_shows_its_share(runs, tmp_path, capsys):
    out = tmp_path / "out"
    args = ["viz", "cells", str(runs / "charlm"), "--text", str(runs / "text.txt"), "--out"]
    args += [str(out), "--max-chars", "1000", "--page-chars", "200", "--chunk", "64"]
    args += ["--layer", "1", "--quantity", "c", "--unit", "9"]
    assert main(args) == 0
    captured = capsys.readouterr()
    assert "longer than 1,000 characters; recording the first 1,000 (--max-chars)" in captured.err
    assert "1,000 characters recorded, 200 on the page" in captured.out
    page = (out / "cells.html").read_text("utf-8")
    assert "the first 200 of 1,000 characters" in page
    assert '"initial":{"layer":1,"quantity":"c","unit":9}' in page


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--unit", "10"], "unit 10 is out of range: h has units 0..9"),
        (["--quantity", "r"], "unknown quantity 'r': this cell records h, c, i, f, o, g"),
        (["--layer", "2"], "layer 2 is out of range: the model has layers 0..1"),
        (["--regex", "caps"], "--regex: expected NAME=PATTERN, got 'caps' (no '=')"),
        (["--regex", "caps=[A-Z"], "--regex caps: malformed regular expression '[A-Z'"),
        (["--page-chars", "0"], "expected --page-chars >= 1, got 0"),
    ],
)
def test_bad_options_are_clear_errors(runs, tmp_path, capsys, extra, message):
    args = ["viz", "cells", str(runs / "charlm"), "--text", str(runs / "text.txt")]
    assert main([*args, "--out", str(tmp_path / "out"), *extra]) == 2
    err = capsys.readouterr().err
    assert err.startswith("rnnlab viz: error: ") and message in err
    assert not (tmp_path / "out").exists()


def test_bad_checkpoints_and_texts_are_clear_errors(runs, tmp_path, capsys):
    def error(ckpt, text):
        code = main(["viz", "cells", str(ckpt), "--text", str(text), "--out", str(tmp_path)])
        assert code == 2
        return capsys.readouterr().err

    text = runs / "text.txt"
    err = error(runs / "tcn", text)
    assert "viz cells needs a character LM with a recurrent cell (lstm, gru, rnn" in err
    assert "is an adding checkpoint of a tcn model" in err
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    assert "is empty" in error(runs / "charlm", empty)
    assert "no such file" in error(runs / "charlm", tmp_path / "missing.txt")
    latin = tmp_path / "latin1.txt"
    latin.write_bytes("café".encode("latin-1"))
    assert "is not UTF-8 text" in error(runs / "charlm", latin)
    unseen = tmp_path / "unseen.txt"
    unseen.write_text("ROMEO: {}\n", encoding="utf-8")
    assert "not in the vocabulary" in error(runs / "charlm", unseen)


def test_unknown_characters_can_be_dropped(runs, tmp_path, capsys):
    unseen = tmp_path / "unseen.txt"
    unseen.write_text("ROMEO: {thee}\n" * 10, encoding="utf-8")
    out = tmp_path / "out"
    args = ["viz", "cells", str(runs / "charlm"), "--text", str(unseen), "--out", str(out)]
    assert main([*args, "--unknown", "drop"]) == 0
    assert "120 characters recorded" in capsys.readouterr().out


def test_help_explains_the_command(capsys):
    for args in (["viz", "cells", "--help"], ["viz", "--help"]):
        with pytest.raises(SystemExit) as stop:
            main(args)
        assert stop.value.code == 0
    out = capsys.readouterr().out
    for word in ("cells.html", "search.csv", "saturation.png", "--regex", "--max-chars", "VIEW"):
        assert word in out
