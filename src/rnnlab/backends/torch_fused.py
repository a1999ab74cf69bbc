"""torch's own fused recurrent ops (cuDNN on GPU, oneDNN on CPU) behind the backend contract.

Used wherever the fused op computes the configuration exactly: plain cells, proj_size,
torch's per-step inter-layer dropout, packed input, ``lengths`` (packed with
``enforce_sorted=False`` and unpacked back to T steps), DropConnect on W_hh (the dropped
weights are formed before the call) and locked dropout (one call per layer, the mask applied
between the calls).  Layer norm and zoneout are not computed by it.

DropConnect on CUDA.  cuDNN wants all weights as views into one buffer laid out its own way;
given separate tensors it copies them into one at every call and warns ("RNN module weights
are not part of single contiguous chunk of memory").  The modules keep their parameters
flattened into that buffer (``flatten_parameters``, as torch.nn does), so the layout is known:
each parameter's offset is its ``storage_offset()``.  With a DropConnect mask the dropped
weights are assembled by one ``torch.cat`` into a fresh buffer of the same layout and the op
receives views into it; cuDNN finds a single chunk and does not warn, and gradients flow back
through the views and the ``cat`` to the parameters.  Locked dropout runs one call per
layer; on CUDA each call's weights are laid out the same way in a buffer of their own, in the
one-layer layout that cuDNN reports for them.

LSTM projections on CPU.  oneDNN has no LSTM projection: given proj_size, torch warns and
falls back to its own (ATen) implementation.  The backend switches oneDNN off for that one
call so torch takes the ATen implementation directly, without the warning.  The switch is
process-wide for the duration of the call (a concurrent thread's call may then skip oneDNN
too, which changes speed, not results).

bf16 autocast on CPUs without native bf16.  Under CPU autocast torch sends the LSTM to
oneDNN's bf16 primitive, which oneDNN cannot build on a CPU without AVX-512 (AVX2 only, such
as AMD Zen 3): torch.nn.LSTM itself fails there with "could not create a primitive descriptor
for the LSTM forward propagation primitive".  When that happens the backend runs the same
call on operands cast to the autocast dtype with autocast off (what autocast would have
computed, by torch's non-oneDNN kernels) and remembers to do so for the rest of the process.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools

import torch
import torch.backends.cudnn.rnn
import torch.backends.mkldnn
from torch import Tensor
from torch.nn.utils.rnn import PackedSequence, pack_padded_sequence, pad_packed_sequence

from rnnlab.backends.contract import LayerWeights, Masks, RecurrentSpec, State, permute_state

_CUDNN_MODES = {"lstm": "LSTM", "gru": "GRU", "rnn_tanh": "RNN_TANH", "rnn_relu": "RNN_RELU"}
_OPS = {
    "lstm": torch.lstm,
    "gru": torch.gru,
    "rnn_tanh": torch.rnn_tanh,
    "rnn_relu": torch.rnn_relu,
}


@contextlib.contextmanager
def onednn_off():
    """Switch oneDNN off for one call (it has no LSTM projection, see the module docstring)."""
    before = torch.backends.mkldnn.enabled
    torch.backends.mkldnn.enabled = False
    try:
        yield
    finally:
        torch.backends.mkldnn.enabled = before


def _place(values: list[Tensor], offsets: list[int], size: int) -> list[Tensor]:
    """Views shaped like ``values`` into one fresh buffer of ``size`` elements (one ``cat``).

    ``values[i]`` starts at ``offsets[i]``; gaps are zero-filled.
    """
    pieces, end = [], 0
    for i in sorted(range(len(values)), key=lambda i: offsets[i]):
        if offsets[i] > end:
            pieces.append(values[i].new_zeros(offsets[i] - end))
        pieces.append(values[i].reshape(-1))
        end = offsets[i] + values[i].numel()
    if size > end:
        pieces.append(values[0].new_zeros(size - end))
    buffer = torch.cat(pieces)  # (size,)
    return [buffer[o : o + v.numel()].view_as(v) for v, o in zip(values, offsets, strict=True)]


def _single_chunk(params: list[Tensor], values: list[Tensor]) -> list[Tensor]:
    """Place ``values`` in one fresh buffer where ``params`` sit in their shared storage.

    Returns views shaped like ``params``; ``values`` unchanged when the parameters do not
    share one storage (then cuDNN copies, exactly as it would for torch.nn).
    """
    storage = params[0].untyped_storage()
    if any(p.untyped_storage().data_ptr() != storage.data_ptr() for p in params):
        return values
    size = storage.nbytes() // params[0].element_size()
    return _place(values, [p.storage_offset() for p in params], size)


@functools.lru_cache(maxsize=64)
def _cudnn_layer_layout(
    mode: str, shapes: tuple, hidden: int, proj: int, bidirectional: bool, dtype, device
) -> tuple[list[int], int]:
    """Offsets of one layer's weights in cuDNN's buffer for a one-layer stack, and its size.

    Asked of cuDNN itself: scratch tensors of the layer's shapes are flattened the way
    ``flatten_parameters`` does it, and their offsets read back.
    """
    scratch = [torch.empty(shape, dtype=dtype, device=device) for shape in shapes]
    per_direction = len(shapes) // (2 if bidirectional else 1)
    buffer = torch._cudnn_rnn_flatten_weight(
        scratch,
        per_direction,
        shapes[0][1],
        torch.backends.cudnn.rnn.get_cudnn_mode(_CUDNN_MODES[mode]),
        hidden,
        proj,
        1,
        False,
        bidirectional,
    )
    return [t.storage_offset() for t in scratch], buffer.numel()


def _layer_chunk(spec: RecurrentSpec, values: list[Tensor]) -> list[Tensor]:
    """One layer's weights laid out as cuDNN wants them for a one-layer call (CUDA only).

    A slice of the whole stack's buffer does not do: cuDNN reads the weights from the start
    of their storage, so every layer after the first would be copied, with a warning.
    """
    if not (values[0].is_cuda and torch._use_cudnn_rnn_flatten_weight()):
        return values
    offsets, size = _cudnn_layer_layout(
        spec.mode,
        tuple(tuple(v.shape) for v in values),
        spec.hidden_size,
        spec.proj_size,
        spec.bidirectional,
        values[0].dtype,
        values[0].device,
    )
    return _place(values, offsets, size)


def _fused_weights(weights: list[LayerWeights], masks: Masks) -> list[Tensor]:
    """The flat weight list of torch's fused ops, W_hh after DropConnect."""
    values = [
        t
        for i, w in enumerate(weights)
        for t in dataclasses.replace(w, w_hh=masks.dropped_w_hh(i, w.w_hh)).torch_order()
    ]
    # the whole stack in one call: cuDNN's buffer is the parameters' own (layer by layer,
    # `_layer_chunk` lays each call's weights out instead)
    if masks.weight_hh is not None and masks.between_layers is None and values[0].is_cuda:
        values = _single_chunk([t for w in weights for t in w.torch_order()], values)
    return values


def _call(
    spec: RecurrentSpec,
    x: Tensor,
    batch_sizes: Tensor | None,
    state: State,
    flat: list[Tensor],
    num_layers: int,
    dropout: float,
    training: bool,
) -> tuple[Tensor, State]:
    """One call of the fused op on padded (T, B, I) or packed (N, I) input."""
    op = _OPS[spec.mode]
    options = (spec.bias, num_layers, dropout, training, spec.bidirectional)
    args = (
        (x, state, flat, *options, False)
        if batch_sizes is None
        else (x, batch_sizes, state, flat, *options)
    )
    cpu = x.device.type == "cpu"
    if spec.proj_size and cpu:
        with onednn_off():
            result = op(*args)
    elif cpu and torch.is_autocast_enabled("cpu"):
        result = _call_cpu_autocast(op, args)
    else:
        result = op(*args)
    if spec.mode == "lstm":
        return result[0], (result[1], result[2])
    return result[0], result[1]


_AUTOCAST_PRIMITIVE_FAILS = False  # set once oneDNN has refused a bf16 primitive on this CPU


def _call_cpu_autocast(op, args: tuple) -> tuple:
    """``op(*args)`` under CPU autocast; where oneDNN has no bf16 primitive for it (CPUs
    without AVX-512), the same computation on operands cast to the autocast dtype."""
    global _AUTOCAST_PRIMITIVE_FAILS
    if not _AUTOCAST_PRIMITIVE_FAILS:
        try:
            return op(*args)
        except RuntimeError as error:
            if "could not create a primitive" not in str(error):
                raise
            _AUTOCAST_PRIMITIVE_FAILS = True
    dtype = torch.get_autocast_dtype("cpu")

    def cast(value):
        if isinstance(value, Tensor) and value.is_floating_point():
            return value.to(dtype)
        if isinstance(value, (list, tuple)):
            return type(value)(cast(v) for v in value)
        return value

    with torch.autocast("cpu", enabled=False):
        return op(*cast(args))


def _rows(state: State, rows: slice) -> State:
    if isinstance(state, tuple):
        return tuple(s[rows] for s in state)
    return state[rows]


def _packed_rows(mask: Tensor, batch_sizes: Tensor) -> Tensor:
    """Expand a per-sequence mask (B, F) to the rows of packed data (N, F)."""
    batch = torch.cat([torch.arange(int(n)) for n in batch_sizes]).to(mask.device)  # (N,)
    return mask.index_select(0, batch)


def _run(
    spec: RecurrentSpec,
    flat: list[Tensor],
    x: Tensor,
    batch_sizes: Tensor | None,
    state: State,
    masks: Masks,
) -> tuple[Tensor, State]:
    """The whole stack in one call, or one call per layer with locked dropout between."""
    if masks.between_layers is None:
        return _call(
            spec, x, batch_sizes, state, flat, spec.num_layers, spec.dropout, masks.training
        )
    dirs = spec.num_directions
    per_layer = len(flat) // spec.num_layers
    finals = []
    for layer in range(spec.num_layers):
        if layer:
            mask = masks.between_layers[layer - 1]  # (B, D·P)
            x = x * (mask if batch_sizes is None else _packed_rows(mask, batch_sizes))
        layer_flat = _layer_chunk(spec, flat[layer * per_layer : (layer + 1) * per_layer])
        layer_state = _rows(state, slice(layer * dirs, (layer + 1) * dirs))
        x, final = _call(spec, x, batch_sizes, layer_state, layer_flat, 1, 0.0, masks.training)
        finals.append(final)
    if spec.mode == "lstm":
        return x, (torch.cat([f[0] for f in finals]), torch.cat([f[1] for f in finals]))
    return x, torch.cat(finals)


def _eager(
    spec: RecurrentSpec,
    weights: list[LayerWeights],
    x: Tensor,
    state: State,
    batch_sizes: Tensor | None,
    lengths: Tensor | None,
    masks: Masks,
) -> tuple[Tensor, State]:
    """`TorchFusedBackend.forward`'s work, run eagerly: outside any torch.compile graph.

    Under torch.compile, torch's decomposition of the CPU LSTM into oneDNN layer ops rejects
    the fused op (`expected Tensor() for op: torch.ops.aten.mkldnn_rnn_layer`); torch.nn's own
    recurrent modules are not traced either (dynamo's `allow_rnn` is off by default, so they
    run eagerly). What the backend does around the op (DropConnect, locked dropout, packing
    for ``lengths``) runs eagerly with it, so a compiled layer breaks its graph once per
    call however many fused calls (one per layer with locked dropout) it makes; the layer's
    own work before and after (checks, state, masks, output layout) compiles.
    """
    flat = _fused_weights(weights, masks)
    if lengths is None:
        return _run(spec, flat, x, batch_sizes, state, masks)
    packed = pack_padded_sequence(x, lengths.cpu(), enforce_sorted=False)
    order, undo = packed.sorted_indices, packed.unsorted_indices
    if masks.between_layers is not None:
        between = tuple(m.index_select(0, order) for m in masks.between_layers)
        masks = dataclasses.replace(masks, between_layers=between)
    y, state = _run(spec, flat, packed.data, packed.batch_sizes, permute_state(state, order), masks)
    y, _ = pad_packed_sequence(
        PackedSequence(y, packed.batch_sizes, order, undo), total_length=x.shape[0]
    )  # (T, B, D·P)
    return y, permute_state(state, undo)


# `_eager` kept out of torch.compile graphs. torch.compiler.disable imports torch._dynamo
# (1.5 s) when applied; torch's lazy form (`torch._disable_dynamo`) imports it at its first
# call. Called only while compiling, neither costs a program that never compiles (the CLI).
_disabled_eager = getattr(torch, "_disable_dynamo", torch.compiler.disable)(_eager)


def _eager_call(*args):
    if torch.compiler.is_compiling():
        return _disabled_eager(*args)  # a graph break; runs `_eager` eagerly
    return _eager(*args)


class TorchFusedBackend:
    """torch.lstm / torch.gru / torch.rnn_tanh / torch.rnn_relu, padded and packed."""

    name = "torch"

    def unsupported(self, spec: RecurrentSpec, device: torch.device) -> str | None:
        """Why ``spec`` cannot be computed exactly here, or None (see `Backend`)."""
        if spec.layer_norm:
            return "layer_norm is computed only by the loop backend"
        if any(spec.zoneout):
            return "zoneout is computed only by the loop backend"
        return None

    def forward(
        self,
        spec: RecurrentSpec,
        weights: list[LayerWeights],
        x: Tensor,
        state: State,
        *,
        batch_sizes: Tensor | None = None,
        lengths: Tensor | None = None,
        masks: Masks,
    ) -> tuple[Tensor, State]:
        """Run the stack; arguments and results as `rnnlab.backends.contract.Backend.forward`.

        Under torch.compile the whole call runs eagerly, at one graph break (`_eager`).
        """
        return _eager_call(spec, weights, x, state, batch_sizes, lengths, masks)
