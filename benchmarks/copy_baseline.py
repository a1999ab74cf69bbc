"""The copy-the-source baseline of a seq2seq task: BLEU, chrF and exact match of outputs that
are the source text itself, on the task's held-out splits (the floor a translation must beat;
names, numbers and shared words already score some BLEU).

    python benchmarks/copy_baseline.py --data bible-en-es
    python benchmarks/copy_baseline.py --data pairs.tsv --json
"""

from __future__ import annotations

import argparse
import json

from rnnlab.tasks import scores
from rnnlab.tasks.seq2seq import Seq2SeqConfig, corpus_splits


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", default="bible-en-es", help="bible-en-es | PATH.tsv | DIR")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    splits = corpus_splits(Seq2SeqConfig(data=args.data))
    result = {"model": "copy the source", "data": args.data}
    for split in ("val", "test"):
        sources = [s for s, _ in splits[split]]
        refs = [t for _, t in splits[split]]
        result[f"{split}_bleu"] = scores.bleu(sources, refs)
        result[f"{split}_chrf"] = scores.chrf(sources, refs)
        result[f"{split}_exact_match"] = scores.exact_match(sources, refs)
        result[f"{split}_pairs"] = len(refs)
    if args.json:
        print(json.dumps(result))
    else:
        for key, value in result.items():
            print(f"{key}: {value:.4f}" if isinstance(value, float) else f"{key}: {value}")


if __name__ == "__main__":
    main()
