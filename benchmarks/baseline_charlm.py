"""Plain character-LM baseline, built from torch.nn alone (nothing of rnnlab).

The yardstick for `rnnlab train charlm --preset cpu-small`: Embedding(V, 64) -> LSTM(64, 512)
-> Linear(512, V), batch 32, sequence 100, Adam at 3e-3 with cosine decay over the time
budget, gradient clipping at global norm 1.0, float32, recurrent state carried (detached)
across batches. Held-out loss is measured the same way rnnlab measures it: the split is read
by `--eval-streams` contiguous streams with carried state, every target counted once.

    python benchmarks/baseline_charlm.py --data ~/.cache/rnnlab/shakespeare/shakespeare.txt \
        --minutes 10
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn


def load_ids(path: Path) -> tuple[np.ndarray, list[str]]:
    """Read a UTF-8 text and encode it with a sorted character vocabulary."""
    text = path.read_text(encoding="utf-8")
    chars = sorted(set(text))
    lookup = {ch: i for i, ch in enumerate(chars)}
    return np.fromiter((lookup[ch] for ch in text), dtype=np.int64, count=len(text)), chars


def split(ids: np.ndarray, fractions=(0.9, 0.05, 0.05)) -> dict[str, np.ndarray]:
    """Contiguous train/val/test split in that order."""
    n = len(ids)
    a = math.floor(n * fractions[0] + 0.5)
    b = math.floor(n * (fractions[0] + fractions[1]) + 0.5)
    return {"train": ids[:a], "val": ids[a:b], "test": ids[b:]}


class Baseline(nn.Module):
    def __init__(self, vocab: int, embed: int = 64, hidden: int = 512):
        super().__init__()
        self.embed = nn.Embedding(vocab, embed)
        self.lstm = nn.LSTM(embed, hidden)
        self.head = nn.Linear(hidden, vocab)

    def forward(self, x, state=None):
        y, state = self.lstm(self.embed(x), state)  # (T, B, H)
        return self.head(y), state


@torch.no_grad()
def evaluate(model: Baseline, ids: np.ndarray, streams: int, seq_len: int) -> float:
    """Mean cross-entropy (nats) over every target of `ids`, read by `streams` carried streams."""
    model.eval()
    n_targets = len(ids) - 1
    length = math.ceil(n_targets / min(streams, n_targets))
    streams = math.ceil(n_targets / length)
    x = np.zeros(streams * length, dtype=np.int64)
    y = np.full(streams * length, -100, dtype=np.int64)
    x[:n_targets] = ids[:-1]
    y[:n_targets] = ids[1:]
    x = torch.from_numpy(x.reshape(streams, length).T.copy())  # (L, B)
    y = torch.from_numpy(y.reshape(streams, length).T.copy())
    total, state = 0.0, None
    for t in range(0, length, seq_len):
        logits, state = model(x[t : t + seq_len], state)
        total += nn.functional.cross_entropy(
            logits.flatten(0, 1), y[t : t + seq_len].flatten(), ignore_index=-100, reduction="sum"
        ).item()
    model.train()
    return total / n_targets


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, required=True, help="UTF-8 text file")
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument(
        "--steps",
        type=int,
        default=None,
        help="train for this many steps instead (cosine over the steps): comparisons at an "
        "equal number of tokens, whatever else shares the machine",
    )
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--seq-len", type=int, default=100)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--eval-streams", type=int, default=32)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=None, help="write the result JSON here")
    args = parser.parse_args()

    torch.manual_seed(args.seed)
    ids, chars = load_ids(args.data)
    parts = split(ids)
    train = parts["train"]
    length = (len(train) - 1) // args.batch
    streams = torch.from_numpy(train[: args.batch * length + 1].copy())
    xs = streams[:-1].view(args.batch, length).T  # (L, B)
    ys = streams[1:].view(args.batch, length).T
    windows = length // args.seq_len

    model = Baseline(len(chars))
    opt = torch.optim.Adam(model.parameters(), lr=args.lr)
    budget = args.minutes * 60.0
    elapsed, step, tokens, state = 0.0, 0, 0, None
    print(f"baseline: {sum(p.numel() for p in model.parameters())} parameters, V={len(chars)}")

    def progress() -> float:
        return step / args.steps if args.steps else elapsed / budget

    while progress() < 1.0:
        k = step % windows
        if k == 0:
            state = None
        t0 = time.perf_counter()
        for group in opt.param_groups:
            group["lr"] = args.lr * 0.5 * (1.0 + math.cos(math.pi * min(progress(), 1.0)))
        x = xs[k * args.seq_len : (k + 1) * args.seq_len]
        y = ys[k * args.seq_len : (k + 1) * args.seq_len]
        logits, state = model(x, state)
        state = tuple(s.detach() for s in state)
        loss = nn.functional.cross_entropy(logits.flatten(0, 1), y.flatten())
        opt.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        elapsed += time.perf_counter() - t0
        step += 1
        tokens += x.numel()
        if step % 200 == 0:
            print(f"step {step}  loss {loss.item():.4f}  {tokens / elapsed:.0f} tok/s", flush=True)

    result = {
        "model": "baseline torch.nn LSTM(64, 512)",
        "minutes": elapsed / 60.0 if args.steps else args.minutes,
        "steps": step,
        "tokens": tokens,
        "tokens_per_s": tokens / elapsed,
        "val_loss": evaluate(model, parts["val"], args.eval_streams, 256),
        "test_loss": evaluate(model, parts["test"], args.eval_streams, 256),
    }
    result["test_bpc"] = result["test_loss"] / math.log(2)
    print(json.dumps(result))
    if args.out:
        args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
