"""TorchScript and torch's classes: plain configurations convert to the torch.nn module
(`to_torch`, used by `torch.jit.script`); configurations with extras are a clear error."""

import pytest
import torch

from rnnlab import nn as rnn
from rnnlab.backends.torch_fused import onednn_off
from rnnlab.errors import InputError

PLAIN = [
    ("LSTM", {"num_layers": 2, "bidirectional": True}),
    ("LSTM", {"proj_size": 4, "batch_first": True, "init": "orthogonal"}),
    ("GRU", {"num_layers": 2, "dropout": 0.2, "bias": False}),
    ("RNN", {"nonlinearity": "relu"}),
]
EXTRAS = [
    ("LSTM", {"layer_norm": True}, "layer_norm"),
    ("GRU", {"zoneout": 0.1}, "zoneout"),
    ("LSTM", {"weight_drop": 0.2}, "weight_drop"),
    ("RNN", {"num_layers": 2, "dropout": 0.1, "locked_dropout": True}, "locked_dropout"),
]


def _outputs(out):
    return [t for o in out for t in (o if isinstance(o, tuple) else (o,))]


@pytest.mark.parametrize("name, options", PLAIN)
def test_to_torch_is_torchs_class_computing_the_same(name, options):
    torch.manual_seed(0)
    ours = getattr(rnn, name)(6, 8, **options).eval()
    twin = ours.to_torch()
    assert type(twin) is getattr(torch.nn, name) and not twin.training
    for (k, a), (k2, b) in zip(ours.state_dict().items(), twin.state_dict().items(), strict=True):
        assert k == k2 and torch.equal(a, b)
    x = torch.randn(3, 7, 6) if options.get("batch_first") else torch.randn(7, 3, 6)
    # oneDNN has no LSTM projection: torch.nn.LSTM would warn (once per process) and fall
    # back to its own implementation, which it takes directly with oneDNN off
    if options.get("proj_size"):
        with onednn_off():
            theirs = twin(x)
    else:
        theirs = twin(x)
    for a, b in zip(_outputs(ours(x)), _outputs(theirs), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("name, options, extra", EXTRAS)
def test_extras_do_not_convert(name, options, extra):
    layer = getattr(rnn, name)(6, 8, **options)
    with pytest.raises(InputError, match=rf"torch.nn.{name} computes no {extra}"):
        layer.to_torch()
    with pytest.raises(InputError, match=rf"torch.jit.script: {name}: .*use torch.compile"):
        with pytest.deprecated_call():  # torch 2.13 deprecates torch.jit.script itself
            torch.jit.script(layer)
    with pytest.raises(InputError, match="computes no layer_norm"):
        rnn.LSTMCell(6, 8, layer_norm=True).to_torch()


class Tagger(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.lstm = rnn.LSTM(6, 8, num_layers=2, bidirectional=True)
        self.gru = rnn.GRU(16, 8)
        self.cell = rnn.LSTMCell(8, 4)
        self.head = torch.nn.Linear(4, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y, _ = self.lstm(x)
        y, _ = self.gru(y)
        h, _ = self.cell(y[-1])
        return self.head(h)


def test_a_model_holding_rnnlab_layers_scripts_to_the_same_function():
    torch.manual_seed(1)
    model = Tagger().eval()
    with pytest.deprecated_call():
        scripted = torch.jit.script(model)
    x = torch.randn(7, 3, 6)
    torch.testing.assert_close(scripted(x), model(x), rtol=1e-6, atol=1e-6)
