# Your file: fill in each TODO, then run `uv run pytest exercises/10_lstm_gru`.
# Maintainers: generated from solutions/10_lstm_gru/lstm_gru.py by
# `python grader stubs`; edit the solution, never this file.
"""LSTM and GRU: recurrent cells with gates, so that a memory can last.

A vanilla RNN squeezes its whole past through h = tanh(W x + U h + b) at every
step, and the gradient that reaches a token 20 steps back is multiplied by 20 such
Jacobians: it vanishes (topic 09). A gated cell adds a path that is *copied* from
step to step unless a gate says otherwise.

- LSTM: S. Hochreiter, J. Schmidhuber, "Long Short-Term Memory", Neural Computation
  9(8), 1997, with the forget gate of F. Gers, J. Schmidhuber, F. Cummins, "Learning
  to Forget", 2000. The cell state c_t = f * c_{t-1} + i * g is the memory; when the
  forget gate f is near 1 and the input gate i near 0, c is carried unchanged, and so
  is its gradient. Start the forget gate's bias high (here `forget_bias`) and the cell
  remembers until it learns not to: R. Jozefowicz, W. Zaremba, I. Sutskever, "An
  Empirical Exploration of Recurrent Network Architectures", ICML 2015, found that a
  bias of 1 closes the gap between the LSTM and the GRU.
- GRU: K. Cho et al., "Learning Phrase Representations using RNN Encoder-Decoder for
  Statistical Machine Translation", EMNLP 2014, section 2.3. Two gates, no separate
  cell state: h_t = (1 - z) * n + z * h_{t-1}, where the update gate z keeps the old
  state and the reset gate r decides how much of it the candidate n sees.

The equations, the parameter names and the gate order are PyTorch's (`nn.LSTMCell`,
`nn.GRUCell`), so its weights can be copied in and the results compared exactly:
the rows of weight_ih, weight_hh, bias_ih, bias_hh are the gates stacked in the
order LSTM (i, f, g, o) and GRU (r, z, n). One detail differs from the GRU paper and
from d2l: PyTorch's reset gate multiplies (W_hn h + b_hn), *after* the hidden matmul,
not h before it. The layers (`LSTM`, `GRU`) are batch-first, as every kata is, and
stack `num_layers` cells: layer k + 1 reads the outputs of layer k.

Read the lesson in README.md beside this file. Run the hidden tests with
    uv run pytest exercises/10_lstm_gru
race an LSTM, a GRU and a vanilla RNN on remembering a sequence's first token with
    uv run python exercises/10_lstm_gru/lstm_gru.py            (--length 50 60 for a longer memory)
and as word-level language models on the generated corpus or your own text with
    uv run python exercises/10_lstm_gru/lstm_gru.py --task lm [--corpus FILE]

Shapes: B sequences in a batch, T time steps, I input features, H the hidden size
(hidden_size), L layers (num_layers), V the vocabulary size.
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from kata import pictures
from kata.common import default_device
from kata.sequences import Stopwatch, add_corpus_arguments, next_token_options, tagging_data, token_accuracy
from kata.text import IGNORE_INDEX, PAD_ID
from kata.training import fit


def _check_input(x: Tensor, dims: int, input_size: int, what: str) -> None:
    """A clear error for an input of the wrong rank or width (instead of a matmul error deep inside)."""
    layout = "(B, input_size)" if dims == 2 else "(B, T, input_size), batch-first"
    if x.dim() != dims or x.shape[-1] != input_size:
        raise ValueError(f"{what} takes x of shape {layout} with input_size {input_size}, got {tuple(x.shape)}")
    if dims == 3 and x.shape[1] == 0:
        raise ValueError(f"{what} needs at least one time step, got x of shape {tuple(x.shape)}")


class LSTMCell(nn.Module):
    """One LSTM step, as nn.LSTMCell computes it:

        i = σ(W_ii x + b_ii + W_hi h + b_hi)        input gate
        f = σ(W_if x + b_if + W_hf h + b_hf)        forget gate
        g = tanh(W_ig x + b_ig + W_hg h + b_hg)     candidate
        o = σ(W_io x + b_io + W_ho h + b_ho)        output gate
        c' = f * c + i * g
        h' = o * tanh(c')

    Parameters (nn.LSTMCell's names and shapes, gates stacked in the order i, f, g, o):
    weight_ih (4H, I), weight_hh (4H, H), bias_ih (4H,), bias_hh (4H,); with
    bias=False the two biases are None. Every parameter starts uniform in
    ±1/sqrt(hidden_size), as PyTorch's. forget_bias (needs bias=True): the forget
    gate's total bias b_if + b_hf starts at this value instead (bias_ih's forget
    slice set to it, bias_hh's to 0), every other value keeping PyTorch's init.
    """

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, *,
                 forget_bias: float | None = None) -> None:
        super().__init__()
        if forget_bias is not None and not bias:
            raise ValueError("forget_bias needs bias=True: without biases there is no forget-gate bias to set")
        self.input_size, self.hidden_size = input_size, hidden_size
        # TODO: create weight_ih (4H, I), weight_hh (4H, H), and bias_ih, bias_hh (4H,) or None without bias
        raise NotImplementedError("LSTMCell.__init__(): create weight_ih (4H, I), weight_hh (4H, H), and bias_ih, bias_hh (4H,) or None without bias")
        self.reset_parameters(forget_bias)

    def reset_parameters(self, forget_bias: float | None = None) -> None:
        """Redraw every parameter in place (the same nn.Parameters: an optimizer built before
        still holds them), uniform in ±1/sqrt(hidden_size); then, if forget_bias is given (not
        None: 0.0 is a value too), bias_ih[H:2H] = forget_bias and bias_hh[H:2H] = 0. The
        forget_bias is this call's own, whatever the cell was built with."""
        # TODO: draw every parameter uniformly in ±1/sqrt(hidden_size), then set the forget gate's slice [H:2H]
        raise NotImplementedError("LSTMCell.reset_parameters(): draw every parameter uniformly in ±1/sqrt(hidden_size), then set the forget gate's slice [H:2H]")

    def forward(self, x: Tensor, hx: tuple[Tensor, Tensor] | None = None) -> tuple[Tensor, Tensor]:
        """x: (B, I); hx: (h, c), each (B, H), zeros when None. Returns (h', c'), each (B, H)."""
        _check_input(x, 2, self.input_size, "LSTMCell")
        # TODO: compute the four gates from x and h (one matmul each), then c' = f * c + i * g and h' = o * tanh(c')
        raise NotImplementedError("LSTMCell.forward(): compute the four gates from x and h (one matmul each), then c' = f * c + i * g and h' = o * tanh(c')")


class GRUCell(nn.Module):
    """One GRU step, as nn.GRUCell computes it:

        r = σ(W_ir x + b_ir + W_hr h + b_hr)             reset gate
        z = σ(W_iz x + b_iz + W_hz h + b_hz)             update gate
        n = tanh(W_in x + b_in + r * (W_hn h + b_hn))    candidate
        h' = (1 - z) * n + z * h

    The reset gate multiplies (W_hn h + b_hn), after the matmul: PyTorch's (and
    cuDNN's) form. The paper and d2l write W_hn (r * h), which is a different
    function. Parameters (nn.GRUCell's, gates stacked r, z, n): weight_ih (3H, I),
    weight_hh (3H, H), bias_ih (3H,), bias_hh (3H,) (None with bias=False), uniform
    in ±1/sqrt(hidden_size).
    """

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True) -> None:
        super().__init__()
        self.input_size, self.hidden_size = input_size, hidden_size
        # TODO: create weight_ih (3H, I), weight_hh (3H, H), bias_ih, bias_hh (3H,) or None; all uniform in ±1/sqrt(H)
        raise NotImplementedError("GRUCell.__init__(): create weight_ih (3H, I), weight_hh (3H, H), bias_ih, bias_hh (3H,) or None; all uniform in ±1/sqrt(H)")

    def forward(self, x: Tensor, hx: Tensor | None = None) -> Tensor:
        """x: (B, I); hx: h (B, H), zeros when None. Returns h' (B, H)."""
        _check_input(x, 2, self.input_size, "GRUCell")
        # TODO: compute r and z, the candidate n = tanh(W_in x + b_in + r * (W_hn h + b_hn)), then mix h and n by z
        raise NotImplementedError("GRUCell.forward(): compute r and z, the candidate n = tanh(W_in x + b_in + r * (W_hn h + b_hn)), then mix h and n by z")


class LSTM(nn.Module):
    """num_layers LSTMCells unrolled over time, batch-first: nn.LSTM(..., batch_first=True) in Python.

    Attributes: cells, an nn.ModuleList of num_layers LSTMCells; cells[0] reads
    input_size features, the others hidden_size (the outputs of the layer below).
    bias and forget_bias go to every cell.
    """

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, bias: bool = True, *,
                 forget_bias: float | None = None) -> None:
        super().__init__()
        if num_layers < 1:
            raise ValueError(f"num_layers must be >= 1, got {num_layers}")
        self.input_size, self.hidden_size, self.num_layers = input_size, hidden_size, num_layers
        # TODO: build self.cells, num_layers LSTMCells: the first reads input_size features, the others hidden_size
        raise NotImplementedError("LSTM.__init__(): build self.cells, num_layers LSTMCells: the first reads input_size features, the others hidden_size")

    def forward(self, x: Tensor, hx: tuple[Tensor, Tensor] | None = None) -> tuple[Tensor, tuple[Tensor, Tensor]]:
        """x: (B, T, I); hx: (h_0, c_0), each (L, B, H), zeros when None.

        Returns output (B, T, H), the last layer's h at every step, and (h_n, c_n),
        each (L, B, H), every layer's state after the last step (as nn.LSTM).
        """
        _check_input(x, 3, self.input_size, "LSTM")
        # TODO: run each layer's cell over t = 0..T-1 from its (h_0[k], c_0[k]); the outputs feed the next layer
        raise NotImplementedError("LSTM.forward(): run each layer's cell over t = 0..T-1 from its (h_0[k], c_0[k]); the outputs feed the next layer")


class GRU(nn.Module):
    """num_layers GRUCells unrolled over time, batch-first: nn.GRU(..., batch_first=True) in Python.

    Attributes: cells, an nn.ModuleList of num_layers GRUCells (cells[0] reads
    input_size features, the others hidden_size).
    """

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, bias: bool = True) -> None:
        super().__init__()
        if num_layers < 1:
            raise ValueError(f"num_layers must be >= 1, got {num_layers}")
        self.input_size, self.hidden_size, self.num_layers = input_size, hidden_size, num_layers
        # TODO: build self.cells, num_layers GRUCells: the first reads input_size features, the others hidden_size
        raise NotImplementedError("GRU.__init__(): build self.cells, num_layers GRUCells: the first reads input_size features, the others hidden_size")

    def forward(self, x: Tensor, hx: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """x: (B, T, I); hx: h_0 (L, B, H), zeros when None.

        Returns output (B, T, H), the last layer's h at every step, and h_n (L, B, H).
        """
        _check_input(x, 3, self.input_size, "GRU")
        # TODO: run each layer's cell over t = 0..T-1 from h_0[k]; the outputs feed the next layer; stack each layer's last h
        raise NotImplementedError("GRU.forward(): run each layer's cell over t = 0..T-1 from h_0[k]; the outputs feed the next layer; stack each layer's last h")


# ---------------------------------------------------------------- given: the tasks, training and the race
class Tagger(nn.Module):
    """Embedding -> a recurrent layer -> a linear layer at every position: logits (B, T, num_classes).

    kind: "lstm" (your LSTM, with forget_bias), "gru" (your GRU) or "rnn" (nn.RNN, topic
    09's vanilla layer: the baseline). A task scores some positions and sets the others'
    targets to IGNORE_INDEX (kata.sequences makes the targets): recall only the last token
    (last_token_targets), a language model every next word (next_token_targets). The
    layers read left to right, so the padding after a sequence cannot change its outputs.
    """

    KINDS = ("lstm", "gru", "rnn")

    def __init__(self, vocab_size: int, num_classes: int, *, kind: str = "lstm", embed_dim: int = 16,
                 hidden_size: int = 32, num_layers: int = 1, forget_bias: float | None = None) -> None:
        super().__init__()
        if kind not in self.KINDS:
            raise ValueError(f"kind must be one of {self.KINDS}, got {kind!r}")
        if forget_bias is not None and kind != "lstm":
            raise ValueError(f"forget_bias is an LSTM's: kind={kind!r} has no forget gate")
        self.embedding = nn.Embedding(vocab_size, embed_dim, padding_idx=PAD_ID)
        if kind == "lstm":
            self.rnn = LSTM(embed_dim, hidden_size, num_layers, forget_bias=forget_bias)
        elif kind == "gru":
            self.rnn = GRU(embed_dim, hidden_size, num_layers)
        else:
            self.rnn = nn.RNN(embed_dim, hidden_size, num_layers, batch_first=True)  # tanh, PyTorch's init
        self.head = nn.Linear(hidden_size, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        """x: token ids (B, T) int64, padded with 0. Returns logits (B, T, num_classes)."""
        output, _ = self.rnn(self.embedding(x))  # (B, T, H)
        return self.head(output)  # (B, T, num_classes)


def train_step(model: nn.Module, optimizer: torch.optim.Optimizer, batch: tuple[Tensor, Tensor]) -> float:
    """One Adam update on ids (B, T) and targets y (B, T): cross-entropy over the positions that are not ignored."""
    ids, y = batch
    optimizer.zero_grad()
    loss = F.cross_entropy(model(ids).flatten(0, 1), y.flatten(), ignore_index=IGNORE_INDEX)
    loss.backward()
    optimizer.step()
    return loss.item()


def train(model: nn.Module, X: Tensor, y: Tensor, *, epochs: int = 3, lr: float = 1e-2, batch_size: int = 64,
          seed: int = 0, log_every: int = 0, evaluate: Callable[[], dict[str, float]] | None = None) -> list[float]:
    """Adam on ids X (N, T) and targets y (N, T) in mini-batches shuffled from `seed`; each epoch's mean loss."""
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    return fit(model, (X, y), optimizer, train_step, epochs=epochs, batch_size=batch_size, seed=seed,
               log_every=log_every, evaluate=evaluate)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Race an LSTM (with and without a forget-gate bias), a GRU and a "
                                                 "vanilla RNN on remembering a sequence's first token, or as language "
                                                 "models on the generated corpus or your own text.")
    parser.add_argument("--task", choices=("recall", "lm"), default=None,
                        help="recall: name the first token at the end of the sequence (the default); lm: predict "
                             "each next word (the default with --corpus)")
    parser.add_argument("--length", type=int, nargs=2, default=(20, 30), metavar=("LO", "HI"),
                        help="recall: sequence lengths drawn from LO..HI (default 20 30)")
    parser.add_argument("--vocab-size", type=int, default=10,
                        help="recall: token ids 5..vocab_size-1 (default 10: 5 symbols, chance 0.2)")
    add_corpus_arguments(parser, without="the generated corpus, with --task lm")
    parser.add_argument("--train-size", type=int, default=3200)
    parser.add_argument("--test-size", type=int, default=1000)
    parser.add_argument("--embed-dim", type=int, default=16)
    parser.add_argument("--hidden-size", type=int, default=32)
    parser.add_argument("--num-layers", type=int, default=1)
    parser.add_argument("--forget-bias", type=float, default=3.0, help="the first LSTM's initial forget-gate bias")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--lr", type=float, default=0.01)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default=default_device())
    args = parser.parse_args(argv)
    if args.task is None:
        args.task = "lm" if args.corpus is not None else "recall"
    if args.corpus is not None and args.task != "lm":
        parser.error("--corpus trains language models: it goes with --task lm")

    try:  # recall: scored at each sequence's last token; lm: your file (a tenth to test on) or the generated corpus
        X, y, X_test, y_test, vocab_size, description = tagging_data(
            args.task, args.corpus, train_size=args.train_size, test_size=args.test_size, seed=args.seed,
            vocab_size=args.vocab_size, length=tuple(args.length), **next_token_options(args))
    except (OSError, ValueError) as exc:  # a corpus file that is missing, empty or not UTF-8; bad sizes
        print(f"error: {exc}", file=sys.stderr)
        return 1
    X, y, X_test, y_test = (t.to(args.device) for t in (X, y, X_test, y_test))
    print(description)
    models = ((f"LSTM, forget bias {args.forget_bias:g}", "lstm", args.forget_bias),
              ("LSTM, PyTorch's init", "lstm", None), ("GRU", "gru", None), ("vanilla RNN", "rnn", None))
    # Four models one after the other: on real text that takes minutes, so say so, then measure the first epoch.
    batches = math.ceil(len(X) / args.batch_size)
    print(f"racing {len(models)} models x {args.epochs} epochs of {batches} batch{'es' * (batches != 1)} of up to "
          f"{args.batch_size} sequences of up to {X.shape[1]} tokens; a time estimate follows the first epoch")
    clock = Stopwatch(runs=len(models), epochs=args.epochs)
    results, curves = {}, {}
    for name, kind, forget_bias in models:
        torch.manual_seed(args.seed)
        model = Tagger(vocab_size, vocab_size, kind=kind, embed_dim=args.embed_dim, hidden_size=args.hidden_size,
                       num_layers=args.num_layers, forget_bias=forget_bias).to(args.device)
        print(f"\n{name}: {sum(p.numel() for p in model.rnn.parameters()):,} recurrent parameters")

        def test_accuracy(model: nn.Module = model) -> dict[str, float]:
            return {"test accuracy": token_accuracy(model, X_test, y_test)}

        curves[name] = train(model, X, y, epochs=args.epochs, lr=args.lr, batch_size=args.batch_size, seed=args.seed,
                             log_every=1, evaluate=clock.timed(test_accuracy))
        print(f"{name}: {clock.lap()}")
        results[name] = token_accuracy(model, X_test, y_test)
    print(f"\n{clock.total()}")
    print(f"test {'first-token recall' if args.task == 'recall' else 'next-word'} accuracy")
    for name, value in results.items():
        print(f"  {name:24s} {value:.3f}")
    print(f"loss curves: {pictures.curve(curves, '10_loss.png', title=f'10 on {args.task}: training loss')}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
