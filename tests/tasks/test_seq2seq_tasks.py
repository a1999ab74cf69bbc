"""The seq2seq and classify tasks on the one run path: learning, eval, CLI, resume, bad data."""

import json
import random
import signal

import pytest
import torch

from rnnlab.config import override
from rnnlab.errors import DataError
from rnnlab.tasks import get_task
from rnnlab.tasks.seq2seq import Seq2SeqConfig, teacher_forcing_at
from rnnlab.train.run import evaluate_trained, load_trained, run_task
from runhelpers import interrupt_at, rnnlab

COMMON = {"threads": 1, "precision": "fp32", "progress": False, "eval_every": 0}


def quiet(*args, **kwargs):
    pass


@pytest.fixture(autouse=True, scope="module")
def keep_thread_count():
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def reverse_tsv(tmp_path_factory):
    """A parallel corpus: a few short words, and the same words in reverse order."""
    rng = random.Random(0)
    path = tmp_path_factory.mktemp("data") / "reverse.tsv"
    lines = []
    for _ in range(1500):
        words = [rng.choice("abcdef") * rng.randint(1, 2) for _ in range(rng.randint(4, 5))]
        lines.append(f"{' '.join(words)}\t{' '.join(reversed(words))}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def labelled_tsv(tmp_path_factory):
    """A labelled corpus: the label is whether 'good' or 'bad' occurs in the text."""
    rng = random.Random(1)
    filler = ["the", "movie", "was", "quite", "a", "day", "it", "seemed"]
    lines = []
    for _ in range(900):
        label = rng.choice(["pos", "neg", "mid"])
        words = [rng.choice(filler) for _ in range(rng.randint(3, 9))]
        if label != "mid":
            words.insert(rng.randrange(len(words) + 1), "good" if label == "pos" else "bad")
        lines.append(f"{label}\t{' '.join(words)}")
    path = tmp_path_factory.mktemp("data") / "labelled.tsv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def s2s(data, out, **settings):
    spec = get_task("seq2seq")
    base = dict(
        COMMON,
        data=str(data),
        hidden=32,
        embed_dim=16,
        batch=32,
        steps=400,
        lr=1e-2,
        dropout=0.0,
        beam=3,
        eval_batch=200,
    )
    cfg = override(spec.config(), {**base, **settings})
    return spec, cfg, run_task(spec, cfg, out, log=quiet)


@pytest.fixture(scope="module")
def reverse_run(reverse_tsv, tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "reverse"
    _, _, result = s2s(reverse_tsv, out)
    return out, result


def test_seq2seq_learns_to_reverse_and_reports_its_metrics(reverse_run):
    out, result = reverse_run
    assert result.stopped == "steps"
    metrics = evaluate_trained(get_task("seq2seq"), out, split="test")
    assert {"loss", "bleu", "chrf", "exact_match"} <= metrics.keys()
    assert metrics["exact_match"] > 0.9, metrics
    assert metrics["bleu"] > 50 and metrics["chrf"] > 80


def test_eval_json_and_translate_cli(reverse_run, tmp_path):
    out, _ = reverse_run
    proc = rnnlab("eval", out, "--json")
    result = json.loads(proc.stdout)
    assert result["task"] == "seq2seq" and result["split"] == "test"
    assert {"loss", "bleu", "chrf", "exact_match"} <= result.keys()
    png = tmp_path / "att.png"
    proc = rnnlab("translate", out, "a bb c dd", "f e d c b", "--beam", "2", "--attention-png", png)
    assert proc.stdout.split("\n")[:2] == ["dd c bb a", "b c d e f"]
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    greedy = rnnlab("translate", out, "a bb c dd", "--beam", "1")
    assert greedy.stdout.strip() == "dd c bb a"


def test_translate_refuses_a_checkpoint_of_another_task(tmp_path, labelled_tsv):
    out = tmp_path / "cls"
    spec = get_task("classify")
    cfg = override(spec.config(), dict(COMMON, data=str(labelled_tsv), steps=2, batch=8))
    run_task(spec, cfg, out, log=quiet)
    proc = rnnlab("translate", out, "x", check=False)
    assert proc.returncode == 2 and "not a seq2seq one" in proc.stderr


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_interrupted_seq2seq_run_resumes_to_the_same_weights(
    tmp_path, monkeypatch, reverse_tsv, sig
):
    settings = dict(
        steps=12,
        teacher_forcing=1.0,
        teacher_forcing_final=0.5,
        teacher_forcing_steps=10,
        dropout=0.1,
        checkpoint_every=5,
    )
    spec, _, full = s2s(reverse_tsv, tmp_path / "full", **settings)
    with monkeypatch.context() as m:
        interrupt_at(m, spec.build, 6, sig)
        _, _, part = s2s(reverse_tsv, tmp_path / "part", **settings)
    assert part.stopped == "signal"
    spec, cfg = (
        get_task("seq2seq"),
        override(
            Seq2SeqConfig(),
            dict(
                COMMON,
                data=str(reverse_tsv),
                hidden=32,
                embed_dim=16,
                batch=32,
                lr=1e-2,
                beam=3,
                eval_batch=200,
                **settings,
            ),
        ),
    )
    resumed = run_task(spec, cfg, tmp_path / "part", resume=True, log=quiet)
    assert resumed.step == full.step == 12
    _, a, _, _ = load_trained(spec, tmp_path / "full")
    _, b, _, _ = load_trained(spec, tmp_path / "part")
    for (name, x), (_, y) in zip(a.state_dict().items(), b.state_dict().items(), strict=True):
        assert torch.equal(x, y), name


def test_dates_task_trains_and_holds_out_its_dates(tmp_path):
    spec = get_task("seq2seq")
    cfg = override(
        spec.config(),
        dict(
            COMMON,
            data="dates",
            steps=3,
            batch=8,
            hidden=16,
            embed_dim=8,
            val_size=20,
            test_size=20,
        ),
    )
    run_task(spec, cfg, tmp_path / "d", log=quiet)
    task, _, _, _ = load_trained(spec, tmp_path / "d")
    _, _, refs = task.held_out("test")
    train_dates = {task.text(t) for i in range(20) for t in task.train_batch(i)[1]}
    assert len(refs) == 20 and not set(refs) & train_dates


def test_teacher_forcing_schedules():
    cfg = Seq2SeqConfig(teacher_forcing=1.0, teacher_forcing_final=0.2, teacher_forcing_steps=100)
    assert teacher_forcing_at(cfg, 0) == 1.0 and teacher_forcing_at(cfg, 100) == pytest.approx(0.2)
    assert teacher_forcing_at(cfg, 50) == pytest.approx(0.6)
    assert teacher_forcing_at(cfg, 500) == pytest.approx(0.2)
    for schedule in ("exponential", "inverse_sigmoid"):
        cfg.teacher_forcing_schedule = schedule
        values = [teacher_forcing_at(cfg, i) for i in range(0, 201, 10)]
        assert values == sorted(values, reverse=True) and 0.2 <= values[-1] < 0.22
        assert values[0] > 0.98
    assert teacher_forcing_at(Seq2SeqConfig(teacher_forcing=0.7), 10**6) == 0.7


@pytest.mark.parametrize(
    "content, message",
    [
        (
            "a\tb\nno tab here\n",
            r"bad\.tsv:2: expected source<TAB>target \(one tab\), found no tab",
        ),
        ("a\tb\tc\n", r"bad\.tsv:1: .* found 2 tabs"),
        ("a\tb\n\n \tb\n", r"bad\.tsv:3: expected source<TAB>target, the source is empty"),
        ("a\t \n", r"bad\.tsv:1: .* the target is empty"),
        (b"a\tb\n\xff\xfe\tx\n", r"bad\.tsv:2: not UTF-8"),
    ],
)
def test_malformed_tsv_is_an_error_naming_file_and_line(tmp_path, content, message):
    path = tmp_path / "bad.tsv"
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    proc = rnnlab(
        "train", "seq2seq", "--data", path, "--steps", "1", "--out", tmp_path / "r", check=False
    )
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    import re

    assert re.search(message, proc.stderr), proc.stderr


def test_missing_data_is_a_clear_error(tmp_path):
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "train.tsv").write_text("a\tb\n")
    proc = rnnlab(
        "train",
        "seq2seq",
        "--data",
        tmp_path / "d",
        "--steps",
        "1",
        "--out",
        tmp_path / "r",
        check=False,
    )
    assert proc.returncode == 2 and "without val.tsv, test.tsv" in proc.stderr
    proc = rnnlab(
        "train",
        "classify",
        "--data",
        tmp_path / "none.tsv",
        "--steps",
        "1",
        "--out",
        tmp_path / "r2",
        check=False,
    )
    assert proc.returncode == 2 and "expected sentiment, a TSV file" in proc.stderr


def test_classify_learns_and_the_cli_labels_texts(tmp_path, labelled_tsv):
    spec = get_task("classify")
    cfg = override(
        spec.config(),
        dict(
            COMMON,
            data=str(labelled_tsv),
            steps=120,
            batch=32,
            hidden=16,
            embed_dim=16,
            lr=1e-2,
            min_freq=1,
        ),
    )
    run_task(spec, cfg, tmp_path / "c", log=quiet)
    metrics = json.loads(rnnlab("eval", tmp_path / "c", "--json").stdout)
    assert {"loss", "accuracy", "macro_f1"} <= metrics.keys()
    assert metrics["accuracy"] > 0.9 and metrics["macro_f1"] > 0.9, metrics
    out = rnnlab("classify", tmp_path / "c", "it was a good day", "the bad movie").stdout
    lines = [line.split("\t") for line in out.strip().split("\n")]
    assert [x[0] for x in lines] == ["pos", "neg"]
    assert all(0.33 < float(x[1]) <= 1 for x in lines)
    js = json.loads(rnnlab("classify", tmp_path / "c", "good", "--json").stdout)
    assert js["label"] == "pos" and sum(js["labels"].values()) == pytest.approx(1, abs=1e-6)
    after = rnnlab("classify", tmp_path / "c", "--json", "good", "bad").stdout.splitlines()
    assert [json.loads(x)["label"] for x in after] == ["pos", "neg"]
    proc = rnnlab("classify", tmp_path / "c", "--json", "good", "--nonsense", check=False)
    assert proc.returncode == 2 and "unrecognized arguments: good --nonsense" in proc.stderr


def test_classify_rejects_labels_it_never_saw(tmp_path, labelled_tsv):
    d = tmp_path / "d"
    d.mkdir()
    (d / "train.tsv").write_text("a\tx y\nb\ty z\n")
    (d / "val.tsv").write_text("a\tx\n")
    (d / "test.tsv").write_text("c\tz\n")
    spec = get_task("classify")
    cfg = override(spec.config(), dict(COMMON, data=str(d), steps=1, batch=2, min_freq=1))
    run_task(spec, cfg, tmp_path / "r", log=quiet)
    with pytest.raises(DataError, match=r"labels \['c'\] are not among the training labels"):
        evaluate_trained(spec, tmp_path / "r", split="test")


def test_attention_rows_follow_the_output_ids_unknown_tokens_included(reverse_run):
    from rnnlab.tasks.seq2seq_plot import attention_matrix

    out, _ = reverse_run
    task, model, _, _ = load_trained(get_task("seq2seq"), out)
    unk, a = task.tgt_vocab.unk, task.tgt_vocab.index["a"]
    weights, xs, ys = attention_matrix(task, model, "a z b", [unk, a, unk])
    assert ys == ["<unk>", "a", "<unk>", "</s>"] and weights.shape == (4, 5)
    assert xs == ["a", "␣", "<unk>", "␣", "b"]
    assert abs(weights.sum(-1) - 1).max() < 1e-5
