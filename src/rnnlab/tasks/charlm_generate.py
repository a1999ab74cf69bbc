"""Text from a trained character LM: one sample, or N independent samples drawn in one batch.

    generate(model, vocab, prime=…, length=…, seed=s)            → str (streamed to on_text)
    generate_batch(model, vocab, num_samples=N, seed=s)          → [str] * N

Sample i of a batch is exactly the text `generate` draws with seed s_i (s, s + 1, … unless
`seeds` are given): every sample has its own torch.Generator, and each step draws row i's
character from it alone (`rnnlab.decoding.sample_rows`).  The prime runs through the model's
own forward (once per distinct prime), then a stepper (`rnnlab.models.fast_step`) advances
every sample one character at a time: `FastStep` where it computes the model exactly, else
the module itself (`stepper="module"`, how every model was stepped before).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch

from rnnlab.data import CharVocab
from rnnlab.decoding import check_sampling, sample_rows, sample_seeds
from rnnlab.errors import InputError
from rnnlab.models.charlm import CharLM
from rnnlab.models.fast_step import make_stepper


def encode_prime(
    vocab: CharVocab, prime: str, *, unknown: str = "error", replacement: str | None = None
) -> list[int]:
    """The prime's ids; unknown characters raise (listing them), or are dropped/replaced."""
    ids = vocab.encode(prime, unknown=unknown, replacement=replacement).tolist()
    if prime and not ids:
        raise InputError("sample: the prime has no character the model knows")
    return ids


def _primed(model: CharLM, starts: list[list[int]]):
    """Logits (N, V) after each sample's start ids and the state (N rows), by the model's own
    forward: one call per distinct start, at batch 1."""
    device = model.decoder.weight.device
    done = {}
    for key in dict.fromkeys(tuple(s) for s in starts):
        logits, state = model(torch.as_tensor(key, device=device).view(-1, 1))  # (P, 1, V)
        done[key] = (logits[-1], state)
    rows = [done[tuple(s)] for s in starts]
    logits = torch.cat([r[0] for r in rows])  # (N, V)
    if isinstance(rows[0][1], tuple):
        state = tuple(torch.cat([r[1][k] for r in rows], dim=1) for k in range(2))
    else:
        state = torch.cat([r[1] for r in rows], dim=1)  # (L, N, P)
    return logits, state


@torch.inference_mode()
def generate_batch(
    model: CharLM,
    vocab: CharVocab,
    *,
    num_samples: int | None = None,
    seed: int | None = None,
    seeds: Sequence[int] | None = None,
    prime: str = "",
    length: int = 500,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    unknown: str = "error",
    replacement: str | None = None,
    stepper: str = "auto",
    on_text: Callable[[int, str], None] | None = None,
) -> list[str]:
    """Sample `num_samples` texts of `length` characters after `prime`, all in one batch.

    Sample i is what `generate` returns with seed `seeds[i]` (default `sample_seeds(seed,
    num_samples)`); the settings and the handling of the prime are `generate`'s.

    Args:
        num_samples: N (default: len(seeds), else 1).
        seed, seeds: the base seed, or each sample's seed (N of them).
        stepper: "auto" (`FastStep` where exact, else the module), "fast" or "module".
        on_text: `on_text(i, chunk)` with sample i's prime, then each character as it comes.

    Returns:
        The N generated texts (without the prime).
    """
    check_sampling(temperature, top_k, top_p)
    if length < 0:
        raise InputError(f"sample: expected length >= 0, got {length}")
    if seeds is None:
        seeds = sample_seeds(seed, 1 if num_samples is None else num_samples)
    else:
        seeds = [int(s) for s in seeds]
        if seed is not None or not seeds or num_samples not in (None, len(seeds)):
            raise InputError(
                f"sample: expected {num_samples or 'one or more'} seeds and no base seed, got "
                f"seeds={seeds} and seed={seed}"
            )
    count = len(seeds)
    ids = encode_prime(vocab, prime, unknown=unknown, replacement=replacement)
    emit = on_text if on_text is not None else (lambda i, text: None)
    for i in range(count):
        emit(i, prime)
    device = model.decoder.weight.device
    generators = [torch.Generator(device=device).manual_seed(s) for s in seeds]
    if not ids:
        ids = vocab.encode("\n").tolist() if "\n" in vocab.chars else []
    if ids:
        starts = [ids] * count
    else:  # each sample starts from a character its own generator draws
        starts = [
            [int(torch.randint(len(vocab), (1,), generator=g, device=device))] for g in generators
        ]
    model.eval()
    logits, state = _primed(model, starts)  # (N, V)
    steps = make_stepper(model, kind=stepper)
    steps.reset(state, count)
    chars = vocab.chars
    out: list[list[str]] = [[] for _ in range(count)]
    for t in range(length):
        nxt = sample_rows(
            logits, generators, temperature=temperature, top_k=top_k, top_p=top_p
        )  # (N,)
        for i, token in enumerate(nxt.tolist()):
            out[i].append(chars[token])
            emit(i, chars[token])
        if t + 1 < length:
            logits = steps.step(nxt)  # (N, V)
    return ["".join(text) for text in out]


def generate(
    model: CharLM,
    vocab: CharVocab,
    *,
    prime: str = "",
    length: int = 500,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    seed: int | None = None,
    unknown: str = "error",
    replacement: str | None = None,
    on_text: Callable[[str], None] | None = None,
    stepper: str = "auto",
) -> str:
    """Sample `length` characters after `prime`, calling `on_text(chunk)` as they come.

    The prime is checked first, then passed to `on_text` (so a caller that prints it prints
    nothing for a bad prime). An empty prime starts from a newline when the vocabulary has
    one, else from a uniformly drawn character. Characters of the prime the model never saw
    raise an error listing them (or are dropped/replaced, with unknown="drop"/"replace").
    Without a seed the draws come from a fresh random seed (the global RNG is not touched).
    `stepper` as `generate_batch` ("module": step the module itself, the path before
    `FastStep`; the draws are the same).
    Returns the generated text (without the prime).
    """
    emit = None if on_text is None else (lambda i, text: on_text(text))
    return generate_batch(
        model,
        vocab,
        seed=seed,
        prime=prime,
        length=length,
        temperature=temperature,
        top_k=top_k,
        top_p=top_p,
        unknown=unknown,
        replacement=replacement,
        stepper=stepper,
        on_text=emit,
    )[0]
