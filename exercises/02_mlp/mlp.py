# Your file: fill in each TODO, then run `uv run pytest exercises/02_mlp`.
# Maintainers: generated from solutions/02_mlp/mlp.py by
# `python grader stubs`; edit the solution, never this file.
"""Multi-layer perceptron: linear layers with nonlinearities between them, and backprop by hand.

A stack of linear maps is still one linear map, so it can only draw straight
decision boundaries. Put a nonlinearity (ReLU, sigmoid, tanh) after each hidden
layer and the same stack can approximate any continuous function (Cybenko 1989;
Hornik 1991). It is trained exactly like logistic regression: a loss, its
gradients (backpropagation: the chain rule, applied layer by layer from the loss
back to the input; Rumelhart, Hinton & Williams 1986), and gradient steps.

Read the lesson in README.md beside this file. Run the hidden tests with
    uv run pytest exercises/02_mlp
and train on the generated data (or watch what is missing) with
    uv run python exercises/02_mlp/mlp.py

Shapes: N samples, D input features, H hidden units, C classes (or outputs).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence

import torch
from torch import Tensor, nn

from kata import pictures
from kata.common import default_device
from kata.data import rings, wave


# ------------------------------------------------------------------ activations
def relu(x: Tensor) -> Tensor:
    """ReLU(x) = max(x, 0), elementwise. Any shape in, the same shape and dtype out."""
    # TODO: keep x where it is positive and put 0 elsewhere, with torch.where (not torch.relu)
    raise NotImplementedError("relu(): keep x where it is positive and put 0 elsewhere, with torch.where (not torch.relu)")


def sigmoid(x: Tensor) -> Tensor:
    """σ(x) = 1 / (1 + exp(-x)), elementwise, in x's dtype, finite (value and gradient) for every x."""
    # TODO: compute 1 / (1 + exp(-x)) so that no exp() overflows and the gradient at x = 0 stays 1/4
    raise NotImplementedError("sigmoid(): compute 1 / (1 + exp(-x)) so that no exp() overflows and the gradient at x = 0 stays 1/4")


def tanh(x: Tensor) -> Tensor:
    """tanh(x) = (exp(x) - exp(-x)) / (exp(x) + exp(-x)), elementwise, in x's dtype, finite for every x."""
    # TODO: return 2·σ(2x) - 1 with your sigmoid, which is tanh written without overflow
    raise NotImplementedError("tanh(): return 2·σ(2x) - 1 with your sigmoid, which is tanh written without overflow")


# The activations by name: the MLP and the hand-written backprop look them up here.
ACTIVATIONS: dict[str, Callable[[Tensor], Tensor]] = {"relu": relu, "sigmoid": sigmoid, "tanh": tanh}


def activation_derivative(z: Tensor, activation: str) -> Tensor:
    """d activation(z) / dz, elementwise, at the pre-activations z (not the outputs).

    z: any shape. activation: "relu", "sigmoid" or "tanh" (any other name: ValueError).
    Returns the shape and dtype of z.
    """
    # TODO: return relu' = 1 where z > 0 else 0, σ' = σ(z)(1 - σ(z)), tanh' = 1 - tanh(z)²
    raise NotImplementedError("activation_derivative(): return relu' = 1 where z > 0 else 0, σ' = σ(z)(1 - σ(z)), tanh' = 1 - tanh(z)²")


# ------------------------------------------------------------------ the model
class MLP(nn.Module):
    """in_features -> hidden_sizes[0] -> ... -> hidden_sizes[-1] -> out_features.

    `self.layers` is an nn.ModuleList of nn.Linear, one per arrow. The activation
    follows every hidden layer and never the last one: the output is raw scores
    (logits for classification, values for regression). With hidden_sizes=[] the
    MLP is a single linear layer: a linear model.
    """

    def __init__(self, in_features: int, hidden_sizes: Sequence[int], out_features: int,
                 activation: str = "relu") -> None:
        super().__init__()
        if activation not in ACTIVATIONS:
            raise ValueError(f"unknown activation {activation!r}; choose one of {sorted(ACTIVATIONS)}")
        self.activation = activation
        # TODO: build self.layers, an nn.ModuleList of nn.Linear from each size to the next
        raise NotImplementedError("MLP.__init__(): build self.layers, an nn.ModuleList of nn.Linear from each size to the next")

    def forward(self, x: Tensor) -> Tensor:
        """x: (N, in_features). Returns (N, out_features): logits or values, no activation."""
        # TODO: apply each hidden layer then the activation; return the last layer's output as is
        raise NotImplementedError("MLP.forward(): apply each hidden layer then the activation; return the last layer's output as is")


# ------------------------------------------------------------------ losses
def cross_entropy(logits: Tensor, y: Tensor) -> Tensor:
    """Mean multi-class cross-entropy from logits: mean of -log softmax(logits)[y].

    logits: (N, C) scores; y: (N,) int64 class indices. Returns a scalar, finite
    even for logits of ±1000.
    """
    # TODO: return the mean of logsumexp(logits over the classes) - logits[y], shifting by the row max first
    raise NotImplementedError("cross_entropy(): return the mean of logsumexp(logits over the classes) - logits[y], shifting by the row max first")


def mse_loss(pred: Tensor, y: Tensor) -> Tensor:
    """Mean squared error over every element. pred and y: the same shape. Returns a scalar."""
    # TODO: return the mean over all elements of (pred - y)², after checking the shapes agree
    raise NotImplementedError("mse_loss(): return the mean over all elements of (pred - y)², after checking the shapes agree")


# ------------------------------------------------------------------ backprop by hand
def two_layer_backprop(X: Tensor, y: Tensor, W1: Tensor, b1: Tensor, W2: Tensor, b2: Tensor,
                       activation: str = "relu") -> dict[str, Tensor]:
    """The gradients of the mean cross-entropy of a 2-layer net, by hand (no autograd).

    The net: Z = X W1ᵀ + b1, A = activation(Z), logits = A W2ᵀ + b2 (nn.Linear's layout).
    X: (N, D), y: (N,) int64 in [0, C) (a batch need not hold every class), W1: (H, D), b1: (H,),
    W2: (C, H), b2: (C,).
    Returns {"W1": dW1, "b1": db1, "W2": dW2, "b2": db2}, each the shape and dtype of its parameter.
    """
    # TODO: run the forward pass, then apply the chain rule from the loss back to W1 and b1
    raise NotImplementedError("two_layer_backprop(): run the forward pass, then apply the chain rule from the loss back to W1 and b1")


# ------------------------------------------------------------------ training
def train(model: nn.Module, X: Tensor, y: Tensor, loss_fn: Callable[[Tensor, Tensor], Tensor], *,
          epochs: int = 300, lr: float = 0.01) -> list[float]:
    """Full-batch training with Adam: one step per epoch. Returns the loss before each step.

    loss_fn(model(X), y) is the loss: cross_entropy to classify, mse_loss to regress.
    """
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    losses = []
    for _ in range(epochs):
        # TODO: one step: clear old gradients, compute loss_fn(model(X), y), backpropagate, update
        raise NotImplementedError("train(): one step: clear old gradients, compute loss_fn(model(X), y), backpropagate, update")
        losses.append(loss.item())
    return losses


def accuracy(model: nn.Module, X: Tensor, y: Tensor) -> float:
    """Fraction of samples whose highest-scoring class is y."""
    with torch.no_grad():
        return (model(X).argmax(dim=1) == y).float().mean().item()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Train MLPs on generated rings (classification) and a wave (regression).")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--epochs", type=int, default=300)
    parser.add_argument("--lr", type=float, default=0.01)
    parser.add_argument("--noise-std", type=float, default=0.05, help="radial noise of the rings (the suite uses 0.05)")
    parser.add_argument("--device", default=default_device())
    args = parser.parse_args(argv)

    def show(name: str, losses: list[float]) -> None:
        for epoch in range(0, args.epochs, max(1, args.epochs // 5)):
            print(f"  {name} epoch {epoch:4d}  loss {losses[epoch]:.4f}")

    # Classification: three concentric rings. No straight line separates them.
    X, y = (t.to(args.device) for t in rings(600, seed=args.seed, noise_std=args.noise_std))  # (600, 2), (600,)
    X_test, y_test = (t.to(args.device) for t in rings(1000, seed=args.seed, split="test", noise_std=args.noise_std))
    curves = {}
    for name, hidden in (("linear", []), ("MLP", [32, 32])):
        torch.manual_seed(args.seed)
        model = MLP(2, hidden, 3, activation="relu").to(args.device)
        losses = curves[name] = train(model, X, y, cross_entropy, epochs=args.epochs, lr=args.lr)
        show(name, losses)
        print(f"{name} hidden={hidden}: rings test accuracy {accuracy(model, X_test, y_test):.3f}")
    print("(the hidden suite asks the MLP for at least 0.95 and expects the linear model to stay at or below 0.7)")
    print(f"loss curves: {pictures.curve(curves, '02_rings_loss.png', title='02 rings: cross-entropy')}")

    # Regression: y = sin(2x) + x/2 + noise on [-2, 2].
    X, y = (t.to(args.device) for t in wave(400, seed=args.seed))  # (400, 1), (400, 1)
    X_test, y_test = (t.to(args.device) for t in wave(1000, seed=args.seed, split="test"))
    torch.manual_seed(args.seed)
    model = MLP(1, [32, 32], 1, activation="tanh").to(args.device)
    losses = train(model, X, y, mse_loss, epochs=args.epochs, lr=args.lr)
    show("wave", losses)
    with torch.no_grad():
        test_mse = mse_loss(model(X_test), y_test).item()
    print(f"wave test MSE {test_mse:.4f} (variance of y: {y_test.var().item():.3f})")
    print(f"loss curve: {pictures.curve({'wave': losses}, '02_wave_loss.png', title='02 wave: MSE')}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
