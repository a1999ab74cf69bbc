"""`rnnlab gradflow`: its three forms write the named CSV columns and a PNG; bad checkpoints,
texts and options are clear errors."""

import csv

import pytest
import torch

from rnnlab.cli.main import main
from rnnlab.config import override
from rnnlab.diagnostics.gradflow_checkpoint import checkpoint_gradflow
from rnnlab.tasks import get_task
from rnnlab.tasks.charlm import CharLMRunConfig, train_charlm
from rnnlab.train.checkpoint import find_checkpoint, load_checkpoint, save_checkpoint
from rnnlab.train.run import run_task
from textgen import make_text

PNG = b"\x89PNG\r\n\x1a\n"
TINY = dict(
    batch=4,
    steps=2,
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
def one_thread():
    """Tiny models: one torch thread (training with `threads=1` sets it too); given back after."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """A tiny character LM, an adding LSTM, an adding TCN, a seq2seq-labelled checkpoint."""
    root = tmp_path_factory.mktemp("gradflow")
    text = root / "text.txt"
    text.write_text(make_text(4_000), encoding="utf-8")
    cfg = override(
        CharLMRunConfig(),
        dict(data=str(text), cell="gru", hidden=8, layers=2, embed_dim=4, seq_len=8, **TINY),
    )
    train_charlm(cfg, root / "charlm", log=quiet)
    spec = get_task("adding")
    for model in ("lstm", "tcn"):
        settings = dict(
            model=model, hidden=6, channels=(4, 4), seq_len=12, val_size=4, test_size=6, **TINY
        )
        run_task(spec, override(spec.config(), settings), root / model, log=quiet)
    ckpt = load_checkpoint(find_checkpoint(root / "lstm"))
    save_checkpoint(
        root / "seq2seq.safetensors",
        model_state=ckpt.model_state,
        meta={**ckpt.meta, "task": "seq2seq"},
    )
    return root


def read_csv(path):
    with open(path, encoding="utf-8", newline="") as f:
        return list(csv.reader(f))


def test_a_checkpoint_on_a_text_writes_the_table_and_the_figure(runs, tmp_path, capsys):
    out = tmp_path / "out"
    args = ["gradflow", str(runs / "charlm"), "--text", str(runs / "text.txt"), "--out", str(out)]
    assert main([*args, "--length", "40"]) == 0
    assert {p.name for p in out.iterdir()} == {"gradflow.csv", "gradflow.png"}
    rows = read_csv(out / "gradflow.csv")
    assert rows[0] == ["layer", "t", "dL_dh", "dhT_dh"]
    assert len(rows) == 1 + 2 * 41
    assert [(int(r[0]), int(r[1])) for r in rows[1:3]] == [(0, 0), (0, 1)]
    assert rows[-1][:2] == ["1", "40"] and float(rows[-1][3]) == pytest.approx(1.0, rel=1e-5)
    assert all(float(r[2]) > 0 and float(r[3]) > 0 for r in rows[1:])
    assert (out / "gradflow.png").read_bytes()[:8] == PNG
    stdout = capsys.readouterr().out
    assert stdout.startswith("gru, 2 layer(s), 40 characters of the text; loss of the last ")
    assert f"wrote {out / 'gradflow.csv'}, {out / 'gradflow.png'}" in stdout


def test_the_loss_at_the_last_step_and_summed_over_the_steps(runs):
    text = make_text(200)
    last = checkpoint_gradflow(runs / "charlm", text=text, length=30, loss="last", norm="fro")
    total = checkpoint_gradflow(runs / "charlm", text=text, length=30, loss="sum", norm="fro")
    assert last.steps == total.steps == 30 and last.norm == "fro"
    # the Jacobians do not depend on the loss
    torch.testing.assert_close(torch.from_numpy(last.dhT_dh), torch.from_numpy(total.dhT_dh))
    # only the last prediction depends on the last states; earlier ones get every later term
    torch.testing.assert_close(
        torch.from_numpy(total.dL_dh[:, -1]), torch.from_numpy(last.dL_dh[:, -1])
    )
    assert (abs(total.dL_dh[:, :-1] - last.dL_dh[:, :-1]) > 1e-3 * last.dL_dh[:, :-1]).all()
    assert total.dL_dh[:, :-1].mean() > last.dL_dh[:, :-1].mean()
    assert total.loss > 10 * last.loss


def test_without_a_text_a_charlm_reads_its_test_split(runs):
    flow = checkpoint_gradflow(runs / "charlm", length=25)
    assert (
        flow.source
        == f"25 characters of the test split of {runs / 'text.txt'}; loss of the last prediction"
    )
    assert flow.dL_dh.shape == (2, 26)


def test_a_sequence_task_reads_a_batch_of_its_test_set(runs, tmp_path):
    out = tmp_path / "out"
    assert main(["gradflow", str(runs / "lstm"), "--out", str(out), "--batch", "3"]) == 0
    rows = read_csv(out / "gradflow.csv")
    assert rows[0] == ["layer", "t", "dL_dh", "dhT_dh"] and len(rows) == 1 + 13
    flow = checkpoint_gradflow(runs / "lstm", batch=3)
    assert flow.source.startswith("3 sequences of the adding test set (T = 12); loss of the")
    assert flow.cell == "lstm"
    # the adding task reads out once, at the last step: both losses are the same
    summed = checkpoint_gradflow(runs / "lstm", batch=3, loss="sum")
    torch.testing.assert_close(torch.from_numpy(summed.dL_dh), torch.from_numpy(flow.dL_dh))


def test_the_sweep_writes_the_table_and_the_figure(tmp_path, capsys):
    out = tmp_path / "sweep"
    args = ["gradflow", "sweep", "--out", str(out), "--cells", "linear,lstm"]
    args += [
        "--scales",
        "0.5,1.5",
        "--steps",
        "10",
        "--seeds",
        "1",
        "--hidden",
        "6",
        "--batch",
        "2",
    ]
    assert main(args) == 0
    rows = read_csv(out / "sweep.csv")
    assert rows[0] == ["cell", "scale", "distance", "norm"]
    assert len(rows) == 1 + 2 * 2 * 11
    linear = {(float(r[1]), int(r[2])): float(r[3]) for r in rows[1:] if r[0] == "linear"}
    assert linear[0.5, 0] == pytest.approx(1.0) and linear[1.5, 0] == pytest.approx(1.0)
    assert linear[0.5, 10] < 0.1 and linear[1.5, 10] > 10
    assert (out / "sweep.png").read_bytes()[:8] == PNG
    assert "linear      rho 1.5" in capsys.readouterr().out


def test_clip_writes_the_table_and_the_figure(tmp_path, capsys):
    out = tmp_path / "clip"
    args = ["gradflow", "clip", "--out", str(out), "--steps", "40", "--hidden", "16"]
    args += ["--seq-len", "30", "--batch", "16", "--lr", "0.3"]  # diverges by step ~25
    assert main(args) == 0
    rows = read_csv(out / "clip.csv")
    assert rows[0] == ["run", "step", "loss", "grad_norm", "clipped_norm", "update_norm"]
    assert {r[0] for r in rows[1:]} == {"none", "norm", "value"}
    assert sum(r[0] == "norm" for r in rows) == 40
    assert all(float(r[4]) <= 1.0 + 1e-6 for r in rows[1:] if r[0] == "norm")
    assert (out / "clip.png").read_bytes()[:8] == PNG
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines[:3]] == ["none", "norm", "value"]
    assert "diverged at step" in lines[0] and lines[3].startswith("wrote ")


def error(capsys, *args) -> str:
    assert main(["gradflow", *map(str, args)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("rnnlab gradflow: error: ")
    return err


def test_bad_checkpoints_and_texts_are_clear_errors(runs, tmp_path, capsys):
    out = tmp_path / "out"
    err = error(capsys, runs / "tcn", "--out", out)
    assert "holds a TCN (adding --model tcn)" in err and "no recurrent state" in err
    assert "a recurrent model (--model lstm, gru or rnn)" in err
    err = error(capsys, runs / "seq2seq.safetensors", "--out", out)
    assert "is a seq2seq checkpoint, whose model is not supported" in err
    empty = tmp_path / "empty.txt"
    empty.write_text("", encoding="utf-8")
    assert "is empty" in error(capsys, runs / "charlm", "--text", empty, "--out", out)
    one = tmp_path / "one.txt"
    one.write_text("R", encoding="utf-8")
    assert "has 1 usable character(s); expected at least 2" in error(
        capsys, runs / "charlm", "--text", one, "--out", out
    )
    assert "no such file" in error(capsys, runs / "charlm", "--text", tmp_path / "no.txt")
    unseen = tmp_path / "unseen.txt"
    unseen.write_text("ROMEO: {thee}\n", encoding="utf-8")
    assert "not in the vocabulary" in error(capsys, runs / "charlm", "--text", unseen)
    err = error(capsys, runs / "lstm", "--text", runs / "text.txt", "--out", out)
    assert "a checkpoint of the adding task takes no --text" in err
    assert not out.exists()


def test_unknown_characters_can_be_dropped(runs, tmp_path):
    unseen = tmp_path / "unseen.txt"
    unseen.write_text("ROMEO: {thee}\n" * 3, encoding="utf-8")
    out = tmp_path / "out"
    args = ["gradflow", str(runs / "charlm"), "--text", str(unseen), "--out", str(out)]
    assert main([*args, "--unknown", "drop"]) == 0
    assert len(read_csv(out / "gradflow.csv")) == 1 + 2 * (3 * 12)  # 36 characters kept: T = 35


@pytest.mark.parametrize(
    "args, message",
    [
        (["sweep", "--text", "x.txt"], "`gradflow sweep` takes no --text"),
        (["clip", "--scales", "1,2"], "`gradflow clip` takes no --scales"),
        (["clip", "--norm", "fro"], "`gradflow clip` takes no --norm"),
        (["CKPT", "--lr", "0.1", "--seeds", "2"], "a checkpoint takes no --lr, --seeds"),
        (["sweep", "--scales", "0.5,-1"], "expected scales > 0"),
        (["sweep", "--cells", "rnn,gru"], "expected cells among linear"),
        (["clip", "--cell", "relu", "--steps", "0"], "expected steps >= 1, got 0"),
        (["sweep", "--threads", "0"], "expected --threads >= 1, got 0"),
    ],
)
def test_bad_options_are_clear_errors(capsys, tmp_path, args, message):
    assert message in error(capsys, *args, "--out", tmp_path / "out")


def test_help_names_the_three_forms(capsys):
    with pytest.raises(SystemExit):
        main(["gradflow", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    for words in ("CKPT|sweep|clip", "gradflow.csv", "sweep.csv", "clip.csv", "--by"):
        assert words in text
