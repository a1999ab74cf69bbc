"""A NumPy character-level language model trained with truncated BPTT, and its sampler."""

from __future__ import annotations

import math

import numpy as np

from rnnlab.errors import InputError
from rnnlab.reference import _cells
from rnnlab.reference._checks import expect_choice
from rnnlab.reference.clip import clip_by_global_norm, clip_by_value
from rnnlab.reference.optim import Adagrad, Adam
from rnnlab.reference.tbptt import readout_loss_and_grads


class _CharVocab:
    """Sorted set of the characters of a text, with encode/decode between text and ids."""

    def __init__(self, chars: str):
        self.chars = chars
        self.index = {ch: i for i, ch in enumerate(chars)}

    @classmethod
    def from_text(cls, text: str) -> _CharVocab:
        """The vocabulary of every distinct character in `text`, sorted."""
        return cls("".join(sorted(set(text))))

    def encode(self, text: str) -> list[int]:
        """Ids of the characters of `text`; raises InputError for an unknown character."""
        try:
            return [self.index[ch] for ch in text]
        except KeyError as err:
            raise InputError(
                f"NumpyCharLM.encode: character {err.args[0]!r} not in vocab"
            ) from None

    def decode(self, ids) -> str:
        """The text spelled by `ids`."""
        return "".join(self.chars[i] for i in ids)


class NumpyCharLM:
    """One-layer recurrent character language model in NumPy: input map, cell, softmax readout.

    Math, for a sequence of character ids c_1..c_T:
        x_t = onehot(c_t) (I = V), or E[c_t] with an embedding table E (V, I)
        hs, state_T = cell(x, state_0)
        p(c_{t+1} | c_1..c_t) = softmax(W_out h_t + b_out)

    Parameters (`self.params`, float64): w_ih (G·H, I), w_hh (G·H, H), b_ih, b_hh (G·H,),
    w_out (V, H), b_out (V,), and embed (V, I) when an embedding is used. The cell weights are
    drawn like torch's, U(−1/√H, 1/√H); the embedding from N(0, 1); the readout bias is zero.

    Args:
        vocab_size: V, number of distinct characters.
        hidden_size: H.
        cell: "lstm", "gru", "rnn_tanh" or "rnn_relu".
        embedding_size: size I of a learned embedding; None for one-hot inputs.
        seed: seed of the generator drawing the initial parameters.
        chars: optional string of the V characters, enabling `encode` and `decode`.
    """

    def __init__(
        self,
        vocab_size: int,
        hidden_size: int,
        *,
        cell: str = "lstm",
        embedding_size: int | None = None,
        seed: int = 0,
        chars: str | None = None,
    ):
        fn = "NumpyCharLM"
        _cells.check_cell(fn, cell)
        if vocab_size < 1 or hidden_size < 1 or (embedding_size is not None and embedding_size < 1):
            raise InputError(
                f"{fn}: expected positive sizes, got vocab_size={vocab_size}, "
                f"hidden_size={hidden_size}, embedding_size={embedding_size}"
            )
        if chars is not None and len(chars) != vocab_size:
            raise InputError(f"{fn}: expected {vocab_size} chars, got {len(chars)}")
        self.vocab_size, self.hidden_size, self.cell = vocab_size, hidden_size, cell
        self.vocab = None if chars is None else _CharVocab(chars)
        rng = np.random.default_rng(seed)
        inputs = vocab_size if embedding_size is None else embedding_size
        gh = _cells.gates(cell) * hidden_size
        k = 1 / math.sqrt(hidden_size)
        self.params = {
            "w_ih": rng.uniform(-k, k, (gh, inputs)),
            "w_hh": rng.uniform(-k, k, (gh, hidden_size)),
            "b_ih": rng.uniform(-k, k, gh),
            "b_hh": rng.uniform(-k, k, gh),
            "w_out": rng.uniform(-k, k, (vocab_size, hidden_size)),
            "b_out": np.zeros(vocab_size),
        }
        if embedding_size is not None:
            self.params["embed"] = rng.standard_normal((vocab_size, embedding_size))

    def init_state(self, batch: int = 1):
        """Zero state for `batch` streams: h (B, H), or (h, c) for the LSTM."""
        return _cells.init_state(self.cell, batch, self.hidden_size)

    def encode(self, text: str) -> list[int]:
        """Character ids of `text` (needs `chars`)."""
        return self._vocab("encode").encode(text)

    def decode(self, ids) -> str:
        """Text of character ids (needs `chars`)."""
        return self._vocab("decode").decode(ids)

    def _vocab(self, method: str) -> _CharVocab:
        """The character vocabulary; raises InputError naming `method` when there is none."""
        if self.vocab is None:
            raise InputError(f"NumpyCharLM.{method}: the model was built without chars")
        return self.vocab

    def _ids(self, fn: str, name: str, ids) -> np.ndarray:
        """`ids` as an integer array (T, B), a 1-D sequence read as one stream (T, 1)."""
        ids = np.asarray(ids)
        if ids.ndim == 1:
            ids = ids[:, None]
        if ids.ndim != 2 or not np.issubdtype(ids.dtype, np.integer):
            raise InputError(f"{fn}: expected {name} as integer ids of shape (T,) or (T, B)")
        if ids.size and (ids.min() < 0 or ids.max() >= self.vocab_size):
            raise InputError(f"{fn}: expected {name} in [0, {self.vocab_size})")
        return ids

    def _embed(self, ids: np.ndarray) -> np.ndarray:
        """Input vectors x (T, B, I) of ids (T, B)."""
        if "embed" in self.params:
            return self.params["embed"][ids]
        return np.eye(self.vocab_size)[ids]

    def loss_and_grads(self, inputs, targets, state=None):
        """Mean next-character cross-entropy of one chunk and its gradients by full BPTT.

        Math: L = −(1 / (T·B)) Σ_{t,b} log p(targets_tb | inputs_1b..inputs_tb, state).

        Args:
            inputs: character ids, (T,) or (T, B).
            targets: the ids to predict at each step (usually inputs shifted by one), same shape.
            state: state entering the chunk (treated as a constant), or None for zeros.

        Returns:
            (loss, grads, new_state): loss in nats per character; grads a dict with the keys
            of `self.params`; new_state the state after the chunk, to carry to the next one.
        """
        fn = "NumpyCharLM.loss_and_grads"
        inputs = self._ids(fn, "inputs", inputs)
        targets = self._ids(fn, "targets", targets)
        if targets.shape != inputs.shape:
            raise InputError(f"{fn}: expected targets of shape {inputs.shape}, got {targets.shape}")
        loss, grads, new_state = readout_loss_and_grads(
            self.cell, self.params, self._embed(inputs), targets, state
        )
        dx = grads.pop("x")  # (T, B, I)
        del grads["state0"]
        if "embed" in self.params:
            grads["embed"] = np.zeros_like(self.params["embed"])
            np.add.at(grads["embed"], inputs, dx)
        return loss, grads, new_state

    def sample(self, seed_ix: int, n: int, *, temperature: float = 1.0, rng=None, state=None):
        """Generate `n` characters, starting by feeding `seed_ix`.

        Math: p(c) ∝ exp((W_out h_t + b_out)_c / temperature); temperature 0 takes the argmax.

        Args:
            seed_ix: id of the first input character.
            n: number of characters to generate.
            temperature: ≥ 0; lower is more conservative.
            rng: np.random.Generator; None means np.random.default_rng(0).
            state: state of a single stream to start from, or None for zeros.

        Returns:
            list of n generated ids (seed_ix not included).
        """
        fn = "NumpyCharLM.sample"
        if not 0 <= seed_ix < self.vocab_size:
            raise InputError(f"{fn}: expected seed_ix in [0, {self.vocab_size}), got {seed_ix}")
        if temperature < 0:
            raise InputError(f"{fn}: expected temperature >= 0, got {temperature}")
        rng = np.random.default_rng(0) if rng is None else rng
        ids = []
        ix = seed_ix
        for _ in range(n):
            hs, state, _ = _cells.forward(
                self.cell, self._embed(np.array([[ix]])), state, self.params
            )
            logits = hs[0, 0] @ self.params["w_out"].T + self.params["b_out"]  # (V,)
            if temperature == 0:
                ix = int(np.argmax(logits))
            else:
                z = logits / temperature
                p = np.exp(z - z.max())
                ix = int(rng.choice(self.vocab_size, p=p / p.sum()))
            ids.append(ix)
        return ids


def train_charlm(
    text: str,
    *,
    cell: str = "lstm",
    hidden_size: int = 64,
    embedding_size: int | None = None,
    seq_length: int = 25,
    steps: int = 1000,
    lr: float = 0.1,
    optimizer: str = "adagrad",
    clip: float | None = 5.0,
    clip_mode: str = "value",
    seed: int = 0,
    log_every: int | None = None,
    callback=None,
):
    """Train a `NumpyCharLM` on `text` with truncated BPTT (k1 = k2 = seq_length).

    The text is read as one stream, seq_length characters per step: the inputs are
    text[p : p + seq_length] and the targets the same shifted by one; the state is carried
    (detached) from chunk to chunk and reset to zeros when the stream wraps around to the start.

    Args:
        text: training text, at least seq_length + 1 characters.
        cell: "lstm", "gru", "rnn_tanh" or "rnn_relu".
        hidden_size: H.
        embedding_size: size of a learned embedding; None for one-hot inputs.
        seq_length: characters per truncated-BPTT chunk.
        steps: number of parameter updates.
        lr: learning rate.
        optimizer: "adagrad" or "adam".
        clip: clipping threshold, or None for no clipping.
        clip_mode: "value" (each element to [−clip, clip]) or "norm" (global L2 norm ≤ clip).
        seed: seed of the parameter initialisation.
        log_every: every this many steps, call `callback(step, smooth_loss, model)`, or print
            the step and loss when no callback is given; None for never.
        callback: see log_every.

    Returns:
        (model, losses): the trained model (with `chars`, so encode/decode work) and the list of
        per-step losses in nats per character.
    """
    fn = "train_charlm"
    expect_choice(fn, "optimizer", optimizer, ("adagrad", "adam"))
    expect_choice(fn, "clip_mode", clip_mode, ("value", "norm"))
    if seq_length < 1 or len(text) < seq_length + 1:
        raise InputError(
            f"{fn}: expected seq_length >= 1 and a text of at least seq_length + 1 = "
            f"{seq_length + 1} characters, got seq_length={seq_length} and {len(text)}"
        )
    vocab = _CharVocab.from_text(text)
    data = np.array(vocab.encode(text))
    model = NumpyCharLM(
        len(vocab.chars),
        hidden_size,
        cell=cell,
        embedding_size=embedding_size,
        seed=seed,
        chars=vocab.chars,
    )
    opt = Adagrad(lr) if optimizer == "adagrad" else Adam(lr)
    losses = []
    smooth = math.log(model.vocab_size)
    state, p = None, 0
    for step in range(1, steps + 1):
        if p + seq_length + 1 > len(data):
            state, p = None, 0
        inputs, targets = data[p : p + seq_length], data[p + 1 : p + seq_length + 1]
        loss, grads, state = model.loss_and_grads(inputs, targets, state)
        if clip is not None:
            (clip_by_value if clip_mode == "value" else clip_by_global_norm)(grads, clip)
        opt.step(model.params, grads)
        losses.append(loss)
        smooth = 0.99 * smooth + 0.01 * loss
        p += seq_length
        if log_every and step % log_every == 0:
            if callback is None:
                print(f"step {step}: loss {smooth:.4f}")
            else:
                callback(step, smooth, model)
    return model, losses
