"""Generated sequence tasks for the recurrent and sequence-to-sequence topics (09-13).

Each task draws tokens uniformly and independently from the word ids of kata.text,
5 .. vocab_size-1 (ids 0-4 keep their meanings: 0 pads, [CLS] = BOS_ID starts a decoder's
input, [SEP] = EOS_ID ends its output), so a model's embedding and output layer both
have `vocab_size` rows, and guessing is right 1 time in vocab_size - 5.

`length` is an int (every sequence that long: no padding) or a pair (lo, hi): each
sequence's length is drawn uniformly from lo..hi inclusive, and the batch is padded
with 0 to the longest, batch-first. Every task returns (inputs, targets, lengths),
int64 on the CPU:

    copy_task        inputs (n, T)   targets (n, T): the same tokens              lengths (n,)
    reverse_task     inputs (n, T)   targets (n, T): each sequence reversed       lengths (n,)
    recall_task      inputs (n, T)   targets (n,):   each sequence's first token  lengths (n,)
    next_token_task  inputs (n, T)   targets (n, T): the token at t+1, or         lengths (n,)
                                     IGNORE_INDEX (-100) at the last token and the padding

Padding in targets is 0 for copy and reverse (a seq2seq loss must skip it: that is
topic 12's lesson) and -100 for next_token (F.cross_entropy skips it by default).
`bos_eos` turns seq2seq targets into a decoder's inputs and labels.

What the tasks are for, measured with the defaults' vocab_size (10: chance 0.2),
embeddings of 16, hidden size 32, Adam at lr 1e-2 and batches of 64, test accuracy
on 1000 sequences of the test split:
- recall_task at length (20, 30), 150 steps: an LSTM with forget-gate bias 3 reaches
  0.994-1.0 on 10 seeds in about 0.4 s; with the default bias 0.18-0.23, a vanilla
  RNN 0.19-0.23 (chance: the gradient from the answer vanishes across 20+ steps).
  At the default length 25: 1.0 on 5 seeds against 0.19-0.22.
  At length (3, 5) the vanilla RNN reaches 1.0 (topics 09 and 10).
- next_token_task at length 20, 100 steps: a bidirectional LSTM 1.0, a
  unidirectional one 0.19-0.20, chance (topic 11).
- copy_task and reverse_task at length (4, 8), vocab_size 12, a GRU encoder-decoder
  without attention (embeddings 32, hidden 64, lr 3e-3, 300 steps, greedy decoding):
  token accuracy 0.81-0.82 and 0.82-0.86 in about 3 s (topics 12-13; the same model
  on kata.corpus.translation_pairs: 0.84-0.86).
"""

from __future__ import annotations

import torch
from torch import Tensor

from kata.common import rng
from kata.text import BOS_ID, EOS_ID, IGNORE_INDEX, NUM_SPECIAL, PAD_ID

Length = int | tuple[int, int]


def _draw(n: int, vocab_size: int, length: Length, seed: int, split: str,
          min_length: int = 1) -> tuple[Tensor, Tensor, Tensor]:
    """Tokens (n, T) padded with 0, mask (n, T) True at tokens, lengths (n,)."""
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    if vocab_size < NUM_SPECIAL + 2:
        raise ValueError(f"vocab_size must be >= {NUM_SPECIAL + 2} (ids 0-{NUM_SPECIAL - 1} are special tokens, "
                         f"and a task needs two symbols), got {vocab_size}")
    lo, hi = (length, length) if isinstance(length, int) else length
    if not min_length <= lo <= hi:
        raise ValueError(f"length must be an int >= {min_length} or a pair (lo, hi) with {min_length} <= lo <= hi, "
                         f"got {length!r}")
    g = rng(seed, split)
    lengths = torch.randint(lo, hi + 1, (n,), generator=g)  # (n,)
    tokens = torch.randint(NUM_SPECIAL, vocab_size, (n, hi), generator=g)  # (n, T)
    mask = torch.arange(hi) < lengths[:, None]  # (n, T)
    tokens = tokens.masked_fill(~mask, PAD_ID)[:, :int(lengths.max())]
    return tokens, mask[:, :tokens.shape[1]], lengths


def copy_task(n: int, *, vocab_size: int = 12, length: Length = (4, 8), seed: int = 0,
              split: str = "train") -> tuple[Tensor, Tensor, Tensor]:
    """Output the input: inputs (n, T), targets (n, T) equal to inputs, lengths (n,)."""
    tokens, _, lengths = _draw(n, vocab_size, length, seed, split)
    return tokens, tokens.clone(), lengths


def reverse_task(n: int, *, vocab_size: int = 12, length: Length = (4, 8), seed: int = 0,
                 split: str = "train") -> tuple[Tensor, Tensor, Tensor]:
    """Output the input backwards: targets[i, t] = inputs[i, lengths[i] - 1 - t] for t < lengths[i], else 0."""
    tokens, mask, lengths = _draw(n, vocab_size, length, seed, split)
    t = torch.arange(tokens.shape[1])
    source = (lengths[:, None] - 1 - t).clamp(min=0)  # (n, T): where each target token comes from
    targets = tokens.gather(1, source).masked_fill(~mask, PAD_ID)  # (n, T)
    return tokens, targets, lengths


def recall_task(n: int, *, vocab_size: int = 10, length: Length = 25, seed: int = 0,
                split: str = "train") -> tuple[Tensor, Tensor, Tensor]:
    """Read a sequence, then name its first token: inputs (n, T), targets (n,) = inputs[:, 0], lengths (n,).

    The answer is read at the last token (position lengths[i] - 1), so it must be
    remembered across length - 1 steps of independent distractors.
    """
    tokens, _, lengths = _draw(n, vocab_size, length, seed, split)
    return tokens, tokens[:, 0].clone(), lengths


def next_token_task(n: int, *, vocab_size: int = 10, length: Length = 20, seed: int = 0,
                    split: str = "train") -> tuple[Tensor, Tensor, Tensor]:
    """Tag each position with the token after it: inputs (n, T), targets (n, T), lengths (n,).

    targets[i, t] = inputs[i, t + 1] for t < lengths[i] - 1; IGNORE_INDEX (-100) at the
    last token and at the padding. The tokens are independent, so only a model that
    reads the sequence right to left can do better than chance.
    """
    tokens, mask, lengths = _draw(n, vocab_size, length, seed, split, min_length=2)
    targets = torch.full_like(tokens, IGNORE_INDEX)  # (n, T)
    targets[:, :-1] = tokens[:, 1:].masked_fill(~mask[:, 1:], IGNORE_INDEX)
    return tokens, targets, lengths


def bos_eos(targets: Tensor, lengths: Tensor) -> tuple[Tensor, Tensor]:
    """A decoder's inputs and labels for target sequences (n, T) and their lengths (n,).

    Returns inputs (n, T+1) = [BOS] y_1 .. y_L and labels (n, T+1) = y_1 .. y_L [EOS],
    both padded with 0 (PAD_ID) after position L; tokens past a length are ignored.
    Teacher forcing feeds inputs[:, t] and scores the prediction against labels[:, t].
    On the targets' device.
    """
    if targets.dim() != 2 or lengths.shape != targets.shape[:1]:
        raise ValueError(f"need targets (n, T) and lengths (n,), "
                         f"got {tuple(targets.shape)} and {tuple(lengths.shape)}")
    n, T = targets.shape
    lengths = lengths.to(targets.device)
    t = torch.arange(T + 1, device=targets.device)
    inside = t < lengths[:, None]  # (n, T+1): the L target positions
    padded = torch.cat([targets, targets.new_zeros(n, 1)], dim=1)  # (n, T+1)
    labels = padded.masked_fill(~inside, PAD_ID).masked_fill(t == lengths[:, None], EOS_ID)  # (n, T+1)
    inputs = torch.cat([targets.new_full((n, 1), BOS_ID), targets], dim=1)  # (n, T+1)
    inputs = inputs.masked_fill(t > lengths[:, None], PAD_ID)
    return inputs, labels
