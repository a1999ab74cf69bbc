"""The baselines beside seq2seq and classify: TF-IDF + logistic regression, copy the source."""

import json
import random
import subprocess
import sys
from pathlib import Path

import pytest

from runhelpers import env

BENCH = Path(__file__).resolve().parents[2] / "benchmarks"


def run(script, *args):
    proc = subprocess.run(
        [sys.executable, str(BENCH / script), *map(str, args)],
        capture_output=True, text=True, env=env(), timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_tfidf_baseline_learns_a_keyword_task(tmp_path):
    pytest.importorskip("sklearn")
    rng = random.Random(0)
    lines = []
    for _ in range(600):
        label = rng.choice(["pos", "neg"])
        words = [rng.choice(["a", "day", "film", "was", "it"]) for _ in range(5)]
        words.insert(2, "great" if label == "pos" else "awful")
        lines.append(f"{label}\t{' '.join(words)}")
    path = tmp_path / "l.tsv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = run("classify_baseline.py", "--data", path, "--json")
    assert result["test_accuracy"] == 1.0 and result["test_macro_f1"] == 1.0
    assert result["C"] in (0.25, 0.5, 1.0, 2.0, 4.0, 8.0) and result["machine"]


def test_copy_baseline_scores_the_source_against_the_target(tmp_path):
    pytest.importorskip("sacrebleu")
    path = tmp_path / "p.tsv"
    rows = [f"same words here {i}\tsame words here {i}" for i in range(40)]
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    result = run("copy_baseline.py", "--data", path, "--json")
    assert result["test_exact_match"] == 1.0 and result["test_bleu"] == pytest.approx(100)
    rows = [f"one two three four {i}\tuno dos tres cuatro {i}" for i in range(40)]
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    result = run("copy_baseline.py", "--data", path, "--json")
    assert result["test_exact_match"] == 0.0 and result["test_bleu"] < 20
