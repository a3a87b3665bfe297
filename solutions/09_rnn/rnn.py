"""A recurrent neural network: one cell, unrolled over time, and why its gradients vanish.

J. L. Elman, "Finding Structure in Time", Cognitive Science 14(2), 1990: a hidden state
h_t, computed from the input x_t and the previous state h_{t-1}, carries what the network
has read so far. PyTorch's form (`nn.RNNCell`, `nn.RNN`, with two biases) is

    h_t = tanh(x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh)

with the same weights at every step. Stacking num_layers of them feeds layer k's states
to layer k + 1 as its inputs. Backpropagation through time multiplies one Jacobian
diag(1 - h_s^2) W_hh per step, so the gradient of h_T with respect to an early x_t
shrinks (or grows) geometrically with the lag T - t: Y. Bengio, P. Simard, P. Frasconi,
"Learning Long-Term Dependencies with Gradient Descent is Difficult", IEEE TNN 1994, and
R. Pascanu, T. Mikolov, Y. Bengio, "On the difficulty of training recurrent neural
networks", ICML 2013 (arXiv:1211.5063), section 2. Their remedy for the exploding side,
clipping the gradient by its global norm, is their section 3.2 (Algorithm 1); it is what
`torch.nn.utils.clip_grad_norm_` does, and what `clip_grad_norm_` below rebuilds.

Everything here is batch-first, as in every topic of this project: x (B, T, I), output
(B, T, H). (`nn.RNN` is time-first unless built with batch_first=True; its h_n is
(num_layers, B, H) either way, as here.) No dropout between layers (nn.RNN's default).

Read the lesson in README.md beside this file. Run the hidden tests with
    uv run pytest exercises/09_rnn
and train on the recall-the-first-token task, or a language model on text, with
    uv run python exercises/09_rnn/rnn.py                    (--length 20 30: watch it fail)
    uv run python exercises/09_rnn/rnn.py --task lm          (or --corpus FILE: your own text)

Shapes: B sequences in a batch, T time steps, I input features, H the hidden size,
V the vocabulary, C classes (scores per position).
"""

from __future__ import annotations

import argparse
import functools
import math
import sys
from collections.abc import Callable, Iterable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from kata import pictures
from kata.common import default_device
from kata.sequences import Stopwatch, add_corpus_arguments, next_token_options, tagging_data, token_accuracy
from kata.training import fit

NONLINEARITIES = ("tanh", "relu")


class RNNCell(nn.Module):
    """One step of an Elman RNN, as nn.RNNCell: h' = tanh(x W_ih^T + b_ih + h W_hh^T + b_hh).

    Parameters, named as nn.RNNCell's: weight_ih (H, I), weight_hh (H, H), bias_ih (H,),
    bias_hh (H,) (both None when bias=False), each drawn from U(-1/sqrt(H), 1/sqrt(H)).
    nonlinearity: "tanh" or "relu".
    """

    def __init__(self, input_size: int, hidden_size: int, *, bias: bool = True,
                 nonlinearity: str = "tanh") -> None:
        super().__init__()
        if nonlinearity not in NONLINEARITIES:
            raise ValueError(f"nonlinearity must be one of {NONLINEARITIES}, got {nonlinearity!r}")
        self.input_size, self.hidden_size, self.nonlinearity = input_size, hidden_size, nonlinearity
        # BEGIN SOLUTION: create weight_ih (H, I), weight_hh (H, H) and, with bias, bias_ih and bias_hh (H,), all from U(-1/sqrt(H), 1/sqrt(H))
        # PyTorch's recurrent layers draw every weight and bias from U(-k, k) with
        # k = 1/sqrt(hidden_size): the recurrence mixes H states, so H sets the scale
        # (nn.Linear would use 1/sqrt(in_features) instead).
        k = 1 / math.sqrt(hidden_size)
        self.weight_ih = nn.Parameter(torch.empty(hidden_size, input_size).uniform_(-k, k))  # (H, I)
        self.weight_hh = nn.Parameter(torch.empty(hidden_size, hidden_size).uniform_(-k, k))  # (H, H)
        if bias:
            self.bias_ih = nn.Parameter(torch.empty(hidden_size).uniform_(-k, k))  # (H,)
            self.bias_hh = nn.Parameter(torch.empty(hidden_size).uniform_(-k, k))  # (H,)
        else:
            # Registered as None, as nn.RNNCell does: the attributes exist, the parameters do not.
            self.register_parameter("bias_ih", None)
            self.register_parameter("bias_hh", None)
        # END SOLUTION

    def forward(self, x: Tensor, hx: Tensor | None = None) -> Tensor:
        """x: (B, I); hx: the state h (B, H), zeros when None. Returns the next state h' (B, H)."""
        if x.dim() != 2 or x.shape[1] != self.input_size:
            raise ValueError(f"RNNCell(input_size={self.input_size}) takes x of shape (B, {self.input_size}), "
                             f"got {tuple(x.shape)}")
        # BEGIN SOLUTION: start from h = hx, or zeros (on x's device and dtype) when hx is None; return the nonlinearity of x W_ih^T + b_ih + h W_hh^T + b_hh
        h = x.new_zeros(x.shape[0], self.hidden_size) if hx is None else hx  # (B, H): x's device and dtype
        z = x @ self.weight_ih.T + h @ self.weight_hh.T  # (B, H)
        if self.bias_ih is not None:
            z = z + self.bias_ih + self.bias_hh  # two biases, as PyTorch (and cuDNN) keep them
        return torch.tanh(z) if self.nonlinearity == "tanh" else torch.relu(z)  # (B, H)
        # END SOLUTION


class RNN(nn.Module):
    """num_layers RNNCells unrolled over time, batch-first: nn.RNN(..., batch_first=True) built by hand.

    Attribute: cells, an nn.ModuleList of num_layers RNNCells; cells[0] maps I to H,
    the others H to H. cells[k].weight_ih is what nn.RNN calls weight_ih_l{k} (and so on
    for weight_hh, bias_ih, bias_hh).
    """

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, *, bias: bool = True,
                 nonlinearity: str = "tanh") -> None:
        super().__init__()
        if num_layers < 1:
            raise ValueError(f"num_layers must be >= 1, got {num_layers}")
        self.input_size, self.hidden_size, self.num_layers = input_size, hidden_size, num_layers
        # BEGIN SOLUTION: build self.cells, an nn.ModuleList of num_layers RNNCells (the first reads input_size features, the rest hidden_size)
        self.cells = nn.ModuleList(
            RNNCell(input_size if k == 0 else hidden_size, hidden_size, bias=bias, nonlinearity=nonlinearity)
            for k in range(num_layers)
        )
        # END SOLUTION

    def forward(self, x: Tensor, hx: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """x: (B, T, I); hx: the initial states h_0 (num_layers, B, H), zeros when None.

        Returns output (B, T, H), the last layer's state at every step, and h_n
        (num_layers, B, H), every layer's state after the last step (nn.RNN's pair).
        """
        if x.dim() != 3 or x.shape[-1] != self.input_size or x.shape[1] == 0:
            raise ValueError(f"RNN(input_size={self.input_size}) takes x of shape (B, T, {self.input_size}) with "
                             f"T >= 1 (batch first), got {tuple(x.shape)}")
        if hx is not None and tuple(hx.shape) != (self.num_layers, x.shape[0], self.hidden_size):
            raise ValueError(f"hx must have shape (num_layers, B, H) = "
                             f"{(self.num_layers, x.shape[0], self.hidden_size)}, got {tuple(hx.shape)}")
        # BEGIN SOLUTION: run each layer's cell over t = 0..T-1 from hx[k] (or None), feeding the stacked states to the next layer; return (output, h_n)
        h_n = []
        for k, cell in enumerate(self.cells):
            h = None if hx is None else hx[k]  # (B, H): layer k's initial state
            states = []
            for t in range(x.shape[1]):
                h = cell(x[:, t], h)  # (B, H): the same weights at every step
                states.append(h)
            x = torch.stack(states, dim=1)  # (B, T, H): this layer's states are the next layer's inputs
            h_n.append(h)
        return x, torch.stack(h_n)  # (B, T, H), (num_layers, B, H)
        # END SOLUTION


def input_gradient_norms(model: nn.Module, x: Tensor) -> Tensor:
    """How much the last state depends on each input: norms (T,) of d(sum h_T) / d x_t.

    model: an RNN (or anything returning (output (B, T, H), h_n), e.g. nn.RNN with
    batch_first=True); x: (B, T, I). h_T = output[:, -1] is the last layer's state after
    the last step. norms[t] is the 2-norm over the batch and the features of the gradient
    of h_T.sum() with respect to x[:, t]; the lag of x_t is T - 1 - t. Returns a tensor
    without a graph, on x's device; x itself stays as it was (no requires_grad), and
    the model's parameters get no .grad.
    """
    # BEGIN SOLUTION: run the model on a copy of x that requires grad, take torch.autograd.grad of output[:, -1].sum() with respect to it, return its norm per time step
    x = x.detach().requires_grad_()  # a leaf of our own: the caller's x keeps no graph
    output, _ = model(x)  # (B, T, H)
    # autograd.grad, not backward(): only the input's gradient is wanted, and the
    # parameters' .grad (what an optimizer would read) stays untouched.
    (grad,) = torch.autograd.grad(output[:, -1].sum(), x)  # (B, T, I)
    return torch.linalg.vector_norm(grad, dim=(0, 2))  # (T,)
    # END SOLUTION


@torch.no_grad()
def clip_grad_norm_(parameters: Tensor | Iterable[Tensor], max_norm: float, norm_type: float = 2.0) -> Tensor:
    """Scale the gradients in place so that their global norm is at most max_norm; as torch.nn.utils.clip_grad_norm_.

    parameters: one tensor or an iterable of them (a generator such as
    model.parameters() included); those whose .grad is None are skipped. The global
    norm is the norm_type-norm of all gradients taken as one vector (float("inf"): the
    largest absolute value). Every gradient is multiplied by
    min(1, max_norm / (total + 1e-6)), so gradients already within the bound stay as
    they are. Returns the total norm before clipping, a 0-d tensor with the gradients'
    dtype and device (tensor(0.) when there is no gradient).
    """
    # BEGIN SOLUTION: collect the gradients in one pass, total = norm of their norms, multiply each by min(1, max_norm / (total + 1e-6)), return total
    if isinstance(parameters, Tensor):
        parameters = [parameters]
    grads = [p.grad for p in parameters if p.grad is not None]  # one pass: a generator cannot be read twice
    if not grads:
        return torch.tensor(0.0)
    # The p-norm of all entries equals the p-norm of the per-tensor p-norms (also for p = inf).
    norms = torch.stack([torch.linalg.vector_norm(g, norm_type) for g in grads])  # (number of tensors,)
    total = torch.linalg.vector_norm(norms, norm_type)  # ()
    # One factor for every gradient keeps the update's direction; the clamp never scales up.
    scale = (max_norm / (total + 1e-6)).clamp(max=1.0)
    for g in grads:
        g.mul_(scale)
    return total
    # END SOLUTION


class Tagger(nn.Module):
    """Scores at every position: embedding -> RNN -> linear head, a logit vector per token.

    Attributes: embedding (nn.Embedding(vocab_size, embed_dim)), rnn (RNN(embed_dim,
    hidden_size, num_layers)), head (nn.Linear(hidden_size, num_classes)). A task scores
    the positions it needs: the last token for recall, every token for a language model.
    """

    def __init__(self, vocab_size: int, num_classes: int, *, embed_dim: int = 16, hidden_size: int = 32,
                 num_layers: int = 1) -> None:
        super().__init__()
        # BEGIN SOLUTION: create self.embedding (vocab_size -> embed_dim), self.rnn (your RNN, embed_dim -> hidden_size, num_layers) and self.head (hidden_size -> num_classes)
        self.embedding = nn.Embedding(vocab_size, embed_dim)
        self.rnn = RNN(embed_dim, hidden_size, num_layers)
        self.head = nn.Linear(hidden_size, num_classes)
        # END SOLUTION

    def forward(self, x: Tensor) -> Tensor:
        """x: token ids (B, T) int64. Returns logits (B, T, num_classes)."""
        # BEGIN SOLUTION: embed the ids, run the RNN, apply the head to its output at every step
        output, _ = self.rnn(self.embedding(x))  # (B, T, H): the state at t has read x_0..x_t only
        return self.head(output)  # (B, T, C)
        # END SOLUTION


def train_step(model: nn.Module, optimizer: torch.optim.Optimizer, batch: tuple[Tensor, Tensor], *,
               max_norm: float | None = 1.0) -> float:
    """One update on a batch: ids (B, T) and targets y (B, T), IGNORE_INDEX (-100) where nothing is scored.

    The loss is the cross-entropy of model(ids) (B, T, C) against y, averaged over the
    scored positions. The gradients are clipped to a global norm of max_norm (with
    your clip_grad_norm_; None: no clipping) before the optimizer steps. Returns the
    batch's loss as a float.
    """
    ids, y = batch
    # BEGIN SOLUTION: zero the gradients, cross-entropy of the flattened logits against y, backward, clip to max_norm unless None, step, return loss.item()
    optimizer.zero_grad()
    logits = model(ids)  # (B, T, C)
    # cross_entropy wants (N, C) against (N,): one row per position. Its ignore_index
    # is -100 (IGNORE_INDEX) by default, so unscored positions add nothing.
    loss = F.cross_entropy(logits.flatten(0, 1), y.flatten())
    loss.backward()
    if max_norm is not None:
        clip_grad_norm_(model.parameters(), max_norm)  # after backward (the gradients exist), before step
    optimizer.step()
    return loss.item()
    # END SOLUTION


def train(model: nn.Module, X: Tensor, y: Tensor, *, epochs: int = 10, lr: float = 0.01, batch_size: int = 64,
          max_norm: float | None = 1.0, seed: int = 0, log_every: int = 0,
          evaluate: Callable[[], dict[str, float]] | None = None) -> list[float]:
    """Adam on the per-position cross-entropy (train_step, clipping at max_norm), in mini-batches shuffled from `seed`.

    X: ids (N, T); y: targets (N, T) with IGNORE_INDEX where nothing is scored; both on
    the model's device. Returns the mean loss of each epoch. log_every and evaluate go
    to kata.training.fit.
    """
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    step = functools.partial(train_step, max_norm=max_norm)
    return fit(model, (X, y), optimizer, step, epochs=epochs, batch_size=batch_size, seed=seed,
               log_every=log_every, evaluate=evaluate)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Train a small RNN to recall a sequence's first token, or as a "
                                                 "language model on the generated corpus or your own text.")
    parser.add_argument("--task", choices=("recall", "lm"), default=None,
                        help="recall: name the first token at the end of the sequence (the default); lm: predict "
                             "each next word (the default with --corpus)")
    parser.add_argument("--length", type=int, nargs=2, default=(3, 5), metavar=("LO", "HI"),
                        help="recall: sequence lengths drawn from LO..HI (default 3 5; try 20 30)")
    parser.add_argument("--vocab-size", type=int, default=10, help="recall: token ids 5..vocab_size-1 (default 10)")
    add_corpus_arguments(parser, without="the generated corpus, with --task lm")
    parser.add_argument("--train-size", type=int, default=2000)
    parser.add_argument("--test-size", type=int, default=500)
    parser.add_argument("--embed-dim", type=int, default=16)
    parser.add_argument("--hidden-size", type=int, default=32)
    parser.add_argument("--num-layers", type=int, default=1)
    parser.add_argument("--max-norm", type=float, default=1.0, help="clip gradients to this global norm")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--lr", type=float, default=0.01)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default=default_device())
    args = parser.parse_args(argv)
    if args.task is None:
        args.task = "lm" if args.corpus is not None else "recall"
    if args.corpus is not None and args.task != "lm":
        parser.error("--corpus trains a language model: it goes with --task lm")

    torch.manual_seed(args.seed)
    try:  # recall: scored at each sequence's last token; lm: your file (a tenth to test on) or the generated corpus
        X, y, X_test, y_test, num_classes, description = tagging_data(
            args.task, args.corpus, train_size=args.train_size, test_size=args.test_size, seed=args.seed,
            vocab_size=args.vocab_size, length=tuple(args.length), **next_token_options(args))
    except (OSError, ValueError) as exc:  # a corpus file that is missing, empty or not UTF-8; bad sizes
        print(f"error: {exc}", file=sys.stderr)
        return 1
    X, y, X_test, y_test = (t.to(args.device) for t in (X, y, X_test, y_test))
    print(description)

    # Every target is a token: recall names one, a language model predicts one.
    model = Tagger(num_classes, num_classes, embed_dim=args.embed_dim, hidden_size=args.hidden_size,
                   num_layers=args.num_layers).to(args.device)
    probe = torch.randn(1, 51, args.embed_dim, device=args.device)  # (1, 51, I)
    norms = input_gradient_norms(model.rnn, probe)  # (51,)
    print("untrained RNN, gradient of h_T with respect to x_t: "
          + ", ".join(f"lag {lag} {norms[-1 - lag].item():.1e}" for lag in (0, 1, 10, 25, 50)))

    def test_accuracy() -> dict[str, float]:
        return {"test accuracy": token_accuracy(model, X_test, y_test)}

    clock = Stopwatch(epochs=args.epochs)  # times each epoch; after the first, says how long the run will take
    losses = train(model, X, y, epochs=args.epochs, lr=args.lr, batch_size=args.batch_size, max_norm=args.max_norm,
                   seed=args.seed, log_every=1, evaluate=clock.timed(test_accuracy))
    print(f"trained {clock.lap()}")
    print(f"loss curve: {pictures.curve({'train': losses}, '09_loss.png', title=f'09 RNN on {args.task}')}")
    what = "first-token recall" if args.task == "recall" else "next-word"
    print(f"test {what} accuracy {token_accuracy(model, X_test, y_test):.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
