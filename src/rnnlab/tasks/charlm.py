"""The character language model as a task: corpus, vocabulary, CharLM, truncated BPTT.

`rnnlab train charlm` trains it on the shared run path (`rnnlab.train.run`); `rnnlab sample`
and `rnnlab eval` use a trained one.
"""

from __future__ import annotations

import json
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from torch import nn

from rnnlab.config import from_dict, override, setting
from rnnlab.data import CORPORA, CharVocab, check_split_sizes, load_corpus, split_ids
from rnnlab.errors import CheckpointError, InputError
from rnnlab.models.charlm import CharLM, CharLMConfig
from rnnlab.models.recurrent import describe_computation
from rnnlab.tasks.charlm_generate import generate, generate_batch
from rnnlab.tasks.lm import LMTask, held_out_loss
from rnnlab.tasks.registry import register
from rnnlab.train.config import TrainConfig
from rnnlab.train.metrics import bits
from rnnlab.train.run import run_task, task_checkpoint
from rnnlab.train.runtime import resolve_device
from rnnlab.train.task import RunContext, TaskSpec
from rnnlab.train.trainer import FitResult

TASK = "charlm"


@dataclass
class CharLMRunConfig(CharLMConfig, TrainConfig):
    """Data and truncated BPTT of the character LM (`rnnlab train charlm`)."""

    steps: int | None = 2000
    data: str = setting(
        "shakespeare-mini",
        "shakespeare | shakespeare-mini | python-stdlib | linux-kernel | PATH to a text file or "
        "directory",
    )
    val_fraction: float = setting(0.05, "fraction of the corpus held out for validation")
    test_fraction: float = setting(0.05, "fraction of the corpus held out for testing")
    batch: int = setting(32, "training streams per batch (global, across processes)")
    seq_len: int = setting(100, "truncated-BPTT length")
    eval_streams: int = setting(32, "held-out text is read as this many parallel streams")
    eval_seq_len: int = setting(256, "window length when evaluating")


def fractions(cfg: CharLMRunConfig) -> tuple[float, float, float]:
    return (1.0 - cfg.val_fraction - cfg.test_fraction, cfg.val_fraction, cfg.test_fraction)


def check_charlm_config(cfg: CharLMRunConfig) -> None:
    """Fail before any work is done when a setting is out of its range (InputError)."""
    for name in ("batch", "seq_len", "eval_streams", "eval_seq_len", "layers", "hidden"):
        if name == "hidden" and cfg.hidden == "auto":
            continue
        if getattr(cfg, name) < 1:
            raise InputError(f"charlm: expected {name} >= 1, got {getattr(cfg, name)}")
    if cfg.accumulate > cfg.batch:
        raise InputError(
            f"charlm: batch {cfg.batch} cannot be split into {cfg.accumulate} micro-batches "
            "(each takes some of the streams)"
        )
    if not (
        0 <= cfg.val_fraction < 1
        and 0 <= cfg.test_fraction < 1
        and cfg.val_fraction + cfg.test_fraction < 1
    ):
        raise InputError(
            "charlm: expected val_fraction and test_fraction in [0, 1) leaving some training "
            f"text, got {cfg.val_fraction} and {cfg.test_fraction}"
        )


def canonical_data(spec: str) -> str:
    """A corpus name as is; a path made absolute, so a run finds it again from anywhere."""
    return spec if spec in CORPORA else str(Path(spec).expanduser().resolve())


def canonical_config(cfg: CharLMRunConfig) -> CharLMRunConfig:
    return override(cfg, {"data": canonical_data(cfg.data)})


def fingerprint(text: str) -> dict[str, int]:
    """Size and CRC-32 of a corpus, to notice on resume that it changed."""
    return {"chars": len(text), "crc32": zlib.crc32(text.encode("utf-8"))}


def prepare_data(cfg: CharLMRunConfig, vocab: CharVocab | None = None):
    """Load the corpus, build (or check against) the vocabulary, encode and split it."""
    corpus = load_corpus(cfg.data)
    if vocab is None:
        vocab = CharVocab.from_text(corpus.text)
    else:
        unseen = vocab.unknown_chars(corpus.text)
        if unseen:
            shown = ", ".join(repr(c) for c in unseen[:10])
            raise CheckpointError(
                f"charlm: the corpus {cfg.data!r} has characters the model's vocabulary "
                f"lacks ({shown}); was it changed since the run started?"
            )
    ids = vocab.encode(corpus.text)
    splits = split_ids(ids, fractions(cfg))
    check_split_sizes(splits, batch_size=cfg.batch, seq_len=cfg.seq_len)
    return corpus, vocab, splits


class CharLMTask(LMTask):
    """Truncated-BPTT language modelling of a character corpus."""

    def __init__(self, cfg: CharLMRunConfig, context: RunContext):
        info = context.dist
        if info.enabled and cfg.batch % info.world_size:
            raise InputError(
                f"charlm: batch {cfg.batch} must divide among {info.world_size} processes"
            )
        saved = context.saved
        if saved is not None and "vocab" not in saved:
            raise CheckpointError("charlm: the checkpoint lacks its vocabulary")
        vocab = CharVocab.from_json(saved["vocab"]) if saved is not None else None
        self.corpus, self.vocab, splits = prepare_data(cfg, vocab)
        self.sizing = None
        if cfg.hidden == "auto":
            cfg = self._size(cfg, context)
        self.cfg = cfg
        self.model_config = CharLMConfig.from_config(cfg)
        super().__init__(
            splits,
            batch_size=cfg.batch,
            seq_len=cfg.seq_len,
            device=context.device,
            eval_streams=cfg.eval_streams,
            eval_seq_len=cfg.eval_seq_len,
            dist_info=info,
            accumulate=cfg.accumulate,
        )

    def _size(self, cfg: CharLMRunConfig, context: RunContext) -> CharLMRunConfig:
        """hidden = "auto": measure this machine and choose the width (`charlm_sizing`); under
        torchrun the first process's choice is every process's."""
        from rnnlab.tasks.charlm_sizing import auto_hidden
        from rnnlab.train import distributed as D

        info = context.dist
        hidden, detail = auto_hidden(
            cfg,
            len(self.vocab),
            batch=max(1, cfg.batch // info.world_size),
            device=context.device,
            dtype=context.dtype,
        )
        if info.enabled:
            shared = D.gather_bytes(json.dumps(detail).encode(), info, context.device)[0]
            detail = json.loads(shared)
            hidden = int(detail["hidden"])
        measured = ", ".join(f"{t:.3f} s at {h}" for h, t in detail["timings"].items())
        context.log(
            f"hidden auto: {hidden} ({detail['parameters']:,} parameters; "
            + (f"a step takes {measured}; " if measured else "")
            + f"the budget buys about {detail['tokens'] / 1e6:.1f}M tokens, "
            + f"{detail['tokens'] / detail['parameters']:.1f} per parameter)"
        )
        self.sizing = detail
        return override(cfg, {"hidden": hidden})

    def chosen_config(self, cfg: CharLMRunConfig) -> CharLMRunConfig:
        return self.cfg

    def build_model(self) -> CharLM:
        model = CharLM(len(self.vocab), self.model_config)
        self.state_dtype = model.decoder.weight.dtype
        return model

    def meta(self) -> dict[str, Any]:
        return {
            **({"sizing": self.sizing} if self.sizing is not None else {}),
            "vocab": self.vocab.to_json(),
            "data": {
                "spec": self.cfg.data,
                "name": self.corpus.name,
                "fingerprint": fingerprint(self.corpus.text),
            },
        }

    def check_resume(self, saved: dict[str, Any]) -> None:
        old = saved.get("data", {}).get("fingerprint")
        if old is not None and old != fingerprint(self.corpus.text):
            raise CheckpointError(
                f"charlm: the corpus {self.cfg.data!r} changed since the run started "
                f"(now {len(self.corpus.text):,} characters, the run had {old['chars']:,}); "
                "resuming on other text would not continue the run"
            )

    def describe(self, model: nn.Module) -> str:
        cfg = self.cfg
        n_params = sum(p.numel() for p in model.parameters())
        sizes = " / ".join(f"{k} {len(v):,}" for k, v in self.splits.items())
        return (
            f"{self.corpus.name} ({len(self.corpus.text):,} chars, vocabulary "
            f"{len(self.vocab)}; {sizes}); {cfg.cell} {cfg.layers}x{cfg.hidden}, "
            f"{n_params:,} parameters, " + describe_computation(model.rnn)
        )


def train_charlm(
    cfg: CharLMRunConfig,
    out: str | Path,
    *,
    resume: bool = False,
    explicit: dict[str, Any] | None = None,
    log=print,
) -> FitResult:
    """Train (or resume) a character LM run in directory `out` (see `run_task`)."""
    return run_task(SPEC, cfg, out, resume=resume, explicit=explicit, log=log)


# -- using a trained model --------------------------------------------------------------------


def load_charlm(path: str | Path, device: str = "cpu"):
    """Load a trained CharLM from a run directory or checkpoint file.

    Returns (model in eval mode, vocabulary, run config, checkpoint).
    """
    ckpt = task_checkpoint(SPEC, path)
    if "vocab" not in ckpt.meta:
        raise CheckpointError(f"charlm: {ckpt.path} lacks its vocabulary")
    cfg = from_dict(CharLMRunConfig, ckpt.meta["config"])
    vocab = CharVocab.from_json(ckpt.meta["vocab"])
    model = CharLM(len(vocab), CharLMConfig.from_config(cfg))
    try:
        model.load_state_dict(ckpt.model_state)
    except RuntimeError as err:
        raise CheckpointError(
            f"{ckpt.path}: weights do not match the saved config: {err}"
        ) from None
    model.to(resolve_device(device)).eval()
    return model, vocab, cfg, ckpt


def sample_checkpoint(path: str | Path, *, device: str = "cpu", **options) -> str:
    """`generate` from the model in a run directory or checkpoint file (`rnnlab sample`)."""
    model, vocab, _, _ = load_charlm(path, device)
    return generate(model, vocab, **options)


def sample_checkpoint_batch(
    path: str | Path, *, device: str = "cpu", seeds: list[int], **options
) -> list[str]:
    """`generate_batch`, one sample per seed, from a checkpoint (`rnnlab sample -n N`)."""
    model, vocab, _, _ = load_charlm(path, device)
    return generate_batch(model, vocab, seeds=seeds, **options)


def evaluate_checkpoint(
    path: str | Path,
    data: str | None = None,
    *,
    split: str = "test",
    device: str = "cpu",
    unknown: str = "error",
    replacement: str | None = None,
):
    """Held-out loss of a checkpoint.

    `data` None: the `split` ("test" or "val") of the run's own data, split as in training;
    a named corpus: that split of it (fractions as in training); a path: the whole text of
    that file or directory. Characters the model never saw raise an error listing them, or
    are dropped or replaced (unknown="drop"/"replace").
    Returns {"loss", "bpc", "tokens", "data", "split"}.
    """
    model, vocab, cfg, _ = load_charlm(path, device)
    if split not in ("test", "val"):
        raise InputError(f"eval: expected split test or val, got {split!r}")
    spec = data or cfg.data
    ids = vocab.encode(load_corpus(spec).text, unknown=unknown, replacement=replacement)
    if data is None or data in CORPORA:
        ids = split_ids(ids, fractions(cfg))[split]
    else:
        split = "all"
    if len(ids) < 2:
        raise InputError(f"eval: the {split} text of {spec} is too short (needs 2 characters)")
    result = held_out_loss(
        model, ids, cfg.eval_streams, cfg.eval_seq_len, model.decoder.weight.device
    )
    return {**result, "bpc": bits(result["loss"]), "data": spec, "split": split}


def describe_evaluation(result: dict[str, Any]) -> str:
    """The readable line of `rnnlab eval` for a character LM."""
    return (
        f"{result['data']} ({result['split']}, {int(result['tokens']):,} characters): "
        f"loss {result['loss']:.4f} nats/char, {result['bpc']:.4f} bits/char"
    )


SPEC = register(
    TaskSpec(
        name=TASK,
        config=CharLMRunConfig,
        build=CharLMTask,
        summary="character-level language model (truncated BPTT)",
        description=(
            "Train a character-level language model with truncated BPTT on any UTF-8 text. "
            "The recurrent state is carried, detached, from one window to the next."
        ),
        kind="lm",
        metrics=("loss", "bpc"),
        check=check_charlm_config,
        canonical=canonical_config,
        evaluate=evaluate_checkpoint,
        describe_evaluation=describe_evaluation,
        sample=sample_checkpoint,
        sample_batch=sample_checkpoint_batch,
        options=("data", "unknown", "replacement"),
    )
)
