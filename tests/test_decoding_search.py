"""Whole-sequence decoding: beam search against exhaustive search, greedy, batching, options."""

import itertools
import math

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from rnnlab.decoding import (
    beam_search,
    greedy_search,
    length_divisor,
    reorder_rows,
    sample_search,
)
from rnnlab.errors import InputError

BOS, EOS = 0, 1


class PrefixModel:
    """A toy decoder whose next-token logits are a fixed random function of the whole prefix.

    The state is (N, L) of the tokens so far (-1 padded) so that beams can be reordered; the
    logits of a prefix are drawn from a generator seeded by it (and by the row's source id).
    """

    def __init__(self, vocab: int, seed: int, eos_bias: float = 0.0, sharp: float = 2.0):
        self.vocab, self.seed, self.eos_bias, self.sharp = vocab, seed, eos_bias, sharp

    def logits_of(self, source: int, prefix: tuple[int, ...]) -> torch.Tensor:
        key = hash((self.seed, source, prefix)) % (2**31)
        g = torch.Generator().manual_seed(key)
        z = torch.randn(self.vocab, generator=g) * self.sharp
        z[BOS] = float("-inf")  # never generated
        z[EOS] += self.eos_bias
        return z

    def state(self, sources):
        return (torch.tensor(sources)[:, None], torch.full((len(sources), 0), -1))

    def step(self, tokens, state):
        source, prefix = state
        if prefix.shape[1] or not torch.all(tokens == BOS):
            prefix = torch.cat([prefix, tokens[:, None]], 1)
        rows = []
        for s, p in zip(source[:, 0].tolist(), prefix.tolist(), strict=True):
            rows.append(self.logits_of(s, tuple(t for t in p if t != BOS)))
        return torch.stack(rows), (source, prefix)


def exhaustive(model, source, max_len, kind, alpha, min_len=0):
    """The best hypothesis by enumerating every sequence (ended, or cut at max_len)."""
    best = None
    words = [t for t in range(model.vocab) if t not in (BOS, EOS)]
    for length in range(0, max_len + 1):
        for body in itertools.product(words, repeat=length):
            ends = length < max_len
            logp, prefix = 0.0, ()
            for tok in (*body, EOS) if ends else body:
                lp = torch.log_softmax(model.logits_of(source, prefix), -1)
                if len(prefix) < min_len:
                    lp[EOS] = float("-inf")  # forbidden, not renormalised (as beam search)
                logp += float(lp[tok])
                prefix = (*prefix, tok)
            if logp == float("-inf"):
                continue
            n = length + 1 if ends else length
            score = logp / length_divisor(n, kind, alpha)
            if best is None or score > best[0]:
                best = (score, list(body), ends)
    return best


@given(
    st.integers(3, 4),
    st.integers(1, 3),
    st.sampled_from(["none", "average", "wu"]),
    st.integers(0, 1000),
    st.sampled_from([-2.0, 0.0, 1.5]),
)
def test_a_wide_enough_beam_finds_the_exhaustive_best(vocab, max_len, kind, seed, eos_bias):
    model = PrefixModel(vocab, seed, eos_bias)
    beam = (vocab - 1) ** max_len + 1  # every prefix fits
    got = beam_search(
        model.step,
        model.state([7]),
        batch_size=1,
        bos=BOS,
        eos=EOS,
        beam=beam,
        max_len=max_len,
        length_penalty=kind,
        alpha=0.8,
    )[0][0]
    score, tokens, ends = exhaustive(model, 7, max_len, kind, 0.8)
    assert got.tokens == tokens and got.finished == ends
    assert math.isclose(got.score, score, rel_tol=1e-5, abs_tol=1e-5)


@given(st.integers(0, 1000))
def test_min_len_against_exhaustive_search(seed):
    model = PrefixModel(4, seed, eos_bias=3.0)
    got = beam_search(
        model.step,
        model.state([3]),
        batch_size=1,
        bos=BOS,
        eos=EOS,
        beam=30,
        max_len=3,
        min_len=2,
    )[0][0]
    score, tokens, _ = exhaustive(model, 3, 3, "none", 0.0, min_len=2)
    assert len(got.tokens) >= 2 and got.tokens == tokens
    assert math.isclose(got.score, score, rel_tol=1e-5, abs_tol=1e-5)


@given(st.integers(0, 1000), st.integers(1, 8))
def test_beam_of_one_is_greedy(seed, max_len):
    model = PrefixModel(6, seed, eos_bias=0.5)
    sources = [0, 1, 2]
    beam = beam_search(
        model.step,
        model.state(sources),
        batch_size=3,
        bos=BOS,
        eos=EOS,
        beam=1,
        max_len=max_len,
    )
    greedy = greedy_search(
        model.step, model.state(sources), batch_size=3, bos=BOS, eos=EOS, max_len=max_len
    )
    for b, g in zip(beam, greedy, strict=True):
        assert b[0].tokens == g.tokens and b[0].finished == g.finished
        assert math.isclose(b[0].log_prob, g.log_prob, rel_tol=1e-5, abs_tol=1e-5)


def test_rows_searched_together_equal_rows_searched_alone():
    model = PrefixModel(7, 3, eos_bias=-0.5)
    sources = [4, 5, 6, 7]
    together = beam_search(
        model.step,
        model.state(sources),
        batch_size=4,
        bos=BOS,
        eos=EOS,
        beam=3,
        max_len=6,
        n_best=3,
        length_penalty="wu",
    )
    for i, s in enumerate(sources):
        alone = beam_search(
            model.step,
            model.state([s]),
            batch_size=1,
            bos=BOS,
            eos=EOS,
            beam=3,
            max_len=6,
            n_best=3,
            length_penalty="wu",
        )[0]
        assert [h.tokens for h in together[i]] == [h.tokens for h in alone]
        scores = [h.score for h in together[i]]
        assert scores == sorted(scores, reverse=True)
        assert all(
            math.isclose(a.score, b.score, rel_tol=1e-6)
            for a, b in zip(together[i], alone, strict=True)
        )


class Repeater:
    """Prefers to continue the pattern 2 3 2 3 …; EOS only late."""

    vocab = 6

    def step(self, tokens, state):
        (count,) = state
        z = torch.full((len(tokens), self.vocab), -5.0)
        z[:, BOS] = float("-inf")
        nxt = torch.where(tokens == 2, 3, 2)
        z[torch.arange(len(tokens)), nxt] = 5.0
        z[:, EOS] = torch.where(count >= 9, 10.0, -10.0)
        return z, (count + 1,)


def test_ngram_blocking_forbids_repeats():
    r = Repeater()
    state = (torch.zeros(2),)
    plain = beam_search(r.step, state, batch_size=2, bos=BOS, eos=EOS, beam=2, max_len=20)[0][0]
    assert plain.tokens[:4] == [2, 3, 2, 3]
    for n in (1, 2, 3):
        hyp = beam_search(
            r.step, state, batch_size=2, bos=BOS, eos=EOS, beam=2, max_len=20, block_ngram=n
        )[0][0]
        grams = [tuple(hyp.tokens[i : i + n]) for i in range(len(hyp.tokens) - n + 1)]
        assert len(grams) == len(set(grams)), hyp.tokens


def test_length_penalties():
    assert length_divisor(4, "none") == 1.0
    assert length_divisor(4, "average") == 4.0
    assert math.isclose(length_divisor(4, "wu", 0.6), (9 / 6) ** 0.6)
    with pytest.raises(InputError, match="length_penalty"):
        length_divisor(3, "log")


def test_sampling_search_is_seeded_and_temperature_zero_is_greedy():
    model = PrefixModel(6, 11)
    runs = [
        sample_search(
            model.step,
            model.state([1, 2]),
            batch_size=2,
            bos=BOS,
            eos=EOS,
            max_len=10,
            generator=torch.Generator().manual_seed(5),
        )
        for _ in range(2)
    ]
    assert [h.tokens for h in runs[0]] == [h.tokens for h in runs[1]]
    cold = sample_search(
        model.step, model.state([1, 2]), batch_size=2, bos=BOS, eos=EOS, max_len=10, temperature=0
    )
    greedy = greedy_search(
        model.step, model.state([1, 2]), batch_size=2, bos=BOS, eos=EOS, max_len=10
    )
    assert [h.tokens for h in cold] == [h.tokens for h in greedy]


def test_reorder_rows_and_errors():
    state = {"h": (torch.arange(3.0), [torch.arange(6.0).reshape(3, 2)]), "none": None}
    out = reorder_rows(state, torch.tensor([2, 0]))
    assert out["h"][0].tolist() == [2.0, 0.0] and out["h"][1][0].tolist() == [[4, 5], [0, 1]]
    with pytest.raises(InputError, match="cannot reorder"):
        reorder_rows("x", torch.tensor([0]))
    model = PrefixModel(4, 0)
    kw = dict(batch_size=1, bos=BOS, eos=EOS)
    with pytest.raises(InputError, match="beam >= 1"):
        beam_search(model.step, model.state([0]), beam=0, **kw)
    with pytest.raises(InputError, match="n_best"):
        beam_search(model.step, model.state([0]), beam=2, n_best=3, **kw)
    with pytest.raises(InputError, match="max_len >= 1"):
        greedy_search(model.step, model.state([0]), max_len=0, **kw)
    with pytest.raises(InputError, match="length_penalty"):
        beam_search(model.step, model.state([0]), length_penalty="x", **kw)
    assert beam_search(model.step, None, batch_size=0, bos=BOS, eos=EOS) == []


class EarlyEnders:
    """From the start: A (0.6) or one of B..E (0.1 each). A continues with A until step 4,
    then ends; B..E end at once. Short, unlikely hypotheses end first."""

    A, B = 2, 3
    vocab = 7

    def step(self, tokens, state):
        (t,) = state
        logp = torch.full((len(tokens), self.vocab), math.log(1e-6))
        for row, (tok, step) in enumerate(zip(tokens.tolist(), t.tolist(), strict=True)):
            if tok == BOS:
                logp[row, self.A] = math.log(0.6)
                logp[row, self.B : self.B + 4] = math.log(0.1)
            elif tok == self.A:
                logp[row, self.A if step < 4 else EOS] = math.log(0.99)
            else:
                logp[row, EOS] = math.log(0.999)
        return logp, (t + 1,)


@pytest.mark.parametrize("penalty", ["none", "average", "wu"])
def test_beam_search_does_not_stop_at_the_first_beam_of_short_endings(penalty):
    m = EarlyEnders()
    found = beam_search(
        m.step,
        (torch.zeros(1),),
        batch_size=1,
        bos=BOS,
        eos=EOS,
        beam=3,
        max_len=10,
        length_penalty=penalty,
    )[0][0]
    assert found.tokens == [m.A] * 4 and found.finished
