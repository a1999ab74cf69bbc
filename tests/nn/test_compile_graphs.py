"""Graph breaks under torch.compile, configuration by configuration, against torch.nn.

Each configuration is compiled (dynamo's graph capture, then AOTAutograd's forward and backward
graphs run with eager kernels: ``backend="aot_eager"``, cheap enough for every case; inductor
itself is exercised in test_compile.py), its distinct graph breaks are read from dynamo's
counters, and its outputs and gradients are compared with the eager module's (fp32, 1e-5; in
training the same seed gives the same masks). What "no graph breaks where torch.nn has none"
means, case by case:

* Cells: torch.nn's cells compile into one graph (``fullgraph=True``); so do rnnlab's, with
  layer norm and zoneout (training and evaluation), unbatched input and a given state.
* Layers: torch.nn's RNN, LSTM and GRU are never traced: dynamo refuses to wrap them
  ("Attempted to wrap RNN, GRU, or LSTM"; ``allow_rnn`` is off by default), so a call of one
  is a graph break and the frame calling it runs eagerly. An rnnlab layer breaks at most
  there too: once per call where it runs torch's fused op (which runs eagerly, with the
  packing, DropConnect and locked dropout around it, in `torch_fused._eager`), and never on
  the loop backend (layer norm, zoneout, or ``backend="loop"``): one graph with
  ``fullgraph=True``, with every extra, ``lengths=`` and packed input included.
* A PackedSequence without ``sorted_indices`` (packed with ``enforce_sorted=True``): the batch
  size exists only as ``batch_sizes[0]``, a value inside a tensor, which the layer reads (as
  torch.nn's does) at one more graph break; with ``enforce_sorted=False`` it is the length
  of ``sorted_indices`` and there is no break.
* MinGRU and MinLSTM (no torch.nn counterpart): tensor ops only, one graph for ``forward``
  and for ``step``.
"""

import contextlib
import re

import pytest
import torch
from torch._dynamo.utils import counters
from torch.nn.utils.rnn import PackedSequence, pack_padded_sequence, pad_packed_sequence

from rnnlab import nn as rnn
from rnnlab.backends import resolve
from rnnlab.backends.torch_fused import onednn_off

# Two warnings raised inside torch, not by rnnlab (as in test_compile.py): torch.compile's
# first import defines a torch.jit.script_method (deprecated in torch 2.13), and dynamo,
# resuming after the fused op (which runs eagerly, as torch.nn's RNN modules do), reads
# `.grad` of that op's outputs while building its guards. Without -W error neither is shown;
# as errors they abort tracing.
pytestmark = [
    pytest.mark.filterwarnings("ignore:`torch.jit.script_method` is deprecated:DeprecationWarning"),
    pytest.mark.filterwarnings(
        "ignore:The .grad attribute of a Tensor that is not a leaf Tensor:UserWarning"
    ),
]

# (torch._disable_dynamo, the lazy form of torch.compiler.disable, marks `_eager` as skipped)
FUSED = "Attempted to call function marked as skipped: _eager"
BATCH_READ = "Unsupported Tensor.item() call with capture_scalar_outputs=False"
TORCH_RNN = "Attempted to wrap RNN, GRU, or LSTM"

STEPS, BATCH, INPUT, HIDDEN = 3, 2, 4, 5
LENGTHS = [1, 3]  # unsorted: packing must reorder


def _break(reason: str) -> str:
    """A graph break's kind (its first line) and the function it skipped, where it names one."""
    first = reason.split("\n")[0]
    named = re.search(r"<function (\w+) at|qualname: (\w+)", reason)
    return f"{first}: {named.group(1) or named.group(2)}" if named else first


def flat(out):
    if isinstance(out, PackedSequence):
        return [out.data]
    if isinstance(out, tuple | list):
        return [t for o in out for t in flat(o)]
    return [out]


def outputs_and_grads(fn, module, make_inputs):
    """Outputs of ``fn`` and the gradients of their sum of squares (input, then parameters)."""
    leaf, args, kwargs = make_inputs()
    torch.manual_seed(7)  # the same masks on every call while training
    out = flat(fn(*args, **kwargs))
    loss = sum(o.square().sum() for o in out)
    grads = torch.autograd.grad(loss, [leaf, *module.parameters()], allow_unused=True)
    return [o.detach() for o in out], list(grads)


def compiled_breaks(fn, module, make_inputs, *, fullgraph):
    """Compile ``fn``, check it gives the eager outputs and gradients; its distinct breaks."""
    torch._dynamo.reset()
    counters.clear()
    compiled = torch.compile(fn, backend="aot_eager", fullgraph=fullgraph)
    got = outputs_and_grads(compiled, module, make_inputs)
    breaks = {_break(reason) for reason in counters["graph_break"]}
    # n breaks (each once per call) split a call into at most n + 1 graphs
    assert counters["stats"]["unique_graphs"] <= len(breaks) + 1
    want = outputs_and_grads(fn, module, make_inputs)
    for part_got, part_want in zip(got, want, strict=True):
        assert len(part_got) == len(part_want)
        for a, b in zip(part_got, part_want, strict=True):
            assert (a is None) == (b is None)
            if b is not None:
                torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)
    return breaks


def layer_inputs(kind, batch_first=False):
    """A maker of fresh inputs of one kind for a layer: (leaf, args, kwargs)."""

    def make():
        torch.manual_seed(3)
        shape = (BATCH, STEPS, INPUT) if batch_first else (STEPS, BATCH, INPUT)
        x = torch.randn(shape, requires_grad=True)
        if kind == "plain":
            return x, (x,), {}
        if kind == "unbatched":
            x = torch.randn(STEPS, INPUT, requires_grad=True)
            return x, (x,), {}
        if kind == "lengths":
            return x, (x,), {"lengths": torch.tensor(LENGTHS)}
        if kind == "packed":
            packed = pack_padded_sequence(x, LENGTHS, batch_first, enforce_sorted=False)
            return x, (packed,), {}
        if kind == "packed_sorted":
            return x, (pack_padded_sequence(x, sorted(LENGTHS, reverse=True), batch_first),), {}
        raise AssertionError(kind)

    return make


# (name, options, input kind, training); T = 3, so "auto" picks the fused op where it can.
LAYER_CASES = [
    *[(name, {"backend": backend}, "plain", False)
      for name in ("RNN", "LSTM", "GRU") for backend in ("auto", "torch", "loop")],
    ("LSTM", {"layer_norm": True}, "plain", True),
    ("GRU", {"layer_norm": True}, "lengths", False),
    ("RNN", {"layer_norm": True, "zoneout": 0.1, "nonlinearity": "relu"}, "plain", True),
    ("LSTM", {"zoneout": (0.2, 0.1)}, "plain", True),
    ("LSTM", {"zoneout": 0.2, "bidirectional": True}, "plain", False),
    ("GRU", {"zoneout": 0.2}, "packed", True),
    ("LSTM", {"weight_drop": 0.3}, "plain", True),
    ("GRU", {"weight_drop": 0.3, "backend": "loop"}, "plain", True),
    ("LSTM", {"num_layers": 2, "dropout": 0.3}, "plain", True),
    ("RNN", {"num_layers": 2, "dropout": 0.3, "backend": "loop"}, "plain", True),
    ("LSTM", {"num_layers": 2, "dropout": 0.3, "locked_dropout": True}, "plain", True),
    ("GRU", {"num_layers": 2, "dropout": 0.3, "locked_dropout": True, "backend": "loop"},
     "plain", True),
    ("GRU", {}, "lengths", False),
    ("LSTM", {"bidirectional": True, "backend": "loop"}, "lengths", False),
    ("LSTM", {"num_layers": 2, "bidirectional": True, "dropout": 0.3, "locked_dropout": True,
              "weight_drop": 0.3}, "lengths", True),
    ("GRU", {"bidirectional": True}, "packed", False),
    ("LSTM", {"num_layers": 2, "backend": "loop"}, "packed", False),
    ("LSTM", {"num_layers": 2, "dropout": 0.3, "locked_dropout": True}, "packed", True),
    ("RNN", {}, "packed_sorted", False),
    ("RNN", {"backend": "loop"}, "packed_sorted", False),
    ("LSTM", {"proj_size": 3}, "plain", False),
    ("LSTM", {"proj_size": 3, "bidirectional": True, "backend": "loop"}, "lengths", False),
    ("GRU", {"batch_first": True}, "plain", False),
    ("LSTM", {"batch_first": True, "layer_norm": True}, "packed", False),
    ("LSTM", {}, "unbatched", False),
    ("GRU", {"backend": "loop"}, "unbatched", False),
]  # fmt: skip

TORCH_OPTIONS = {"num_layers", "nonlinearity", "dropout", "bidirectional", "proj_size",
                 "batch_first"}  # fmt: skip


def _case_id(case):
    name, options, kind, training = case
    opts = ",".join(f"{k}={v}" for k, v in options.items())
    return f"{name}[{opts}]-{kind}-{'train' if training else 'eval'}"


@pytest.mark.parametrize("case", LAYER_CASES, ids=_case_id)
def test_layer_breaks_only_at_the_fused_op(case):
    name, options, kind, training = case
    torch.manual_seed(0)
    layer = getattr(rnn, name)(INPUT, HIDDEN, **options).train(training)
    backend = resolve(layer.backend, layer.spec, "cpu", steps=STEPS).name
    expected = {FUSED} if backend == "torch" else set()
    if kind == "packed_sorted":
        expected.add(BATCH_READ)
    make = layer_inputs(kind, batch_first=options.get("batch_first", False))
    breaks = compiled_breaks(layer, layer, make, fullgraph=not expected)
    assert breaks == expected

    torch_options = {key: value for key, value in options.items() if key != "backend"}
    if set(torch_options) <= TORCH_OPTIONS and kind != "lengths":
        # torch.nn on the same call: the module is not traced at all
        twin = getattr(torch.nn, name)(INPUT, HIDDEN, **torch_options).train(training)
        # oneDNN has no projection: torch would warn and fall back (see test_conformance.py)
        with onednn_off() if options.get("proj_size") else contextlib.nullcontext():
            assert compiled_breaks(twin, twin, make, fullgraph=False) == {TORCH_RNN}


def test_torch_nn_layer_with_lengths_breaks_too():
    """torch.nn's equivalent of `lengths=` (pack, run, pad) breaks at the packing and the layer."""
    torch.manual_seed(0)
    twin = torch.nn.GRU(INPUT, HIDDEN)

    def with_lengths(x, lengths):
        packed = pack_padded_sequence(x, lengths, enforce_sorted=False)
        y, h = twin(packed)
        return pad_packed_sequence(y, total_length=x.shape[0])[0], h

    def make():
        torch.manual_seed(3)
        x = torch.randn(STEPS, BATCH, INPUT, requires_grad=True)
        return x, (x, torch.tensor(LENGTHS)), {}

    breaks = compiled_breaks(with_lengths, twin, make, fullgraph=False)
    assert "Attempted to call function marked as skipped: pack_padded_sequence" in breaks


def test_lengths_are_checked_inside_the_graph():
    """Compiled, a bad length is still an error naming the layer (torch's RuntimeError, raised
    by the graph's own check) and the check costs no graph break."""
    torch.manual_seed(0)
    layer = rnn.LSTM(INPUT, HIDDEN, layer_norm=True)
    x = torch.randn(STEPS, BATCH, INPUT)
    torch._dynamo.reset()
    counters.clear()
    compiled = torch.compile(layer, backend="aot_eager", fullgraph=True)
    compiled(x, lengths=torch.tensor(LENGTHS))
    compiled(x, lengths=LENGTHS)  # a list: its values become constants of the graph
    with pytest.raises(RuntimeError, match=r"^LSTM: expected every length in \[1, 3\]"):
        compiled(x, lengths=torch.tensor([4, 1]))
    with pytest.raises(RuntimeError, match=r"^LSTM: expected every length in \[1, 3\]"):
        compiled(x, lengths=torch.tensor([0, 1]))
    assert not counters["graph_break"]


# (name, options, input kind, training)
CELL_CASES = [
    *[(name, {}, kind, False) for name in ("RNNCell", "LSTMCell", "GRUCell")
      for kind in ("plain", "state", "unbatched")],
    ("GRUCell", {"bias": False}, "state", False),
    ("RNNCell", {"nonlinearity": "relu"}, "plain", False),
    ("LSTMCell", {"layer_norm": True}, "state", True),
    ("GRUCell", {"layer_norm": True, "zoneout": 0.2}, "state", True),
    ("RNNCell", {"zoneout": 0.2}, "unbatched", True),
    ("LSTMCell", {"zoneout": (0.2, 0.1)}, "state", True),
    ("LSTMCell", {"zoneout": (0.2, 0.1)}, "state", False),
]  # fmt: skip


def cell_inputs(name, kind):
    def make():
        torch.manual_seed(3)
        shape = (INPUT,) if kind == "unbatched" else (BATCH, INPUT)
        x = torch.randn(shape, requires_grad=True)
        if kind == "plain":
            return x, (x,), {}
        state_shape = (HIDDEN,) if kind == "unbatched" else (BATCH, HIDDEN)
        h = torch.randn(state_shape)
        hx = (h, torch.randn(state_shape)) if name == "LSTMCell" else h
        return x, (x, hx), {}

    return make


@pytest.mark.parametrize("case", CELL_CASES, ids=_case_id)
def test_cells_compile_whole_as_torch_nn_cells_do(case):
    name, options, kind, training = case
    torch.manual_seed(0)
    cell = getattr(rnn, name)(INPUT, HIDDEN, **options).train(training)
    make = cell_inputs(name, kind)
    assert compiled_breaks(cell, cell, make, fullgraph=True) == set()
    if set(options) <= {"bias", "nonlinearity"}:
        twin = getattr(torch.nn, name)(INPUT, HIDDEN, **options)
        assert compiled_breaks(twin, twin, make, fullgraph=True) == set()


MIN_CASES = [
    *[(name, {}, kind, False) for name in ("MinGRU", "MinLSTM")
      for kind in ("plain", "state", "unbatched", "step")],
    ("MinGRU", {"num_layers": 2, "dropout": 0.3, "batch_first": True}, "state", True),
    ("MinLSTM", {"num_layers": 2, "bias": False}, "plain", True),
]  # fmt: skip


def min_inputs(options, kind):
    layers = options.get("num_layers", 1)

    def make():
        torch.manual_seed(3)
        if kind == "step":
            x = torch.randn(BATCH, INPUT, requires_grad=True)
            return x, (x, torch.randn(layers, BATCH, HIDDEN)), {}
        if kind == "unbatched":
            x = torch.randn(STEPS, INPUT, requires_grad=True)
            return x, (x,), {}
        batch_first = options.get("batch_first", False)
        x = torch.randn((BATCH, STEPS, INPUT) if batch_first else (STEPS, BATCH, INPUT),
                        requires_grad=True)  # fmt: skip
        if kind == "plain":
            return x, (x,), {}
        return x, (x, torch.randn(layers, BATCH, HIDDEN)), {}

    return make


@pytest.mark.parametrize("case", MIN_CASES, ids=_case_id)
def test_min_cells_compile_whole(case):
    name, options, kind, training = case
    torch.manual_seed(0)
    layer = getattr(rnn, name)(INPUT, HIDDEN, **options).train(training)
    fn = layer.step if kind == "step" else layer
    assert compiled_breaks(fn, layer, min_inputs(options, kind), fullgraph=True) == set()
