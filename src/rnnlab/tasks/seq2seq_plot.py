"""The attention heatmap of one translation: source tokens along x, output tokens along y."""

from __future__ import annotations

from pathlib import Path

from rnnlab.atomic import atomic_path
from rnnlab.errors import InputError


def attention_matrix(task, model, text: str, output: list[int]):
    """(weights (len(output) + 1, S), source labels, output labels) of one translation.

    The source labels are the tokens as the model read them (unknown ones as <unk>); the
    output labels are the output ids' tokens and </s>.
    """
    if model.attention is None:
        raise InputError("translate: this model has no attention (attention none)")
    src_ids = task.src_vocab.encode(task._tok(text))
    xs = [_shown(task.src_vocab.tokens[i]) for i in src_ids]
    ys = [_shown(t) for t in task.tgt_vocab.decode(output)] + ["</s>"]
    x, lengths = task.collate([src_ids])
    weights = model.attention_weights(x, lengths, list(output)).float().cpu().numpy()
    return weights, xs, ys


def attention_heatmap(task, model, text: str, output: list[int], path: str | Path) -> Path:
    """Draw the weights the decoder gave each source token while writing `output` (ids):
    rows are the output tokens and </s>, columns the source tokens. Returns the PNG's path."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        raise InputError("--attention-png needs matplotlib: pip install 'rnnlab[viz]'") from None
    weights, xs, ys = attention_matrix(task, model, text, output)
    width = min(max(4.0, 0.32 * len(xs) + 2), 40)
    height = min(max(3.0, 0.32 * len(ys) + 1.5), 40)
    fig = Figure(figsize=(width, height), dpi=120, layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    image = ax.imshow(weights, cmap="viridis", aspect="auto", vmin=0.0, vmax=1.0)
    ax.set_xticks(range(len(xs)), xs, rotation=90 if task.kind == "word" else 0)
    ax.set_yticks(range(len(ys)), ys)
    ax.set_xlabel("source")
    ax.set_ylabel("output")
    fig.colorbar(image, ax=ax, fraction=0.04, label="attention weight")
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    return path


def _shown(token: str) -> str:
    """A token as an axis label (a space is shown as ␣)."""
    return "␣" if token == " " else token
