"""Sequence to sequence: an encoder reads the source into one vector, a decoder writes the target from it.

I. Sutskever, O. Vinyals, Q. V. Le, "Sequence to Sequence Learning with Neural Networks",
NeurIPS 2014 (section 2: the encoder's last state starts the decoder; section 3.3: beam
search); K. Cho et al., "Learning Phrase Representations using RNN Encoder-Decoder for
Statistical Machine Translation", EMNLP 2014 (the GRU encoder-decoder and its fixed-size
"context vector"). BLEU: K. Papineni et al., ACL 2002 (section 2: clipped n-gram
precisions and the brevity penalty). Departures: one GRU layer by default, no source
reversal (Sutskever's trick), and a decoder that takes only the context vector as its
initial state (Cho also feeds it at every step).

The encoder reads the source ids (padded, with their lengths) and keeps its state after
each sentence's last real token: h_n, the context vector, all the decoder knows of the
source. In training the decoder reads the gold target shifted right ([CLS] y_1 .. y_L,
teacher forcing) and is scored on y_1 .. y_L [SEP], padding skipped. At test time it
reads its own previous prediction: greedy decoding takes the best token at each step and
stops a sentence at [SEP]; beam search keeps the beam_size best prefixes and returns the
sentence with the best length-normalised log-probability. `nn.GRU` is the building block
(topic 10 writes the cell); the lesson is what goes around it. Topic 13 adds attention,
which removes the one-vector bottleneck.

Read the lesson in README.md beside this file. Run the hidden tests with
    uv run pytest exercises/12_seq2seq
and translate English into language B (kata.corpus.translation_pairs) with
    uv run python exercises/12_seq2seq/seq2seq.py          (or --pairs FILE: your own tab-separated pairs)

Shapes: B batch, S source steps, T target steps, E embedding width (embed_dim), H hidden
size, L layers (num_layers), V a vocabulary's size (the source's or the target's), k beams.
"""

from __future__ import annotations

import argparse
import math
import sys
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from kata import pictures
from kata.common import default_device, hold_out
from kata.corpus import translation_pairs
from kata.sequences import Stopwatch, bos_eos
from kata.text import BOS_ID, EOS_ID, NUM_SPECIAL, PAD_ID, Vocab, read_pairs, tokenize
from kata.training import fit


@dataclass
class Seq2SeqConfig:
    """The hyperparameters of a GRU encoder-decoder; the defaults train on a laptop CPU in seconds."""

    src_vocab_size: int = 100
    tgt_vocab_size: int = 100
    embed_dim: int = 32  # Sutskever et al.: 1000
    hidden_size: int = 64  # the context vector's size (Sutskever et al.: 1000 per layer)
    num_layers: int = 1  # Sutskever et al.: 4; the decoder has as many as the encoder, so h_n fits it

    def __post_init__(self) -> None:
        for name in ("src_vocab_size", "tgt_vocab_size"):
            if getattr(self, name) <= NUM_SPECIAL:
                raise ValueError(f"{name} must be more than {NUM_SPECIAL} (ids 0-4 are special tokens), "
                                 f"got {getattr(self, name)}")
        if self.num_layers < 1:
            raise ValueError(f"num_layers must be >= 1, got {self.num_layers}")


class Encoder(nn.Module):
    """Embedding -> GRU over the source; returns every step's output and the context vector h_n.

    Attributes: embedding (nn.Embedding(vocab_size, embed_dim)), rnn (nn.GRU(embed_dim,
    hidden_size, num_layers, batch_first=True)).
    """

    def __init__(self, vocab_size: int, embed_dim: int, hidden_size: int, num_layers: int = 1) -> None:
        super().__init__()
        # BEGIN SOLUTION: create self.embedding and self.rnn, a batch-first nn.GRU with num_layers layers
        self.embedding = nn.Embedding(vocab_size, embed_dim)
        self.rnn = nn.GRU(embed_dim, hidden_size, num_layers, batch_first=True)
        # END SOLUTION

    def forward(self, x: Tensor, lengths: Tensor) -> tuple[Tensor, Tensor]:
        """x: source ids (B, S) int64, padded after each sentence; lengths: (B,) integers in 1..S, on the CPU.

        Returns outputs (B, S, H), the last layer's state after each step (0 at the
        padding), and h_n (L, B, H): each layer's state after each sentence's last real
        token, whatever ids the padding holds. h_n is the context vector.
        """
        # BEGIN SOLUTION: embed, pack with the lengths, run self.rnn, unpack to (B, S, H); return outputs and h_n
        embedded = self.embedding(x)  # (B, S, E)
        # Packing stops each sentence at its own length: the GRU never reads the padding,
        # so h_n is the state after the last real token, not after the last [PAD].
        packed = nn.utils.rnn.pack_padded_sequence(embedded, lengths.cpu(), batch_first=True, enforce_sorted=False)
        outputs, h_n = self.rnn(packed)  # h_n (L, B, H)
        outputs, _ = nn.utils.rnn.pad_packed_sequence(outputs, batch_first=True, total_length=x.shape[1])
        return outputs, h_n  # (B, S, H), (L, B, H)
        # END SOLUTION


class Decoder(nn.Module):
    """Embedding -> GRU -> a linear layer to the target vocabulary, from a given initial state.

    Attributes: embedding (nn.Embedding(vocab_size, embed_dim)), rnn (nn.GRU(embed_dim,
    hidden_size, num_layers, batch_first=True)), out (nn.Linear(hidden_size, vocab_size)).
    """

    def __init__(self, vocab_size: int, embed_dim: int, hidden_size: int, num_layers: int = 1) -> None:
        super().__init__()
        # BEGIN SOLUTION: create self.embedding, self.rnn (a batch-first nn.GRU) and self.out (H -> vocab_size)
        self.embedding = nn.Embedding(vocab_size, embed_dim)
        self.rnn = nn.GRU(embed_dim, hidden_size, num_layers, batch_first=True)
        self.out = nn.Linear(hidden_size, vocab_size)
        # END SOLUTION

    def forward(self, x: Tensor, hx: Tensor) -> tuple[Tensor, Tensor]:
        """x: the tokens the decoder reads (B, T) int64; hx: the initial state (L, B, H).

        Returns logits (B, T, V), at step t the scores of the token after x[:, t], and
        h_n (L, B, H), the state after step T-1 (to continue from, one step at a time).
        """
        # BEGIN SOLUTION: embed x, run self.rnn from hx, apply self.out at every step; return logits and h_n
        output, h_n = self.rnn(self.embedding(x), hx)  # (B, T, H), (L, B, H)
        return self.out(output), h_n  # (B, T, V), (L, B, H)
        # END SOLUTION


class Seq2Seq(nn.Module):
    """An Encoder and a Decoder of the config's sizes; forward is teacher forcing.

    Attributes: config, encoder (Encoder(src_vocab_size, embed_dim, hidden_size,
    num_layers)), decoder (Decoder(tgt_vocab_size, embed_dim, hidden_size, num_layers)).
    """

    def __init__(self, config: Seq2SeqConfig) -> None:
        super().__init__()
        self.config = config
        # BEGIN SOLUTION: create self.encoder and self.decoder from the config (each with its own vocabulary size)
        c = config
        self.encoder = Encoder(c.src_vocab_size, c.embed_dim, c.hidden_size, c.num_layers)
        self.decoder = Decoder(c.tgt_vocab_size, c.embed_dim, c.hidden_size, c.num_layers)
        # END SOLUTION

    def forward(self, src: Tensor, lengths: Tensor, y: Tensor) -> Tensor:
        """Teacher forcing. src: (B, S) ids, lengths: (B,); y: the decoder's inputs (B, T), the gold
        target shifted right ([CLS] y_1 .. y_L, padded: kata.sequences.bos_eos's inputs).

        Returns logits (B, T, V): at step t the scores of the target's token t + 1, having
        read the gold tokens up to t whatever the model would have predicted.
        """
        # BEGIN SOLUTION: encode src with its lengths; decode all of y at once from the encoder's h_n; return logits
        _, context = self.encoder(src, lengths)  # (L, B, H): the context vector
        logits, _ = self.decoder(y, context)  # (B, T, V)
        return logits
        # END SOLUTION


def sequence_loss(logits: Tensor, labels: Tensor, pad_id: int = PAD_ID) -> Tensor:
    """The cross-entropy of logits (B, T, V) against labels (B, T), averaged over the positions whose
    label is not pad_id: padded positions add exactly nothing to the loss or to its gradient.

    labels are bos_eos's labels (y_1 .. y_L [SEP], then PAD_ID = 0). Returns a scalar.
    """
    # BEGIN SOLUTION: cross-entropy over the (B * T, V) rows against (B * T,) labels, skipping labels == pad_id
    # Averaging over every position (B * T) would make a batch of short sentences look
    # easy, and the model would learn to predict [PAD]: skip them, count only the real ones.
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), labels.reshape(-1), ignore_index=pad_id)
    # END SOLUTION


@torch.no_grad()
def greedy_decode(model: Seq2Seq, src: Tensor, lengths: Tensor, *, max_len: int = 20) -> Tensor:
    """Translate a batch by taking the most likely token at each step, fed back as the next input.

    src: (B, S) ids, lengths: (B,). The decoder starts from the encoder's h_n with
    BOS_ID ([CLS]) and reads its own previous prediction at every later step. A sentence
    stops at its first EOS_ID ([SEP]), which is kept; its later positions are PAD_ID.
    Decoding stops when every sentence has stopped, or after max_len tokens.
    Returns ids (B, T') int64 on src's device, T' <= max_len (0 when max_len is 0). Each
    sentence gets what it would get decoded alone. The model's mode is left as it is.
    """
    # BEGIN SOLUTION: from BOS and the encoder's h_n feed each argmax back; PAD after EOS; stop when all ended
    B = src.shape[0]
    _, h = model.encoder(src, lengths)  # (L, B, H)
    y = torch.full((B, 1), BOS_ID, dtype=torch.int64, device=src.device)  # (B, 1): the first input
    done = torch.zeros(B, dtype=torch.bool, device=src.device)  # (B,): True once a sentence has said [SEP]
    out = []
    for _ in range(max_len):
        logits, h = model.decoder(y, h)  # (B, 1, V)
        token = logits[:, -1].argmax(-1)  # (B,)
        token = token.masked_fill(done, PAD_ID)  # a finished sentence only pads
        out.append(token)
        done = done | (token == EOS_ID)
        if done.all():
            break
        y = token[:, None]  # (B, 1): the prediction is the next input
    return torch.stack(out, dim=1) if out else src.new_zeros(B, 0)  # (B, T')
    # END SOLUTION


@torch.no_grad()
def beam_search(model: Seq2Seq, src: Tensor, *, beam_size: int = 4, max_len: int = 20,
                length_penalty: float = 1.0) -> tuple[Tensor, float]:
    """Translate one sentence src (S,) by beam search; returns its best tokens (T',) and their score.

    A hypothesis's log-probability is the sum of its tokens' log_softmax; its score is
    that sum divided by len ** length_penalty (len counts [SEP]; 0: the raw sum). From
    [CLS], at each step every live hypothesis is extended by every token, and the
    beam_size best extensions by log-probability are kept; those that end with [SEP]
    are finished and leave the beam (which shrinks), the others stay live. After max_len
    steps the live ones are finished as they are. The search ends when none is live;
    the finished hypothesis with the highest score wins. With beam_size 1 this is
    greedy_decode. Returns tokens int64 on src's device (ending with [SEP] unless cut at
    max_len) and the score as a float.
    """
    # BEGIN SOLUTION: keep the beam_size best extensions; finish at EOS or max_len; best normalised score
    _, h = model.encoder(src[None], torch.tensor([len(src)]))  # (L, 1, H)
    live = [[]]  # the live hypotheses' tokens
    scores = torch.zeros(1, dtype=torch.float64, device=src.device)  # (k,): their summed log-probabilities
    y = torch.full((1, 1), BOS_ID, dtype=torch.int64, device=src.device)  # (k, 1)
    finished = []  # (tokens, summed log-probability)
    for step in range(max_len):
        logits, h = model.decoder(y, h)  # (k, 1, V)
        V = logits.shape[-1]
        total = scores[:, None] + F.log_softmax(logits[:, -1].double(), dim=-1)  # (k, V)
        best, index = total.flatten().topk(min(beam_size, total.numel()))  # (k',)
        keep = []
        for score, i in zip(best.tolist(), index.tolist()):
            beam, token = divmod(i, V)
            tokens = live[beam] + [token]
            if token == EOS_ID or step == max_len - 1:
                finished.append((tokens, score))
            else:
                keep.append((tokens, score, beam))
        if not keep:
            break
        live = [tokens for tokens, _, _ in keep]
        scores = torch.tensor([score for _, score, _ in keep], dtype=torch.float64, device=src.device)  # (k,)
        h = h[:, [beam for _, _, beam in keep]]  # (L, k, H): each hypothesis continues from its parent's state
        y = torch.tensor([[tokens[-1]] for tokens in live], device=src.device)  # (k, 1)
    if not finished:  # max_len 0
        return src.new_zeros(0), 0.0
    # Without normalisation every extra token lowers the sum: the search would prefer short sentences.
    tokens, score = max(((t, s / len(t) ** length_penalty) for t, s in finished), key=lambda ts: ts[1])
    return torch.tensor(tokens, dtype=torch.int64, device=src.device), score
    # END SOLUTION


def bleu(candidates: Sequence[Sequence], references: Sequence[Sequence], max_n: int = 4) -> float:
    """Corpus BLEU of tokenized candidates against one reference each (Papineni et al., 2002), in [0, 1].

    p_n = (sum over sentences of the candidate's n-grams, each counted at most as often as
    in its reference) / (sum over sentences of the candidate's n-grams), n = 1..max_n;
    BP = 1 if c > r else exp(1 - r / c), with c and r the total candidate and reference
    lengths; BLEU = BP * exp(mean of log p_n). 0 when some p_n is 0 (no smoothing) or c
    is 0. Tokens are anything hashable (words, ids).
    """
    if len(candidates) != len(references):
        raise ValueError(f"bleu needs one reference per candidate, got {len(candidates)} and {len(references)}")
    # BEGIN SOLUTION: sum clipped n-gram matches and candidate n-gram counts over the corpus; geometric mean times BP
    matches, totals = [0] * max_n, [0] * max_n
    c = r = 0
    for candidate, reference in zip(candidates, references):
        candidate, reference = list(candidate), list(reference)
        c, r = c + len(candidate), r + len(reference)
        for n in range(1, max_n + 1):
            ngrams = Counter(tuple(candidate[i:i + n]) for i in range(len(candidate) - n + 1))
            allowed = Counter(tuple(reference[i:i + n]) for i in range(len(reference) - n + 1))
            # Clipping: "the the the" against "the cat" matches one "the", not three.
            matches[n - 1] += sum(min(count, allowed[gram]) for gram, count in ngrams.items())
            totals[n - 1] += sum(ngrams.values())
    if c == 0 or min(matches) == 0:
        return 0.0
    log_precision = sum(math.log(m / t) for m, t in zip(matches, totals)) / max_n
    brevity = 1.0 if c > r else math.exp(1 - r / c)  # a short candidate cannot win on precision alone
    return brevity * math.exp(log_precision)
    # END SOLUTION


# ---------------------------------------------------------------- training (given)
def train_step(model: nn.Module, optimizer: torch.optim.Optimizer, batch: tuple[Tensor, ...]) -> float:
    """One update on (src, lengths, y, labels): teacher-forced logits, sequence_loss, a clipped step."""
    src, lengths, y, labels = batch
    optimizer.zero_grad()
    loss = sequence_loss(model(src, lengths, y), labels)
    loss.backward()
    nn.utils.clip_grad_norm_(model.parameters(), 1.0)  # a recurrent net's gradient can spike
    optimizer.step()
    return loss.item()


def train(model: nn.Module, src: Tensor, lengths: Tensor, y: Tensor, labels: Tensor, *, epochs: int = 10,
          lr: float = 3e-3, batch_size: int = 64, seed: int = 0, log_every: int = 0,
          evaluate: Callable[[], dict[str, float]] | None = None) -> list[float]:
    """Adam on sequence_loss with teacher forcing, mini-batches shuffled from `seed`; each epoch's mean loss.

    src (N, S), lengths (N,), y and labels (N, T) (bos_eos), on the model's device.
    """
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    return fit(model, (src, lengths, y, labels), optimizer, train_step, epochs=epochs, batch_size=batch_size,
               seed=seed, log_every=log_every, evaluate=evaluate)


def encode_pairs(pairs: Sequence[tuple[str, str]], src_vocab: Vocab,
                 tgt_vocab: Vocab) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Sentence pairs as src (N, S), lengths (N,), the decoder's inputs y (N, T+1) and labels (N, T+1)."""
    src, _, lengths = src_vocab.encode_batch([a for a, _ in pairs])
    targets, _, target_lengths = tgt_vocab.encode_batch([b for _, b in pairs])
    y, labels = bos_eos(targets, target_lengths)
    return src, lengths, y, labels


def strip(ids: Tensor) -> list[int]:
    """One decoded row as a list of ids, cut before its [SEP] (the padding after it goes too)."""
    ids = ids.tolist()
    return ids[:ids.index(EOS_ID)] if EOS_ID in ids else [i for i in ids if i != PAD_ID]


def evaluate_translation(model: Seq2Seq, src: Tensor, lengths: Tensor, labels: Tensor, *,
                         max_len: int) -> dict[str, float]:
    """Greedy translations scored against the labels: exact-match sentence accuracy and corpus BLEU."""
    model.eval()
    predicted = greedy_decode(model, src, lengths, max_len=max_len)  # (N, T')
    candidates = [strip(row) for row in predicted]
    references = [strip(row) for row in labels]
    exact = sum(c == r for c, r in zip(candidates, references)) / len(references)
    return {"exact match": exact, "BLEU": bleu(candidates, references)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Translate English into language B (Korean word order) with a GRU "
                                                 "encoder-decoder; greedy and beam-search translations, BLEU.")
    parser.add_argument("--pairs", default=None, metavar="FILE",
                        help="your own parallel text: a UTF-8 file, one pair per line, source TAB target (the "
                             "format of Tatoeba's and the PyTorch tutorial's data; further columns are ignored). A "
                             "tenth of the pairs, drawn from --seed, is the test set (default: "
                             "kata.corpus.translation_pairs)")
    parser.add_argument("--max-len", type=int, default=12, metavar="N",
                        help="leave out pairs with a side longer than N tokens; decode at most N + 1 tokens")
    parser.add_argument("--max-vocab", type=int, default=5000, metavar="N",
                        help="keep each side's N most frequent words; the rarer ones become [UNK]")
    parser.add_argument("--train-size", type=int, default=2000, help="generated pairs (--pairs: 90%% of the file)")
    parser.add_argument("--test-size", type=int, default=300, help="generated pairs (--pairs: 10%% of the file)")
    parser.add_argument("--embed-dim", type=int, default=32)
    parser.add_argument("--hidden-size", type=int, default=64)
    parser.add_argument("--num-layers", type=int, default=1)
    parser.add_argument("--beam-size", type=int, default=4)
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default=default_device())
    args = parser.parse_args(argv)

    torch.manual_seed(args.seed)
    try:
        if args.max_len < 1 or args.max_vocab < 1:
            raise ValueError(f"--max-len and --max-vocab must be >= 1, got {args.max_len} and {args.max_vocab}")
        if args.pairs:
            train_pairs, test_pairs = hold_out(read_pairs(args.pairs), args.seed, source=args.pairs, what="pairs")
            source = args.pairs
        else:
            train_pairs = translation_pairs(args.train_size, seed=args.seed)
            test_pairs = translation_pairs(args.test_size, seed=args.seed, split="test")
            source = "kata.corpus.translation_pairs (English -> language B)"
        short = [[p for p in ps if max(len(tokenize(p[0])), len(tokenize(p[1]))) <= args.max_len]
                 for ps in (train_pairs, test_pairs)]
        if not short[0] or not short[1]:
            raise ValueError(f"no pair of at most {args.max_len} tokens a side is left to "
                             f"{'train' if not short[0] else 'test'} on: raise --max-len")
        train_pairs, test_pairs = short
    except (OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    src_vocab = Vocab.build([a for a, _ in train_pairs], max_size=args.max_vocab + NUM_SPECIAL)
    tgt_vocab = Vocab.build([b for _, b in train_pairs], max_size=args.max_vocab + NUM_SPECIAL)
    src, lengths, y, labels = (t.to(args.device) for t in encode_pairs(train_pairs, src_vocab, tgt_vocab))
    test_src, test_lengths, _, test_labels = (t.to(args.device) for t in encode_pairs(test_pairs, src_vocab,
                                                                                       tgt_vocab))
    print(f"{source}: {len(train_pairs)} training and {len(test_pairs)} test pairs; vocabularies of "
          f"{len(src_vocab)} and {len(tgt_vocab)} tokens")

    config = Seq2SeqConfig(len(src_vocab), len(tgt_vocab), embed_dim=args.embed_dim, hidden_size=args.hidden_size,
                           num_layers=args.num_layers)
    model = Seq2Seq(config).to(args.device)
    print(f"Seq2Seq: {sum(p.numel() for p in model.parameters()):,} parameters")
    decode_len = args.max_len + 1  # the words and [SEP]

    def test_scores() -> dict[str, float]:
        return evaluate_translation(model, test_src, test_lengths.cpu(), test_labels, max_len=decode_len)

    clock = Stopwatch(epochs=args.epochs)
    losses = train(model, src, lengths.cpu(), y, labels, epochs=args.epochs, lr=args.lr, batch_size=args.batch_size,
                   seed=args.seed, log_every=1, evaluate=clock.timed(test_scores))
    print(clock.lap())
    print(f"loss curve: {pictures.curve({'train': losses}, '12_loss.png', title='12 Seq2Seq: training loss')}")
    scores = test_scores()
    print(f"test set, greedy decoding: exact match {scores['exact match']:.3f}, BLEU {scores['BLEU']:.3f}")
    for a, b in test_pairs[:3]:
        ids = torch.tensor(src_vocab.encode(a), device=args.device)
        greedy = greedy_decode(model, ids[None], torch.tensor([len(ids)]), max_len=decode_len)[0]
        beam, _ = beam_search(model, ids, beam_size=args.beam_size, max_len=decode_len)
        print(f"  {a}\n    reference: {b}\n    greedy:    {tgt_vocab.decode(strip(greedy))}\n"
              f"    beam {args.beam_size}:    {tgt_vocab.decode(strip(beam))}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
