"""Benchmarks: timing rnnlab's implementations against torch.nn (`rnnlab bench …`)."""

from rnnlab.bench.layers import (
    BASELINE,
    CELLS,
    MODES,
    Case,
    LayerBenchConfig,
    LayerResult,
    Timing,
    bench_case,
    format_markdown,
    format_table,
    from_json,
    machine_info,
    record_results,
    results_section,
    run_layer_bench,
    to_json,
)

__all__ = [
    "BASELINE",
    "CELLS",
    "MODES",
    "Case",
    "LayerBenchConfig",
    "LayerResult",
    "Timing",
    "bench_case",
    "format_markdown",
    "format_table",
    "from_json",
    "machine_info",
    "record_results",
    "results_section",
    "run_layer_bench",
    "to_json",
]
