"""Encoder-decoder with attention (Sutskever et al. 2014; Bahdanau et al. 2015; Luong et al. 2015).

    encoder:   e_s = Embed_src(x_s);  k_1 … k_S = BiRNN(e_1 … e_S)        keys (B, S, H)
    bridge:    the decoder's initial state is the encoder's final state (forward and backward
               halves concatenated per layer)
    decoder:   u_t = [Embed_tgt(y_{t-1}); h̃_{t-1}]                         (input feeding)
               h_t = RNN stack(u_t, h_{t-1})
               c_t, a_t = attend(h_t, k)                                   (additive/dot/general)
               h̃_t = tanh(W_c [c_t; h_t])                                  (attentional state)
               p(y_t | y_<t, x) = softmax(W_out h̃_t)

With `attention="none"` the decoder is the plain encoder-decoder of Sutskever et al.:
h̃_t = h_t, and the source reaches it only through the bridged state. With `tie_embeddings`
W_out is the target embedding (after a projection H → E when the widths differ).

Token tensors are time-major, (S, B) and (T, B), like the recurrent layers; attention works
batch-first. The decoder state is a dict of tensors whose first axis is the row, so
`rnnlab.decoding` can expand it to beams and reorder it.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rnnlab import nn as rnn
from rnnlab.decoding import Hypothesis, beam_search, greedy_search, sample_search
from rnnlab.errors import InputError
from rnnlab.functional.attention import lengths_mask
from rnnlab.models.recurrent import recurrent_layer
from rnnlab.nn.attention import make_attention

ATTENTIONS = ("general", "additive", "dot", "scaled_dot", "none")
SEQ2SEQ_CELLS = ("lstm", "gru", "rnn")
_CELLS = {"lstm": rnn.LSTMCell, "gru": rnn.GRUCell, "rnn": rnn.RNNCell}


class Seq2Seq(nn.Module):
    """Embedding, (bi)directional recurrent encoder, attention decoder with input feeding.

    Args:
        src_vocab, tgt_vocab: vocabulary sizes.
        embed_dim: E, both embeddings.
        hidden: H, the decoder's width; a bidirectional encoder has H/2 per direction.
        layers: encoder and decoder layers.
        cell: "lstm", "gru" or "rnn" (tanh).
        bidirectional: a bidirectional encoder.
        attention: "general", "additive", "dot", "scaled_dot" or "none".
        input_feeding: feed h̃_{t-1} to the decoder's input (needs attention).
        dropout: on embeddings, between layers and before the output layer.
        tie_embeddings: the output layer shares the target embedding's weights.
        pad, bos, eos: the target vocabulary's padding, start and end tokens (the source's
            padding is `pad` too).
        encoder_options: further `rnnlab.nn` layer options of the encoder (layer_norm,
            zoneout, weight_drop, locked_dropout, forget_bias, init, t_max, backend).
    """

    def __init__(
        self,
        src_vocab: int,
        tgt_vocab: int,
        *,
        embed_dim: int = 128,
        hidden: int = 256,
        layers: int = 1,
        cell: str = "lstm",
        bidirectional: bool = True,
        attention: str = "general",
        input_feeding: bool = True,
        dropout: float = 0.0,
        tie_embeddings: bool = False,
        pad: int = 0,
        bos: int = 1,
        eos: int = 2,
        **encoder_options: Any,
    ):
        super().__init__()
        owner = "Seq2Seq"
        if cell not in SEQ2SEQ_CELLS:
            raise InputError(f"{owner}: expected cell in {', '.join(SEQ2SEQ_CELLS)}, got {cell!r}")
        if attention not in ATTENTIONS:
            raise InputError(
                f"{owner}: expected attention in {', '.join(ATTENTIONS)}, got {attention!r}"
            )
        sizes = {"src_vocab": src_vocab, "tgt_vocab": tgt_vocab, "embed_dim": embed_dim,
                 "hidden": hidden, "layers": layers}  # fmt: skip
        for name, value in sizes.items():
            if value < 1:
                raise InputError(f"{owner}: expected {name} >= 1, got {value}")
        if bidirectional and hidden % 2:
            raise InputError(
                f"{owner}: a bidirectional encoder needs an even hidden size (H/2 per "
                f"direction), got {hidden}"
            )
        if not 0 <= dropout < 1:
            raise InputError(f"{owner}: expected 0 <= dropout < 1, got {dropout}")
        if input_feeding and attention == "none":
            input_feeding = False  # there is no attentional state to feed
        self.cell, self.layers, self.hidden = cell, layers, hidden
        self.attention_kind, self.input_feeding = attention, input_feeding
        self.pad, self.bos, self.eos = pad, bos, eos
        self.bidirectional = bidirectional
        enc_hidden = hidden // 2 if bidirectional else hidden
        self.src_embed = nn.Embedding(src_vocab, embed_dim, padding_idx=pad)
        self.tgt_embed = nn.Embedding(tgt_vocab, embed_dim, padding_idx=pad)
        self.encoder = recurrent_layer(
            owner, cell, embed_dim, enc_hidden, layers=layers, dropout=dropout,
            bidirectional=bidirectional, **encoder_options,
        )  # fmt: skip
        cell_options = {
            k: encoder_options[k]
            for k in ("layer_norm", "zoneout", "init", "t_max", "forget_bias")
            if k in encoder_options and encoder_options[k] is not None
        }
        if cell != "lstm":
            cell_options.pop("forget_bias", None)
        feed = hidden if input_feeding else 0
        self.decoder = nn.ModuleList(
            _CELLS[cell](embed_dim + feed if i == 0 else hidden, hidden, **cell_options)
            for i in range(layers)
        )
        if attention == "none":
            self.attention = None
            self.combine = None
        else:
            self.attention = make_attention(attention, hidden, hidden)
            self.combine = nn.Linear(2 * hidden, hidden, bias=False)  # W_c [c_t; h_t]
        self.drop = nn.Dropout(dropout)
        if tie_embeddings:
            self.out_proj = (
                nn.Linear(hidden, embed_dim, bias=False) if hidden != embed_dim else None
            )
            self.out = nn.Linear(embed_dim, tgt_vocab)
            self.out.weight = self.tgt_embed.weight
        else:
            self.out_proj = None
            self.out = nn.Linear(hidden, tgt_vocab)

    # -- encoder ----------------------------------------------------------------------------

    def encode(self, src: Tensor, lengths: Tensor) -> dict[str, Tensor]:
        """Read the source; return the decoder's initial state (rows first).

        Args:
            src: (S, B) token ids, padded with `pad` past each length.
            lengths: (B,) source lengths, each >= 1.
        Returns:
            the state dict: "h" (and "c" for the LSTM) (B, layers, H), "feed" (B, H), and with
            attention "keys" (B, S, H), "prepared" (B, S, ·), "mask" (B, S).
        """
        if src.dim() != 2:
            raise InputError(
                f"Seq2Seq: expected source tokens of shape (S, B), got {tuple(src.shape)}"
            )
        lengths = torch.as_tensor(lengths)
        if lengths.shape != (src.shape[1],):
            raise InputError(
                f"Seq2Seq: expected {src.shape[1]} source lengths, got shape {tuple(lengths.shape)}"
            )
        if len(lengths) and (int(lengths.min()) < 1 or int(lengths.max()) > src.shape[0]):
            raise InputError(
                f"Seq2Seq: expected source lengths in [1, {src.shape[0]}], got {lengths.tolist()}"
            )
        emb = self.drop(self.src_embed(src))  # (S, B, E)
        out, final = self.encoder(emb, lengths=lengths.cpu())
        h_n, c_n = final if self.cell == "lstm" else (final, None)
        state = {"h": self._bridge(h_n)}
        if c_n is not None:
            state["c"] = self._bridge(c_n)
        B = src.shape[1]
        state["feed"] = out.new_zeros(B, self.hidden)
        if self.attention is not None:
            keys = out.transpose(0, 1)  # (B, S, H)
            state["keys"] = keys
            state["prepared"] = self.attention.prepare(keys)
            state["mask"] = lengths_mask(lengths.to(keys.device), keys.shape[1])
        return state

    def _bridge(self, final: Tensor) -> Tensor:
        """(layers·directions, B, H/D) -> (B, layers, H): both directions side by side."""
        if self.bidirectional:
            L, B = self.layers, final.shape[1]
            final = final.view(L, 2, B, -1).permute(0, 2, 1, 3).reshape(L, B, -1)
        return final.transpose(0, 1).contiguous()

    # -- decoder ----------------------------------------------------------------------------

    def step(self, tokens: Tensor, state: dict[str, Tensor]) -> tuple[Tensor, dict[str, Tensor]]:
        """One decoder step: logits (B, V) of the next token and the next state.

        `state["weights"]` holds this step's attention weights (B, S).
        """
        new = self._advance(tokens, state)
        return self._logits(new["feed"]), new

    def _advance(self, tokens: Tensor, state: dict[str, Tensor]) -> dict[str, Tensor]:
        """The decoder's next state after reading `tokens` (B,); "feed" is h̃_t."""
        u = self.drop(self.tgt_embed(tokens))  # (B, E)
        if self.input_feeding:
            u = torch.cat([u, state["feed"]], dim=-1)
        hs, cs = [], []
        for i, cell in enumerate(self.decoder):
            if i:
                u = self.drop(u)
            if self.cell == "lstm":
                h, c = cell(u, (state["h"][:, i], state["c"][:, i]))
                cs.append(c)
            else:
                h = cell(u, state["h"][:, i])
            hs.append(h)
            u = h
        new = dict(state)
        new["h"] = torch.stack(hs, dim=1)
        if cs:
            new["c"] = torch.stack(cs, dim=1)
        top = hs[-1]  # (B, H)
        if self.attention is not None:
            context, weights = self.attention(
                top, state["keys"], mask=state["mask"], prepared=state["prepared"]
            )
            top = torch.tanh(self.combine(torch.cat([context, top], dim=-1)))  # h̃_t
            new["weights"] = weights
        new["feed"] = top
        return new

    def _logits(self, attentional: Tensor) -> Tensor:
        """p(y_t | …) logits from h̃_t: (…, H) -> (…, V)."""
        out = self.drop(attentional)
        if self.out_proj is not None:
            out = self.out_proj(out)
        return self.out(out)

    def forward(
        self,
        src: Tensor,
        src_lengths: Tensor,
        tgt_in: Tensor,
        *,
        teacher_forcing: float = 1.0,
        generator: torch.Generator | None = None,
        return_weights: bool = False,
    ) -> Tensor | tuple[Tensor, Tensor]:
        """Logits of every target position, decoding with teacher forcing.

        Args:
            src: (S, B) source tokens; src_lengths (B,).
            tgt_in: (T, B) the decoder's inputs: `bos` then the target shifted right.
            teacher_forcing: the probability that step t > 0 reads the reference token; else
                it reads a token drawn from the model's own distribution at step t − 1
                (scheduled sampling, Bengio et al. 2015), independently per row and step.
            generator: draws of scheduled sampling (None: torch's global RNG).
            return_weights: also return the attention weights (T, B, S).
        Returns:
            logits (T, B, V) [and weights].
        """
        if not 0 <= teacher_forcing <= 1:
            raise InputError(f"Seq2Seq: expected 0 <= teacher_forcing <= 1, got {teacher_forcing}")
        if tgt_in.dim() != 2 or tgt_in.shape[1] != src.shape[1]:
            raise InputError(
                f"Seq2Seq: expected target tokens of shape (T, {src.shape[1]}), got "
                f"{tuple(tgt_in.shape)}"
            )
        state = self.encode(src, src_lengths)
        logits, weights, feeds = [], [], []
        token = tgt_in[0]
        for t in range(tgt_in.shape[0]):
            if t and teacher_forcing < 1:
                with torch.no_grad():
                    probs = torch.softmax(logits[-1].float(), dim=-1)
                    drawn = torch.multinomial(probs, 1, generator=generator)[:, 0]
                    keep = torch.rand(len(drawn), generator=generator, device=drawn.device)
                token = torch.where(keep < teacher_forcing, tgt_in[t], drawn)
            elif t:
                token = tgt_in[t]
            state = self._advance(token, state)
            if teacher_forcing < 1:  # the next step draws from these logits
                logits.append(self._logits(state["feed"]))
            else:
                feeds.append(state["feed"])
            if return_weights and "weights" in state:
                weights.append(state["weights"])
        if feeds:  # every step's output layer at once: one (T·B, H) x (H, V) product
            logits = self._logits(torch.stack(feeds))
        else:
            logits = torch.stack(logits)
        if return_weights:
            if not weights:
                raise InputError("Seq2Seq: a model without attention has no attention weights")
            return logits, torch.stack(weights)
        return logits

    # -- generation -------------------------------------------------------------------------

    @torch.no_grad()
    def generate(
        self,
        src: Tensor,
        src_lengths: Tensor,
        *,
        beam: int = 1,
        max_len: int = 100,
        sample: bool = False,
        temperature: float = 1.0,
        top_k: int | None = None,
        top_p: float | None = None,
        generator: torch.Generator | None = None,
        **beam_options: Any,
    ) -> list[Hypothesis]:
        """The best output of each source: greedy (beam 1), sampled, or by beam search.

        `beam_options` go to `rnnlab.decoding.beam_search` (length_penalty, alpha,
        block_ngram, min_len).
        """
        state = self.encode(src, src_lengths)
        B = src.shape[1]
        common = dict(batch_size=B, bos=self.bos, eos=self.eos, max_len=max_len, device=src.device)
        never = [self.pad, self.bos]

        def step(tokens: Tensor, state: dict[str, Tensor]) -> tuple[Tensor, dict[str, Tensor]]:
            logits, state = self.step(tokens, state)
            logits[:, never] = float("-inf")  # padding and the start token are never output
            return logits, state

        if sample:
            return sample_search(step, state, temperature=temperature, top_k=top_k,
                                 top_p=top_p, generator=generator, **common)  # fmt: skip
        if beam == 1 and not beam_options:
            return greedy_search(step, state, **common)
        found = beam_search(step, state, beam=beam, **beam_options, **common)
        return [hyps[0] for hyps in found]

    @torch.no_grad()
    def attention_weights(self, src: Tensor, src_lengths: Tensor, output: list[int]) -> Tensor:
        """The attention weights (len(output) + 1, S) of one source (B = 1) while the decoder
        reads `output` (then emits EOS): one row per output token and one for EOS."""
        if self.attention is None:
            raise InputError("Seq2Seq: a model without attention has no attention weights")
        tgt = torch.tensor([self.bos, *output], dtype=torch.long, device=src.device)[:, None]
        _, weights = self.forward(src, src_lengths, tgt, return_weights=True)
        return weights[:, 0]


def sequence_loss(logits: Tensor, target: Tensor, pad: int) -> tuple[Tensor, int, Tensor]:
    """Summed cross-entropy over non-pad targets, their count, and the number predicted right.

    Args:
        logits: (T, B, V); target: (T, B) with `pad` where nothing is to be predicted.
    """
    flat = logits.float().flatten(0, 1)
    gold = target.flatten()
    loss = F.cross_entropy(flat, gold, ignore_index=pad, reduction="sum")
    valid = gold != pad
    right = ((flat.argmax(-1) == gold) & valid).sum()
    return loss, int(valid.sum()), right
