"""`hidden = "auto"`: the character LM's width chosen for this machine and this budget.

A time budget buys a number of training tokens that depends on the machine (cores, SIMD
width, whether bf16 is native) and falls as the model grows; a model too large for its
budget sees too few tokens per parameter and ends under-trained, one too small saturates.
The rule, from 10-minute Shakespeare runs of one LSTM layer (benchmarks/RESULTS.md and
issue reports): at 2.3 and 3.6 training tokens per parameter (1x768 on a 2-core AMD EPYC,
fp32 and bf16) the model ended 0.06 nats/char above and level with the plain baseline, at
9.7 (1x768 on a 2-core Intel Xeon with AMX, bf16) 0.055 below it, and with the rule, at 12.7
(1x672, bf16) and 11.2 (1x576, fp32) on the AMD machine, 0.053 and 0.010 below it. Too few
tokens per parameter is what loses; R = 10 is the smallest ratio of the runs that won. A
sweep of the width at the preset's later recipe (batch 16 x 50, no dropout, fp32, 5 minutes,
an Emerald Rapids Xeon) agrees: 1x320 at 20.6 tokens per parameter, 1x416 (the rule's
choice) at 11.4 and 1x512 at 3.9 ended at 1.3977, 1.3742 and 1.3926 nats/char on test.

    choose the largest width H whose model, trained for the budget on this machine, sees
    at least `TOKENS_PER_PARAMETER` training tokens per parameter:
        tokens(H) = budget seconds / seconds per step(H) × tokens per step   (minutes budget)
                  = steps × tokens per step                                 (steps budget)
        tokens(H) ≥ R · N(H),   N(H) = the model's exact parameter count

Seconds per step come from a short measurement at start-up (forward, backward, clipping
and an Adam step of the run's own model, batch, sequence length and precision at two widths,
each timed for at least a second, the median step kept; three steps were too few for a
25 ms step, where the chosen width wandered between 352 and 416 from run to run), fitted as
t(H) = a + b·N(H): the recurrent and output products grow with the parameter count, `a` is
what does not (the per-step overhead). The fit is a straight line through two points; on a
CPU whose step time jumps where the weights leave a cache (batch 16 x 50 on the Xeon above:
25 ms at 1x416, 34 ms at 1x448, 43 ms at 1x480) it misjudges the widths in between by up
to a third, which moves the choice by a step of 32. A
steps budget needs no measurement. The chosen width is written into the run's config, so
resume and `rnnlab eval` rebuild the same model; the measurement is recorded in the
checkpoint's metadata.
"""

from __future__ import annotations

import dataclasses
import statistics
import time
from typing import Any

import torch

from rnnlab.models.charlm import CharLM, CharLMConfig
from rnnlab.train.runtime import autocast

TOKENS_PER_PARAMETER = 10.0  # R, from the measured 10-minute runs (module docstring)
WIDTHS = tuple(range(64, 4097, 32))  # candidate widths (multiples of 32 suit the kernels)
PROBES = (256, 512)  # widths timed at start-up
REPEATS = 3  # at least this many timed steps per probe, after one warm-up step
MIN_SECONDS = 1.0  # and steps until a probe has been timed this long (short steps are noisy)
MAX_REPEATS = 200  # but never more steps than this per probe


def parameters(cfg: Any, vocab_size: int, hidden: int) -> int:
    """The exact parameter count of the CharLM `cfg` describes, at width `hidden` (built on
    the meta device: nothing is allocated, nothing drawn)."""
    shape = dataclasses.replace(CharLMConfig.from_config(cfg), hidden=hidden)
    with torch.device("meta"):
        model = CharLM(vocab_size, shape)
    return sum(p.numel() for p in model.parameters())


def step_seconds(
    cfg: Any,
    vocab_size: int,
    hidden: int,
    *,
    batch: int,
    device: torch.device,
    dtype: torch.dtype,
    repeats: int = REPEATS,
    min_seconds: float = MIN_SECONDS,
) -> float:
    """Median seconds of a training step (forward, backward, clipping, Adam) of the run's
    model at width `hidden` on `batch` streams of `cfg.seq_len`: one warm-up step, then at
    least `repeats` timed steps and more until `min_seconds` have been timed (at most
    MAX_REPEATS), so that a short step is not judged from three noisy samples. Draws
    nothing from the caller's random streams."""
    shape = dataclasses.replace(CharLMConfig.from_config(cfg), hidden=hidden)
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        torch.manual_seed(0)
        model = CharLM(vocab_size, shape).to(device).train()
        optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)
        x = torch.randint(vocab_size, (cfg.seq_len, batch), device=device)
        times = []
        i = 0
        while i <= repeats or (sum(times) < min_seconds and i <= MAX_REPEATS):
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            start = time.perf_counter()
            with autocast(device, dtype):
                logits, _ = model(x)
            loss = torch.nn.functional.cross_entropy(logits.float().flatten(0, 1), x.flatten())
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            if i:
                times.append(time.perf_counter() - start)
            i += 1
    return statistics.median(times)


def budget_tokens(cfg: Any, seconds_per_step: float | None) -> float:
    """Training tokens the budget buys: the smaller of the steps and the minutes budget
    (minutes less the share that evaluation takes, a forward pass at a third of a step's
    cost per token)."""
    per_step = cfg.batch * cfg.seq_len
    limits = []
    if cfg.steps is not None:
        limits.append(float(cfg.steps) * per_step)
    if cfg.minutes is not None and seconds_per_step is not None:
        steps = 60.0 * cfg.minutes / seconds_per_step
        if cfg.eval_every:
            steps /= 1.0 + cfg.eval_tokens / (3.0 * cfg.eval_every * per_step)
        limits.append(steps * per_step)
    return min(limits)


def choose_hidden(
    cfg: Any, vocab_size: int, timings: dict[int, float] | None
) -> tuple[int, dict[str, Any]]:
    """The width the rule picks, from step timings {width: seconds} (None: a steps budget).

    Deterministic for given timings. Returns (width, what was measured and decided).
    """
    counts = {h: parameters(cfg, vocab_size, h) for h in WIDTHS}
    cost = None
    if cfg.minutes is not None:
        if not timings or len(timings) < 2:
            raise ValueError("choose_hidden: a minutes budget needs timings at two widths")
        (h1, t1), (h2, t2) = sorted(timings.items())[:2]
        n1, n2 = parameters(cfg, vocab_size, h1), parameters(cfg, vocab_size, h2)
        slope = max((t2 - t1) / (n2 - n1), 1e-15)
        cost = (t1 - slope * n1, slope)  # t(N) = a + b·N
    chosen = WIDTHS[0]
    for h in WIDTHS:
        seconds = None if cost is None else max(cost[0] + cost[1] * counts[h], 1e-6)
        if budget_tokens(cfg, seconds) >= TOKENS_PER_PARAMETER * counts[h]:
            chosen = h
    seconds = None if cost is None else max(cost[0] + cost[1] * counts[chosen], 1e-6)
    detail = {
        "rule": f"largest width with >= {TOKENS_PER_PARAMETER:g} training tokens per parameter",
        "timings": {str(h): t for h, t in sorted((timings or {}).items())},
        "hidden": chosen,
        "parameters": counts[chosen],
        "seconds_per_step": seconds,
        "tokens": budget_tokens(cfg, seconds),
    }
    return chosen, detail


def auto_hidden(
    cfg: Any, vocab_size: int, *, batch: int, device: torch.device, dtype: torch.dtype
) -> tuple[int, dict[str, Any]]:
    """Measure this machine (minutes budget) and choose the width."""
    timings = None
    if cfg.minutes is not None:
        timings = {
            h: step_seconds(cfg, vocab_size, h, batch=batch, device=device, dtype=dtype)
            for h in PROBES
        }
    return choose_hidden(cfg, vocab_size, timings)
