"""`rnnlab gradflow …`: gradient flow through time, vanishing and exploding gradients.

Three forms:

* ``rnnlab gradflow CKPT [--text FILE] --out DIR``: per layer and step, ‖∂L/∂h_t‖ and
  ‖∂h_T/∂h_t‖ of a trained model → ``gradflow.csv`` (layer, t, dL_dh, dhT_dh), ``gradflow.png``;
* ``rnnlab gradflow sweep --out DIR``: ‖∂h_T/∂h_t‖ against the distance for fresh cells with
  W_hh scaled → ``sweep.csv`` (cell, scale, distance, norm), ``sweep.png``;
* ``rnnlab gradflow clip --out DIR``: an exploding run trained without clipping, clipped by
  norm and by value → ``clip.csv`` (run, step, loss, grad_norm, clipped_norm, update_norm),
  ``clip.png``.

Options of one form given to another are an error. A checkpoint directory literally named
``sweep`` or ``clip`` is given as ``./sweep``.
"""

from __future__ import annotations

import argparse
import contextlib
import math
from pathlib import Path

from rnnlab.cli.options import add_unknown_flags

DESCRIPTION = (
    "Gradient flow through time. `rnnlab gradflow CKPT` measures, for every layer and step t "
    "of a trained model (charlm on --text FILE or its test split; adding, copy, pixel, recall "
    "on a batch of the test set), the norm of the loss gradient reaching the state h_t and "
    "the norm of the Jacobian of the layer's last state with respect to h_t (gradflow.csv, "
    "gradflow.png). `rnnlab gradflow sweep` shows vanishing and exploding gradients against "
    "the distance for fresh RNN (linear, tanh, relu), LSTM (torch's and chrono "
    "initialisation) and GRU cells with W_hh scaled to a spectral radius or largest "
    "singular value, beside Pascanu et al. (2013)'s conditions "
    "(sweep.csv, sweep.png). `rnnlab gradflow clip` trains an exploding RNN without clipping, "
    "clipped by norm and clipped by value (clip.csv, clip.png)."
)

# option → the forms that take it ("model": a checkpoint)
FORMS = {
    "text": "model", "length": "model", "loss": "model", "batch": "model sweep clip",
    "device": "model", "unknown": "model", "replace_with": "model", "cells": "sweep",
    "scales": "sweep", "by": "sweep", "hidden": "sweep clip", "steps": "sweep clip",
    "seeds": "sweep", "input_scale": "sweep", "cell": "clip", "scale": "clip",
    "seq_len": "clip", "lr": "clip", "clip_norm": "clip", "clip_value": "clip",
    "seed": "sweep clip", "norm": "model sweep",
}  # fmt: skip


def _floats(text: str) -> tuple[float, ...]:
    try:
        return tuple(float(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated numbers, got {text!r}"
        ) from None


def _words(text: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in text.split(",") if part.strip())


def add_parser(sub) -> None:
    parser = sub.add_parser(
        "gradflow",
        help="gradient flow through time: a trained model, a sweep of W_hh, clipping",
        description=DESCRIPTION,
    )
    parser.add_argument(
        "target",
        metavar="CKPT|sweep|clip",
        help="a run directory or checkpoint file, or `sweep`, or `clip`",
    )
    parser.add_argument(
        "--out",
        metavar="DIR",
        default="runs/gradflow",
        help="directory to write into (default: runs/gradflow)",
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        metavar="N",
        help="torch CPU threads (default: 1; the steps are small)",
    )
    parser.add_argument(
        "--norm",
        choices=("spectral", "fro"),
        default=None,
        help="CKPT, sweep: Jacobian norm, spectral (largest singular value) or "
        "fro (Frobenius) (default: spectral)",
    )
    parser.add_argument(
        "--batch",
        type=int,
        default=None,
        help="CKPT of a sequence task: test sequences (default: 8); sweep: "
        "sequences per seed (default: 4); clip: sequences per step (default: "
        "32)",
    )
    parser.add_argument("--seed", type=int, default=None, help="sweep, clip: seed (default: 0)")
    parser.add_argument(
        "--hidden", type=int, default=None, help="sweep, clip: hidden units (default: 32)"
    )
    parser.add_argument(
        "--steps",
        type=int,
        default=None,
        help="sweep: sequence length T (default: 60); clip: SGD steps per run (default: 300)",
    )

    model = parser.add_argument_group("CKPT: a trained model")
    model.add_argument(
        "--text",
        metavar="FILE",
        default=None,
        help="charlm: UTF-8 text to read (default: the run's test split)",
    )
    model.add_argument(
        "--length",
        type=int,
        default=None,
        help="charlm: at most this many characters (steps) (default: 300)",
    )
    model.add_argument(
        "--loss",
        choices=("last", "sum"),
        default=None,
        help="the loss at the last step, or summed over the steps (default: last)",
    )
    model.add_argument("--device", default=None, help="cpu | cuda | auto (default: cpu)")
    add_unknown_flags(
        model, "charlm: characters of --text the model never saw (default: error)", default=None
    )

    sweep = parser.add_argument_group("sweep: fresh cells with W_hh scaled")
    sweep.add_argument(
        "--cells",
        type=_words,
        default=None,
        help="comma-separated, among linear, rnn_tanh, rnn_relu, lstm, gru, lstm_chrono "
        "(default: all)",
    )
    sweep.add_argument(
        "--scales",
        type=_floats,
        default=None,
        help="comma-separated values of ρ or σ₁ (default: 0.5,0.9,1,1.1,1.5)",
    )
    sweep.add_argument(
        "--by",
        choices=("radius", "singular"),
        default=None,
        help="scale the spectral radius or the largest singular value (default: radius)",
    )
    sweep.add_argument(
        "--seeds", type=int, default=None, help="layers drawn per cell and scale (default: 3)"
    )
    sweep.add_argument(
        "--input-scale",
        type=float,
        default=None,
        help="standard deviation of the random input (default: 1)",
    )

    clip = parser.add_argument_group("clip: an exploding run, clipped and not")
    clip.add_argument(
        "--cell",
        choices=("tanh", "relu"),
        default=None,
        help="the RNN's nonlinearity (default: tanh)",
    )
    clip.add_argument(
        "--scale",
        type=float,
        default=None,
        help="spectral radius of W_hh at the start (default: 2)",
    )
    clip.add_argument(
        "--seq-len", type=int, default=None, help="T of the adding problem (default: 50)"
    )
    clip.add_argument("--lr", type=float, default=None, help="SGD learning rate (default: 0.1)")
    clip.add_argument(
        "--clip-norm",
        type=float,
        default=None,
        help="maximum gradient norm of the clipped-by-norm run (default: 1)",
    )
    clip.add_argument(
        "--clip-value",
        type=float,
        default=None,
        help="maximum |gradient element| of the clipped-by-value run (default: 0.1)",
    )
    parser.set_defaults(run=run)


def _given(args: argparse.Namespace, form: str) -> dict:
    """The options given on the command line, checked to belong to `form`."""
    from rnnlab.errors import InputError

    given = {k: v for k, v in vars(args).items() if k in FORMS and v is not None}
    wrong = sorted(k for k in given if form not in FORMS[k].split())
    if wrong:
        flags = ", ".join("--" + k.replace("_", "-") for k in wrong)
        name = "a checkpoint" if form == "model" else f"`gradflow {form}`"
        raise InputError(f"gradflow: {name} takes no {flags}")
    return given


@contextlib.contextmanager
def _threads(count: int):
    import torch

    from rnnlab.errors import InputError

    if count < 1:
        raise InputError(f"gradflow: expected --threads >= 1, got {count}")
    before = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _output_dir(path: str) -> Path:
    from rnnlab.errors import InputError

    out = Path(path)
    if out.exists() and not out.is_dir():
        raise InputError(f"gradflow: --out {path} is a file; expected a directory")
    out.mkdir(parents=True, exist_ok=True)
    return out


def _report(written: list[Path], plotted: bool) -> None:
    if not plotted:
        print("matplotlib is not installed; skipping the figure (pip install 'rnnlab[viz]')")
    print("wrote " + ", ".join(str(p) for p in written))


def run(args: argparse.Namespace) -> int:
    form = args.target if args.target in ("sweep", "clip") else "model"
    given = _given(args, form)
    with _threads(args.threads):
        if form == "sweep":
            return _run_sweep(given, args.out)
        if form == "clip":
            return _run_clip(given, args.out)
        return _run_model(args.target, given, args.out)


def _run_sweep(given: dict, out_dir: str) -> int:
    from rnnlab.diagnostics.gradflow_output import SWEEP_COLUMNS, plot_sweep, write_csv
    from rnnlab.diagnostics.gradflow_sweep import gradient_sweep

    result = gradient_sweep(**given, progress=True)
    out = _output_dir(out_dir)
    write_csv(out / "sweep.csv", SWEEP_COLUMNS, result.rows())
    plotted = plot_sweep(result, out / "sweep.png")
    steps = len(next(iter(result.norms.values()))) - 1
    marks = sorted({1, steps // 4, steps // 2, steps} - {0})
    symbol = "rho" if result.by == "radius" else "sigma1"
    print(f"‖∂h_T/∂h_t‖ ({result.norm}) at distance " + ", ".join(map(str, marks)) + ":")
    for (cell, scale), norms in result.norms.items():
        values = "  ".join(f"{norms[d]:9.3g}" for d in marks)
        print(f"  {cell:<11} {symbol} {scale:<4g} {values}")
    _report([out / "sweep.csv"] + ([out / "sweep.png"] if plotted else []), plotted)
    return 0


def _run_clip(given: dict, out_dir: str) -> int:
    from rnnlab.diagnostics.gradflow_clip import ClipSettings, clip_experiment
    from rnnlab.diagnostics.gradflow_output import CLIP_COLUMNS, plot_clip, write_csv

    experiment = clip_experiment(ClipSettings(**given), progress=True)
    out = _output_dir(out_dir)
    write_csv(out / "clip.csv", CLIP_COLUMNS, experiment.rows())
    plotted = plot_clip(experiment, out / "clip.png")
    for name, run in experiment.runs.items():
        if run.diverged_at is not None:
            end = f"diverged at step {run.diverged_at} (loss {run.loss[-1]:.3g})"
        else:
            tail = run.loss[-min(50, len(run.loss)) :]
            end = f"loss {sum(tail) / len(tail):.4g} over the last {len(tail)} steps"
        updates = [u for u in run.update_norm if math.isfinite(u)]
        largest = f"{max(updates):.3g}" if updates else "none"
        print(f"{name:<6} {end}; largest gradient norm {max(run.grad_norm):.3g}, update {largest}")
    _report([out / "clip.csv"] + ([out / "clip.png"] if plotted else []), plotted)
    return 0


def _run_model(target: str, given: dict, out_dir: str) -> int:
    from rnnlab.cli.options import read_text_arg
    from rnnlab.diagnostics.gradflow_checkpoint import checkpoint_gradflow
    from rnnlab.diagnostics.gradflow_output import GRADFLOW_COLUMNS, plot_gradflow, write_csv

    options = dict(given)
    if "text" in options:
        options["text"], _ = read_text_arg("gradflow", options["text"])
    if "replace_with" in options:
        options["replacement"] = options.pop("replace_with")
    flow = checkpoint_gradflow(target, **options, progress=True)
    out = _output_dir(out_dir)
    write_csv(out / "gradflow.csv", GRADFLOW_COLUMNS, flow.rows())
    plotted = plot_gradflow(flow, out / "gradflow.png")
    print(f"{flow.cell}, {flow.layers} layer(s), {flow.source}: {flow.loss:.4g}")
    T = flow.steps
    marks = sorted({0, T // 2, T})
    for layer in range(flow.layers):
        parts = [
            f"t={t}: ‖∂L/∂h‖ {flow.dL_dh[layer, t]:.3g}, ‖∂h_T/∂h‖ {flow.dhT_dh[layer, t]:.3g}"
            for t in marks
        ]
        print(f"  layer {layer}: " + "; ".join(parts))
    _report([out / "gradflow.csv"] + ([out / "gradflow.png"] if plotted else []), plotted)
    return 0
