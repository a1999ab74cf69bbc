"""Gradient flow through time: ‖∂L/∂h_t‖ and ‖∂h_T/∂h_t‖ for every layer and step of a model.

Backpropagation through time multiplies one Jacobian per step,

    ∂h_T/∂h_t = ∏_{k=t+1..T} ∂h_k/∂h_{k−1},   for the RNN  ∂h_k/∂h_{k−1} = diag(σ'(a_k)) W_hh,

so the gradient that reaches step t shrinks or grows geometrically with the distance T − t
(Pascanu, Mikolov & Bengio 2013). This module measures both quantities on a real model. For
layer l and step t (t = 0 is the initial state, t = 1..T the state after input t):

* ``dL_dh[l, t]`` = ‖∂L/∂h^l_t‖₂, with h^l_t the layer's state *as a node of the graph*: the
  derivative gathers every path from h^l_t to the loss, through the later steps of its layer
  and through the layers above. For the LSTM the state is the pair (h, c) and ∂L/∂h^l_t holds
  c^l_t fixed; ``dL_dc`` is ∂L/∂c^l_t.
* ``dhT_dh[l, t]`` = ‖∂h^l_T/∂h^l_t‖, the norm of the P×P Jacobian of the layer's last state
  with respect to its state at t (``dhT_dc``: the P×H one with respect to c^l_t): by default
  the spectral norm (the largest singular value; 1 at t = T), or the Frobenius norm (√P at
  t = T). The Jacobians are computed exactly, not estimated: P vector-Jacobian products, one
  per unit of h^l_T and batched with ``is_grads_batched``, give row k of every J_t at once.

Each norm is taken per sequence of the batch and averaged over the batch (sequences do not
interact, so the gradient of a summed loss is each sequence's own).

How: the model's recurrent layer (one `rnnlab.nn.RNN`, `LSTM` or `GRU`, unidirectional) is
swapped, for one forward pass, for a twin that runs it one layer and one step at a time with
the layer's own weights and the cell functions of `rnnlab.functional.cells` (layer norm, the
LSTM's projection and zoneout's evaluation expectation included) and keeps every state; the
model's own forward and the caller's loss do the rest. The model computes in evaluation mode
(no dropout). Cost: one forward and backward pass for ∂L/∂h, and P/chunk batched backward
passes per layer for the Jacobians; the spectral norm also holds every Jacobian at once,
(T + 1)·B·P² numbers per layer.
"""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor, nn
from torch.nn.utils.rnn import PackedSequence

from rnnlab.backends import LayerWeights, State
from rnnlab.errors import InputError
from rnnlab.functional.cells import gru_cell, lstm_cell, rnn_cell
from rnnlab.functional.regularize import zoneout
from rnnlab.nn.recurrent import RecurrentBase

NORMS = ("spectral", "fro")
SPECTRAL_LIMIT = 1 << 26  # Jacobian entries the spectral norm may hold (512 MiB in fp64, twice)


@dataclass
class StateTrace:
    """Every state of one layer over a sequence, each a node of the autograd graph.

    Attributes:
        h: T + 1 tensors (B, P): h_0 (the initial state), h_1, …, h_T.
        c: for the LSTM, T + 1 tensors (B, H): c_0, …, c_T; else None.
    """

    h: list[Tensor]
    c: list[Tensor] | None = None


@dataclass(frozen=True)
class GradFlow:
    """Per-layer, per-step gradient norms of one model on one input (module docstring).

    Attributes:
        cell: "rnn_tanh", "rnn_relu", "lstm" or "gru".
        norm: the Jacobian norm, "spectral" or "fro".
        loss: the value of the loss that was differentiated.
        dL_dh, dhT_dh: (L, T + 1) arrays, column t = 0 the initial state; batch means.
        dL_dc, dhT_dc: the same for the LSTM's cell state, else None.
        source: a few words on the input (for reports).
    """

    cell: str
    norm: str
    loss: float
    dL_dh: np.ndarray
    dhT_dh: np.ndarray
    dL_dc: np.ndarray | None = None
    dhT_dc: np.ndarray | None = None
    source: str = ""

    @property
    def layers(self) -> int:
        return self.dL_dh.shape[0]

    @property
    def steps(self) -> int:
        """T: the steps of the input (the arrays have T + 1 columns)."""
        return self.dL_dh.shape[1] - 1

    def rows(self) -> list[tuple[int, int, float, float]]:
        """(layer, t, dL_dh, dhT_dh) for every layer and step, as the CSV lists them."""
        return [
            (layer, t, float(self.dL_dh[layer, t]), float(self.dhT_dh[layer, t]))
            for layer in range(self.layers)
            for t in range(self.steps + 1)
        ]


def check_norm(owner: str, norm: str) -> str:
    if norm not in NORMS:
        raise InputError(f"{owner}: expected norm in {', '.join(NORMS)}, got {norm!r}")
    return norm


def check_layer(owner: str, layer: object) -> RecurrentBase:
    """`layer` if it is a unidirectional rnnlab.nn RNN, LSTM or GRU, else an InputError."""
    if not isinstance(layer, RecurrentBase):
        raise InputError(
            f"{owner}: expected an rnnlab.nn RNN, LSTM or GRU layer, got {type(layer).__name__}"
        )
    if layer.bidirectional:
        raise InputError(
            f"{owner}: a bidirectional {type(layer).__name__} has no single last state to "
            "differentiate; expected a unidirectional layer"
        )
    return layer


def _step(layer: RecurrentBase, w: LayerWeights) -> Callable:
    """One layer's step ``state' = step(x_t, state)`` in evaluation mode."""
    mode = layer.spec.mode
    p_h, p_c = layer.zoneout
    if mode == "lstm":

        def lstm_step(x: Tensor, state: tuple[Tensor, Tensor]) -> tuple[Tensor, Tensor]:
            h, c = state
            h_new, c_new = lstm_cell(
                x,
                (h, c),
                w.w_ih,
                w.w_hh,
                w.b_ih,
                w.b_hh,
                w_hr=w.w_hr,
                ln_ih=w.ln_ih,
                ln_hh=w.ln_hh,
                ln_c=w.ln_c,
            )
            return zoneout(h, h_new, p_h), zoneout(c, c_new, p_c)

        return lstm_step
    if mode == "gru":
        return lambda x, h: zoneout(
            h, gru_cell(x, h, w.w_ih, w.w_hh, w.b_ih, w.b_hh, ln_ih=w.ln_ih, ln_hh=w.ln_hh), p_h
        )
    act = mode.removeprefix("rnn_")
    return lambda x, h: zoneout(
        h,
        rnn_cell(
            x, h, w.w_ih, w.w_hh, w.b_ih, w.b_hh, nonlinearity=act, ln_ih=w.ln_ih, ln_hh=w.ln_hh
        ),
        p_h,
    )


def _node(state: Tensor) -> Tensor:
    """The state as a tensor autograd can differentiate with respect to."""
    return state if state.requires_grad else state.detach().clone().requires_grad_(True)


def unroll_layers(
    layer: RecurrentBase, x: Tensor, hx: State | None = None
) -> tuple[Tensor, State, list[StateTrace]]:
    """Run a recurrent stack one layer and one step at a time, keeping every state.

    Computes what ``layer(x, hx)`` computes in evaluation mode (no dropout between layers,
    no DropConnect, zoneout's expectation), with the layer's weights and
    `rnnlab.functional.cells`: h^l_t = cell(h^{l−1}_t, h^l_{t−1}), h^{−1}_t = x_t.

    Args:
        layer: a unidirectional `rnnlab.nn.RNN`, `LSTM` or `GRU`.
        x: (T, B, I) time-major input.
        hx: initial state as the layer takes it, h_0 (L, B, P) or (h_0, c_0); None: zeros.

    Returns:
        ``(output (T, B, P), final state in the layer's format, one StateTrace per layer)``;
        an initial state that does not require grad is replaced by a leaf copy that does.
    """
    owner = f"gradflow: {type(layer).__name__}"
    check_layer(owner, layer)
    if not isinstance(x, Tensor) or x.dim() != 3 or x.shape[-1] != layer.input_size:
        shape = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
        raise InputError(
            f"{owner}: expected input of shape (T, B, {layer.input_size}), got {shape}"
        )
    lstm = layer.spec.mode == "lstm"
    state = layer.init_state(x.shape[1]) if hx is None else hx
    h0, c0 = state if lstm else (state, None)
    traces, inputs = [], x
    for index, weights in enumerate(layer.layer_weights()):
        step = _step(layer, weights)
        h = _node(h0[index])
        trace = StateTrace([h], [_node(c0[index])] if lstm else None)
        for x_t in inputs:
            if lstm:
                h, c = step(x_t, (h, trace.c[-1]))  # (B, P), (B, H)
                trace.c.append(c)
            else:
                h = step(x_t, h)  # (B, P)
            trace.h.append(h)
        traces.append(trace)
        inputs = torch.stack(trace.h[1:])  # (T, B, P)
    h_n = torch.stack([trace.h[-1] for trace in traces])  # (L, B, P)
    final = (h_n, torch.stack([trace.c[-1] for trace in traces])) if lstm else h_n
    return inputs, final, traces


class _Recorder(nn.Module):
    """Stands in for a recurrent layer for one forward pass and keeps its states."""

    def __init__(self, layer: RecurrentBase):
        super().__init__()
        self.layer = layer
        self.traces: list[StateTrace] | None = None

    def forward(self, input: Tensor, hx: State | None = None, *, lengths=None):
        owner = f"gradflow: {type(self.layer).__name__}"
        if lengths is not None or isinstance(input, PackedSequence):
            raise InputError(f"{owner}: expected a padded input of whole sequences (no lengths)")
        if self.traces is not None:
            raise InputError(f"{owner}: the model ran its recurrent layer more than once")
        batch_first = self.layer.batch_first and isinstance(input, Tensor) and input.dim() == 3
        x = input.transpose(0, 1) if batch_first else input  # (T, B, I)
        y, state, self.traces = unroll_layers(self.layer, x, hx)
        return (y.transpose(0, 1) if batch_first else y), state


def find_recurrent_layer(model: nn.Module) -> tuple[str, RecurrentBase]:
    """The qualified name and module of the model's one recurrent layer ("" for the model).

    Raises:
        InputError: the model holds no rnnlab.nn RNN, LSTM or GRU (e.g. a TCN, or the
            parallel-scan min cells), or several.
    """
    found = [(name, m) for name, m in model.named_modules() if isinstance(m, RecurrentBase)]
    kind = type(model).__name__
    if not found:
        raise InputError(
            f"gradflow: {kind} has no recurrent layer (rnnlab.nn RNN, LSTM or GRU) whose "
            "state could be followed through time; a TCN has no recurrent state, and the "
            "parallel-scan min cells are not supported"
        )
    if len(found) > 1:
        names = ", ".join(name or "(the model)" for name, _ in found)
        raise InputError(
            f"gradflow: {kind} has {len(found)} recurrent layers ({names}); expected one"
        )
    return found[0]


@contextlib.contextmanager
def _recording(model: nn.Module) -> Iterator[tuple[nn.Module, _Recorder]]:
    """(what to call as the model, the recorder) with the recurrent layer swapped, eval mode."""
    name, layer = find_recurrent_layer(model)
    check_layer(f"gradflow: {type(model).__name__}", layer)
    recorder = _Recorder(layer)
    training = model.training
    model.eval()
    parent_name, _, child = name.rpartition(".")
    parent = model.get_submodule(parent_name) if name else None
    if parent is not None:
        setattr(parent, child, recorder)
    try:
        yield (model if parent is not None else recorder), recorder
    finally:
        if parent is not None:
            setattr(parent, child, layer)
        model.train(training)


def state_jacobian_norms(
    last: Tensor,
    states: list[Tensor],
    *,
    norm: str = "spectral",
    chunk: int = 64,
    on_chunk: Callable[[], object] | None = None,
) -> Tensor:
    """‖∂last/∂s‖ for each state s, per sequence, computed exactly.

    Row k of every Jacobian comes from one vector-Jacobian product with e_k; ``chunk`` of
    them run batched (``is_grads_batched``) per backward pass.

    Args:
        last: (B, P) the last state; the graph from each state to it must still exist.
        states: N tensors (B, S) that `last` depends on (it may be among them).
        norm: "spectral" (largest singular value) or "fro" (Frobenius).
        chunk: rows per batched backward pass.
        on_chunk: called after each backward pass (e.g. to advance a progress bar).

    Returns:
        (N, B) norms of the P×S Jacobians.
    """
    check_norm("state_jacobian_norms", norm)
    batch, width = last.shape
    spectral = norm == "spectral"
    if spectral:
        entries = sum(s.shape[0] * width * s.shape[-1] for s in states)
        if entries > SPECTRAL_LIMIT:
            raise InputError(
                f"gradflow: the spectral norm holds every Jacobian at once ({entries:,} "
                f"numbers, over the limit of {SPECTRAL_LIMIT:,}); use the Frobenius norm "
                "(--norm fro), a shorter input or a smaller batch"
            )
        full = [s.new_zeros(batch, width, s.shape[-1]) for s in states]  # N × (B, P, S)
    else:
        squares = last.new_zeros(len(states), batch)
    eye = torch.eye(width, dtype=last.dtype, device=last.device)
    for k0 in range(0, width, chunk):
        rows = eye[k0 : k0 + chunk, None, :].expand(-1, batch, -1)  # (K, B, P)
        grads = torch.autograd.grad(
            last,
            states,
            grad_outputs=rows,
            retain_graph=True,
            is_grads_batched=True,
            allow_unused=True,
        )  # N × (K, B, S), None where `last` does not depend on the state
        for i, g in enumerate(grads):
            if g is None:
                continue
            if spectral:
                full[i][:, k0 : k0 + chunk] = g.transpose(0, 1)
            else:
                squares[i] += g.square().sum(dim=(0, 2))
        if on_chunk is not None:
            on_chunk()
    if not spectral:
        return squares.sqrt()
    norms = [  # one batched SVD per run of equally shaped Jacobians (h's, then c's)
        torch.linalg.matrix_norm(torch.stack(list(group)), ord=2)
        for _, group in itertools.groupby(full, key=lambda j: j.shape)
    ]
    return torch.cat(norms)  # (N, B)


def _mean_norms(grads: list[Tensor]) -> np.ndarray:
    """(N,) batch means of the row norms of N gradients (B, S)."""
    norms = torch.stack([torch.linalg.vector_norm(g, dim=-1).mean() for g in grads])
    return norms.detach().cpu().double().numpy()


def gradient_flow(
    model: nn.Module,
    loss_fn: Callable[[nn.Module], Tensor],
    *,
    norm: str = "spectral",
    chunk: int = 64,
    source: str = "",
    progress: bool = False,
) -> GradFlow:
    """‖∂L/∂h^l_t‖ and ‖∂h^l_T/∂h^l_t‖ of a model for every layer l and step t.

    Args:
        model: a model with one unidirectional rnnlab.nn RNN, LSTM or GRU (or that layer
            itself) that its forward pass calls once, on whole sequences.
        loss_fn: ``loss_fn(m) -> L``: runs ``m`` (call it as the model) on the input and
            returns the scalar loss, a sum over the sequences of each one's loss (e.g. its
            last step's, or the sum over its steps).
        norm: the Jacobian norm, "spectral" or "fro".
        chunk: vector-Jacobian products per batched backward pass.
        source: a few words on the input, kept in the result.
        progress: show a tqdm bar over the backward passes (when stderr is a terminal).

    Returns:
        A `GradFlow` (the module docstring defines its quantities).
    """
    from tqdm.auto import tqdm

    check_norm("gradient_flow", norm)
    if chunk < 1:
        raise InputError(f"gradient_flow: expected chunk >= 1, got {chunk}")
    with _recording(model) as (runner, recorder):
        loss = loss_fn(runner)
    if recorder.traces is None:
        raise InputError("gradflow: the loss function never ran the model's recurrent layer")
    if not isinstance(loss, Tensor) or loss.numel() != 1 or not loss.requires_grad:
        raise InputError("gradflow: expected the loss function to return a scalar tensor")
    loss = loss.reshape(())
    traces = recorder.traces
    lstm = traces[0].c is not None
    nodes = [s for trace in traces for s in (trace.h + (trace.c or []))]
    grads = torch.autograd.grad(
        loss, nodes, retain_graph=True, allow_unused=True, materialize_grads=True
    )
    layers, steps = len(traces), len(traces[0].h)
    per_layer = (2 if lstm else 1) * steps
    d_loss = _mean_norms(list(grads)).reshape(layers, per_layer)
    width = traces[0].h[0].shape[-1]
    passes = layers * -(-width // chunk)
    d_last = []
    with tqdm(
        total=passes, desc="gradflow", unit="pass", disable=None if progress else True
    ) as bar:
        for trace in traces:
            states = trace.h + (trace.c or [])
            norms = state_jacobian_norms(
                trace.h[-1], states, norm=norm, chunk=chunk, on_chunk=bar.update
            )
            d_last.append(norms.mean(1))
    d_last = torch.stack(d_last).detach().cpu().double().numpy()  # (L, per_layer)
    return GradFlow(
        cell=recorder.layer.spec.mode,
        norm=norm,
        loss=float(loss.detach()),
        dL_dh=d_loss[:, :steps],
        dhT_dh=d_last[:, :steps],
        dL_dc=d_loss[:, steps:] if lstm else None,
        dhT_dc=d_last[:, steps:] if lstm else None,
        source=source,
    )
