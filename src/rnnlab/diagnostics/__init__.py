"""Tools to understand recurrent models: gradient flow through time (vanishing and exploding
gradients, clipping), activation recording, interpretable-cell search, gate saturation, the
cells HTML page."""

from rnnlab.diagnostics.features import builtin_features, parse_regex, regex_feature
from rnnlab.diagnostics.gradflow import GradFlow, gradient_flow, state_jacobian_norms, unroll_layers
from rnnlab.diagnostics.gradflow_checkpoint import checkpoint_gradflow
from rnnlab.diagnostics.gradflow_clip import ClipExperiment, ClipSettings, clip_experiment
from rnnlab.diagnostics.gradflow_output import plot_clip, plot_gradflow, plot_sweep
from rnnlab.diagnostics.gradflow_sweep import GradientSweep, gradient_sweep
from rnnlab.diagnostics.html import write_cells_page
from rnnlab.diagnostics.record import CellRecorder, Recording, record, record_chunks
from rnnlab.diagnostics.saturation import SaturationCounter, plot_saturation
from rnnlab.diagnostics.search import Hit, SearchResult, UnitSearch, search_units

__all__ = [
    "CellRecorder",
    "ClipExperiment",
    "ClipSettings",
    "GradFlow",
    "GradientSweep",
    "Hit",
    "Recording",
    "SaturationCounter",
    "SearchResult",
    "UnitSearch",
    "builtin_features",
    "checkpoint_gradflow",
    "clip_experiment",
    "gradient_flow",
    "gradient_sweep",
    "parse_regex",
    "plot_clip",
    "plot_gradflow",
    "plot_saturation",
    "plot_sweep",
    "record",
    "record_chunks",
    "regex_feature",
    "search_units",
    "state_jacobian_norms",
    "unroll_layers",
    "write_cells_page",
]
