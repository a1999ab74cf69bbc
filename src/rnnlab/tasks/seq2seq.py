"""seq2seq: sequence to sequence with an attention encoder-decoder (translation, dates).

`rnnlab train seq2seq --data NAME|PATH.tsv|DIR`:

- `dates`: dates as people write them ("Monday, 23rd of November 2026", "11/23/26",
  "le 23 novembre 2026", …) to ISO 8601, drawn by the seeded generator of `rnnlab.data.dates`;
  training batch i is drawn from its own seed, the validation and test sets from dates that
  never occur in training. Character tokens.
- `bible-en-es`: English (King James) to Spanish (Reina-Valera 1909) verses from Debian's
  SWORD modules, whole books held out for validation and test (`rnnlab.data.bible`). Word
  tokens.
- `PATH.tsv`: any parallel corpus of source<TAB>target lines, split into train/val/test by a
  seeded shuffle (`val_fraction`, `test_fraction`); or a directory holding train.tsv,
  val.tsv and test.tsv.

Training pairs longer than `max_len` tokens on either side are left out (held-out pairs never
are). Global batch i is the same on any number of processes: for a corpus, epoch e's order is
`rnnlab.data.batching.bucketed_epoch` (seeded, batches of similar source length). The loss
is the summed cross-entropy of every target token (the end-of-sequence token included).
Teacher forcing may decay on a schedule (scheduled sampling, Bengio et al. 2015):

    linear:          ε_i = ε_0 + (ε_1 − ε_0) · min(i / n, 1)
    exponential:     ε_i = ε_1 + (ε_0 − ε_1) · 0.01^(i / n)
    inverse_sigmoid: ε_i = ε_1 + (ε_0 − ε_1) / (1 + exp(10 (i / n − 1/2)))

with ε_0 = `teacher_forcing`, ε_1 = `teacher_forcing_final`, n = `teacher_forcing_steps`.

Evaluation: `loss` (teacher-forced, per target token), and the decoded outputs (beam search,
`beam`, `length_penalty`, `alpha`) scored by `bleu`, `chrf` (sacrebleu, on detokenized text)
and `exact_match`. The monitored metric is the validation loss.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

import torch
from torch import nn

from rnnlab.config import setting
from rnnlab.data.batching import pad_time_major
from rnnlab.data.parallel import (
    TOKENIZERS,
    TokenVocab,
    detokenize,
    tokenize,
    tsv_splits,
)
from rnnlab.errors import CheckpointError, DataError, InputError
from rnnlab.models.recurrent import RecurrentOptions
from rnnlab.models.seq2seq import ATTENTIONS, SEQ2SEQ_CELLS, Seq2Seq, sequence_loss
from rnnlab.tasks import scores
from rnnlab.tasks.batches import EpochOrder, MicroBatches
from rnnlab.tasks.registry import register
from rnnlab.tasks.sequence import stream_seed
from rnnlab.train.config import TrainConfig
from rnnlab.train.task import RunContext, Task, TaskSpec, format_metrics

BUILTIN = ("dates", "bible-en-es")
SCHEDULES = ("linear", "exponential", "inverse_sigmoid")
_DATES_VOCAB_SAMPLE = 20_000  # training pairs whose characters make the dates vocabulary


@dataclass
class Seq2SeqConfig(RecurrentOptions, TrainConfig):
    """Data, model and decoding of the seq2seq task."""

    data: str = setting("dates", "dates | bible-en-es | PATH.tsv | DIR of train/val/test.tsv")
    tokens: Literal["auto", "char", "word"] = setting(
        "auto", "char | word tokens (auto: char for dates and TSV files, word for bible-en-es)"
    )
    min_freq: int = setting(1, "keep tokens seen at least this often in training (else <unk>)")
    max_vocab: int | None = setting(None, "most tokens per vocabulary besides the specials")
    max_len: int | None = setting(60, "leave out training pairs longer than this (tokens)")
    val_fraction: float = setting(0.05, "TSV file: share of pairs held out for validation")
    test_fraction: float = setting(0.05, "TSV file: share of pairs held out for test")
    val_size: int = setting(1000, "dates: validation pairs")
    test_size: int = setting(2000, "dates: test pairs")
    data_seed: int = setting(0, "seed of the data: split, training order, generated pairs")
    # model
    cell: Literal["lstm", "gru", "rnn"] = setting("lstm", "lstm | gru | rnn")
    embed_dim: int = setting(128, "embedding width (source and target)")
    hidden: int = setting(256, "decoder width (a bidirectional encoder has half per direction)")
    layers: int = setting(1, "encoder and decoder layers")
    bidirectional: bool = setting(True, "bidirectional encoder")
    attention: Literal["general", "additive", "dot", "scaled_dot", "none"] = setting(
        "general", "general | additive | dot | scaled_dot | none"
    )
    input_feeding: bool = setting(True, "feed the attentional state to the next decoder input")
    dropout: float = setting(0.1, "dropout on embeddings, between layers, before the output")
    tie_embeddings: bool = setting(False, "output layer shares the target embedding")
    # teacher forcing / scheduled sampling
    teacher_forcing: float = setting(1.0, "probability of feeding the reference token")
    teacher_forcing_final: float | None = setting(
        None, "teacher forcing at the end of its schedule (none: constant)"
    )
    teacher_forcing_schedule: Literal["linear", "exponential", "inverse_sigmoid"] = setting(
        "linear", "linear | exponential | inverse_sigmoid"
    )
    teacher_forcing_steps: int = setting(2000, "steps over which teacher forcing decays")
    # decoding
    beam: int = setting(5, "beam width of evaluation and translation (1: greedy)")
    length_penalty: Literal["none", "average", "wu"] = setting("wu", "none | average | wu")
    alpha: float = setting(0.6, "exponent of Wu et al.'s length penalty")
    block_ngram: int = setting(0, "forbid repeating n-grams in outputs (0: off)")
    max_output: int | None = setting(None, "longest output in tokens (none: 2 x source + 10)")
    # batches
    batch: int = setting(64, "pairs per optimizer step (global, across processes)")
    eval_batch: int = setting(100, "pairs per evaluation batch")
    steps: int | None = 3000
    lr: float = 2e-3
    eval_every: int = 500
    eval_tokens: int | None = setting(
        None, "validate on the first pairs holding N target tokens (none: all)"
    )
    precision: Literal["auto", "fp32", "bf16"] = "fp32"


def check_seq2seq(cfg: Seq2SeqConfig) -> None:
    """Settings out of range fail before any work (InputError)."""
    problems = []
    for name in ("min_freq", "embed_dim", "hidden", "layers", "batch", "eval_batch", "beam",
                 "val_size", "test_size", "teacher_forcing_steps"):  # fmt: skip
        if getattr(cfg, name) < 1:
            problems.append(f"{name} >= 1, got {getattr(cfg, name)}")
    for name in ("max_len", "max_vocab", "max_output"):
        if getattr(cfg, name) is not None and getattr(cfg, name) < 1:
            problems.append(f"{name} >= 1 or none, got {getattr(cfg, name)}")
    if cfg.tokens not in ("auto", *TOKENIZERS):
        problems.append(f"tokens in auto, char, word, got {cfg.tokens!r}")
    if cfg.cell not in SEQ2SEQ_CELLS:
        problems.append(f"cell in {', '.join(SEQ2SEQ_CELLS)}, got {cfg.cell!r}")
    if cfg.attention not in ATTENTIONS:
        problems.append(f"attention in {', '.join(ATTENTIONS)}, got {cfg.attention!r}")
    if cfg.teacher_forcing_schedule not in SCHEDULES:
        problems.append(f"teacher_forcing_schedule in {', '.join(SCHEDULES)}")
    for name in ("teacher_forcing", "teacher_forcing_final"):
        value = getattr(cfg, name)
        if value is not None and not 0 <= value <= 1:
            problems.append(f"{name} in [0, 1], got {value}")
    if not 0 <= cfg.dropout < 1:
        problems.append(f"dropout in [0, 1), got {cfg.dropout}")
    if cfg.bidirectional and cfg.hidden % 2:
        problems.append(f"an even hidden size with a bidirectional encoder, got {cfg.hidden}")
    if not (0 < cfg.val_fraction < 1 and 0 < cfg.test_fraction < 1) or (
        cfg.val_fraction + cfg.test_fraction >= 1
    ):
        problems.append("val_fraction, test_fraction in (0, 1) with a sum below 1")
    if cfg.batch < cfg.accumulate:
        problems.append(f"batch >= accumulate ({cfg.accumulate}), got {cfg.batch}")
    if problems:
        raise InputError("seq2seq: expected " + "; ".join(problems))


def canonical_seq2seq(cfg: Seq2SeqConfig) -> Seq2SeqConfig:
    """A data path made absolute (so a resume from elsewhere finds it)."""
    if cfg.data not in BUILTIN:
        return replace(cfg, data=str(Path(cfg.data).expanduser().resolve()))
    return cfg


def token_kind(cfg: Seq2SeqConfig) -> str:
    """The tokenizer a run uses: `tokens`, or by data for "auto"."""
    if cfg.tokens != "auto":
        return cfg.tokens
    return "word" if cfg.data == "bible-en-es" else "char"


def teacher_forcing_at(cfg: Seq2SeqConfig, step: int) -> float:
    """ε at training step `step` under the configured schedule."""
    start, final = cfg.teacher_forcing, cfg.teacher_forcing_final
    if final is None or final == start:
        return start
    x = step / cfg.teacher_forcing_steps
    if cfg.teacher_forcing_schedule == "linear":
        return start + (final - start) * min(x, 1.0)
    if cfg.teacher_forcing_schedule == "exponential":
        return final + (start - final) * 0.01**x
    return final + (start - final) / (1 + math.exp(min(10 * (x - 0.5), 700)))


# -- data -------------------------------------------------------------------------------------


def _tsv_splits(cfg: Seq2SeqConfig) -> dict[str, list[tuple[str, str]]]:
    return tsv_splits(
        cfg.data, owner="seq2seq", what="source<TAB>target",
        builtin=f"one of {', '.join(BUILTIN)}", items="pairs",
        val_fraction=cfg.val_fraction, test_fraction=cfg.test_fraction,
        seed=stream_seed(cfg.data_seed, 9, 0),
    )  # fmt: skip


def corpus_splits(cfg: Seq2SeqConfig) -> dict[str, list[tuple[str, str]]]:
    if cfg.data == "bible-en-es":
        from rnnlab.data.bible import bible_splits

        return bible_splits()
    return _tsv_splits(cfg)


class Seq2SeqTask(Task):
    """Batches of (source, target) pairs, an attention encoder-decoder, token cross-entropy."""

    name = "seq2seq"

    def __init__(self, cfg: Seq2SeqConfig, context: RunContext):
        self.cfg = cfg
        self.device = context.device
        self.dist = context.dist
        self.log = context.log
        self.kind = token_kind(cfg)
        self._splits: dict[str, list[tuple[str, str]]] | None = None
        self._held_out: dict[str, tuple[list[list[int]], list[list[int]], list[str]]] = {}
        self.batches = MicroBatches("seq2seq", cfg.batch, cfg.accumulate, self.dist,
                                    self.train_batch)  # fmt: skip
        saved = context.saved
        if saved is not None and "vocab" in saved:
            try:
                self.src_vocab = TokenVocab.from_json(saved["vocab"]["source"])
                self.tgt_vocab = TokenVocab.from_json(saved["vocab"]["target"])
            except (KeyError, TypeError, DataError) as err:
                raise CheckpointError(
                    f"seq2seq: the checkpoint's vocabulary is damaged ({err})"
                ) from None
        else:
            self.src_vocab, self.tgt_vocab = self._build_vocabs()
        self.train_pairs: tuple[list[list[int]], list[list[int]]] | None = None
        self._order: EpochOrder | None = None
        if context.training:
            self.train_pairs = self._encoded_train()

    # -- data ---------------------------------------------------------------------------------

    def splits(self) -> dict[str, list[tuple[str, str]]]:
        """The raw (source, target) pairs of a corpus (not of the generated dates)."""
        if self._splits is None:
            self._splits = corpus_splits(self.cfg)
        return self._splits

    def _dates(self, n: int, split: str, seed: int) -> list[tuple[str, str]]:
        from rnnlab.data.dates import date_pairs

        return date_pairs(n, split=split, seed=seed)

    def _tok(self, text: str) -> list[str]:
        return tokenize(text, self.kind)

    def _build_vocabs(self) -> tuple[TokenVocab, TokenVocab]:
        cfg = self.cfg
        if cfg.data == "dates":
            pairs = self._dates(_DATES_VOCAB_SAMPLE, "train", stream_seed(cfg.data_seed, 8, 0))
        else:
            pairs = self.splits()["train"]
        src = [self._tok(s) for s, _ in pairs]
        tgt = [self._tok(t) for _, t in pairs]
        opts = dict(min_freq=cfg.min_freq, max_size=cfg.max_vocab)
        return TokenVocab.build(src, **opts), TokenVocab.build(tgt, **opts)

    def _encode(self, pairs: list[tuple[str, str]]) -> tuple[list[list[int]], list[list[int]]]:
        src = [self.src_vocab.encode(self._tok(s)) for s, _ in pairs]
        tgt = [self.tgt_vocab.encode(self._tok(t)) for _, t in pairs]
        return src, tgt

    def _encoded_train(self) -> tuple[list[list[int]], list[list[int]]] | None:
        if self.cfg.data == "dates":
            return None  # drawn batch by batch
        raw = self.splits()["train"]
        src, tgt = self._encode(raw)
        limit = self.cfg.max_len
        keep = [i for i in range(len(src))
                if 0 < len(src[i]) and 0 < len(tgt[i])
                and (limit is None or (len(src[i]) <= limit and len(tgt[i]) <= limit))]  # fmt: skip
        if not keep:
            raise DataError(
                f"seq2seq: no training pair of {self.cfg.data} is within max_len {limit} tokens"
            )
        if len(keep) < len(src):
            self.log(f"left out {len(src) - len(keep):,} of {len(src):,} training pairs longer "
                     f"than {limit} tokens")  # fmt: skip
        return [src[i] for i in keep], [tgt[i] for i in keep]

    def _epoch_seed(self, epoch: int) -> int:
        return stream_seed(self.cfg.data_seed, 0, epoch)

    def train_batch(self, index: int) -> tuple[list[list[int]], list[list[int]]]:
        """Global training batch `index`: `batch` (source ids, target ids) pairs."""
        if self.cfg.data == "dates":
            pairs = self._dates(self.cfg.batch, "train", stream_seed(self.cfg.data_seed, 0, index))
            return self._encode(pairs)
        src, tgt = self.train_pairs
        if self._order is None:
            self._order = EpochOrder([len(x) for x in src], self.cfg.batch,
                                     self._epoch_seed)  # fmt: skip
        rows = self._order(index)
        return [src[i] for i in rows], [tgt[i] for i in rows]

    def held_out(self, split: str) -> tuple[list[list[int]], list[list[int]], list[str]]:
        """The split's (source ids, target ids, reference texts)."""
        if split not in ("val", "test"):
            raise InputError(f"seq2seq: expected split val or test, got {split!r}")
        if split not in self._held_out:
            if self.cfg.data == "dates":
                n = self.cfg.val_size if split == "val" else self.cfg.test_size
                stream = 1 if split == "val" else 2
                pairs = self._dates(n, split, stream_seed(self.cfg.data_seed, stream, 0))
            else:
                pairs = self.splits()[split]
            src, tgt = self._encode(pairs)
            self._held_out[split] = (src, tgt, [t for _, t in pairs])
        return self._held_out[split]

    def collate(self, src: list[list[int]], tgt: list[list[int]] | None = None):
        """Padded time-major tensors: src (S, B), lengths (B,), [tgt_in, tgt_out (T+1, B)]."""
        x, lengths = pad_time_major(src, self.src_vocab.pad, empty=self.src_vocab.unk)
        if tgt is None:
            return x.to(self.device), lengths
        bos, eos, pad = self.tgt_vocab.bos, self.tgt_vocab.eos, self.tgt_vocab.pad
        tin, _ = pad_time_major([[bos, *t] for t in tgt], pad)
        tout, _ = pad_time_major([[*t, eos] for t in tgt], pad)
        return x.to(self.device), lengths, tin.to(self.device), tout.to(self.device)

    # -- model --------------------------------------------------------------------------------

    def build_model(self) -> Seq2Seq:
        cfg = self.cfg
        return Seq2Seq(
            len(self.src_vocab),
            len(self.tgt_vocab),
            embed_dim=cfg.embed_dim,
            hidden=cfg.hidden,
            layers=cfg.layers,
            cell=cfg.cell,
            bidirectional=cfg.bidirectional,
            attention=cfg.attention,
            input_feeding=cfg.input_feeding,
            dropout=cfg.dropout,
            tie_embeddings=cfg.tie_embeddings,
            pad=self.tgt_vocab.pad,
            bos=self.tgt_vocab.bos,
            eos=self.tgt_vocab.eos,
            **{k: v for k, v in cfg.recurrent_options().items()
               if k not in ("nonlinearity", "proj_size")},
        )  # fmt: skip

    def meta(self) -> dict[str, Any]:
        return {
            "vocab": {"source": self.src_vocab.to_json(), "target": self.tgt_vocab.to_json()},
            "tokens": self.kind,
        }

    def check_resume(self, saved: dict[str, Any]) -> None:
        vocab = saved.get("vocab") or {}
        if vocab.get("source") != self.src_vocab.to_json() or (
            vocab.get("target") != self.tgt_vocab.to_json()
        ):
            raise CheckpointError(
                "seq2seq: the data's vocabulary differs from the checkpoint's (other data or "
                "tokens?)"
            )

    def describe(self, model: nn.Module) -> str:
        n = sum(p.numel() for p in model.parameters())
        sizes = f"vocabularies {len(self.src_vocab):,} -> {len(self.tgt_vocab):,} {self.kind}s"
        data = self.cfg.data if self.cfg.data in BUILTIN else Path(self.cfg.data).name
        if self.train_pairs is not None:
            data += f" ({len(self.train_pairs[0]):,} training pairs)"
        enc = f"{'bi' if self.cfg.bidirectional else ''}{self.cfg.cell}"
        return (f"{data}; {sizes}; {enc} {self.cfg.layers}x{self.cfg.hidden}, attention "
                f"{self.cfg.attention}, {n:,} parameters")  # fmt: skip

    # -- loss ---------------------------------------------------------------------------------

    def train_loss(self, model: nn.Module) -> tuple[torch.Tensor, int]:
        (src, tgt), rows, index = self.batches.next()
        ratio = teacher_forcing_at(self.cfg, index)
        x, lengths, tin, tout = self.collate(src[rows], tgt[rows])
        logits = model(x, lengths, tin, teacher_forcing=ratio)
        loss, count, _ = sequence_loss(logits, tout, self.tgt_vocab.pad)
        return loss, count

    def decode(self, model: Seq2Seq, src: list[list[int]], **options: Any) -> list[list[int]]:
        """The output ids of each source (beam search with the run's settings, or `options`)."""
        cfg = self.cfg
        settings = {
            "beam": cfg.beam,
            "length_penalty": cfg.length_penalty,
            "alpha": cfg.alpha,
            "block_ngram": cfg.block_ngram,
            **options,
        }
        beam = settings.pop("beam")
        if beam == 1 and settings["block_ngram"] == 0:
            settings = {}
        out: list[list[int]] = []
        for lo in range(0, len(src), cfg.eval_batch):
            part = src[lo : lo + cfg.eval_batch]
            longest = max(len(s) for s in part)
            max_len = cfg.max_output or 2 * longest + 10
            x, lengths = self.collate(part)
            hyps = model.generate(x, lengths, beam=beam, max_len=max_len, **settings)
            out += [h.tokens for h in hyps]
        return out

    def text(self, ids: list[int]) -> str:
        return detokenize(self.tgt_vocab.decode(ids), self.kind)

    @torch.no_grad()
    def evaluate(
        self, model: nn.Module, split: str = "val", *, max_tokens: int | None = None
    ) -> dict[str, float]:
        src, tgt, refs = self.held_out(split)
        if max_tokens is not None:
            total, keep = 0, 0
            while keep < len(tgt) and (keep == 0 or total + len(tgt[keep]) + 1 <= max_tokens):
                total += len(tgt[keep]) + 1
                keep += 1
            src, tgt, refs = src[:keep], tgt[:keep], refs[:keep]
        was_training = model.training
        model.eval()
        loss, count = 0.0, 0
        for lo in range(0, len(src), self.cfg.eval_batch):
            x, lengths, tin, tout = self.collate(
                src[lo : lo + self.cfg.eval_batch], tgt[lo : lo + self.cfg.eval_batch]
            )
            part, n, _ = sequence_loss(model(x, lengths, tin), tout, self.tgt_vocab.pad)
            loss += float(part)
            count += n
        outputs = [self.text(ids) for ids in self.decode(model, src)]
        model.train(was_training)
        return {
            "loss": loss / count,
            "bleu": scores.bleu(outputs, refs),
            "chrf": scores.chrf(outputs, refs),
            "exact_match": scores.exact_match(outputs, refs),
            "count": float(len(src)),
        }

    def translate_ids(self, model: Seq2Seq, texts: list[str], **options: Any) -> list[list[int]]:
        """Output token ids of `texts` (unknown source tokens read as <unk>)."""
        for text in texts:
            if not text.strip():
                raise InputError("translate: expected a non-empty text")
        src = [self.src_vocab.encode(self._tok(t)) for t in texts]
        return self.decode(model, src, **options)

    def translate(self, model: Seq2Seq, texts: list[str], **options: Any) -> list[str]:
        """Outputs of `texts` (unknown source tokens read as <unk>)."""
        return [self.text(ids) for ids in self.translate_ids(model, texts, **options)]

    def state(self) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
        return self.batches.state(), {}

    def load_state(self, meta: dict[str, Any], tensors: dict[str, torch.Tensor]) -> None:
        self.batches.load_state(meta)


def _describe_evaluation(result: dict[str, Any]) -> str:
    return f"seq2seq ({result['split']}): {format_metrics(result)}"


SPEC = register(
    TaskSpec(
        name="seq2seq",
        config=Seq2SeqConfig,
        build=Seq2SeqTask,
        summary="sequence to sequence with attention: dates to ISO 8601, English to Spanish",
        description=__doc__.split("\n\n", 1)[1],
        kind="seq2seq",
        metrics=("loss", "bleu", "chrf", "exact_match"),
        monitor="loss",
        mode="min",
        check=check_seq2seq,
        canonical=canonical_seq2seq,
        describe_evaluation=_describe_evaluation,
    )
)
