"""The character language model, end to end: data, model, training run, sampling, evaluation."""

from __future__ import annotations

import gc
import random
import zlib
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import torch

from rnnlab import __version__
from rnnlab.config import from_dict, override
from rnnlab.data import CORPORA, CharVocab, check_split_sizes, load_corpus, split_ids
from rnnlab.decoding import check_sampling, sample
from rnnlab.errors import CheckpointError, InputError
from rnnlab.models.charlm import CharLM, CharLMConfig
from rnnlab.train import distributed as D
from rnnlab.train.checkpoint import find_checkpoint, has_checkpoints, load_checkpoint
from rnnlab.train.config import TrainConfig, check_train_config
from rnnlab.train.lm_task import LMTask, held_out_loss
from rnnlab.train.metrics import bits
from rnnlab.train.runtime import precision_name, resolve_device, resolve_precision
from rnnlab.train.trainer import FitResult, Trainer

TASK = "charlm"


@dataclass
class CharLMRunConfig(TrainConfig, CharLMConfig):
    """Everything `rnnlab train charlm` needs: data, model (CharLMConfig), training."""

    steps: int | None = 2000
    data: str = "shakespeare-mini"  # a named corpus or a path to a text file or directory
    val_fraction: float = 0.05
    test_fraction: float = 0.05
    batch: int = 32  # training streams (global, across processes)
    seq_len: int = 100  # truncated-BPTT window
    eval_streams: int = 32
    eval_seq_len: int = 256


# settings that may change when a run is resumed; any other difference is a mismatch
RESUMABLE = frozenset(
    {
        "steps",
        "minutes",
        "eval_every",
        "eval_tokens",
        "patience",
        "log_every",
        "checkpoint_every",
        "checkpoint_minutes",
        "keep_checkpoints",
        "progress",
        "device",
        "threads",
        "precision",
    }
)


def fractions(cfg: CharLMRunConfig) -> tuple[float, float, float]:
    return (1.0 - cfg.val_fraction - cfg.test_fraction, cfg.val_fraction, cfg.test_fraction)


def check_charlm_config(cfg: CharLMRunConfig) -> None:
    """Fail before any work is done when a setting is out of its range (InputError)."""
    check_train_config(cfg)
    for name in ("batch", "seq_len", "eval_streams", "eval_seq_len", "layers", "hidden"):
        if getattr(cfg, name) < 1:
            raise InputError(f"charlm: expected {name} >= 1, got {getattr(cfg, name)}")
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


def resume_config(saved: dict[str, Any], explicit: dict[str, Any]) -> CharLMRunConfig:
    """The saved run's config with the explicitly given settings applied.

    Only budget, logging and runtime settings may change on resume; any other difference
    raises CheckpointError listing the settings.
    """
    base = from_dict(CharLMRunConfig, saved)
    if "data" in explicit:
        explicit = {**explicit, "data": canonical_data(str(explicit["data"]))}
    cfg = override(base, explicit)
    changed = [
        f"{f.name}: run has {getattr(base, f.name)!r}, asked for {getattr(cfg, f.name)!r}"
        for f in fields(cfg)
        if f.name not in RESUMABLE and getattr(base, f.name) != getattr(cfg, f.name)
    ]
    if changed:
        raise CheckpointError(
            "charlm: cannot resume with different settings (" + "; ".join(changed) + "); "
            "drop those flags or start a new run with another --out"
        )
    return cfg


def train_charlm(
    cfg: CharLMRunConfig,
    out: str | Path,
    *,
    resume: bool = False,
    explicit: dict[str, Any] | None = None,
    log=print,
) -> FitResult:
    """Train (or resume) a character LM run in directory `out`.

    Args:
        cfg: the run configuration (ignored on resume except for `explicit` settings).
        out: the run directory.
        resume: continue the run in `out` from its latest checkpoint; a directory without one
            starts a fresh run (and says so).
        explicit: settings the user gave explicitly (flags, preset); on resume these override
            the saved config where allowed.
        log: where one-line messages go.
    """
    out = Path(out)
    cfg = override(cfg, {"data": canonical_data(cfg.data)})
    ckpt = None
    if resume:
        if has_checkpoints(out):
            ckpt = load_checkpoint(find_checkpoint(out))
        else:
            log(f"--resume: no checkpoint in {out}; starting a fresh run")
        if ckpt is not None:
            if ckpt.meta.get("task") != TASK:
                raise CheckpointError(
                    f"charlm: {ckpt.path} is a {ckpt.meta.get('task')!r} checkpoint, "
                    "not a charlm one"
                )
            if "config" not in ckpt.meta or "vocab" not in ckpt.meta:
                raise CheckpointError(f"charlm: {ckpt.path} lacks its config or vocabulary")
            cfg = resume_config(ckpt.meta["config"], explicit or {})
    elif has_checkpoints(out):
        raise InputError(
            f"charlm: {out} already holds a run; pass --resume to continue it, "
            "or --out to start a new one elsewhere"
        )
    check_charlm_config(cfg)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    device, info = resolve_device(cfg.device), D.DistInfo()
    try:
        info, device = D.setup(device)
        if info.enabled and cfg.batch % info.world_size:
            raise InputError(
                f"charlm: batch {cfg.batch} must divide among {info.world_size} processes"
            )
        dtype = resolve_precision(cfg.precision, device)
        if not info.is_main:
            log = _silent
        vocab = CharVocab.from_json(ckpt.meta["vocab"]) if ckpt else None
        corpus, vocab, splits = _load_data_in_order(cfg, vocab, info)
        if ckpt is not None:
            saved = ckpt.meta.get("data", {}).get("fingerprint")
            if saved is not None and saved != fingerprint(corpus.text):
                raise CheckpointError(
                    f"charlm: the corpus {cfg.data!r} changed since the run started "
                    f"(now {len(corpus.text):,} characters, the run had {saved['chars']:,}); "
                    "resuming on other text would not continue the run"
                )
        torch.manual_seed(cfg.seed)
        model = CharLM(len(vocab), CharLMConfig.from_config(cfg)).to(device)
        torch.manual_seed(cfg.seed + 1 + info.rank)
        task = LMTask(
            splits,
            batch_size=cfg.batch,
            seq_len=cfg.seq_len,
            device=device,
            eval_streams=cfg.eval_streams,
            eval_seq_len=cfg.eval_seq_len,
            dist_info=info,
            state_dtype=model.decoder.weight.dtype,
        )
        meta = {
            "task": TASK,
            "rnnlab_version": __version__,
            "vocab": vocab.to_json(),
            "data": {
                "spec": cfg.data,
                "name": corpus.name,
                "fingerprint": fingerprint(corpus.text),
            },
        }
        trainer = Trainer(
            model,
            task,
            cfg,
            out,
            meta=meta,
            device=device,
            dtype=dtype,
            dist_info=info,
            resume=ckpt,
            log=log,
        )
        n_params = sum(p.numel() for p in model.parameters())
        sizes = " / ".join(f"{k} {len(v):,}" for k, v in splits.items())
        log(
            f"charlm: {corpus.name} ({len(corpus.text):,} chars, vocabulary {len(vocab)}; "
            f"{sizes}); {cfg.cell} {cfg.layers}x{cfg.hidden}, {n_params:,} parameters, "
            f"backend {model.rnn.selected_backend().name}; {device}, {precision_name(dtype)}"
            + (f", {info.world_size} processes" if info.enabled else "")
        )
        budget = " and ".join(
            b
            for b in (
                f"{cfg.steps} steps" if cfg.steps else "",
                f"{cfg.minutes:g} minutes" if cfg.minutes else "",
            )
            if b
        )
        if ckpt is not None:
            log(f"resuming {ckpt.path} at step {trainer.step} (budget {budget})")
        else:
            log(f"training for {budget} into {out}")
        result = trainer.fit()
        if info.enabled:
            # Drop the DDP wrapper (it holds the process group) before leaving the group, so
            # gloo's threads stop now rather than in the interpreter's shutdown.
            del trainer, task, model
            gc.collect()
    except BaseException:
        D.teardown(clean=False)
        raise
    D.teardown(clean=True)
    return result


def _silent(*args, **kwargs) -> None:
    return None


def _load_data_in_order(cfg, vocab, info: D.DistInfo):
    """Rank 0 loads first (it may download and cache the corpus), the others after it."""
    if not info.enabled:
        return prepare_data(cfg, vocab)
    import torch.distributed as dist

    if info.is_main:
        data = prepare_data(cfg, vocab)
        dist.barrier()
        return data
    dist.barrier()
    return prepare_data(cfg, vocab)


# -- using a trained model --------------------------------------------------------------------


def load_charlm(path: str | Path, device: str = "cpu"):
    """Load a trained CharLM from a run directory or checkpoint file.

    Returns (model in eval mode, vocabulary, run config, checkpoint).
    """
    ckpt = load_checkpoint(find_checkpoint(path))
    if ckpt.meta.get("task") != TASK:
        raise CheckpointError(
            f"{ckpt.path}: expected a charlm checkpoint, got {ckpt.meta.get('task')!r}"
        )
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


def encode_prime(
    vocab: CharVocab, prime: str, *, unknown: str = "error", replacement: str | None = None
) -> list[int]:
    """The prime's ids; unknown characters raise (listing them), or are dropped/replaced."""
    ids = vocab.encode(prime, unknown=unknown, replacement=replacement).tolist()
    if prime and not ids:
        raise InputError("sample: the prime has no character the model knows")
    return ids


@torch.inference_mode()
def generate(
    model: CharLM,
    vocab: CharVocab,
    *,
    prime: str = "",
    length: int = 500,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    seed: int | None = None,
    unknown: str = "error",
    replacement: str | None = None,
    on_text=None,
) -> str:
    """Sample `length` characters after `prime`, calling `on_text(chunk)` as they come.

    The prime is checked first, then passed to `on_text` (so a caller that prints it prints
    nothing for a bad prime). An empty prime starts from a newline when the vocabulary has
    one, else from a uniformly drawn character. Characters of the prime the model never saw
    raise an error listing them (or are dropped/replaced, with unknown="drop"/"replace").
    Without a seed the draws come from a fresh random seed (the global RNG is not touched).
    Returns the generated text (without the prime).
    """
    check_sampling(temperature, top_k, top_p)
    if length < 0:
        raise InputError(f"sample: expected length >= 0, got {length}")
    ids = encode_prime(vocab, prime, unknown=unknown, replacement=replacement)
    emit = on_text if on_text is not None else (lambda text: None)
    emit(prime)
    device = model.decoder.weight.device
    gen = torch.Generator(device=device)
    gen.manual_seed(seed if seed is not None else random.SystemRandom().randrange(2**63))
    if not ids:
        ids = vocab.encode("\n").tolist() if "\n" in vocab.chars else []
    if not ids:
        ids = [int(torch.randint(len(vocab), (1,), generator=gen, device=device))]
    model.eval()
    logits, state = model(torch.as_tensor(ids, device=device).view(-1, 1))  # (P, 1, V)
    out = []
    for i in range(length):
        nxt = sample(logits[-1], temperature=temperature, top_k=top_k, top_p=top_p, generator=gen)
        out.append(vocab.decode(nxt.tolist()))
        emit(out[-1])
        if i + 1 < length:
            logits, state = model(nxt.view(1, 1), state)
    return "".join(out)


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
