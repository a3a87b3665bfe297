"""Sequence data for the recurrent and sequence-to-sequence topics (09-13): generated tasks,
per-position targets, next-token data from text, and the token accuracy that scores them.

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

A model that scores every position (a tagger: logits (B, T, C)) learns any of these
through per-position targets, IGNORE_INDEX (-100) where nothing is scored, and one
cross-entropy (F.cross_entropy skips -100):

    last_token_targets   one answer per sequence (recall) at its last token       (n, T)
    next_token_targets   the next token of padded ids (a language model, tagging)  (n, T)
    token_accuracy       the fraction of scored positions whose top logit is the target
    next_token_data      a text file, or the generated corpus, as (X, y, lengths) to train
                         and to test a next-token model, its vocabulary and a line to print
                         (for main(): sentences cut to max_len, punctuation kept or dropped)
    tagging_data         main()'s one call for a tagger: recall or next-token (lm) data

For the scripts of topics 09-11: add_corpus_arguments gives each the same --corpus,
--max-len, --max-vocab and --drop-punctuation (next_token_options turns them into
next_token_data's arguments), and a Stopwatch times their epochs and runs and, after
the first epoch, says how long the whole will take.

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

import argparse
import time
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

import torch
from torch import Tensor, nn

from kata.common import hold_out, rng
from kata.corpus import corpus
from kata.text import (BOS_ID, EOS_ID, IGNORE_INDEX, NUM_SPECIAL, PAD_ID, SPECIAL_TOKENS, Vocab, is_punctuation,
                       read_corpus, tokenize)

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
    tokens, _, lengths = _draw(n, vocab_size, length, seed, split, min_length=2)
    return tokens, next_token_targets(tokens, lengths), lengths


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


# ---------------------------------------------------------------- per-position targets and their score
def _check_lengths(lengths: Tensor, n: int, T: int, what: str, lo: int) -> Tensor:
    """lengths as a (n,) int64 tensor with values in lo..T, or a ValueError that says which rule is broken."""
    if not isinstance(lengths, Tensor) or lengths.shape != (n,) or lengths.is_floating_point():
        shape = tuple(lengths.shape) if isinstance(lengths, Tensor) else type(lengths).__name__
        raise ValueError(f"{what} needs lengths of shape ({n},), one integer per sequence, got {shape}")
    if n and (lengths.min() < lo or lengths.max() > T):
        raise ValueError(f"{what} needs lengths in {lo}..{T} (T = {T}), got values from {int(lengths.min())} "
                         f"to {int(lengths.max())}")
    return lengths.long()


def next_token_targets(ids: Tensor, lengths: Tensor) -> Tensor:
    """A language model's targets for padded ids (n, T): y[i, t] = ids[i, t + 1] while t + 1 < lengths[i].

    IGNORE_INDEX at each sequence's last token and at the padding: nothing follows them.
    lengths: (n,) integers in 0..T, on any device. Returns int64 (n, T) on ids' device.
    What next_token_task's targets are, for ids of real text.
    """
    if ids.dim() != 2 or ids.is_floating_point():
        raise ValueError(f"next_token_targets needs ids (n, T) of integers, got {tuple(ids.shape)} {ids.dtype}")
    lengths = _check_lengths(lengths, ids.shape[0], ids.shape[1], "next_token_targets", 0).to(ids.device)
    y = torch.full_like(ids, IGNORE_INDEX, dtype=torch.int64)  # (n, T)
    follows = torch.arange(1, ids.shape[1], device=ids.device) < lengths[:, None]  # (n, T-1): t + 1 is a token
    y[:, :-1] = ids[:, 1:].masked_fill(~follows, IGNORE_INDEX)
    return y


def last_token_targets(targets: Tensor, lengths: Tensor, T: int) -> Tensor:
    """One answer per sequence (n,) as per-position targets (n, T): targets[i] at position lengths[i] - 1.

    IGNORE_INDEX everywhere else, so a tagger is scored where the whole sequence has
    been read (recall_task), not before and not at the padding after it. lengths: (n,)
    integers in 1..T, on any device. Returns int64 (n, T) on targets' device.
    """
    if targets.dim() != 1 or targets.is_floating_point():
        raise ValueError(f"last_token_targets needs one integer target per sequence (n,), got "
                         f"{tuple(targets.shape)} {targets.dtype}")
    n = len(targets)
    lengths = _check_lengths(lengths, n, T, "last_token_targets", 1).to(targets.device)
    y = torch.full((n, T), IGNORE_INDEX, dtype=torch.int64, device=targets.device)  # (n, T)
    y[torch.arange(n, device=targets.device), lengths - 1] = targets.long()
    return y


@torch.no_grad()
def token_accuracy(model: nn.Module, X: Tensor, y: Tensor, lengths: Tensor | None = None, *,
                   batch_size: int = 500) -> float:
    """The fraction of scored positions (y != IGNORE_INDEX) whose highest logit is the target, in eval mode.

    X: ids (N, T) on the model's device; y: targets (N, T), IGNORE_INDEX where nothing is
    scored; model(X) gives logits (N, T, C), or model(X, lengths) when lengths (N,) are
    given (a model that reads padded batches both ways needs them). Scored in batches of
    batch_size; the model is left in eval mode, as kata.training.accuracy leaves it.
    """
    if X.shape[:2] != y.shape or y.dim() != 2:
        raise ValueError(f"token_accuracy needs ids X (N, T) and targets y (N, T), got {tuple(X.shape)} and "
                         f"{tuple(y.shape)}")
    scored = y != IGNORE_INDEX  # (N, T)
    if not scored.any():
        raise ValueError("token_accuracy: y scores no position (every target is IGNORE_INDEX)")
    model.eval()
    correct = 0
    for start in range(0, len(X), batch_size):
        part = slice(start, start + batch_size)
        logits = model(X[part]) if lengths is None else model(X[part], lengths[part])  # (b, T, C)
        hits = logits.argmax(-1) == y[part].to(logits.device)  # (b, T)
        correct += hits[scored[part].to(logits.device)].sum().item()
    return correct / scored.sum().item()


# ---------------------------------------------------------------- text for main()
def _count(n: int, what: str) -> str:
    """"1 epoch", "3 epochs"."""
    return f"{n} {what}{'s' * (n != 1)}"


class TextData(NamedTuple):
    """What next_token_data returns: next-token data to train and to test on, its vocabulary, and what to print."""

    train: tuple[Tensor, Tensor, Tensor]  # X (N, T) ids padded with 0, y (N, T) next_token_targets, lengths (N,)
    test: tuple[Tensor, Tensor, Tensor]  # the same for the test sentences
    vocab: Vocab
    description: str  # for main() to print: the sentences, the vocabulary, what max_len cut, the punctuation


def next_token_data(path: str | Path | None = None, *, train_size: int = 2000, test_size: int = 500, seed: int = 0,
                    max_len: int | None = None, max_size: int | None = 10_000, punctuation: bool = True) -> TextData:
    """Sentences as next-token data: ((X, y, lengths), (X_test, y_test, test_lengths), vocab, description).

    path: a text file, one sentence per line (read_corpus): each line is one sequence,
    however long. A tenth of its sentences (at least one), drawn from `seed`, is the test
    set and the rest the training set. None: kata.corpus's generated sentences,
    train_size of its train split and test_size of its test split. Sentences are
    tokenized by kata.text.tokenize; punctuation=False drops the punctuation marks
    (otherwise each mark is a token, in the vocabulary and among the targets). A
    sentence of fewer than two tokens has no next token to predict and is left out.
    max_len: every sentence is cut to its first max_len tokens (None: none is), before
    padding, so T is at most max_len however long the file's longest line. The
    vocabulary is built from the (cut) training sentences, at most max_size entries with
    the 5 special tokens (rarer words become [UNK]; None keeps every word). X: ids (N, T)
    padded with 0; y = next_token_targets(X, lengths); lengths (N,). The description
    says how many sentences and words there are, and what was cut, capped, skipped or
    dropped. Raises what read_corpus raises (OSError, ValueError), and ValueError for
    a file of fewer than two sentences of two tokens.

        try:
            (X, y, lengths), (X_test, y_test, test_lengths), vocab, description = next_token_data(args.corpus)
        except (OSError, ValueError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
    """
    if max_len is not None and max_len < 2:
        raise ValueError(f"max_len must be None or >= 2 (a next token needs two), got {max_len}")
    if path is None:
        if train_size < 1 or test_size < 1:
            raise ValueError(f"train_size and test_size must be >= 1, got {train_size} and {test_size}")
        source = "the generated corpus"
        texts = [corpus(train_size, seed=seed).sentences, corpus(test_size, seed=seed, split="test").sentences]
    else:
        source = str(path)
        texts = [read_corpus(path)]
    texts = [[tokenize(s) for s in text] for text in texts]
    tokens = sum(len(s) for text in texts for s in text)
    marks = sum(is_punctuation(t) for text in texts for s in text for t in s)
    if not punctuation:
        texts = [[[t for t in s if not is_punctuation(t)] for s in text] for text in texts]
    kept = [[s for s in text if len(s) >= 2] for text in texts]  # one token: no next token to predict
    skipped = sum(len(text) - len(k) for text, k in zip(texts, kept))
    if path is None:
        train_text, test_text = kept
    else:
        sentences = kept[0]
        if len(sentences) < 2:
            raise ValueError(f"corpus file {path} has {len(sentences)} sentence(s) of two tokens or more: give it "
                             "at least two, one to train on and one to test on")
        train_text, test_text = hold_out(sentences, seed, source=str(path), what="sentences")
    longest = max(len(s) for s in train_text + test_text)
    cut = sum(len(s) > max_len for s in train_text + test_text) if max_len is not None else 0
    # Cut before the vocabulary and the padding: the words past max_len are never read, and
    # a 600-token line would otherwise set T (and the memory) of every padded sentence.
    train_text, test_text = [s[:max_len] for s in train_text], [s[:max_len] for s in test_text]
    vocab = Vocab.build(train_text, max_size=max_size)
    splits = []
    for text in (train_text, test_text):
        X, _, lengths = vocab.encode_batch(text)  # (N, T), (N,): T <= max_len
        splits.append((X, next_token_targets(X, lengths), lengths))

    words = len({t for s in train_text for t in s} - set(SPECIAL_TOKENS))
    notes = [f"next-token prediction on {source}: {len(train_text)} training and {len(test_text)} test sentences, "
             f"{len(vocab)} tokens in the vocabulary"
             + (f" (the {len(vocab) - NUM_SPECIAL} most frequent of {words} words: the others are [UNK])"
                if len(vocab) - NUM_SPECIAL < words else "")]
    if cut:
        notes.append(f"{_count(cut, 'sentence')} longer than {max_len} tokens cut to their first {max_len} "
                     f"(the longest has {longest})")
    if skipped:
        notes.append(f"{_count(skipped, 'line')} of fewer than two tokens left out (nothing to predict)")
    if marks:
        notes.append(f"punctuation: {marks / tokens:.0%} of the tokens, "
                     + ("each mark a token to predict" if punctuation else "dropped"))
    return TextData(splits[0], splits[1], vocab, "\n  ".join(notes))


class TaggingData(NamedTuple):
    """What tagging_data returns: ids and per-position targets to train and to test on."""

    X: Tensor  # (N, T) ids, padded with 0
    y: Tensor  # (N, T) targets, IGNORE_INDEX where nothing is scored
    X_test: Tensor
    y_test: Tensor
    num_classes: int  # the targets' range: vocab_size for recall, the vocabulary's size for lm
    description: str  # for main() to print: the task and its chance level, or the data's size (next_token_data's)


TAGGING_TASKS = ("recall", "lm")


def tagging_data(task: str = "recall", path: str | Path | None = None, *, train_size: int = 2000,
                 test_size: int = 500, seed: int = 0, vocab_size: int = 10, length: Length = (3, 5),
                 max_len: int | None = None, max_size: int | None = 10_000, punctuation: bool = True) -> TaggingData:
    """The data of a tagger's main() (topics 09 and 10), in one call, as kata.datasets.load_data is for images.

    task "recall": recall_task(vocab_size, length) sequences, train_size from the train
    split and test_size from the test split, scored at each sequence's last token only
    (last_token_targets). task "lm": next-token prediction on `path` (a text file, one
    sentence per line) or on the generated corpus (next_token_data, which takes
    max_len, max_size and punctuation); path goes with "lm" only. Raises ValueError for
    an unknown task and what next_token_data raises.

        try:
            X, y, X_test, y_test, num_classes, description = tagging_data(args.task, args.corpus, ...)
        except (OSError, ValueError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
    """
    if task not in TAGGING_TASKS:
        raise ValueError(f"task must be one of {TAGGING_TASKS}, got {task!r}")
    if task == "lm":
        (X, y, _), (X_test, y_test, _), vocab, description = next_token_data(
            path, train_size=train_size, test_size=test_size, seed=seed, max_len=max_len, max_size=max_size,
            punctuation=punctuation)
        return TaggingData(X, y, X_test, y_test, len(vocab), description)
    if path is not None:
        raise ValueError("a text file is next-token data: it goes with task 'lm', not 'recall'")
    splits = []
    for split, n in (("train", train_size), ("test", test_size)):
        X, answers, lengths = recall_task(n, vocab_size=vocab_size, length=length, seed=seed, split=split)
        splits += [X, last_token_targets(answers, lengths, X.shape[1])]  # (n, T), (n, T)
    lo, hi = (length, length) if isinstance(length, int) else length
    symbols = vocab_size - NUM_SPECIAL
    return TaggingData(*splits, vocab_size, f"recall the first of {lo}-{hi} tokens from {symbols} symbols "
                                            f"(chance {1 / symbols:.2f})")


# ---------------------------------------------------------------- a script's flags and clock (topics 09-11)
CORPUS_HELP = ("your own text: a UTF-8 file, one sentence per line. Each line is one sequence, cut to --max-len "
               "tokens; its tokens are the lowercase words, numbers and punctuation marks (see "
               "--drop-punctuation). A document or a book is rarely laid out so (a paragraph on a line, or a "
               "sentence over several): split it into sentences first, one per line, e.g. after each . ! or ? "
               "(the lesson shows a one-line command). A tenth of the lines, drawn from --seed, is the test set")


MAX_LEN_HELP = ("text: cut each sentence to its first N tokens (default %(default)s). The data is padded to its "
                "longest sentence, so one long line would make every step of training that long")


def add_corpus_arguments(parser: argparse.ArgumentParser, *, without: str, max_len: int | None = 50,
                         max_len_help: str = MAX_LEN_HELP) -> None:
    """--corpus, --max-len, --max-vocab and --drop-punctuation, the flags of a script that reads text.

    without: what the script trains on without --corpus, for the help. next_token_options(args)
    turns the flags into next_token_data's (and tagging_data's) keyword arguments.
    --max-vocab counts words, without the special tokens, as topic 08's does.
    """
    parser.add_argument("--corpus", default=None, metavar="FILE", help=f"{CORPUS_HELP} (default: {without})")
    parser.add_argument("--max-len", type=int, default=max_len, metavar="N", help=max_len_help)
    parser.add_argument("--max-vocab", type=int, default=5000, metavar="N",
                        help="text: keep the N most frequent words of the training sentences (default %(default)s); "
                             "the rarer ones become [UNK]. The output layer scores every token of the vocabulary")
    parser.add_argument("--drop-punctuation", action="store_true",
                        help="text: drop the punctuation marks (. , ! ? ; : \" ( ) and other symbols; the ' and - "
                             "inside words stay). By default each mark is a token: in the vocabulary, in the inputs "
                             "and among the next tokens to predict ('.' ends most sentences: a frequent target)")


def next_token_options(args: argparse.Namespace) -> dict:
    """next_token_data's keyword arguments max_len, max_size and punctuation from add_corpus_arguments' flags."""
    if args.max_len is not None and args.max_len < 2:
        raise ValueError(f"--max-len must be >= 2 (a next token needs two), got {args.max_len}")
    if args.max_vocab < 1:
        raise ValueError(f"--max-vocab must be >= 1, got {args.max_vocab}")
    return {"max_len": args.max_len, "max_size": args.max_vocab + NUM_SPECIAL, "punctuation": not args.drop_punctuation}


def _duration(seconds: float) -> str:
    """"0.04 s", "3.7 s", "2.5 min"."""
    return f"{seconds:.2f} s" if seconds < 1 else f"{seconds:.1f} s" if seconds < 90 else f"{seconds / 60:.1f} min"


class Stopwatch:
    """Times a script's training runs for its progress lines: each epoch, each run, all of them.

        clock = Stopwatch(runs=2, epochs=args.epochs)
        for name in names:
            train(..., log_every=1, evaluate=clock.timed(test_accuracy))  # a run starts: each line gains its
            print(f"{name}: {clock.lap()}")                                 # epoch's time; "3 epochs in 3.7 s ..."
        print(clock.total())                                                 # "training took 7.5 s in all"

    After the first epoch of the first run, it prints what the whole will take at that
    pace (runs x epochs x the first epoch's time): with more runs or epochs to come, a
    learner knows whether to wait. An epoch's time includes its evaluation.
    """

    def __init__(self, *, runs: int = 1, epochs: int) -> None:
        # A process's first optimizer imports torch._dynamo (seconds on a busy CPU): build a throwaway
        # one now, or train()'s would land in the first epoch's time, and the estimate would mislead.
        torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)
        self.runs, self.epochs = runs, epochs
        self.began = self.run_began = self.mark = time.perf_counter()
        self.epochs_done = 0  # in the current run
        self.estimated = False

    def timed(self, evaluate: Callable[[], dict[str, float]] | None = None) -> Callable[[], dict[str, float]]:
        """Start a run; return fit's `evaluate`: evaluate's metrics and the epoch's time in seconds."""
        self.run_began = self.mark = time.perf_counter()
        self.epochs_done = 0

        def timed_evaluate() -> dict[str, float]:
            metrics = dict(evaluate()) if evaluate is not None else {}
            now = time.perf_counter()
            metrics["epoch time (s)"] = now - self.mark
            self.mark, self.epochs_done = now, self.epochs_done + 1
            if not self.estimated and self.runs * self.epochs > 1:
                self.estimated = True
                whole = metrics["epoch time (s)"] * self.runs * self.epochs
                what = _count(self.epochs, "epoch")
                what = f"{self.runs} runs x {what}" if self.runs > 1 else what
                print(f"first epoch: {_duration(metrics['epoch time (s)'])}, so {what} take about "
                      f"{_duration(whole)} at this pace", flush=True)
            return metrics

        return timed_evaluate

    def lap(self) -> str:
        """The run just finished: "3 epochs in 3.7 s (1.2 s an epoch)"."""
        took = time.perf_counter() - self.run_began
        return (f"{_count(self.epochs_done, 'epoch')} in {_duration(took)} "
                f"({_duration(took / max(self.epochs_done, 1))} an epoch)")

    def total(self) -> str:
        """Everything since the clock was made: "training took 7.5 s in all"."""
        return f"training took {_duration(time.perf_counter() - self.began)} in all"
