"""Recurrent modules: torch.nn-compatible cells and layers with keyword-only extras."""

from rnnlab.nn.attention import AdditiveAttention, DotAttention, GeneralAttention
from rnnlab.nn.cells import GRUCell, LSTMCell, RNNCell
from rnnlab.nn.mincells import MinGRU, MinLSTM
from rnnlab.nn.recurrent import GRU, LSTM, RNN
from rnnlab.nn.regularize import LockedDropout
from rnnlab.nn.tcn import TemporalConvNet

__all__ = [
    "GRU",
    "LSTM",
    "RNN",
    "AdditiveAttention",
    "DotAttention",
    "GRUCell",
    "GeneralAttention",
    "LSTMCell",
    "LockedDropout",
    "MinGRU",
    "MinLSTM",
    "RNNCell",
    "TemporalConvNet",
]
