"""Decoding, shared by every generator in the package: greedy, sampling, batched beam search.

Choosing one token from logits:

    p_i ∝ exp(z_i / T)                       temperature T (T → 0: greedy)
    top-k: keep the k largest z_i
    top-p: keep the smallest set of most likely tokens whose probability sums to ≥ p

`sample_rows` draws a batch with one generator per row, each row exactly as `sample` would
draw it alone with that generator (so N samples drawn together equal N drawn one by one); the
character LM samples with it.

Whole sequences from a model's step function, `logits, state = step(tokens, state)` with
tokens (N,) the previous token of each of N rows and logits (N, V):

- `greedy_search`, `sample_search`: one hypothesis per row, each row stopping at its own
  end-of-sequence token;
- `beam_search`: the `beam` best hypotheses of every row together, N = rows x beam, with a
  length penalty (none; "average": log p / |y|; "wu": log p / ((5 + |y|) / 6)^α, Wu et al.
  2016), a minimum length, n-gram repeat blocking, and end-of-sequence handling (a hypothesis
  that emits EOS is set aside; a row is done when `beam` hypotheses have ended and no open
  one can still beat them, its log-probability falling and the length divisor growing at
  most to that of `max_len`; at `max_len` the open hypotheses are ranked with the ended).

|y| counts the generated tokens, the end-of-sequence token included. The state is any nesting
of tuples, lists and dicts of tensors whose first axis is the row (or give `reorder`).
"""

from __future__ import annotations

import functools
import math
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from rnnlab.errors import InputError


def check_sampling(temperature: float, top_k: int | None, top_p: float | None) -> None:
    """Raise InputError for settings outside their ranges."""
    if not temperature >= 0:
        raise InputError(f"sampling: expected temperature >= 0, got {temperature}")
    if top_k is not None and top_k < 1:
        raise InputError(f"sampling: expected top_k >= 1, got {top_k}")
    if top_p is not None and not 0 < top_p <= 1:
        raise InputError(f"sampling: expected 0 < top_p <= 1, got {top_p}")


def filter_logits(
    logits: torch.Tensor, *, top_k: int | None = None, top_p: float | None = None
) -> torch.Tensor:
    """Set logits outside the top-k / top-p (nucleus) set to -inf.

    Args:
        logits: (B, V).
    Returns:
        (B, V) logits with the excluded entries at -inf; at least one entry per row survives.
    """
    if top_k is not None and top_k < logits.size(-1):
        kth = torch.topk(logits, top_k, dim=-1).values[..., -1:]  # (B, 1)
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if top_p is not None and top_p < 1.0:
        sorted_logits, order = torch.sort(logits, dim=-1, descending=True)
        probs = torch.softmax(sorted_logits, dim=-1)
        before = torch.cumsum(probs, dim=-1) - probs  # mass of strictly more likely tokens
        drop_sorted = before >= top_p  # the most likely token always stays
        drop = torch.zeros_like(drop_sorted).scatter(-1, order, drop_sorted)
        logits = logits.masked_fill(drop, float("-inf"))
    return logits


def greedy(logits: torch.Tensor) -> torch.Tensor:
    """The most likely token of each row: (B, V) -> (B,)."""
    return logits.argmax(dim=-1)


def sample(
    logits: torch.Tensor,
    *,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Draw one token per row of `logits` (B, V) -> (B,); temperature 0 is greedy."""
    check_sampling(temperature, top_k, top_p)
    if temperature == 0:
        return greedy(logits)
    logits = filter_logits(logits.float() / temperature, top_k=top_k, top_p=top_p)
    probs = torch.softmax(logits, dim=-1)
    return torch.multinomial(probs, 1, generator=generator).squeeze(-1)


def sample_rows(
    logits: torch.Tensor,
    generators: Sequence[torch.Generator],
    *,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
) -> torch.Tensor:
    """Draw one token per row of `logits` (B, V) -> (B,), row b with its own `generators[b]`.

    Row b's token (and what the draw takes from `generators[b]`) is exactly that of
    ``sample(logits[b:b+1], generator=generators[b], …)``: the filtering and softmax are
    row-wise, and each row is drawn by torch.multinomial on that row with its generator.
    Where torch's multinomial is the exponential race ``argmax(p / q)``, q ~ Exp(1) drawn from
    the generator (its CPU kernel for one sample; `_race_is_multinomial` checks this once per
    shape by comparing draws), the rows' races run as one division and one argmax, which
    costs a fifth of B separate multinomial calls.
    """
    check_sampling(temperature, top_k, top_p)
    if len(generators) != logits.shape[0]:
        raise InputError(
            f"sampling: expected one generator per row ({logits.shape[0]}), got {len(generators)}"
        )
    if temperature == 0:
        return greedy(logits)
    logits = logits.float() if temperature == 1 else logits.float() / temperature  # z / 1 = z
    probs = torch.softmax(filter_logits(logits, top_k=top_k, top_p=top_p), dim=-1)  # (B, V)
    if not _race_is_multinomial(probs.shape[-1], probs.device):
        rows = [
            torch.multinomial(probs[b : b + 1], 1, generator=g) for b, g in enumerate(generators)
        ]
        return torch.cat(rows).squeeze(-1)
    return _race(probs, generators)


def _race(probs: torch.Tensor, generators: Sequence[torch.Generator]) -> torch.Tensor:
    """argmax_v p_bv / q_bv with each row's q_b ~ Exp(1) drawn from generators[b]: (B,)."""
    q = torch.empty_like(probs)  # (B, V)
    if len(generators) == 1:
        q.exponential_(1, generator=generators[0])
    else:
        for row, generator in zip(q, generators, strict=True):
            row.exponential_(1, generator=generator)
    return torch.div(probs, q, out=q).argmax(dim=-1)


@functools.cache
def _race_is_multinomial(vocab: int, device: torch.device) -> bool:
    """Whether torch.multinomial(p, 1) on a (1, V) float32 row equals `_race` (same token,
    same generator state after), checked on random distributions with some zero entries."""
    checks = torch.Generator().manual_seed(0)
    for trial in range(8):
        rows = 1 + trial % 2  # one row, and rows of a batch
        logits = torch.randn(rows, vocab, generator=checks) * 3
        logits[:, torch.randperm(vocab, generator=checks)[: vocab // 4]] = float("-inf")
        probs = torch.softmax(logits, dim=-1).to(device)
        ours = [torch.Generator(device=device).manual_seed(trial * 2 + b) for b in range(rows)]
        theirs = [torch.Generator(device=device).manual_seed(trial * 2 + b) for b in range(rows)]
        for _ in range(3):
            expected = [
                int(torch.multinomial(probs[b : b + 1], 1, generator=theirs[b]))
                for b in range(rows)
            ]
            if _race(probs, ours).tolist() != expected:
                return False
        if any(
            not torch.equal(a.get_state(), b.get_state()) for a, b in zip(ours, theirs, strict=True)
        ):
            return False
    return True


def sample_seeds(seed: int | None, num_samples: int) -> list[int]:
    """The seeds of `num_samples` samples: seed, seed + 1, …; from a fresh random base seed
    when `seed` is None (the global RNG is not touched)."""
    if isinstance(num_samples, bool) or not isinstance(num_samples, int) or num_samples < 1:
        raise InputError(f"sample: expected num_samples >= 1, got {num_samples!r}")
    base = seed if seed is not None else random.SystemRandom().randrange(2**63)
    return [base + i for i in range(num_samples)]


# -- whole sequences -------------------------------------------------------------------------

LENGTH_PENALTIES = ("none", "average", "wu")

Step = Callable[[torch.Tensor, Any], tuple[torch.Tensor, Any]]


@dataclass(frozen=True)
class Hypothesis:
    """One decoded sequence.

    Attributes:
        tokens: the generated tokens, without the start and end-of-sequence tokens.
        log_prob: Σ log p of the generated tokens (the end-of-sequence token included).
        score: what ranks hypotheses: `log_prob` under the length penalty.
        finished: whether it ended with the end-of-sequence token (else `max_len` stopped it).
    """

    tokens: list[int]
    log_prob: float
    score: float
    finished: bool


def reorder_rows(state: Any, index: torch.Tensor) -> Any:
    """`state` with its rows (first axis of every tensor) taken at `index`."""
    if state is None:
        return None
    if isinstance(state, torch.Tensor):
        return state.index_select(0, index.to(state.device))
    if isinstance(state, (tuple, list)):
        return type(state)(reorder_rows(s, index) for s in state)
    if isinstance(state, dict):
        return {k: reorder_rows(v, index) for k, v in state.items()}
    raise InputError(f"decoding: cannot reorder a state of type {type(state).__name__}")


def length_divisor(length: int, kind: str = "none", alpha: float = 0.6) -> float:
    """The divisor of a hypothesis's log-probability: 1, |y|, or ((5 + |y|) / 6)^α."""
    if kind == "none":
        return 1.0
    if kind == "average":
        return float(max(length, 1))
    if kind == "wu":
        return ((5 + length) / 6) ** alpha
    raise InputError(
        f"decoding: expected length_penalty in {', '.join(LENGTH_PENALTIES)}, got {kind!r}"
    )


def _check_search(batch_size: int, max_len: int, bos: int, eos: int) -> None:
    if batch_size < 0:
        raise InputError(f"decoding: expected batch_size >= 0, got {batch_size}")
    if max_len < 1:
        raise InputError(f"decoding: expected max_len >= 1, got {max_len}")
    if bos < 0 or eos < 0:
        raise InputError(f"decoding: expected token ids >= 0, got bos {bos}, eos {eos}")


def _row_search(
    step: Step,
    state: Any,
    choose: Callable[[torch.Tensor], torch.Tensor],
    *,
    batch_size: int,
    bos: int,
    eos: int,
    max_len: int,
    device: torch.device | str,
) -> list[Hypothesis]:
    """One hypothesis per row, each token chosen by `choose(logits) -> (N,)`."""
    _check_search(batch_size, max_len, bos, eos)
    last = torch.full((batch_size,), bos, dtype=torch.long, device=device)
    tokens: list[list[int]] = [[] for _ in range(batch_size)]
    log_prob = [0.0] * batch_size
    open_ = [True] * batch_size
    for _ in range(max_len):
        if not any(open_):
            break
        logits, state = step(last, state)
        logp = torch.log_softmax(logits.float(), dim=-1)
        nxt = choose(logits)
        picked = logp.gather(1, nxt[:, None])[:, 0].tolist()
        for b, tok in enumerate(nxt.tolist()):
            if open_[b]:
                log_prob[b] += picked[b]
                if tok == eos:
                    open_[b] = False
                else:
                    tokens[b].append(tok)
        last = nxt
    return [
        Hypothesis(tokens[b], log_prob[b], log_prob[b], not open_[b]) for b in range(batch_size)
    ]


def greedy_search(
    step: Step,
    state: Any,
    *,
    batch_size: int,
    bos: int,
    eos: int,
    max_len: int = 100,
    device: torch.device | str = "cpu",
) -> list[Hypothesis]:
    """The most likely next token at every step, for each of `batch_size` rows."""
    return _row_search(
        step, state, greedy, batch_size=batch_size, bos=bos, eos=eos, max_len=max_len,
        device=device,
    )  # fmt: skip


def sample_search(
    step: Step,
    state: Any,
    *,
    batch_size: int,
    bos: int,
    eos: int,
    max_len: int = 100,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    generator: torch.Generator | None = None,
    device: torch.device | str = "cpu",
) -> list[Hypothesis]:
    """Each next token drawn from the model's distribution (temperature, top-k, top-p)."""
    check_sampling(temperature, top_k, top_p)

    def choose(logits: torch.Tensor) -> torch.Tensor:
        return sample(logits, temperature=temperature, top_k=top_k, top_p=top_p,
                      generator=generator)  # fmt: skip

    return _row_search(
        step, state, choose, batch_size=batch_size, bos=bos, eos=eos, max_len=max_len,
        device=device,
    )  # fmt: skip


def _banned(history: list[int], n: int) -> set[int]:
    """Tokens that would repeat an n-gram of `history` if appended to it."""
    if n < 1 or len(history) < n - 1:
        return set()
    if n == 1:
        return set(history)
    tail = tuple(history[len(history) - (n - 1) :])
    return {
        history[i + n - 1]
        for i in range(len(history) - n + 1)
        if tuple(history[i : i + n - 1]) == tail
    }


def beam_search(
    step: Step,
    state: Any,
    *,
    batch_size: int,
    bos: int,
    eos: int,
    beam: int = 5,
    max_len: int = 100,
    min_len: int = 0,
    length_penalty: str = "none",
    alpha: float = 0.6,
    block_ngram: int = 0,
    n_best: int = 1,
    reorder: Callable[[Any, torch.Tensor], Any] = reorder_rows,
    device: torch.device | str = "cpu",
) -> list[list[Hypothesis]]:
    """Batched beam search: the `n_best` best hypotheses of each of `batch_size` rows.

    Args:
        step: `logits, state = step(tokens, state)`, tokens (N,), logits (N, V), for
            N = batch_size x beam rows (row b's beams are rows b·beam … b·beam + beam − 1).
        state: the decoder state of the `batch_size` rows; it is expanded to the beams with
            `reorder(state, index)` and reordered the same way as beams are chosen.
        bos, eos: the start token fed first, and the end-of-sequence token.
        beam: hypotheses kept per row.
        max_len: most generated tokens (EOS included).
        min_len: EOS is not allowed before this many tokens.
        length_penalty, alpha: "none", "average" or "wu" (with exponent α).
        block_ngram: n > 0 forbids a token that would repeat an n-gram of its hypothesis.
        n_best: how many hypotheses to return per row (<= beam), best first.
    Returns:
        one list of `n_best` hypotheses (or fewer, when fewer are possible) per row.
    """
    _check_search(batch_size, max_len, bos, eos)
    if beam < 1:
        raise InputError(f"beam search: expected beam >= 1, got {beam}")
    if not 1 <= n_best <= beam:
        raise InputError(f"beam search: expected 1 <= n_best <= beam ({beam}), got {n_best}")
    if min_len < 0 or block_ngram < 0:
        raise InputError(
            f"beam search: expected min_len, block_ngram >= 0, got {min_len}, {block_ngram}"
        )
    length_divisor(1, length_penalty, alpha)  # an unknown name fails before any work
    penalty = functools.partial(length_divisor, kind=length_penalty, alpha=alpha)
    B, K = batch_size, beam
    N = B * K
    if B == 0:
        return []
    state = reorder(state, torch.arange(B, device=device).repeat_interleave(K))
    scores = torch.full((B, K), float("-inf"), device=device)
    scores[:, 0] = 0.0  # at first every beam of a row is the same: keep one
    history: list[list[int]] = [[] for _ in range(N)]
    ended: list[list[Hypothesis]] = [[] for _ in range(B)]
    done = [False] * B
    last = torch.full((N,), bos, dtype=torch.long, device=device)
    for t in range(max_len):
        logits, state = step(last, state)
        logp = torch.log_softmax(logits.float(), dim=-1)  # (N, V)
        V = logp.shape[-1]
        if t < min_len:
            logp[:, eos] = float("-inf")
        if block_ngram:
            for row in range(N):
                banned = _banned(history[row], block_ngram)
                if banned:
                    logp[row, list(banned)] = float("-inf")
        total = (scores.reshape(N, 1) + logp).reshape(B, K * V)
        best, where = total.topk(min(2 * K, K * V), dim=-1)  # (B, 2K)
        best_l, where_l = best.tolist(), where.tolist()
        pick_rows, pick_tokens, pick_scores = [], [], []
        for b in range(B):
            kept = 0
            for rank, (value, flat) in enumerate(zip(best_l[b], where_l[b], strict=True)):
                if kept == K:
                    break
                src, tok = b * K + flat // V, flat % V
                if done[b] or value == float("-inf"):
                    continue
                if tok == eos:
                    if rank < K:  # an EOS below the best K is not a hypothesis of this beam
                        ended[b].append(
                            Hypothesis(list(history[src]), value, value / penalty(t + 1), True)
                        )
                    continue
                pick_rows.append(src)
                pick_tokens.append(tok)
                pick_scores.append(value)
                kept += 1
            while kept < K:  # a done row, or too few live candidates: dead beams
                pick_rows.append(b * K)
                pick_tokens.append(eos)
                pick_scores.append(float("-inf"))
                kept += 1
            if not done[b] and len(ended[b]) >= K:
                # done when no open beam can still beat the K-th best ended hypothesis: its
                # log-probability only falls, and the divisor only grows up to max_len
                kth = sorted((h.score for h in ended[b]), reverse=True)[K - 1]
                alive = max(pick_scores[b * K : b * K + K])
                done[b] = alive == float("-inf") or alive / penalty(max_len) <= kth
        if all(done):
            break
        index = torch.tensor(pick_rows, device=device)
        state = reorder(state, index)
        history = [history[r] + [tok] for r, tok in zip(pick_rows, pick_tokens, strict=True)]
        scores = torch.tensor(pick_scores, device=device).reshape(B, K)
        last = torch.tensor(pick_tokens, dtype=torch.long, device=device)
        if all(done[b] or not math.isfinite(max(pick_scores[b * K : b * K + K])) for b in range(B)):
            break
    else:
        open_scores = scores.tolist()
        for b in range(B):
            if done[b]:
                continue
            for k in range(K):
                value = open_scores[b][k]
                if value != float("-inf"):
                    length = len(history[b * K + k])
                    ended[b].append(
                        Hypothesis(list(history[b * K + k]), value, value / penalty(length), False)
                    )
    return [sorted(h, key=lambda h: -h.score)[:n_best] for h in ended]
