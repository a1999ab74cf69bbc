"""The attention heatmap of one translation: source tokens along x, output tokens along y."""

from __future__ import annotations

from pathlib import Path

from rnnlab.atomic import atomic_path
from rnnlab.errors import InputError


def attention_heatmap(task, model, text: str, output: str, path: str | Path) -> Path:
    """Draw the weights the decoder gave each source token while writing `output`.

    Rows: the output tokens and the end-of-sequence token; columns: the source tokens.
    Returns the PNG's path.
    """
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        raise InputError("--attention-png needs matplotlib: pip install 'rnnlab[viz]'") from None
    if model.attention is None:
        raise InputError("translate: this model has no attention (attention none)")
    src_tokens = task._tok(text)
    out_tokens = task._tok(output)
    src_ids = task.src_vocab.encode(src_tokens)
    x, lengths = task.collate([src_ids])
    weights = model.attention_weights(x, lengths, task.tgt_vocab.encode(out_tokens))
    weights = weights.float().cpu().numpy()  # (len(out) + 1, S)
    xs = [_shown(t) for t in src_tokens]
    ys = [_shown(t) for t in out_tokens] + ["</s>"]
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
