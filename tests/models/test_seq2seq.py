"""Seq2Seq and Classifier: lengths, teacher forcing, decoding consistent with the model."""

import math

import pytest
import torch

from rnnlab.errors import InputError
from rnnlab.models.classifier import Classifier
from rnnlab.models.seq2seq import Seq2Seq, sequence_loss

D64 = torch.float64


def model(**kw):
    torch.manual_seed(0)
    options = dict(embed_dim=6, hidden=8, layers=2, dropout=0.0)
    return Seq2Seq(12, 10, **{**options, **kw}).double().eval()


def batch(seed=0, S=7, B=4, T=5):
    g = torch.Generator().manual_seed(seed)
    lengths = torch.tensor([S, 3, 5, 1][:B])
    src = torch.randint(4, 12, (S, B), generator=g)
    for b, n in enumerate(lengths.tolist()):
        src[n:, b] = 0
    tgt = torch.randint(3, 10, (T, B), generator=g)
    tgt[0] = 1  # bos
    return src, lengths, tgt


@pytest.mark.parametrize("attention", ["general", "additive", "dot", "scaled_dot", "none"])
@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
def test_a_row_is_decoded_the_same_alone_as_in_a_padded_batch(attention, cell):
    m = model(attention=attention, cell=cell)
    src, lengths, tgt = batch()
    logits = m(src, lengths, tgt)
    assert logits.shape == (5, 4, 10)
    for b in range(4):
        n = int(lengths[b])
        alone = m(src[:n, b : b + 1], lengths[b : b + 1], tgt[:, b : b + 1])
        torch.testing.assert_close(logits[:, b : b + 1], alone, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("bidirectional", [True, False])
def test_the_decoder_starts_from_the_encoders_final_state(bidirectional):
    m = model(attention="none", bidirectional=bidirectional, cell="lstm")
    src, lengths, _ = batch()
    state = m.encode(src, lengths)
    _, (h_n, c_n) = m.encoder(m.src_embed(src), lengths=lengths)
    D = 2 if bidirectional else 1
    for layer in range(2):
        expected = torch.cat([h_n[layer * D + d] for d in range(D)], dim=-1)  # (B, H)
        torch.testing.assert_close(state["h"][:, layer], expected)
        expected_c = torch.cat([c_n[layer * D + d] for d in range(D)], dim=-1)
        torch.testing.assert_close(state["c"][:, layer], expected_c)


def test_attention_weights_sum_to_one_and_ignore_padding():
    m = model(attention="additive")
    src, lengths, tgt = batch()
    _, weights = m(src, lengths, tgt, return_weights=True)
    assert weights.shape == (5, 4, 7)
    torch.testing.assert_close(weights.sum(-1), torch.ones(5, 4, dtype=D64))
    for b, n in enumerate(lengths.tolist()):
        assert torch.all(weights[:, b, n:] == 0)


def test_beam_scores_are_the_models_log_probabilities():
    m = model(attention="general")
    src, lengths, _ = batch(3)
    hyps = m.generate(src, lengths, beam=4, max_len=6)
    greedy = m.generate(src, lengths, beam=1, max_len=6)
    for b, (hyp, g) in enumerate(zip(hyps, greedy, strict=True)):
        n = int(lengths[b])
        for h in (hyp, g):
            tokens = h.tokens + ([m.eos] if h.finished else [])
            tgt_in = torch.tensor([m.bos, *tokens[:-1]])[:, None]
            with torch.no_grad():
                logits = m(src[:n, b : b + 1], lengths[b : b + 1], tgt_in)[:, 0].float()
            logits[:, [m.pad, m.bos]] = float("-inf")  # never outputs
            logp = torch.log_softmax(logits, -1)
            total = float(logp[torch.arange(len(tokens)), torch.tensor(tokens)].sum())
            assert math.isclose(h.log_prob, total, rel_tol=1e-4, abs_tol=1e-4)
        assert hyp.log_prob >= g.log_prob - 1e-6  # beam 4 finds at least greedy's probability
        assert m.pad not in hyp.tokens and m.bos not in hyp.tokens


def test_scheduled_sampling_feeds_the_models_own_draws():
    m = model()
    src, lengths, tgt = batch()
    forced = m(src, lengths, tgt, teacher_forcing=1.0)
    torch.testing.assert_close(
        m(src, lengths, tgt, teacher_forcing=1.0, generator=torch.Generator().manual_seed(1)),
        forced,
    )
    a = m(src, lengths, tgt, teacher_forcing=0.0, generator=torch.Generator().manual_seed(1))
    b = m(src, lengths, tgt, teacher_forcing=0.0, generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(a, b)
    torch.testing.assert_close(a[0], forced[0])  # step 0 always reads bos
    assert not torch.allclose(a[1:], forced[1:])


def test_tied_embeddings_share_the_weight_and_every_parameter_learns():
    m = model(tie_embeddings=True, embed_dim=6, hidden=8).train()
    assert m.out.weight is m.tgt_embed.weight
    src, lengths, tgt = batch()
    out = torch.roll(tgt, -1, 0)
    loss, count, right = sequence_loss(m(src, lengths, tgt), out, 0)
    assert count == out.numel() and 0 <= int(right) <= count
    loss.backward()
    for name, p in m.named_parameters():
        assert p.grad is not None and torch.any(p.grad != 0), name


def test_seq2seq_bad_settings_are_clear_errors():
    with pytest.raises(InputError, match="even hidden size"):
        Seq2Seq(5, 5, hidden=7)
    with pytest.raises(InputError, match="attention in"):
        Seq2Seq(5, 5, attention="cosine")
    with pytest.raises(InputError, match="cell in"):
        Seq2Seq(5, 5, cell="mingru")
    m = model()
    src, lengths, tgt = batch()
    with pytest.raises(InputError, match=r"source lengths in \[1, 7\]"):
        m(src, torch.tensor([8, 1, 1, 1]), tgt)
    with pytest.raises(InputError, match="teacher_forcing"):
        m(src, lengths, tgt, teacher_forcing=1.5)
    with pytest.raises(InputError, match="no attention"):
        model(attention="none").attention_weights(src[:, :1], lengths[:1], [3])


@pytest.mark.parametrize("pooling", ["last", "mean", "attention"])
@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_classifier_is_padding_invariant(pooling, cell):
    torch.manual_seed(0)
    c = Classifier(12, 3, embed_dim=5, hidden=4, layers=2, cell=cell, pooling=pooling)
    c = c.double().eval()
    src, lengths, _ = batch()
    logits = c(src, lengths)
    assert logits.shape == (4, 3)
    for b in range(4):
        n = int(lengths[b])
        torch.testing.assert_close(
            logits[b : b + 1], c(src[:n, b : b + 1], lengths[b : b + 1]), rtol=1e-10, atol=1e-10
        )


def test_classifier_pooling_is_what_it_says():
    torch.manual_seed(1)
    c = Classifier(12, 3, embed_dim=5, hidden=4, pooling="last", bidirectional=False).double()
    src, lengths, _ = batch()
    out, _ = c.encoder(c.embed(src), lengths=lengths)
    z = torch.stack([out[int(n) - 1, b] for b, n in enumerate(lengths)])
    torch.testing.assert_close(c.eval()(src, lengths), c.head(z))
    a = Classifier(12, 3, embed_dim=5, hidden=4, pooling="attention").double().eval()
    _, weights = a(src, lengths, return_weights=True)
    torch.testing.assert_close(weights.sum(-1), torch.ones(4, dtype=D64))
    assert torch.all(weights[1, 3:] == 0)
    with pytest.raises(InputError, match="only attention pooling"):
        c(src, lengths, return_weights=True)
    with pytest.raises(InputError, match="pooling in"):
        Classifier(5, 2, pooling="max")
    with pytest.raises(InputError, match="at least 2 classes"):
        Classifier(5, 1)


@pytest.mark.parametrize("input_feeding", [True, False])
def test_teacher_forced_forward_equals_stepping_the_decoder(input_feeding):
    m = model(attention="additive", input_feeding=input_feeding)
    src, lengths, tgt = batch(5)
    whole = m(src, lengths, tgt)
    state = m.encode(src, lengths)
    for t in range(tgt.shape[0]):
        logits, state = m.step(tgt[t], state)
        torch.testing.assert_close(whole[t], logits, rtol=1e-10, atol=1e-10)
