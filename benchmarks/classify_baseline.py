"""The classic baseline of `rnnlab train classify`: TF-IDF features and logistic regression.

On exactly the task's split (`rnnlab.tasks.classify.labelled_splits`, same lower-casing and
word tokens), scikit-learn's TfidfVectorizer (word 1-2-grams, sublinear tf, min_df 2) and
LogisticRegression, its C chosen on the validation macro-F1 from a small grid; reports
validation and test accuracy and macro-F1 (rnnlab's own definition) and the time taken.

    python benchmarks/classify_baseline.py                      # the sentiment tweets
    python benchmarks/classify_baseline.py --data labelled.tsv --json
"""

from __future__ import annotations

import argparse
import json
import time

from rnnlab.data.parallel import tokenize
from rnnlab.machine import describe_machine, machine_info
from rnnlab.tasks.classify import ClassifyConfig, labelled_splits
from rnnlab.tasks.scores import macro_f1

GRID = (0.25, 0.5, 1.0, 2.0, 4.0, 8.0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", default="sentiment", help="sentiment | PATH.tsv | DIR")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    try:
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.linear_model import LogisticRegression
    except ImportError:
        raise SystemExit("the baseline needs scikit-learn: pip install scikit-learn") from None

    cfg = ClassifyConfig(data=args.data)
    splits = labelled_splits(cfg)
    labels = sorted({label for label, _ in splits["train"]})
    index = {label: i for i, label in enumerate(labels)}

    def words(text: str) -> list[str]:
        return tokenize(text.lower(), "word")

    start = time.perf_counter()
    vectorizer = TfidfVectorizer(
        tokenizer=words, lowercase=False, token_pattern=None, ngram_range=(1, 2), min_df=2,
        sublinear_tf=True,
    )  # fmt: skip
    x = {s: None for s in splits}
    y = {s: [index[label] for label, _ in splits[s]] for s in splits}
    x["train"] = vectorizer.fit_transform([t for _, t in splits["train"]])
    for s in ("val", "test"):
        x[s] = vectorizer.transform([t for _, t in splits[s]])
    best = None
    for c in GRID:
        model = LogisticRegression(C=c, max_iter=3000).fit(x["train"], y["train"])
        f1 = macro_f1(model.predict(x["val"]).tolist(), y["val"], len(labels))
        if best is None or f1 > best[0]:
            best = (f1, c, model)
    _, c, model = best
    result = {"model": "tfidf word 1-2-grams + logistic regression", "C": c, "data": args.data}
    for s in ("val", "test"):
        predicted = model.predict(x[s]).tolist()
        result[f"{s}_accuracy"] = sum(p == g for p, g in zip(predicted, y[s], strict=True)) / len(
            predicted
        )
        result[f"{s}_macro_f1"] = macro_f1(predicted, y[s], len(labels))
    result["seconds"] = time.perf_counter() - start
    result["train_texts"] = len(y["train"])
    result["features"] = len(vectorizer.vocabulary_)
    result["machine"] = describe_machine(machine_info("cpu"))
    if args.json:
        print(json.dumps(result))
    else:
        for key, value in result.items():
            print(f"{key}: {value:.4f}" if isinstance(value, float) else f"{key}: {value}")


if __name__ == "__main__":
    main()
