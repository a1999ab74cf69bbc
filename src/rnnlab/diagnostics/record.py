"""Record a character LM's hidden state, cell state and gates over a text, chunk by chunk.

The recorder runs the model's recurrence itself, one step at a time per layer, with the
layer's own weights and the equations of `rnnlab.functional.cells` written out so that
every gate is kept (the model's forward returns only h):

    LSTM: i, f, g, o = σ, σ, tanh, σ of (x W_ihᵀ + b_ih + h W_hhᵀ + b_hh)
          c' = f ⊙ c + i ⊙ g;  h' = o ⊙ tanh(c')          quantities h, c, i, f, o, g
    GRU:  r, z = σ(…);  n = tanh(W_in x + b_in + r ⊙ (W_hn h + b_hn))
          h' = (1 − z) ⊙ n + z ⊙ h                          quantities h, r, z, n
    RNN:  h' = tanh (or relu) of (x W_ihᵀ + b_ih + h W_hhᵀ + b_hh)       quantity h
    minGRU:  z = σ(W_z x + b_z);  h' = (1 − z) ⊙ h + z ⊙ g(W_h x + b_h)  quantities h, z
    minLSTM: f, i = σ(W_f x + b_f), σ(W_i x + b_i);  f' = f / (f + i)
             h' = f' ⊙ h + (1 − f') ⊙ g(W_h x + b_h)                    quantities h, f, i

Layer norm, the LSTM's output projection (h is then P wide) and zoneout (its evaluation
expectation) are reproduced as the layers compute them. What is recorded is the model in
evaluation mode: no dropout. The text is processed in chunks with the state carried from
one to the next, so activations of a long text can be consumed chunk by chunk
(`record_chunks`) instead of held at once (`record`).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from rnnlab.backends import LayerWeights
from rnnlab.errors import InputError
from rnnlab.functional.cells import LN_EPS, gate_projection
from rnnlab.models.charlm import CharLM
from rnnlab.nn.mincells import g as min_candidate
from rnnlab.nn.recurrent import RecurrentBase

QUANTITIES = {
    "lstm": ("h", "c", "i", "f", "o", "g"),
    "gru": ("h", "r", "z", "n"),
    "rnn": ("h",),
    "mingru": ("h", "z"),
    "minlstm": ("h", "f", "i"),
}
GATES = {  # the sigmoid gates of each cell (values in (0, 1))
    "lstm": ("i", "f", "o"),
    "gru": ("r", "z"),
    "rnn": (),
    "mingru": ("z",),
    "minlstm": ("f", "i"),
}
DESCRIPTIONS = {
    "h": "hidden state",
    "c": "cell state",
    "i": "input gate",
    "f": "forget gate",
    "o": "output gate",
    "g": "cell candidate",
    "r": "reset gate",
    "z": "update gate",
    "n": "new-state candidate",
}


@dataclass
class Recording:
    """Activations of characters ``start .. start + T``.

    Attributes:
        start: offset of the first character in the whole text.
        values: quantity → (layers, T, units) array (h is P wide for a projected LSTM).
        top_ids, top_probs: (T, k) the k most likely next characters after each position
            (ids into the vocabulary) and their probabilities, or None.
        state: the recurrent state after the last character, in the model's format (to carry
            into the next chunk).
    """

    start: int
    values: dict[str, np.ndarray]
    top_ids: np.ndarray | None = None
    top_probs: np.ndarray | None = None
    state: object = None

    def __len__(self) -> int:
        return next(iter(self.values.values())).shape[1]


class CellRecorder:
    """Steps a `CharLM`'s recurrent layers and keeps every quantity of `QUANTITIES[cell]`.

    Computes in the parameters' dtype (float32 at least), on their device, without autograd.

    Raises:
        InputError: for a model that is not a character LM, or a layer option the recorder
            cannot reproduce (bidirectional).
    """

    def __init__(self, model: CharLM):
        if not isinstance(model, CharLM):
            raise InputError(
                "CellRecorder: expected a CharLM (a character LM with a recurrent cell: "
                f"{', '.join(QUANTITIES)}), got {type(model).__name__}"
            )
        self.model = model
        self.cell = model.config.cell
        layer = model.rnn
        first = next(model.rnn.parameters())
        self.device = first.device
        self.dtype = torch.promote_types(first.dtype, torch.float32)
        self.num_layers = model.config.layers
        self.hidden = model.config.hidden
        self.zoneout = (0.0, 0.0)
        self.nonlinearity = "tanh"
        if isinstance(layer, RecurrentBase):
            if layer.bidirectional:
                raise InputError("CellRecorder: bidirectional layers are not supported")
            self.weights = [self._cast_weights(w) for w in layer.layer_weights()]
            self.zoneout = layer.zoneout
            self.nonlinearity = "relu" if layer.mode == "RNN_RELU" else "tanh"
            self.out_size = layer.proj_size or self.hidden
        else:  # min cells: a stacked MinGRU/MinLSTM, or its locked-dropout stack
            stack = getattr(layer, "layers", None)
            pairs = (
                [m.layer_weights(0) for m in stack]
                if stack is not None
                else [layer.layer_weights(k) for k in range(self.num_layers)]
            )
            self.weights = [tuple(self._cast(t) for t in pair) for pair in pairs]
            self.out_size = self.hidden
        self.quantities = QUANTITIES[self.cell]
        self.gates = GATES[self.cell]

    def _cast(self, t: Tensor | None) -> Tensor | None:
        return None if t is None else t.detach().to(self.dtype)

    def _cast_weights(self, w):
        def pair(p):
            return None if p is None else (self._cast(p[0]), self._cast(p[1]))

        return LayerWeights(
            w_ih=self._cast(w.w_ih),
            w_hh=self._cast(w.w_hh),
            b_ih=self._cast(w.b_ih),
            b_hh=self._cast(w.b_hh),
            w_hr=self._cast(w.w_hr),
            ln_ih=pair(w.ln_ih),
            ln_hh=pair(w.ln_hh),
            ln_c=pair(w.ln_c),
        )

    @property
    def widths(self) -> dict[str, tuple[int, int]]:
        """quantity → (layers, units)."""
        return {
            q: (self.num_layers, self.out_size if q == "h" else self.hidden)
            for q in self.quantities
        }

    def ranges(self) -> dict[str, str]:
        """quantity → its range: "gate" (0, 1), "tanh" (−1, 1) or "free" (unbounded)."""
        bounded_h = self.cell in ("lstm", "gru", "rnn") and self.out_size == self.hidden
        bounded_h = bounded_h and not (self.cell == "rnn" and self.nonlinearity == "relu")
        ranges = {"h": "tanh" if bounded_h else "free", "c": "free", "g": "tanh", "n": "tanh"}
        return {q: "gate" if q in self.gates else ranges[q] for q in self.quantities}

    def init_state(self):
        """Zero state for one sequence, in the model's format."""
        return self.model.init_state(1, device=self.device, dtype=self.dtype)

    def _embed(self, ids: Tensor) -> Tensor:
        if self.model.embedding is not None:
            return self._cast(self.model.embedding.weight)[ids]  # (T, E)
        return F.one_hot(ids, self.model.vocab_size).to(self.dtype)  # (T, V)

    @torch.inference_mode()
    def step_chunk(self, ids: Tensor, state, *, top_k: int = 0):
        """Run characters `ids` (T,) from `state`.

        Returns:
            ``(values, top_ids, top_probs, state)``: quantity → (layers, T, units) tensors;
            (T, k) predictions (None without top_k); the state after the chunk.
        """
        if len(ids) and not 0 <= int(ids.min()) <= int(ids.max()) < self.model.vocab_size:
            raise InputError(
                f"CellRecorder: expected character ids in [0, {self.model.vocab_size}), got "
                f"{int(ids.min())}..{int(ids.max())}"
            )
        x = self._embed(ids.to(self.device))  # (T, I)
        lstm = self.cell == "lstm"
        h0, c0 = state if lstm else (state, None)
        per_layer: dict[str, list[Tensor]] = {q: [] for q in self.quantities}
        finals_h, finals_c = [], []
        for k in range(self.num_layers):
            if self.cell in ("mingru", "minlstm"):
                out = self._min_layer(x, h0[k], *self.weights[k])
            elif lstm:
                out = self._lstm_layer(x, h0[k], c0[k], self.weights[k])
                finals_c.append(out["c"][-1:])
            elif self.cell == "gru":
                out = self._gru_layer(x, h0[k], self.weights[k])
            else:
                out = self._rnn_layer(x, h0[k], self.weights[k])
            for q in self.quantities:
                per_layer[q].append(out[q])
            finals_h.append(out["h"][-1:])
            x = out["h"]  # (T, P)
        values = {q: torch.stack(v) for q, v in per_layer.items()}  # (L, T, U)
        h_n = torch.stack(finals_h)  # (L, 1, P)
        new_state = (h_n, torch.stack(finals_c)) if lstm else h_n
        top_ids = top_probs = None
        if top_k:
            w, b = self.model.decoder.weight, self.model.decoder.bias
            logits = F.linear(x, self._cast(w), self._cast(b))  # (T, V)
            probs = torch.softmax(logits, dim=-1)
            top_probs, top_ids = probs.topk(min(top_k, probs.shape[-1]), dim=-1)  # (T, k)
        return values, top_ids, top_probs, new_state

    def _recurrent(self, h: Tensor, w, out: Tensor) -> Tensor:
        """``h W_hhᵀ + b_hh`` (layer-normalised with ln_hh) written into `out` (1, G·H)."""
        if w.ln_hh is not None:
            return out.copy_(gate_projection(h, w.w_hh, w.b_hh, ln=w.ln_hh))
        if w.b_hh is None:
            return torch.mm(h, w.w_hh.t(), out=out)
        return torch.addmm(w.b_hh, h, w.w_hh.t(), out=out)

    def _lstm_layer(self, x: Tensor, h: Tensor, c: Tensor, w) -> dict[str, Tensor]:
        t_len, hid = x.shape[0], self.hidden
        gi = gate_projection(x, w.w_ih, w.b_ih, ln=w.ln_ih)  # (T, 4H)
        acts = torch.empty_like(gi)  # (T, 4H): the gates, in place of their pre-activations
        cs = gi.new_empty(t_len, hid)
        hs = gi.new_empty(t_len, h.shape[-1])
        gh = gi.new_empty(1, 4 * hid)
        i, f, g, o = acts.chunk(4, dim=-1)  # 4 × (T, H) views
        p_h, p_c = self.zoneout
        for t in range(t_len):
            pre = acts[t : t + 1]  # (1, 4H)
            torch.add(gi[t : t + 1], self._recurrent(h, w, gh), out=pre)
            g_t = g[t : t + 1]
            g_pre = g_t.clone()
            torch.tanh(g_pre, out=pre.sigmoid_()[:, 2 * hid : 3 * hid])
            c_new = cs[t : t + 1]
            torch.mul(f[t : t + 1], c, out=c_new).addcmul_(i[t : t + 1], g_t)
            c_out = c_new if w.ln_c is None else F.layer_norm(c_new, (hid,), *w.ln_c, LN_EPS)
            if w.w_hr is None:
                h_new = torch.tanh(c_out, out=hs[t : t + 1]).mul_(o[t : t + 1])
            else:
                h_new = torch.mm(o[t : t + 1] * torch.tanh(c_out), w.w_hr.t(), out=hs[t : t + 1])
            if p_h:
                h_new.lerp_(h, p_h)  # zoneout in evaluation: p · previous + (1 − p) · new
            if p_c:
                c_new.lerp_(c, p_c)
            h, c = h_new, c_new
        return {"h": hs, "c": cs, "i": i, "f": f, "o": o, "g": g}

    def _gru_layer(self, x: Tensor, h: Tensor, w) -> dict[str, Tensor]:
        t_len, hid = x.shape[0], self.hidden
        gi = gate_projection(x, w.w_ih, w.b_ih, ln=w.ln_ih)  # (T, 3H)
        acts = torch.empty_like(gi)  # (T, 3H): r, z, n
        hs = gi.new_empty(t_len, hid)
        gh = gi.new_empty(1, 3 * hid)
        for t in range(t_len):
            self._recurrent(h, w, gh)  # (1, 3H)
            rz = torch.add(
                gi[t : t + 1, : 2 * hid], gh[:, : 2 * hid], out=acts[t : t + 1, : 2 * hid]
            )
            rz.sigmoid_()
            r, z = rz[:, :hid], rz[:, hid:]
            n = acts[t : t + 1, 2 * hid :]
            torch.addcmul(gi[t : t + 1, 2 * hid :], r, gh[:, 2 * hid :], out=n).tanh_()
            h_new = torch.sub(h, n, out=hs[t : t + 1]).mul_(z).add_(n)  # n + z ⊙ (h − n)
            if self.zoneout[0]:
                h_new.lerp_(h, self.zoneout[0])
            h = h_new
        r, z, n = acts.chunk(3, dim=-1)
        return {"h": hs, "r": r, "z": z, "n": n}

    def _rnn_layer(self, x: Tensor, h: Tensor, w) -> dict[str, Tensor]:
        gi = gate_projection(x, w.w_ih, w.b_ih, ln=w.ln_ih)  # (T, H)
        hs = torch.empty_like(gi)
        gh = gi.new_empty(1, self.hidden)
        for t in range(x.shape[0]):
            h_new = torch.add(gi[t : t + 1], self._recurrent(h, w, gh), out=hs[t : t + 1])
            if self.nonlinearity == "tanh":
                h_new.tanh_()
            else:
                h_new.relu_()
            if self.zoneout[0]:
                h_new.lerp_(h, self.zoneout[0])
            h = h_new
        return {"h": hs}

    def _min_layer(self, x: Tensor, h: Tensor, w: Tensor, b: Tensor | None) -> dict[str, Tensor]:
        u = F.linear(x, w, b)  # (T, G·H)
        if self.cell == "mingru":
            u_z, u_h = u.chunk(2, dim=-1)
            z = torch.sigmoid(u_z)
            a, drive, out = 1 - z, z * min_candidate(u_h), {"z": z}
        else:
            u_f, u_i, u_h = u.chunk(3, dim=-1)
            f_norm = torch.sigmoid(F.softplus(-u_i) - F.softplus(-u_f))  # f / (f + i)
            a, drive = f_norm, (1 - f_norm) * min_candidate(u_h)
            out = {"f": torch.sigmoid(u_f), "i": torch.sigmoid(u_i)}
        hs = torch.empty_like(a)  # (T, H)
        h = h[0]
        for t in range(len(a)):
            h = a[t] * h + drive[t]
            hs[t] = h
        return {"h": hs, **out}


def check_unit(widths: dict[str, tuple[int, int]], layer: int, quantity: str, unit: int) -> None:
    """InputError unless (layer, quantity, unit) names a recorded unit.

    Args:
        widths: quantity → (layers, units), e.g. `CellRecorder.widths`.
    """
    if quantity not in widths:
        raise InputError(f"unknown quantity {quantity!r}: this cell records {', '.join(widths)}")
    layers, units = widths[quantity]
    if not 0 <= layer < layers:
        raise InputError(f"layer {layer} is out of range: the model has layers 0..{layers - 1}")
    if not 0 <= unit < units:
        raise InputError(f"unit {unit} is out of range: {quantity} has units 0..{units - 1}")


def _as_ids(ids) -> Tensor:
    t = torch.as_tensor(np.asarray(ids) if not isinstance(ids, Tensor) else ids)
    if t.dim() != 1 or t.dtype not in (torch.int64, torch.int32):
        raise InputError(f"record: expected (N,) integer ids, got {tuple(t.shape)} {t.dtype}")
    return t.long()


def record_chunks(
    model: CharLM,
    ids,
    *,
    chunk: int = 1024,
    top_k: int = 0,
    state=None,
    start: int = 0,
    dtype=np.float32,
    progress: bool = False,
) -> Iterator[Recording]:
    """Record `ids` chunk by chunk, carrying the state.

    Args:
        model: a `CharLM` (any cell; it is not modified), or a `CellRecorder` of one.
        ids: (N,) character ids (NumPy or torch).
        chunk: characters per chunk.
        top_k: also keep the top_k next-character predictions per position (0: none).
        state: the state to start from (None: zeros), e.g. a previous `Recording.state`.
        start: the offset of ids[0] in the whole text (`Recording.start` counts from it).
        dtype: NumPy dtype of the recorded values (float32, float16, float64).
        progress: show a tqdm bar on stderr (when it is a terminal).

    Yields:
        One `Recording` per chunk, its `state` the state after it.
    """
    from tqdm.auto import tqdm

    if chunk < 1:
        raise InputError(f"record: expected chunk >= 1, got {chunk}")
    recorder = model if isinstance(model, CellRecorder) else CellRecorder(model)
    ids = _as_ids(ids)
    if state is None:
        state = recorder.init_state()
    with tqdm(
        total=len(ids),
        desc="recording",
        unit="char",
        unit_scale=True,
        disable=None if progress else True,
        dynamic_ncols=True,
    ) as bar:
        for pos in range(0, len(ids), chunk):
            part = ids[pos : pos + chunk]
            values, top_ids, top_probs, state = recorder.step_chunk(part, state, top_k=top_k)
            yield Recording(
                start=start + pos,
                values={q: v.cpu().numpy().astype(dtype) for q, v in values.items()},
                top_ids=None if top_ids is None else top_ids.cpu().numpy(),
                top_probs=None if top_probs is None else top_probs.cpu().numpy().astype(dtype),
                state=state,
            )
            bar.update(len(part))


def record(model: CharLM, ids, **options) -> Recording:
    """Record all of `ids` into one `Recording` (options as `record_chunks`); for texts whose
    activations fit in memory: layers × N × units per quantity."""
    parts = list(record_chunks(model, ids, **options))
    if not parts:
        raise InputError("record: expected at least one character, got none")
    first = parts[0]

    def cat(arrays):
        return None if arrays[0] is None else np.concatenate(arrays)

    return Recording(
        start=first.start,
        values={q: np.concatenate([p.values[q] for p in parts], 1) for q in first.values},
        top_ids=cat([p.top_ids for p in parts]),
        top_probs=cat([p.top_probs for p in parts]),
        state=parts[-1].state,
    )
