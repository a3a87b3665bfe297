# Your file: fill in each TODO, then run `uv run pytest exercises/01_logistic_regression`.
# Maintainers: generated from solutions/01_logistic_regression/logistic_regression.py by
# `python grader stubs`; edit the solution, never this file.
"""Logistic regression: the smallest model that learns, written out by hand.

A linear score z = X w + b, squashed by the sigmoid into a probability, trained by
gradient descent on the binary cross-entropy. Everything later on the roadmap keeps
this shape: a model, a loss, gradients, a training loop.

Read the lesson in README.md beside this file. Run the hidden tests with
    uv run pytest exercises/01_logistic_regression
and train on the generated data (or watch what is missing) with
    uv run python exercises/01_logistic_regression/logistic_regression.py

Shapes: N samples, D features.
"""

from __future__ import annotations

import argparse

import torch
from torch import Tensor, nn

from kata import pictures
from kata.common import default_device
from kata.data import two_blobs


def sigmoid(z: Tensor) -> Tensor:
    """σ(z) = 1 / (1 + exp(-z)), elementwise, finite for every float32 z.

    z: any shape. Returns the same shape and dtype, values in [0, 1].
    """
    # TODO: compute 1 / (1 + exp(-z)) so that no exp() can overflow, for any sign of z
    raise NotImplementedError("sigmoid(): compute 1 / (1 + exp(-z)) so that no exp() can overflow, for any sign of z")


def bce_with_logits(logits: Tensor, y: Tensor) -> Tensor:
    """Mean binary cross-entropy, computed from logits rather than probabilities.

    logits: (N,) scores z; y: (N,) targets in {0, 1}. Returns a scalar in the logits' dtype.
    loss_i = -[y log σ(z) + (1 - y) log(1 - σ(z))] = softplus(z) - y z
    """
    # TODO: return the mean of softplus(z) - y*z, with softplus written so it never overflows
    raise NotImplementedError("bce_with_logits(): return the mean of softplus(z) - y*z, with softplus written so it never overflows")


def bce_gradients(X: Tensor, y: Tensor, w: Tensor, b: Tensor) -> tuple[Tensor, Tensor]:
    """The gradient of the mean BCE with respect to w and b, by hand (no autograd).

    X: (N, D), y: (N,), w: (D,), b: () scalar. Returns (dw (D,), db ()) in X's dtype.
    """
    # TODO: return dw = Xᵀ(σ(Xw + b) - y) / N and db = mean(σ(Xw + b) - y)
    raise NotImplementedError("bce_gradients(): return dw = Xᵀ(σ(Xw + b) - y) / N and db = mean(σ(Xw + b) - y)")


class LogisticRegression(nn.Module):
    """p(y = 1 | x) = σ(w·x + b)."""

    def __init__(self, in_features: int) -> None:
        super().__init__()
        # TODO: create self.linear, an nn.Linear from in_features to a single score
        raise NotImplementedError("LogisticRegression.__init__(): create self.linear, an nn.Linear from in_features to a single score")

    def forward(self, x: Tensor) -> Tensor:
        """x: (N, D). Returns logits (N,): scores, not probabilities."""
        # TODO: return the linear layer's score for each sample, shape (N,)
        raise NotImplementedError("LogisticRegression.forward(): return the linear layer's score for each sample, shape (N,)")

    def predict_proba(self, x: Tensor) -> Tensor:
        """x: (N, D). Returns p(y = 1 | x), shape (N,)."""
        # TODO: turn the logits into probabilities with your sigmoid
        raise NotImplementedError("LogisticRegression.predict_proba(): turn the logits into probabilities with your sigmoid")

    def predict(self, x: Tensor) -> Tensor:
        """x: (N, D). Returns class labels as int64, shape (N,): 1 where p(y = 1 | x) >= 0.5, else 0."""
        # TODO: predict class 1 where the probability is at least 0.5, as int64 labels
        raise NotImplementedError("LogisticRegression.predict(): predict class 1 where the probability is at least 0.5, as int64 labels")


def train(model: LogisticRegression, X: Tensor, y: Tensor, *, epochs: int = 100, lr: float = 0.5) -> list[float]:
    """Full-batch gradient descent: one step per epoch. Returns the loss before each step."""
    optimizer = torch.optim.SGD(model.parameters(), lr=lr)
    losses = []
    for _ in range(epochs):
        # TODO: one step: clear old gradients, compute bce_with_logits, backpropagate, update
        raise NotImplementedError("train(): one step: clear old gradients, compute bce_with_logits, backpropagate, update")
        losses.append(loss.item())
    return losses


def accuracy(model: LogisticRegression, X: Tensor, y: Tensor) -> float:
    """Fraction of samples whose predicted label equals y."""
    with torch.no_grad():
        return (model.predict(X) == y.long()).float().mean().item()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Train logistic regression on two generated Gaussian blobs.")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--epochs", type=int, default=100)
    parser.add_argument("--lr", type=float, default=0.5)
    parser.add_argument("--device", default=default_device())
    args = parser.parse_args(argv)

    torch.manual_seed(args.seed)
    X, y = (t.to(args.device) for t in two_blobs(1000, seed=args.seed))  # (1000, 2), (1000,)
    X_test, y_test = (t.to(args.device) for t in two_blobs(1000, seed=args.seed, split="test"))
    model = LogisticRegression(in_features=2).to(args.device)
    losses = train(model, X, y, epochs=args.epochs, lr=args.lr)
    for epoch in range(0, args.epochs, max(1, args.epochs // 10)):
        print(f"epoch {epoch:4d}  loss {losses[epoch]:.4f}")
    print(f"test accuracy {accuracy(model, X_test, y_test):.3f} (the hidden suite asks for at least 0.95)")
    print(f"loss curve: {pictures.curve({'train': losses}, '01_loss.png', title='01 logistic regression: loss')}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
