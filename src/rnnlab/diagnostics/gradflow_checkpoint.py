"""Gradient flow of a trained model: a checkpoint, its input and its loss.

* A character LM (`rnnlab train charlm`) reads a text: ``text`` (encoded with the
  checkpoint's vocabulary; characters it never saw are an error listing them, or dropped or
  replaced with ``unknown``), or by default the start of its run's test split. The first
  ``length`` + 1 characters give T = ``length`` inputs and their next characters; the loss is
  the cross-entropy of the last prediction (``loss="last"``) or the sum over the T of them
  (``loss="sum"``).
* A sequence task (adding, copy, pixel, recall) reads the first ``batch`` sequences of its
  test set, with the task's own loss (squared error or cross-entropy): at the last step, or
  summed over the steps of a task that reads out at every step (copy); the others read out
  at the last step only, where both are the same.

Models without a recurrent state (a TCN) and tasks of other shapes (classify's bidirectional
encoder, seq2seq's encoder and decoder) are clear errors.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F

from rnnlab.diagnostics.gradflow import GradFlow, gradient_flow
from rnnlab.errors import InputError

LOSSES = ("last", "sum")


def _charlm_input(path, text, length, unknown, replacement, device):
    """(model, ids (T + 1,), description) of a character LM and its text."""
    from rnnlab.data import load_corpus, split_ids
    from rnnlab.tasks.charlm import fractions, load_charlm

    model, vocab, cfg, _ = load_charlm(path, device)
    if text is None:
        ids = split_ids(vocab.encode(load_corpus(cfg.data).text), fractions(cfg))["test"]
        where = f"the test split of {cfg.data}"
    else:
        if not text:
            raise InputError(
                "gradflow: the text is empty; expected at least 2 characters (an input and "
                "the character it predicts)"
            )
        ids = vocab.encode(text, unknown=unknown, replacement=replacement)
        where = "the text"
    if len(ids) < 2:
        raise InputError(
            f"gradflow: {where} has {len(ids)} usable character(s); expected at least 2 (an "
            "input and the character it predicts)"
        )
    ids = torch.as_tensor(ids[: length + 1], dtype=torch.long)
    return model, ids, f"{len(ids) - 1} characters of {where}"


def checkpoint_gradflow(
    path: str | Path,
    *,
    text: str | None = None,
    length: int = 300,
    loss: str = "last",
    batch: int = 8,
    norm: str = "spectral",
    device: str = "cpu",
    unknown: str = "error",
    replacement: str | None = None,
    progress: bool = False,
) -> GradFlow:
    """`gradient_flow` of the model in a checkpoint on its input (module docstring).

    Args:
        path: a run directory (its latest checkpoint) or a checkpoint file.
        text: character LMs: the text to read (None: the run's test split).
        length: character LMs: at most this many steps T.
        loss: "last" (the loss of the last step) or "sum" (summed over the steps).
        batch: sequence tasks: how many test sequences (the norms are their means).
        norm: the Jacobian norm, "spectral" or "fro".
        device: where to compute ("cpu", "cuda", "auto").
        unknown, replacement: character LMs: characters outside the vocabulary ("error",
            "drop" or "replace" with `replacement`).
        progress: show a tqdm bar (when stderr is a terminal).

    Returns:
        A `GradFlow`; `source` says what was read.
    """
    from rnnlab.tasks import task_of
    from rnnlab.tasks.sequence import SequenceTaskConfig
    from rnnlab.train.checkpoint import load_meta
    from rnnlab.train.run import load_trained

    if loss not in LOSSES:
        raise InputError(f"gradflow: expected loss in {', '.join(LOSSES)}, got {loss!r}")
    for name, value in (("length", length), ("batch", batch)):
        if value < 1:
            raise InputError(f"gradflow: expected {name} >= 1, got {value}")
    spec = task_of(path)
    if spec.name == "charlm":
        model, ids, source = _charlm_input(path, text, length, unknown, replacement, device)
        ids = ids.to(model.decoder.weight.device)

        def charlm_loss(m):
            logits, _ = m(ids[:-1, None])  # (T, 1, V)
            terms = F.cross_entropy(logits[:, 0], ids[1:], reduction="none")  # (T,)
            return terms[-1] if loss == "last" else terms.sum()

        T = len(ids) - 1
        source += "; loss of the last prediction" if loss == "last" else f"; loss of all {T}"
        return gradient_flow(model, charlm_loss, norm=norm, source=source, progress=progress)
    if not issubclass(spec.config, SequenceTaskConfig):
        raise InputError(
            f"gradflow: takes a charlm checkpoint or one of a sequence task (adding, copy, "
            f"pixel, recall); {path} is a {spec.name} checkpoint, whose model is not supported"
        )
    if text is not None:
        raise InputError(
            f"gradflow: a checkpoint of the {spec.name} task takes no --text; its input is a "
            "batch of the task's test set (--batch)"
        )
    kind = (load_meta(path).get("config") or {}).get("model")
    if kind == "tcn":
        raise InputError(
            f"gradflow: {path} holds a TCN ({spec.name} --model tcn), a convolutional network "
            "with no recurrent state to follow through time; expected a checkpoint of a "
            "recurrent model (--model lstm, gru or rnn)"
        )
    task, model, _, _ = load_trained(spec, path, device)
    x, y = task.held_out("test")
    x, y = x[:batch].to(task.device), y[:batch].to(task.device)
    last_only = task.every_step and loss == "last"  # (B, T, K) read-outs: keep step T

    def task_loss(m):
        out = m(x)  # (B, K) or (B, T, K)
        if last_only:
            return task.loss_terms(out[:, -1:], y[:, -1:])[0]
        return task.loss_terms(out, y)[0]

    source = f"{len(x)} sequences of the {spec.name} test set (T = {x.shape[1]})"
    if not task.every_step:
        source += "; loss of the read-out at the last step"
    else:
        source += "; loss at the last step" if loss == "last" else "; loss summed over the steps"
    return gradient_flow(model, task_loss, norm=norm, source=source, progress=progress)
