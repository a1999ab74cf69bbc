"""Scores of generated text and of predicted labels.

- BLEU (Papineni et al. 2002) and chrF (Popović 2015) are sacrebleu's corpus-level scores
  with its default settings (BLEU: 13a tokenization, exponential smoothing; chrF: character
  6-grams, β = 2), on detokenized text, 0-100.
- exact match: the fraction of outputs equal to their reference (after stripping).
- macro-F1: the mean over classes of 2PR / (P + R) (a class never predicted nor present
  scores 0 and is left out of the mean when it is absent from both).
"""

from __future__ import annotations

from collections.abc import Sequence

from rnnlab.errors import InputError

SACREBLEU_MISSING = (
    "BLEU and chrF need sacrebleu: pip install sacrebleu (or pip install 'rnnlab[text]')"
)


def _sacrebleu():
    try:
        import sacrebleu
    except ImportError:
        raise InputError(SACREBLEU_MISSING) from None
    return sacrebleu


def _check(hypotheses: Sequence[str], references: Sequence[str]) -> None:
    if len(hypotheses) != len(references):
        raise InputError(
            f"scores: expected one reference per output, got {len(hypotheses)} outputs and "
            f"{len(references)} references"
        )


def bleu(hypotheses: Sequence[str], references: Sequence[str]) -> float:
    """Corpus BLEU (sacrebleu), 0-100."""
    _check(hypotheses, references)
    return float(_sacrebleu().corpus_bleu(list(hypotheses), [list(references)]).score)


def chrf(hypotheses: Sequence[str], references: Sequence[str]) -> float:
    """Corpus chrF (sacrebleu), 0-100."""
    _check(hypotheses, references)
    return float(_sacrebleu().corpus_chrf(list(hypotheses), [list(references)]).score)


def exact_match(hypotheses: Sequence[str], references: Sequence[str]) -> float:
    """The fraction of outputs equal to their reference."""
    _check(hypotheses, references)
    if not hypotheses:
        return 0.0
    same = sum(h.strip() == r.strip() for h, r in zip(hypotheses, references, strict=True))
    return same / len(hypotheses)


def macro_f1(predicted: Sequence[int], gold: Sequence[int], classes: int) -> float:
    """Mean F1 over the classes present in `gold` or `predicted`."""
    if len(predicted) != len(gold):
        raise InputError(f"macro_f1: {len(predicted)} predictions for {len(gold)} labels")
    scores = []
    for k in range(classes):
        tp = sum(p == k and g == k for p, g in zip(predicted, gold, strict=True))
        fp = sum(p == k and g != k for p, g in zip(predicted, gold, strict=True))
        fn = sum(p != k and g == k for p, g in zip(predicted, gold, strict=True))
        if tp + fp + fn == 0:
            continue
        scores.append(2 * tp / (2 * tp + fp + fn))
    return sum(scores) / len(scores) if scores else 0.0
