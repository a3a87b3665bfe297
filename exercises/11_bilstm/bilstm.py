# Your file: fill in each TODO, then run `uv run pytest exercises/11_bilstm`.
# Maintainers: generated from solutions/11_bilstm/bilstm.py by
# `python grader stubs`; edit the solution, never this file.
"""Bidirectional LSTM: one LSTM reads each sequence left to right, another right to left.

M. Schuster, K. K. Paliwal, "Bidirectional Recurrent Neural Networks", IEEE Trans.
Signal Processing 45(11), 1997 (the BRNN, figure 3: two hidden layers of opposite
directions feeding one output); with LSTM cells, A. Graves, J. Schmidhuber, "Framewise
phoneme classification with bidirectional LSTM and other neural network architectures",
Neural Networks 18(5-6), 2005. The forward direction's state at t has read x_1..x_t,
the backward direction's has read x_L..x_t (L the sequence's length); together they describe t
with its past *and* its future. A stacked layer reads the previous layer's
concatenation, as `nn.LSTM(bidirectional=True)` does.

The part that is easy to get wrong is padding. In a padded batch each sequence has its
own length, so the backward direction of a sequence of length L must start at x_L, not
at the pad at x_T: each sequence is reversed *within its own length*
(`reverse_padded`), the padding stays where it is, and the state stops changing after a
sequence's last real token (`unroll`), so h_n is the state at that token. The result is
exactly what `nn.LSTM` gives on a `pack_padded_sequence` batch: each sequence gets the
outputs it would get alone, and zeros at its padding.

The building block is `nn.LSTMCell` (topic 10 writes the cell itself); this topic is
about the directions. `nn.LSTM` and the packing functions are off limits.

Read the lesson in README.md beside this file. Run the hidden tests with
    uv run pytest exercises/11_bilstm
and tag each position with the next token (a task only a bidirectional model can do) with
    uv run python exercises/11_bilstm/bilstm.py                 (or --corpus FILE for your own text)

Shapes: B batch, T time steps, D input features (input_size), H hidden size, C classes
(the tagger's logits per position); L is one sequence's length (lengths[b]), and h_n
holds 2 * num_layers states.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from kata import pictures
from kata.common import default_device
from kata.sequences import (Stopwatch, add_corpus_arguments, next_token_data, next_token_options, next_token_task,
                            token_accuracy)
from kata.text import IGNORE_INDEX
from kata.training import fit


def reverse_padded(x: Tensor, lengths: Tensor) -> Tensor:
    """Reverse each sequence of a padded batch within its own length; the padding stays in place.

    x: (B, T, ...) any dtype; lengths: (B,) integers in 1..T. Returns a tensor like x with
    out[b, t] = x[b, lengths[b] - 1 - t] for t < lengths[b], and out[b, t] = x[b, t] after.
    Reversing twice gives x back. Differentiable, on x's device.
    """
    # TODO: gather x along time from index lengths - 1 - t for t < lengths, and from t itself after
    raise NotImplementedError("reverse_padded(): gather x along time from index lengths - 1 - t for t < lengths, and from t itself after")


def unroll(cell: nn.LSTMCell, x: Tensor, mask: Tensor | None = None) -> tuple[Tensor, tuple[Tensor, Tensor]]:
    """Run one LSTM direction over a padded batch, left to right, from a zero state.

    cell: an nn.LSTMCell(D, H); x: (B, T, D); mask: (B, T) bool, True at real tokens,
    each row's real tokens first (None: every position is real). Returns output (B, T, H),
    the hidden state after each step and 0 at the padding, and (h_n, c_n), each (B, H):
    the state after each sequence's last real token.
    """
    # TODO: step the cell through time from zeros; where mask is False keep the old state and output 0
    raise NotImplementedError("unroll(): step the cell through time from zeros; where mask is False keep the old state and output 0")


class BiLSTM(nn.Module):
    """A stack of `num_layers` LSTM layers, each reading both ways, like nn.LSTM(bidirectional=True, batch_first=True).

    Attributes: forward_cells and backward_cells, nn.ModuleLists of num_layers
    nn.LSTMCell each; layer 0's cells read input_size features, every later layer's
    read the previous layer's output, 2 * hidden_size features (hidden_size when
    bidirectional=False). bidirectional=False keeps only the forward direction
    (backward_cells is empty): the unidirectional baseline, nn.LSTM's default.
    """

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, *, bidirectional: bool = True) -> None:
        super().__init__()
        if num_layers < 1:
            raise ValueError(f"num_layers must be >= 1, got {num_layers}")
        self.input_size, self.hidden_size, self.num_layers = input_size, hidden_size, num_layers
        self.bidirectional = bidirectional
        # TODO: create forward_cells and backward_cells (empty when not bidirectional), one LSTMCell per layer
        raise NotImplementedError("BiLSTM.__init__(): create forward_cells and backward_cells (empty when not bidirectional), one LSTMCell per layer")

    def forward(self, x: Tensor, lengths: Tensor | None = None) -> tuple[Tensor, tuple[Tensor, Tensor]]:
        """x: (B, T, input_size), padded after each sequence; lengths: (B,) integers in 1..T, on the CPU or
        x's device (None: every sequence has length T).

        Returns output (B, T, 2H): output[..., :H] is the forward direction, output[..., H:]
        the backward one, 0 at the padding; and (h_n, c_n), each (2 * num_layers, B, H) in
        nn.LSTM's order: layer 0 forward, layer 0 backward, layer 1 forward, ...
        (output (B, T, H) and (num_layers, B, H) when bidirectional=False).
        """
        if x.dim() != 3 or x.shape[-1] != self.input_size:
            raise ValueError(f"BiLSTM(input_size={self.input_size}) takes x of shape (B, T, {self.input_size}), "
                             f"got {tuple(x.shape)}")
        B, T, _ = x.shape
        if lengths is None:
            lengths = torch.full((B,), T, dtype=torch.int64)  # (B,)
        lengths = torch.as_tensor(lengths)  # on the CPU (as pack_padded_sequence wants them) or x's device
        if lengths.shape != (B,) or lengths.is_floating_point() or lengths.min() < 1 or lengths.max() > T:
            raise ValueError(f"lengths must be ({B},) integers in 1..{T}, one per sequence; got "
                             f"{lengths.tolist() if lengths.dim() == 1 else 'shape ' + str(tuple(lengths.shape))}")
        # TODO: per layer, unroll both cells (backward: on reverse_padded x, reversed back), concatenate
        raise NotImplementedError("BiLSTM.forward(): per layer, unroll both cells (backward: on reverse_padded x, reversed back), concatenate")


class Tagger(nn.Module):
    """Tag every position: embedding -> BiLSTM -> a linear layer to num_classes logits per position.

    Attributes: embedding (nn.Embedding(vocab_size, embed_dim)), lstm (BiLSTM(embed_dim,
    hidden_size, num_layers, bidirectional=...)), head (nn.Linear(2 * hidden_size, or
    hidden_size when not bidirectional, -> num_classes)). Next-token tagging has one
    class per token: num_classes = vocab_size.
    """

    def __init__(self, vocab_size: int, num_classes: int, *, embed_dim: int = 16, hidden_size: int = 32,
                 num_layers: int = 1, bidirectional: bool = True) -> None:
        super().__init__()
        # TODO: create self.embedding, self.lstm (a BiLSTM) and self.head, which reads both directions
        raise NotImplementedError("Tagger.__init__(): create self.embedding, self.lstm (a BiLSTM) and self.head, which reads both directions")

    def forward(self, x: Tensor, lengths: Tensor | None = None) -> Tensor:
        """x: token ids (B, T) int64, padded; lengths: (B,) (None: all T). Returns logits (B, T, num_classes)."""
        # TODO: embed the ids, run self.lstm with the lengths, apply the head at every position
        raise NotImplementedError("Tagger.forward(): embed the ids, run self.lstm with the lengths, apply the head at every position")


def train_step(model: nn.Module, optimizer: torch.optim.Optimizer, batch: tuple[Tensor, Tensor, Tensor]) -> float:
    """One update on a batch: ids (B, T), targets y (B, T), lengths (B,). Returns the batch's loss as a float.

    The loss is the cross-entropy of model(ids, lengths)'s logits (B, T, C) against y,
    averaged over the positions whose target is not IGNORE_INDEX (-100).
    """
    ids, y, lengths = batch
    # TODO: zero_grad, cross-entropy of model(ids, lengths) against y (skip -100), backward, step, loss.item()
    raise NotImplementedError("train_step(): zero_grad, cross-entropy of model(ids, lengths) against y (skip -100), backward, step, loss.item()")


def train(model: nn.Module, X: Tensor, y: Tensor, lengths: Tensor, *, epochs: int = 10, lr: float = 0.01,
          batch_size: int = 64, seed: int = 0, log_every: int = 0,
          evaluate: Callable[[], dict[str, float]] | None = None) -> list[float]:
    """Adam on the tagging loss (train_step), in mini-batches shuffled from `seed`. Returns each epoch's mean loss.

    X: ids (N, T); y: targets (N, T); lengths: (N,); on the model's device. log_every and evaluate
    go to kata.training.fit (a progress line every log_every epochs, with evaluate()'s metrics).
    """
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    return fit(model, (X, y, lengths), optimizer, train_step, epochs=epochs, batch_size=batch_size,
               seed=seed, log_every=log_every, evaluate=evaluate)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Tag each position with the next token, with a bidirectional and a unidirectional LSTM.")
    add_corpus_arguments(parser, without="generated random tokens, where only the bidirectional model can beat "
                                         "chance", max_len=None,
                         max_len_help="generated data: the sequences' longest length (default 12); text: cut each "
                                      "sentence to its first N tokens (default 50)")
    parser.add_argument("--vocab-size", type=int, default=10, help="generated data: token ids 5..vocab_size-1")
    parser.add_argument("--train-size", type=int, default=1000, help="generated data (--corpus: 90%% of the file)")
    parser.add_argument("--test-size", type=int, default=500, help="generated data (--corpus: 10%% of the file)")
    parser.add_argument("--embed-dim", type=int, default=16)
    parser.add_argument("--hidden-size", type=int, default=32)
    parser.add_argument("--num-layers", type=int, default=1)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--lr", type=float, default=0.02)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default=default_device())
    args = parser.parse_args(argv)

    if args.max_len is None:
        args.max_len = 50 if args.corpus else 12

    torch.manual_seed(args.seed)
    try:
        if args.corpus:  # a tenth of the file's sentences to test on, each cut to max_len tokens
            train_data, test_data, vocab, description = next_token_data(args.corpus, seed=args.seed,
                                                                        **next_token_options(args))
            vocab_size = len(vocab)
        else:
            length = (max(2, args.max_len // 2), args.max_len)  # padded batches: lengths differ
            kwargs = dict(vocab_size=args.vocab_size, length=length, seed=args.seed)
            train_data = next_token_task(args.train_size, **kwargs)
            test_data = next_token_task(args.test_size, split="test", **kwargs)
            vocab_size = args.vocab_size
            description = (f"random tokens: {args.train_size} training and {args.test_size} test sequences of "
                           f"{length[0]}-{length[1]} tokens, vocabulary {vocab_size}")
    except (OSError, ValueError) as exc:  # a missing or unreadable file; sizes the generator refuses
        print(f"error: {exc}", file=sys.stderr)
        return 1
    X, y, lengths = (t.to(args.device) for t in train_data)
    X_test, y_test, test_lengths = (t.to(args.device) for t in test_data)
    tagged = y[y != IGNORE_INDEX]
    # Chance: always answer the most frequent next token of the training data.
    chance = tagged.bincount().max().item() / max(len(tagged), 1)
    print(description)

    directions = (True, False)
    clock = Stopwatch(runs=len(directions), epochs=args.epochs)  # times each epoch; after the first, the whole
    scores, curves = {}, {}
    for bidirectional in directions:
        name = "bidirectional" if bidirectional else "unidirectional"
        torch.manual_seed(args.seed)
        model = Tagger(vocab_size, vocab_size, embed_dim=args.embed_dim, hidden_size=args.hidden_size,
                       num_layers=args.num_layers, bidirectional=bidirectional).to(args.device)
        print(f"{name} Tagger: {sum(p.numel() for p in model.parameters()):,} parameters")

        def test_accuracy(model: nn.Module = model) -> dict[str, float]:
            return {"test accuracy": token_accuracy(model, X_test, y_test, test_lengths)}

        curves[name] = train(model, X, y, lengths, epochs=args.epochs, lr=args.lr, batch_size=args.batch_size,
                             seed=args.seed, log_every=1, evaluate=clock.timed(test_accuracy))
        print(f"{name}: {clock.lap()}")
        scores[name] = test_accuracy()["test accuracy"]
    print(clock.total())
    print(f"next-token test accuracy: bidirectional {scores['bidirectional']:.3f}, unidirectional "
          f"{scores['unidirectional']:.3f}; the most frequent token alone {chance:.3f}")
    print(f"loss curves: {pictures.curve(curves, '11_loss.png', title='11 next-token tagging: training loss')}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
