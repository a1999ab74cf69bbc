"""Generation steps for a trained CharLM: one character per call for a batch of sequences.

Sampling feeds a model one character at a time, and stepping the `CharLM` module spends much
of each step outside the arithmetic (input checks, the embedding, the backend's set-up, the
input projection of a single character, fresh tensors for every intermediate).  `FastStep`
keeps the weights in the form one step needs and does only the arithmetic, in place, into
buffers allocated once per batch size:

    layer 1:   a = T[x_t] + h W_hhᵀ        T = in(v) W_ihᵀ + b_ih (+ b_hh) for every v   (V, G·H)
    layer l:   a = [x, h] [W_ih, W_hh]ᵀ + (b_ih + b_hh)     one product of both       (B, G·H)
    cell:      the pointwise math of `rnnlab.functional.cells`, in place
    decoder:   z = h_L W_decᵀ + b_dec                                                  (B, V)

in(v) is the embedding E[v] (or one_hot(v) with embed_dim 0), so the first layer needs no
input product: its input projection is a row of the precomputed table T.  The GRU keeps
``b_hh`` on the recurrent side (its n gate needs ``W_hn h + b_hn`` alone), and so does layer
norm (``LN_hh(h W_hhᵀ) + b_hh``), and both keep the two products of later layers apart.
Every layer's h lives in one buffer (B, L·P), so [h_{l-1}, h_l] is a view.  LSTM gate rows
are stored as i, f, o, g so that one sigmoid covers three gates.

The math is the model's in evaluation mode, exactly (up to rounding; tested against the
module's forward in float64 to 1e-12 and float32 to 1e-5): dropout, locked dropout and
weight drop are the identity, zoneout is its expectation ``s = p · s_prev + (1 − p) · s_new``
(`rnnlab.functional.zoneout`), layer norm as `rnnlab.functional.gate_projection`; the
initialisation options (init, forget_bias, t_max) and the backend change nothing here.  A
model it cannot compute exactly (`fast_step_unsupported` says why: training mode, a subclass
with its own forward, a recurrent module other than `rnnlab.nn`'s, a bidirectional stack, a
dtype other than float32/float64) is stepped through its module instead by `ModuleStep`, the
fallback (`make_stepper`; ``kind="module"`` forces it).

The products run on MKL's BLAS (torch.addmm) at batch 1 and on oneDNN's packed matmul for
batches (float32 on the CPU; `_Product`).  Measured on a 2-core AMD EPYC (Zen 5, 1 MiB L2 per
core, 32 MiB L3) with `benchmarks/bench_sampling.py --explore`, one thread: a batch-1 step
of the 1x768 LSTM takes about 132 µs, of which the W_hh mat-vec (9.4 MB, L3-resident, about
82 GB/s) is 115 µs; oneDNN at batch 1 is slower (146 µs), and 2-3x faster than MKL's GEMM
for batches of 8-64; bf16 weights are slower (the mat-vec alone 126 µs: no fast bf16 mat-vec
on this CPU) and inexact, so the weights keep the model's dtype; torch's fused
`torch.lstm_cell` (fed the table row as its bias) is no faster (138 µs) than the in-place
pointwise ops.  A second thread does not speed up a batch-1 step (MKL does not split the
mat-vec) and, with the other core busy, stalls each parallel op for a scheduler slice
(16-32 ms a step), so `rnnlab sample` runs one thread unless told otherwise.

The weights in stepping form (a copy, about the model's size) are cached per model and
rebuilt when a parameter changes (its version counter or storage), so repeated `generate`
calls on one model pay the set-up once.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor

from rnnlab.errors import InputError
from rnnlab.functional.cells import LN_EPS, gate_projection
from rnnlab.models.charlm import CharLM
from rnnlab.nn.recurrent import RecurrentBase

State = Tensor | tuple[Tensor, Tensor]
KINDS = ("auto", "fast", "module")
MATMULS = ("auto", "blas", "onednn")
# with more than one thread, "auto" runs a batch-1 product on oneDNN from this size up
ONEDNN_MIN_WEIGHT = 2048 * 512
_DTYPES = (torch.float32, torch.float64)


def fast_step_unsupported(model: torch.nn.Module) -> str | None:
    """Why `FastStep` cannot step ``model`` exactly, or None when it can."""
    if not isinstance(model, CharLM):
        return f"expected a CharLM, got {type(model).__name__}"
    if type(model).forward is not CharLM.forward:
        return f"{type(model).__name__} overrides CharLM.forward"
    if model.training:
        return "the model is in training mode (dropout would be active); call model.eval()"
    rnn = model.rnn
    if not isinstance(rnn, RecurrentBase):
        return f"its recurrent module is a {type(rnn).__name__}, not an rnnlab.nn RNN, LSTM or GRU"
    if rnn.bidirectional or rnn.batch_first:
        return "its recurrent module is bidirectional or batch_first"
    params = list(model.parameters())
    dtype, device = params[0].dtype, params[0].device
    if dtype not in _DTYPES:
        return f"its weights are {dtype} (the fast stepper computes float32 or float64 exactly)"
    if any(p.dtype != dtype or p.device != device for p in params):
        return "its parameters do not share one dtype and device"
    return None


def onednn_matmul_available() -> bool:
    """Whether torch has oneDNN's packed CPU matmul (``torch.ops.mkldnn._linear_pointwise``)."""
    ops = torch.ops.mkldnn
    return (
        torch.backends.mkldnn.is_available()
        and hasattr(ops, "_linear_pointwise")
        and hasattr(ops, "_reorder_linear_weight")
    )


# -- the weights in stepping form --------------------------------------------------------------


@dataclass(frozen=True)
class _Layer:
    """One layer's weights in stepping form (LSTM rows reordered to i, f, o, g).

    Attributes:
        table: (V, G·H) input projection of every vocabulary entry (first layer), or None.
        w_ih: (I, G·H) input weight, transposed (later layers, when kept apart), or None.
        b_in: (G·H,) added to ``x W_ihᵀ`` (later layers): b_ih, plus b_hh when folded.
        w_hh: (P, G·H) recurrent weight, transposed (when kept apart), or None.
        w_cat: (I + P, G·H) = [W_ih, W_hh]ᵀ for later LSTM/RNN layers without layer norm:
            one product of the stacked [x, h] (one mat-vec of both is faster than two).
        b_hh: (G·H,) added to the recurrent projection, or None when folded into the input
            side (LSTM and RNN without layer norm).
        w_hr: (H, P) LSTM output projection, transposed, or None.
        ln_ih, ln_hh, ln_c: layer-norm (gain, bias) pairs, or None.

    The weights are stored transposed, (in, out): MKL's batch-1 product ``x @ Wᵀ`` runs up to
    15% faster from that layout (an axpy-style mat-vec) than from torch's (out, in).
    """

    table: Tensor | None
    w_ih: Tensor | None
    b_in: Tensor | None
    w_hh: Tensor | None
    w_cat: Tensor | None
    b_hh: Tensor | None
    w_hr: Tensor | None
    ln_ih: tuple[Tensor, Tensor] | None
    ln_hh: tuple[Tensor, Tensor] | None
    ln_c: tuple[Tensor, Tensor] | None


@dataclass
class _Weights:
    """A model's weights in stepping form, and oneDNN's packed copies made from them."""

    kind: str  # "lstm", "gru", "rnn_tanh", "rnn_relu"
    hidden: int  # H
    out_size: int  # P
    zoneout: tuple[float, float]
    layers: list[_Layer]
    w_dec: Tensor  # (P, V), transposed
    b_dec: Tensor  # (V,)
    packed: dict[tuple[int, int], Tensor] = field(default_factory=dict)  # (id(w), B) → packed

    def pack(self, wt: Tensor, batch: int) -> Tensor:
        """W (given as Wᵀ) in oneDNN's blocked layout for batches of ``batch`` (made once)."""
        key = (id(wt), batch)
        if key not in self.packed:
            if len(self.packed) >= 64:  # many batch sizes: start over
                self.packed.clear()
            self.packed[key] = torch.ops.mkldnn._reorder_linear_weight(wt.t(), batch)
        return self.packed[key]


def _lstm_order(hidden: int, device: torch.device) -> Tensor:
    """Row order taking LSTM gates i, f, g, o to i, f, o, g."""
    H = hidden
    order = [torch.arange(0, 2 * H), torch.arange(3 * H, 4 * H), torch.arange(2 * H, 3 * H)]
    return torch.cat(order).to(device)


def _stepping_form(model: CharLM) -> _Weights:
    """Copies of ``model``'s weights in stepping form (see the module docstring)."""
    rnn = model.rnn
    kind = rnn.spec.mode
    fold = kind != "gru" and not rnn.layer_norm
    decoder = model.decoder.weight.detach()
    if model.embedding is not None:
        inputs = model.embedding.weight.detach()  # (V, E)
    else:
        inputs = torch.eye(model.vocab_size, dtype=decoder.dtype, device=decoder.device)
    order = _lstm_order(rnn.hidden_size, decoder.device) if kind == "lstm" else None

    def rows(t: Tensor | None) -> Tensor | None:
        """A copy with the gate rows reordered."""
        if t is None:
            return None
        return t.detach().clone() if order is None else t.detach().index_select(0, order)

    def transposed(t: Tensor | None, reorder: bool = True) -> Tensor | None:
        """Wᵀ as a contiguous copy (gate rows reordered first)."""
        if t is None:
            return None
        t = t.detach() if order is None or not reorder else t.detach().index_select(0, order)
        return t.t().clone(memory_format=torch.contiguous_format)

    def copy(t: Tensor | None) -> Tensor | None:
        return None if t is None else t.detach().clone()

    layers = []
    for index, w in enumerate(rnn.layer_weights()):
        zeros = w.w_hh.detach().new_zeros(w.w_hh.shape[0])
        b_ih = zeros if w.b_ih is None else w.b_ih.detach()
        b_hh = zeros if w.b_hh is None else w.b_hh.detach()
        b_in = b_ih + b_hh if fold else b_ih
        ln_ih = None if w.ln_ih is None else tuple(t.detach() for t in w.ln_ih)
        table = w_cat = None
        if index == 0:
            # the module's own input projection, for every vocabulary entry at once
            gi = gate_projection(inputs, w.w_ih.detach(), b_ih, ln=ln_ih)  # (V, G·H)
            table = transposed((gi + b_hh if fold else gi).t())  # (V, G·H)
        elif fold:
            w_cat = transposed(torch.cat([w.w_ih, w.w_hh], dim=1))  # (I + P, G·H)
        apart = index > 0 and w_cat is None
        layers.append(
            _Layer(
                table=table,
                w_ih=transposed(w.w_ih) if apart else None,
                b_in=None if index == 0 else rows(b_in),
                w_hh=None if w_cat is not None else transposed(w.w_hh),
                w_cat=w_cat,
                b_hh=None if fold else rows(b_hh),
                w_hr=transposed(w.w_hr, reorder=False),
                ln_ih=None if w.ln_ih is None else (rows(w.ln_ih[0]), rows(w.ln_ih[1])),
                ln_hh=None if w.ln_hh is None else (rows(w.ln_hh[0]), rows(w.ln_hh[1])),
                ln_c=None if w.ln_c is None else (copy(w.ln_c[0]), copy(w.ln_c[1])),
            )
        )
    return _Weights(
        kind=kind,
        hidden=rnn.hidden_size,
        out_size=rnn.spec.output_size,
        zoneout=rnn.zoneout,
        layers=layers,
        w_dec=transposed(model.decoder.weight, reorder=False),
        b_dec=copy(model.decoder.bias),
    )


_CACHE: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # model → (key, _Weights)


def _weights_key(model: CharLM) -> tuple | None:
    """What identifies the weights: each parameter (weakly), its storage and version counter,
    and the zoneout; None where they cannot be told apart (inference tensors)."""
    try:
        params = tuple(
            (weakref.ref(p), p.data_ptr(), p._version, p.dtype, p.device)
            for p in model.parameters()
        )
    except RuntimeError:  # inference tensors have no version counter
        return None
    return params, model.rnn.zoneout


def _same(a: tuple, b: tuple) -> bool:
    (params_a, zone_a), (params_b, zone_b) = a, b
    return (
        zone_a == zone_b
        and len(params_a) == len(params_b)
        and all(
            x[0]() is not None and x[0]() is y[0]() and x[1:] == y[1:]
            for x, y in zip(params_a, params_b, strict=True)
        )
    )


def _stepping_weights(model: CharLM) -> _Weights:
    """`_stepping_form` of ``model``, cached until one of its parameters changes."""
    key = _weights_key(model)
    cached = _CACHE.get(model) if key is not None else None
    if cached is not None and _same(cached[0], key):
        return cached[1]
    weights = _stepping_form(model)
    if key is not None:
        _CACHE[model] = (key, weights)
    return weights


class _Product:
    """``x Wᵀ (+ b)`` for a fixed weight, given as Wᵀ (K, N): BLAS's addmm or oneDNN's packed
    matmul (``packed``)."""

    def __init__(self, wt: Tensor, b: Tensor | None, packed: Tensor | None):
        self.wt, self.b, self.packed = wt, b, packed

    def into(self, x: Tensor, out: Tensor) -> Tensor:
        """out = x Wᵀ + b: (B, K) -> (B, N)."""
        if self.packed is None:
            if self.b is None:
                return torch.mm(x, self.wt, out=out)
            return torch.addmm(self.b, x, self.wt, out=out)
        return out.copy_(torch.ops.mkldnn._linear_pointwise(x, self.packed, self.b, "none", [], ""))

    def add_to(self, x: Tensor, out: Tensor) -> Tensor:
        """out += x Wᵀ (no bias)."""
        if self.packed is None:
            return out.addmm_(x, self.wt)
        return out.add_(torch.ops.mkldnn._linear_pointwise(x, self.packed, None, "none", [], ""))


# -- the steppers ------------------------------------------------------------------------------


class FastStep:
    """One generation step of a trained CharLM for a batch of B sequences, in place.

    Build it with `FastStep.from_model(model)`, start it with `reset(state, batch)`, then call
    `step(tokens)` once per character.  See the module docstring for the math.

    Args:
        model: a CharLM in evaluation mode (`fast_step_unsupported` must be None).
        matmul: how the products run: "blas" (torch.addmm), "onednn" (oneDNN's packed
            matmul; float32 on the CPU) or "auto": oneDNN where available for batches > 1,
            and at batch 1 for weights of `ONEDNN_MIN_WEIGHT` entries or more when torch
            has more than one thread (oneDNN splits a mat-vec over threads, MKL does not);
            else BLAS.  Decided per batch size in `reset`.
    """

    @torch.inference_mode()
    def __init__(self, model: CharLM, *, matmul: str = "auto"):
        reason = fast_step_unsupported(model)
        if reason is not None:
            raise InputError(f"FastStep: cannot step this model exactly: {reason}")
        if matmul not in MATMULS:
            raise InputError(f"FastStep: expected matmul in {', '.join(MATMULS)}, got {matmul!r}")
        self.weights = w = _stepping_weights(model)
        self.kind, self.layers, self.hidden, self.out_size = w.kind, w.layers, w.hidden, w.out_size
        self.zoneout = w.zoneout  # (p_h, p_c)
        self.vocab_size = w.w_dec.shape[1]
        self.dtype, self.device = w.w_dec.dtype, w.w_dec.device
        onednn_ok = (
            self.device.type == "cpu" and self.dtype == torch.float32 and onednn_matmul_available()
        )
        if matmul == "onednn" and not onednn_ok:
            raise InputError(
                "FastStep: matmul='onednn' needs float32 weights on the CPU and a torch built "
                "with oneDNN"
            )
        self.matmul = matmul if onednn_ok else "blas"
        self.batch = 0
        self.reset(None, 1)

    @classmethod
    def from_model(cls, model: CharLM, *, matmul: str = "auto") -> FastStep:
        """The stepper of a CharLM in evaluation mode (InputError saying why if it cannot)."""
        return cls(model, matmul=matmul)

    # -- state --------------------------------------------------------------------------------

    @torch.inference_mode()
    def reset(self, state: State | None = None, batch: int | None = None) -> None:
        """Start from ``state`` (the module's form: h (L, B, P), and c (L, B, H) for the LSTM).

        Args:
            state: as `CharLM.init_state` or the model's forward returns it, or None for zeros.
                A state of batch 1 is repeated over ``batch`` rows.
            batch: B; default the state's batch (1 without a state).
        """
        lstm = self.kind == "lstm"
        h0, c0 = (state if lstm else (state, None)) if state is not None else (None, None)
        if batch is None:
            batch = 1 if h0 is None else h0.shape[1]
        if batch < 1:
            raise InputError(f"FastStep: expected batch >= 1, got {batch}")
        L, H, P = len(self.layers), self.hidden, self.out_size
        for what, value, width in (("h", h0, P), ("c", c0, H)):
            if value is not None and (
                value.dim() != 3
                or value.shape[0] != L
                or value.shape[2] != width
                or value.shape[1] not in (1, batch)
            ):
                raise InputError(
                    f"FastStep: expected {what} of shape ({L}, {batch}, {width}) (or batch 1), "
                    f"got {tuple(value.shape)}"
                )
        if batch != self.batch:
            self._allocate(batch)
        for layer in range(L):
            if h0 is None:
                self.h[layer].zero_()
            else:
                self.h[layer].copy_(h0[layer].expand(batch, P))
            if lstm:
                if c0 is None:
                    self.c[layer].zero_()
                else:
                    self.c[layer].copy_(c0[layer].expand(batch, H))

    def _product(self, w: Tensor, b: Tensor | None, batch: int) -> _Product:
        """x Wᵀ + b on oneDNN or BLAS, as `matmul` decides for this weight and batch."""
        if self.matmul == "auto":
            big = w.numel() >= ONEDNN_MIN_WEIGHT and torch.get_num_threads() > 1
            onednn = batch > 1 or big
        else:
            onednn = self.matmul == "onednn"
        return _Product(w, b, self.weights.pack(w, batch) if onednn else None)

    def _allocate(self, batch: int) -> None:
        """Buffers and products for a batch of ``batch`` sequences."""
        B, H, P = batch, self.hidden, self.out_size
        new = {"dtype": self.dtype, "device": self.device}
        L = len(self.layers)
        gates = {"lstm": 4, "gru": 3}.get(self.kind, 1) * H
        self.batch = batch
        # with layer norm the bias comes after the normalisation, outside the product
        self.w_ih = [
            None if w.w_ih is None else self._product(w.w_ih, None if w.ln_ih else w.b_in, B)
            for w in self.layers
        ]
        self.w_hh = [
            None if w.w_hh is None else self._product(w.w_hh, None if w.ln_hh else w.b_hh, B)
            for w in self.layers
        ]
        self.w_cat = [
            None if w.w_cat is None else self._product(w.w_cat, w.b_in, B) for w in self.layers
        ]
        self.w_hr = [
            None if w.w_hr is None else self._product(w.w_hr, None, B) for w in self.layers
        ]
        self.decoder = self._product(self.weights.w_dec, self.weights.b_dec, B)
        # every layer's h side by side, so that [h_{l-1}, h_l] is one (B, 2P) view
        self.hs = torch.zeros(B, L * P, **new)
        self.h = [self.hs[:, l * P : (l + 1) * P] for l in range(L)]
        self.pairs = [None] + [self.hs[:, (l - 1) * P : (l + 1) * P] for l in range(1, L)]
        self.c = [torch.zeros(B, H, **new) for _ in range(L)] if self.kind == "lstm" else None
        self.gates = torch.empty(B, gates, **new)  # (B, G·H), used by the layers in turn
        self.gh = torch.empty(B, gates, **new)  # recurrent projection when kept apart
        self.tmp = torch.empty(B, H, **new)
        self.h_new = torch.empty(B, P, **new)  # the proposal zoneout mixes in
        self.c_new = torch.empty(B, H, **new)
        self.logits = torch.empty(B, self.vocab_size, **new)
        if self.kind == "lstm":  # views of the gate buffer, order i, f, o, g
            self.ifo, self.g = self.gates[:, : 3 * H], self.gates[:, 3 * H :]
            self.i, self.f, self.o = (self.gates[:, k * H : (k + 1) * H] for k in range(3))
        elif self.kind == "gru":
            self.rz, self.n = self.gates[:, : 2 * H], self.gates[:, 2 * H :]
            self.r, self.z = self.gates[:, :H], self.gates[:, H : 2 * H]

    @property
    def state(self) -> State:
        """The current state in the module's form (copies): h (L, B, P)[, c (L, B, H)]."""
        h = torch.stack(self.h)  # (L, B, P)
        return (h, torch.stack(self.c)) if self.kind == "lstm" else h

    # -- one step -----------------------------------------------------------------------------

    def step(self, tokens: Tensor) -> Tensor:
        """Feed one character per sequence; return the logits of the next one.

        Args:
            tokens: (B,) int64 character ids.

        Returns:
            (B, V) logits, in a buffer the next call overwrites (copy them to keep them).
        """
        if torch.is_inference_mode_enabled():  # as in generation: skip entering it again
            return self._step(tokens)
        with torch.inference_mode():
            return self._step(tokens)

    def _step(self, tokens: Tensor) -> Tensor:
        x = tokens
        for index in range(len(self.layers)):
            x = self._layer(index, x)  # (B, P)
        return self.decoder.into(x, self.logits)  # (B, V)

    def _input(self, index: int, x: Tensor, out: Tensor) -> Tensor:
        """The input side of the gates into ``out`` (B, G·H): a table row or x W_ihᵀ + b."""
        layer = self.layers[index]
        if layer.table is not None:
            return torch.index_select(layer.table, 0, x, out=out)
        self.w_ih[index].into(x, out)
        if layer.ln_ih is None:
            return out
        return out.copy_(F.layer_norm(out, out.shape[-1:], *layer.ln_ih, LN_EPS)).add_(layer.b_in)

    def _recurrent(self, index: int, h: Tensor, out: Tensor) -> Tensor:
        """The recurrent projection h W_hhᵀ + b_hh (layer-normalised) into ``out``."""
        layer = self.layers[index]
        self.w_hh[index].into(h, out)
        if layer.ln_hh is None:
            return out
        return out.copy_(F.layer_norm(out, out.shape[-1:], *layer.ln_hh, LN_EPS)).add_(layer.b_hh)

    def _layer(self, index: int, x: Tensor) -> Tensor:
        """Advance layer ``index`` by one step on input ``x``; return its new h (B, P)."""
        h = self.h[index]
        if self.kind == "gru":
            return self._gru(index, h, self._input(index, x, self.gates))
        layer, a = self.layers[index], self.gates  # (B, G·H)
        if layer.w_cat is not None:  # [x, h] [W_ih, W_hh]ᵀ + b_ih + b_hh, one product
            self.w_cat[index].into(self.pairs[index], a)
        else:
            self._input(index, x, a)
            if layer.b_hh is None:
                self.w_hh[index].add_to(h, a)  # + h W_hhᵀ (biases folded into the table)
            else:
                a.add_(self._recurrent(index, h, self.gh))
        p_h, p_c = self.zoneout
        new_h = self.h_new if p_h else h  # h is not read again: write it in place
        if self.kind == "lstm":
            self._lstm(index, new_h, p_c)
        elif self.kind == "rnn_tanh":
            torch.tanh(a, out=new_h)
        else:
            torch.clamp_min(a, 0.0, out=new_h)  # relu
        if p_h:
            torch.lerp(new_h, h, p_h, out=h)  # zoneout's expectation
        return h

    def _lstm(self, index: int, new_h: Tensor, p_c: float) -> None:
        """LSTM pointwise part on the gate buffer: c' = f ⊙ c + i ⊙ g, h' = o ⊙ tanh(c')."""
        ln_c, c = self.layers[index].ln_c, self.c[index]
        self.ifo.sigmoid_()
        self.g.tanh_()
        c_new = torch.mul(self.f, c, out=self.c_new) if p_c else c.mul_(self.f)
        c_new.addcmul_(self.i, self.g)
        c_out = c_new if ln_c is None else F.layer_norm(c_new, (self.hidden,), *ln_c, LN_EPS)
        if self.w_hr[index] is None:
            torch.mul(self.o, torch.tanh(c_out, out=self.tmp), out=new_h)
        else:
            full = torch.mul(self.o, torch.tanh(c_out, out=self.tmp), out=self.tmp)  # (B, H)
            self.w_hr[index].into(full, new_h)  # (B, P)
        if p_c:
            torch.lerp(c_new, c, p_c, out=c)

    def _gru(self, index: int, h: Tensor, gi: Tensor) -> Tensor:
        """GRU step from the input gates: r, z = σ(gi + gh), n = tanh(gi_n + r ⊙ gh_n),
        h' = n + z ⊙ (h − n)."""
        H = self.hidden
        gh = self._recurrent(index, h, self.gh)  # (B, 3H)
        self.rz.add_(gh[:, : 2 * H]).sigmoid_()
        n = self.n.add_(torch.mul(self.r, gh[:, 2 * H :], out=self.tmp)).tanh_()
        step = torch.sub(h, n, out=self.tmp).mul_(self.z)
        p_h = self.zoneout[0]
        if not p_h:
            return torch.add(n, step, out=h)
        torch.add(n, step, out=self.h_new)
        return torch.lerp(self.h_new, h, p_h, out=h)


class ModuleStep:
    """The fallback: steps the CharLM module itself, its whole forward once per character.

    Same calls as `FastStep` (``reset``, ``step``, ``state``); any model, any option, exactly
    the module's output (this is how `rnnlab sample` stepped every model before `FastStep`).
    """

    def __init__(self, model: torch.nn.Module):
        self.model = model
        self.batch = 1
        self._state: State | None = None

    def reset(self, state: State | None = None, batch: int | None = None) -> None:
        """Start from ``state`` (module form; batch 1 is repeated over ``batch`` rows)."""
        first = state[0] if isinstance(state, tuple) else state
        if batch is None:
            batch = 1 if first is None else first.shape[1]
        if state is not None:
            parts = state if isinstance(state, tuple) else (state,)
            parts = tuple(s.expand(s.shape[0], batch, s.shape[2]).contiguous() for s in parts)
            state = parts if isinstance(state, tuple) else parts[0]
        self.batch, self._state = batch, state

    @property
    def state(self) -> State | None:
        return self._state

    @torch.inference_mode()
    def step(self, tokens: Tensor) -> Tensor:
        """tokens (B,) int64 → logits (B, V) of the next character."""
        logits, self._state = self.model(tokens.view(1, -1), self._state)  # (1, B, V)
        return logits[0]


def make_stepper(
    model: torch.nn.Module, *, kind: str = "auto", matmul: str = "auto"
) -> FastStep | ModuleStep:
    """The stepper for ``model``: "fast" (`FastStep`, InputError if it cannot), "module" (the
    fallback, `ModuleStep`) or "auto" (`FastStep` where it computes the model exactly, else
    `ModuleStep`); `matmul` as `FastStep`'s."""
    if kind not in KINDS:
        raise InputError(f"sample: expected stepper in {', '.join(KINDS)}, got {kind!r}")
    if kind == "module" or (kind == "auto" and fast_step_unsupported(model) is not None):
        return ModuleStep(model)
    return FastStep.from_model(model, matmul=matmul)
