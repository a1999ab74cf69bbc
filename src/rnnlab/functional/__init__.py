"""Pure torch math for recurrent models: cells, the time scan and regulariser pieces."""

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
    "dropout_mask",
    "gate_projection",
    "gru_cell",
    "gru_pointwise",
    "lstm_cell",
    "lstm_pointwise",
    "rnn_cell",
    "rnn_pointwise",
    "unroll",
    "zoneout",
    "zoneout_mask",
]
