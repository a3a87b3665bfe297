# Your file: fill in each TODO, then run `uv run pytest exercises/13_attention`.
# Maintainers: generated from solutions/13_attention/attention.py by
# `python grader stubs`; edit the solution, never this file.
"""Attention: a weighted average of the inputs, with weights that say which part matters now.

D. Bahdanau, K. Cho, Y. Bengio, "Neural Machine Translation by Jointly Learning to Align
and Translate", ICLR 2015 (section 3.1: the decoder's state scores every encoder output
with a small network, e_tj = v^T tanh(W s_{t-1} + U h_j), and reads their softmax-weighted
sum, the context c_t); A. Vaswani et al., "Attention Is All You Need", NeurIPS 2017
(section 3.2: scaled dot-product attention softmax(Q K^T / sqrt(d_k)) V, and multi-head
attention, which runs it on num_heads projections side by side). A seq2seq decoder that
attends no longer squeezes the whole source into one vector: at every output word it
looks back at the source words it needs, and the weights, read as a map, show which
source word each output word came from (the alignment).

Masks: `mask` is a boolean tensor, True where attention may look (a real key; a past
position), as `F.scaled_dot_product_attention`'s boolean attn_mask (nn.MultiheadAttention's
key_padding_mask is the opposite: True there means ignore). A key the mask hides gets a
weight of exactly 0; a query that may look nowhere (a row of the mask all False) gets
weights of 0 everywhere and an output of 0, as PyTorch's scaled_dot_product_attention
gives, never NaN.

Read the lesson in README.md beside this file. Run the hidden tests with
    uv run pytest exercises/13_attention
and translate into "language B" (English with its words spelled backwards, in Korean word
order) with and without attention, saving the attention maps as a PNG, with
    uv run python exercises/13_attention/attention.py          (or --pairs FILE: "english<TAB>translation" lines)

Shapes: B batch, L queries (output positions), S keys (source positions), T time steps
of a decoder, E embedding (model) width, D features of a query or key, H a recurrent
hidden size, V vocabulary size; in multi-head attention, num_heads heads of
E // num_heads features each.
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from kata import pictures
from kata.common import default_device, hold_out
from kata.corpus import PARTICLES, WORDS, translation_pairs
from kata.sequences import Stopwatch, bos_eos
from kata.text import BOS_ID, PAD_ID, Vocab, read_pairs
from kata.training import fit


# ---------------------------------------------------------------- the attention functions
def masked_softmax(scores: Tensor, mask: Tensor | None = None) -> Tensor:
    """Softmax over the last dimension, only where `mask` is True.

    scores: (..., S) any float dtype; mask: bool, broadcastable to scores, True where a
    weight may be nonzero (None: everywhere). Returns weights shaped like scores: each
    row sums to 1 over its True positions and is exactly 0 at its False ones; a row
    with no True position is 0 everywhere (not NaN). Differentiable, gradient included.
    """
    # TODO: fill the masked scores with -inf, give an all-masked row scores of 0, softmax, zero the masked
    raise NotImplementedError("masked_softmax(): fill the masked scores with -inf, give an all-masked row scores of 0, softmax, zero the masked")


def causal_mask(L: int, S: int | None = None, *, device: torch.device | str | None = None) -> Tensor:
    """The mask of a model that may not look ahead: (L, S) bool, True where key j <= query i.

    S defaults to L. The top-left triangle, as `F.scaled_dot_product_attention(...,
    is_causal=True)` builds it (query i sees keys 0..i). On `device` (None: the default device).
    """
    # TODO: ones (L, S) of bool on the device, lower triangle kept (torch.tril)
    raise NotImplementedError("causal_mask(): ones (L, S) of bool on the device, lower triangle kept (torch.tril)")


def scaled_dot_product_attention(query: Tensor, key: Tensor, value: Tensor, mask: Tensor | None = None, *,
                                 is_causal: bool = False, scale: float | None = None) -> tuple[Tensor, Tensor]:
    """softmax(query key^T * scale) value, as F.scaled_dot_product_attention computes it.

    query (..., L, D), key (..., S, D), value (..., S, Dv); mask: bool broadcastable to
    (..., L, S), True where query i may look at key j (SDPA's boolean attn_mask); is_causal
    adds causal_mask(L, S) to it; scale: 1 / sqrt(D) when None. Returns the output
    (..., L, Dv) and the weights (..., L, S) (masked_softmax: a row that may look nowhere
    gets weights 0 and output 0).
    """
    # TODO: scores = query @ key^T * scale (1/sqrt(D) when None), combine the masks, masked_softmax, @ value
    raise NotImplementedError("scaled_dot_product_attention(): scores = query @ key^T * scale (1/sqrt(D) when None), combine the masks, masked_softmax, @ value")


class AdditiveAttention(nn.Module):
    """Bahdanau's attention: score(q, k) = v^T tanh(W_q q + W_k k), softmax over the keys.

    Attributes: query_proj (nn.Linear(query_size, hidden_size, bias=False)), key_proj
    (nn.Linear(key_size, hidden_size, bias=False)) and v (nn.Linear(hidden_size, 1,
    bias=False)): the paper's W, U and v. The keys are also the values (the paper's
    annotations h_j), so the context is a weighted average of the keys.
    """

    def __init__(self, query_size: int, key_size: int, hidden_size: int) -> None:
        super().__init__()
        # TODO: create query_proj, key_proj and v, three nn.Linear without bias
        raise NotImplementedError("AdditiveAttention.__init__(): create query_proj, key_proj and v, three nn.Linear without bias")

    def forward(self, query: Tensor, keys: Tensor, mask: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """query (B, L, query_size), keys (B, S, key_size), mask (B, S) bool, True at real keys (None: all).

        Returns the context (B, L, key_size), sum_j weights[b, i, j] keys[b, j], and the
        weights (B, L, S): masked_softmax of the scores, 0 at the padding.
        """
        # TODO: scores v(tanh(W_q q_i + W_k k_j)) for every pair (B, L, S), masked_softmax, weights @ keys
        raise NotImplementedError("AdditiveAttention.forward(): scores v(tanh(W_q q_i + W_k k_j)) for every pair (B, L, S), masked_softmax, weights @ keys")


class MultiHeadAttention(nn.Module):
    """num_heads scaled dot-product attentions side by side, on projections of width embed_dim // num_heads.

    Attributes: q_proj, k_proj, v_proj and out_proj, each nn.Linear(embed_dim,
    embed_dim, bias=bias). nn.MultiheadAttention holds the same weights, the first three
    stacked in in_proj_weight (rows q, k, v) and in_proj_bias; head h reads features
    h * head_dim .. (h + 1) * head_dim - 1 of each projection.
    """

    def __init__(self, embed_dim: int, num_heads: int, *, bias: bool = True) -> None:
        super().__init__()
        if embed_dim % num_heads:
            raise ValueError(f"embed_dim ({embed_dim}) must be a multiple of num_heads ({num_heads})")
        self.embed_dim, self.num_heads, self.head_dim = embed_dim, num_heads, embed_dim // num_heads
        # TODO: create q_proj, k_proj, v_proj and out_proj, nn.Linear(embed_dim, embed_dim, bias=bias)
        raise NotImplementedError("MultiHeadAttention.__init__(): create q_proj, k_proj, v_proj and out_proj, nn.Linear(embed_dim, embed_dim, bias=bias)")

    def forward(self, query: Tensor, key: Tensor, value: Tensor, mask: Tensor | None = None, *,
                is_causal: bool = False) -> tuple[Tensor, Tensor]:
        """query (B, L, E), key and value (B, S, E); mask (B, S) bool, True at real keys (None: all);
        is_causal: query i sees keys 0..i only.

        Returns the output (B, L, E) and each head's weights (B, num_heads, L, S)
        (nn.MultiheadAttention's need_weights=True averages them over the heads).
        """
        # TODO: project, split into heads (B, heads, len, head_dim), attend, merge the heads, out_proj
        raise NotImplementedError("MultiHeadAttention.forward(): project, split into heads (B, heads, len, head_dim), attend, merge the heads, out_proj")


# ---------------------------------------------------------------- a seq2seq model, with and without attention
class Encoder(nn.Module):
    """Embedding -> GRU over the source, padding skipped (packed): every position's output and the final state."""

    def __init__(self, vocab_size: int, embed_dim: int, hidden_size: int) -> None:
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, embed_dim)
        self.rnn = nn.GRU(embed_dim, hidden_size, batch_first=True)

    def forward(self, ids: Tensor, lengths: Tensor) -> tuple[Tensor, Tensor]:
        """ids (B, S), lengths (B,). Returns outputs (B, S, H), 0 at the padding, and h_n (B, H) at each last token."""
        packed = nn.utils.rnn.pack_padded_sequence(self.embedding(ids), lengths.cpu(), batch_first=True,
                                                   enforce_sorted=False)
        outputs, h_n = self.rnn(packed)
        outputs, _ = nn.utils.rnn.pad_packed_sequence(outputs, batch_first=True, total_length=ids.shape[1])
        return outputs, h_n[0]  # (B, S, H), (B, H)


class Decoder(nn.Module):
    """The decoder without attention: a GRU that starts from the encoder's final state and never looks back.

    The whole source reaches it through one vector h (the context vector of topic 12).
    Same call as AttentionDecoder, so one greedy_decode and one train serve both.
    """

    def __init__(self, vocab_size: int, embed_dim: int, hidden_size: int) -> None:
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, embed_dim)
        self.rnn = nn.GRU(embed_dim, hidden_size, batch_first=True)
        self.out = nn.Linear(hidden_size, vocab_size)

    def forward(self, inputs: Tensor, hx: Tensor, memory: Tensor, mask: Tensor) -> tuple[Tensor, Tensor, None]:
        """inputs (B, T) ids, hx (B, H); memory and mask are not read. Returns logits (B, T, V), h (B, H), None."""
        output, h_n = self.rnn(self.embedding(inputs), hx[None])  # (B, T, H), (1, B, H)
        return self.out(output), h_n[0], None


class AttentionDecoder(nn.Module):
    """Bahdanau's decoder: before each step, attend to the encoder's outputs with the previous state.

    Attributes: embedding (nn.Embedding(vocab_size, embed_dim)), attention
    (AdditiveAttention(hidden_size, key_size, hidden_size)), cell (nn.GRUCell(embed_dim +
    key_size, hidden_size)) and out (nn.Linear(hidden_size + key_size, vocab_size)).
    key_size is the width of the encoder's outputs (None: hidden_size).
    """

    def __init__(self, vocab_size: int, embed_dim: int, hidden_size: int, key_size: int | None = None) -> None:
        super().__init__()
        key_size = hidden_size if key_size is None else key_size
        # TODO: create embedding, attention, cell (reads the embedding and the context) and out
        raise NotImplementedError("AttentionDecoder.__init__(): create embedding, attention, cell (reads the embedding and the context) and out")

    def forward(self, inputs: Tensor, hx: Tensor, memory: Tensor, mask: Tensor | None = None
                ) -> tuple[Tensor, Tensor, Tensor]:
        """inputs (B, T) ids (teacher forcing: [BOS] y_1 .. y_{T-1}), hx (B, H) the first state, memory (B, S,
        key_size) the encoder's outputs, mask (B, S) True at real source tokens (None: all).

        For each t: context c_t, weights a_t = attention(h_{t-1}, memory, mask); h_t =
        cell([embedding(inputs[:, t]); c_t], h_{t-1}); logits_t = out([h_t; c_t]). Returns
        logits (B, T, V), the last state h_T (B, H) and the weights (B, T, S): row t says
        where the decoder looked to write output t.
        """
        # TODO: loop over t: attend with the previous state, step the cell on [embedding; context], score
        raise NotImplementedError("AttentionDecoder.forward(): loop over t: attend with the previous state, step the cell on [embedding; context], score")


class Seq2Seq(nn.Module):
    """An Encoder and a decoder (Decoder or AttentionDecoder), trained with teacher forcing."""

    def __init__(self, encoder: Encoder, decoder: nn.Module) -> None:
        super().__init__()
        self.encoder, self.decoder = encoder, decoder

    def forward(self, src: Tensor, lengths: Tensor, inputs: Tensor) -> tuple[Tensor, Tensor | None]:
        """src (B, S) ids, lengths (B,), inputs (B, T) the decoder's inputs. Returns logits (B, T, V) and the
        attention weights (B, T, S) (None without attention)."""
        memory, h = self.encoder(src, lengths)  # (B, S, H), (B, H)
        mask = torch.arange(src.shape[1], device=src.device) < lengths.to(src.device)[:, None]  # (B, S)
        logits, _, weights = self.decoder(inputs, h, memory, mask)
        return logits, weights


@torch.no_grad()
def greedy_decode(model: Seq2Seq, src: Tensor, lengths: Tensor, max_len: int) -> tuple[Tensor, Tensor | None]:
    """Translate without the answer: feed back each step's most likely token, from [BOS], for max_len steps.

    Returns ids (B, max_len) (whatever follows [EOS] is not cut) and the weights
    (B, max_len, S) (None without attention). Leaves the model in eval mode.
    """
    model.eval()
    memory, h = model.encoder(src, lengths)  # (B, S, H), (B, H)
    mask = torch.arange(src.shape[1], device=src.device) < lengths.to(src.device)[:, None]  # (B, S)
    token = torch.full((src.shape[0], 1), BOS_ID, dtype=torch.int64, device=src.device)  # (B, 1)
    ids, weights = [], []
    for _ in range(max_len):
        logits, h, a = model.decoder(token, h, memory, mask)  # (B, 1, V), (B, H), (B, 1, S) or None
        token = logits.argmax(-1)  # (B, 1)
        ids.append(token)
        weights.append(a)
    return torch.cat(ids, dim=1), (None if weights[0] is None else torch.cat(weights, dim=1))


def translation_accuracy(predicted: Tensor, labels: Tensor) -> Tensor:
    """Per sentence, the fraction of its label tokens (words and [EOS], not the padding) predicted right: (B,)."""
    real = labels != PAD_ID  # (B, T)
    return ((predicted == labels) & real).sum(1) / real.sum(1)


# ---------------------------------------------------------------- data and training
SOURCE_VOCAB = Vocab(WORDS)  # every English word the grammar writes, in a fixed order
TARGET_VOCAB = Vocab([*PARTICLES, *(word[::-1] for word in WORDS)])  # language B: each word spelled backwards


def translation_data(pairs: list[tuple[str, str]], source_vocab: Vocab = SOURCE_VOCAB,
                     target_vocab: Vocab = TARGET_VOCAB) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Pairs (source, target) as tensors: src (N, S) ids, lengths (N,), the decoder's inputs (N, T+1)
    [BOS] y_1 .. y_L and labels (N, T+1) y_1 .. y_L [EOS], padded with 0 (kata.sequences.bos_eos)."""
    src, _, lengths = source_vocab.encode_batch([s for s, _ in pairs])  # (N, S), (N,)
    targets, _, target_lengths = target_vocab.encode_batch([t for _, t in pairs])  # (N, T)
    inputs, labels = bos_eos(targets, target_lengths)  # (N, T+1) each
    return src, lengths, inputs, labels


def train_step(model: nn.Module, optimizer: torch.optim.Optimizer, batch: tuple[Tensor, ...]) -> float:
    """One teacher-forced update on (src, lengths, inputs, labels): cross-entropy over the non-padding labels."""
    src, lengths, inputs, labels = batch
    optimizer.zero_grad()
    logits, _ = model(src, lengths, inputs)  # (B, T, V)
    loss = F.cross_entropy(logits.transpose(1, 2), labels, ignore_index=PAD_ID)
    loss.backward()
    optimizer.step()
    return loss.item()


def train(model: nn.Module, src: Tensor, lengths: Tensor, inputs: Tensor, labels: Tensor, *, epochs: int = 10,
          lr: float = 0.01, batch_size: int = 64, seed: int = 0, log_every: int = 0,
          evaluate: Callable[[], dict[str, float]] | None = None) -> list[float]:
    """Adam on train_step, mini-batches shuffled from `seed`. Returns each epoch's mean loss."""
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    return fit(model, (src, lengths, inputs, labels), optimizer, train_step, epochs=epochs, batch_size=batch_size,
               seed=seed, log_every=log_every, evaluate=evaluate)


def make_model(attention: bool, source_size: int, target_size: int, *, embed_dim: int = 32,
               hidden_size: int = 64) -> Seq2Seq:
    """A Seq2Seq with an AttentionDecoder (attention=True) or the plain Decoder, and the same Encoder."""
    decoder = (AttentionDecoder if attention else Decoder)(target_size, embed_dim, hidden_size)
    return Seq2Seq(Encoder(source_size, embed_dim, hidden_size), decoder)


def save_attention_maps(path: str | Path, weights: Tensor, lengths: Tensor, target_lengths: Tensor, *,
                        cell: int = 16) -> Path:
    """A PNG of attention maps, one per sentence side by side: row t (output word), column j (source word),
    white = weight 1. Each weight becomes a cell x cell square."""
    from torchvision.utils import save_image  # torchvision is imported only to write the picture

    maps = torch.zeros(len(weights), 1, weights.shape[1], weights.shape[2])  # (B, 1, T, S)
    for b, (S, T) in enumerate(zip(lengths.tolist(), target_lengths.tolist())):
        maps[b, 0, :T, :S] = weights[b, :T, :S].float().cpu()
    maps = maps.repeat_interleave(cell, dim=2).repeat_interleave(cell, dim=3)  # (B, 1, T * cell, S * cell)
    path = Path(path)
    save_image(maps, path, nrow=len(maps), padding=cell // 2, pad_value=0.3)
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Translate with and without attention; save the attention maps.")
    parser.add_argument("--pairs", default=None, metavar="FILE",
                        help="your own pairs: a UTF-8 file, one 'source<TAB>target' a line, a tenth (drawn from "
                             "--seed) to test on (default: kata.corpus.translation_pairs, English to language B)")
    parser.add_argument("--max-len", type=int, default=20, metavar="N",
                        help="cut each sentence of --pairs to its first N tokens (default %(default)s)")
    parser.add_argument("--max-vocab", type=int, default=5000, metavar="N",
                        help="--pairs: keep each side's N most frequent words; the others become [UNK]")
    parser.add_argument("--train-size", type=int, default=2000)
    parser.add_argument("--test-size", type=int, default=500)
    parser.add_argument("--embed-dim", type=int, default=32)
    parser.add_argument("--hidden-size", type=int, default=64)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--lr", type=float, default=0.01)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default=default_device())
    parser.add_argument("--out", default=None, metavar="PNG",
                        help="where to save the attention maps (default: pictures/13_attention.png)")
    args = parser.parse_args(argv)

    try:
        if args.max_len < 1:
            raise ValueError(f"--max-len must be >= 1, got {args.max_len}")
        if args.pairs:
            pairs = [(" ".join(s.split()[:args.max_len]), " ".join(t.split()[:args.max_len]))
                     for s, t in read_pairs(args.pairs)]
            train_pairs, test_pairs = hold_out(pairs, args.seed, source=args.pairs, what="pairs")
            source_vocab = Vocab.build([s for s, _ in train_pairs], max_size=args.max_vocab + 5)
            target_vocab = Vocab.build([t for _, t in train_pairs], max_size=args.max_vocab + 5)
        else:
            train_pairs = translation_pairs(args.train_size, seed=args.seed)
            test_pairs = translation_pairs(args.test_size, seed=args.seed, split="test")
            source_vocab, target_vocab = SOURCE_VOCAB, TARGET_VOCAB
    except (OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"{len(train_pairs)} training and {len(test_pairs)} test pairs; vocabularies {len(source_vocab)} and "
          f"{len(target_vocab)}; e.g. {test_pairs[0][0]!r} -> {test_pairs[0][1]!r}")
    src, lengths, inputs, labels = (t.to(args.device) for t in translation_data(train_pairs, source_vocab,
                                                                                   target_vocab))
    test = [t.to(args.device) for t in translation_data(test_pairs, source_vocab, target_vocab)]
    test_src, test_lengths, _, test_labels = test

    torch.manual_seed(args.seed)
    clock = Stopwatch(runs=2, epochs=args.epochs)
    scores, curves = {}, {}
    for attention in (True, False):
        name = "with attention" if attention else "without attention"
        torch.manual_seed(args.seed)
        model = make_model(attention, len(source_vocab), len(target_vocab), embed_dim=args.embed_dim,
                           hidden_size=args.hidden_size).to(args.device)
        print(f"Seq2Seq {name}: {sum(p.numel() for p in model.parameters()):,} parameters")

        def test_accuracy(model: Seq2Seq = model) -> dict[str, float]:
            predicted, _ = greedy_decode(model, test_src, test_lengths, test_labels.shape[1])
            return {"test token accuracy": translation_accuracy(predicted, test_labels).mean().item()}

        curves[name] = train(model, src, lengths, inputs, labels, epochs=args.epochs, lr=args.lr,
                             batch_size=args.batch_size, seed=args.seed, log_every=1,
                             evaluate=clock.timed(test_accuracy))
        print(f"{name}: {clock.lap()}")
        predicted, weights = greedy_decode(model, test_src, test_lengths, test_labels.shape[1])
        per_sentence = translation_accuracy(predicted, test_labels)  # (N,)
        longest = test_lengths == test_lengths.max()
        scores[name] = (per_sentence.mean().item(), per_sentence[longest].mean().item())
        if attention:
            shown = slice(0, 4)
            target_lengths = (test_labels[shown] != PAD_ID).sum(1)  # the words and [EOS]
            out = args.out or pictures.path("13_attention.png")
            path = save_attention_maps(out, weights[shown], test_lengths[shown], target_lengths)
            for s, t in test_pairs[shown]:
                print(f"  {s!r} -> {t!r}")
            print(f"attention maps of these {len(target_lengths)} test sentences (rows: output words and [EOS], "
                  f"columns: source words): {path}")
    print(clock.total())
    for name, (overall, long) in scores.items():
        print(f"test token accuracy {name}: {overall:.3f} (the longest sentences: {long:.3f})")
    print(f"loss curves: {pictures.curve(curves, '13_loss.png', title='13 translation: training loss')}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
