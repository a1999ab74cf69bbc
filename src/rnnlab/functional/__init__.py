"""Pure torch math for recurrent models: cells, the time scan, attention, regulariser pieces."""

from rnnlab.functional.attention import (
    additive_scores,
    attend,
    dot_scores,
    general_scores,
    lengths_mask,
    masked_softmax,
)
from rnnlab.functional.cells import (
    gate_projection,
    gru_cell,
    gru_pointwise,
    lstm_cell,
    lstm_pointwise,
    rnn_cell,
    rnn_pointwise,
)
from rnnlab.functional.regularize import dropout_mask, zoneout, zoneout_mask
from rnnlab.functional.scan import unroll

__all__ = [
    "additive_scores",
    "attend",
    "dot_scores",
    "dropout_mask",
    "gate_projection",
    "general_scores",
    "gru_cell",
    "gru_pointwise",
    "lengths_mask",
    "lstm_cell",
    "lstm_pointwise",
    "masked_softmax",
    "rnn_cell",
    "rnn_pointwise",
    "unroll",
    "zoneout",
    "zoneout_mask",
]
