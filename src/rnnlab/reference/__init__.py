"""Independent NumPy reference engine: cell forwards with caches and hand-written BPTT.

The oracle the fast paths are checked against. NumPy only: importing it never imports torch.
Cells follow torch's layout and gate order (LSTM i,f,g,o; GRU r,z,n):

    hs, hT, cache = rnn_forward(x, h0, w_ih, w_hh, b_ih, b_hh, nonlinearity="tanh")
    grads = rnn_backward(dhs, dhT, cache)  # keys x, h0, w_ih, w_hh, b_ih, b_hh

minGRU and minLSTM (input-only gates, no w_hh) take ``(x, h0, w_ih, b_ih)`` and their backward
returns keys x, h0, w_ih, b_ih.
"""

from rnnlab.reference.charlm import NumpyCharLM, train_charlm
from rnnlab.reference.clip import clip_by_global_norm, clip_by_value
from rnnlab.reference.gradcheck import format_table, gradcheck, numerical_gradient
from rnnlab.reference.gru import gru_backward, gru_forward
from rnnlab.reference.losses import softmax_cross_entropy, softmax_cross_entropy_backward
from rnnlab.reference.lstm import lstm_backward, lstm_forward
from rnnlab.reference.mincells import (
    mingru_backward,
    mingru_forward,
    minlstm_backward,
    minlstm_forward,
)
from rnnlab.reference.optim import SGD, Adagrad, Adam
from rnnlab.reference.rnn import rnn_backward, rnn_forward
from rnnlab.reference.tbptt import TBPTTChunk, readout_loss_and_grads, tbptt

__all__ = [
    "SGD",
    "Adagrad",
    "Adam",
    "NumpyCharLM",
    "TBPTTChunk",
    "clip_by_global_norm",
    "clip_by_value",
    "format_table",
    "gradcheck",
    "gru_backward",
    "gru_forward",
    "lstm_backward",
    "lstm_forward",
    "mingru_backward",
    "mingru_forward",
    "minlstm_backward",
    "minlstm_forward",
    "numerical_gradient",
    "readout_loss_and_grads",
    "rnn_backward",
    "rnn_forward",
    "softmax_cross_entropy",
    "softmax_cross_entropy_backward",
    "tbptt",
    "train_charlm",
]
