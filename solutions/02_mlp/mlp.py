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
    # BEGIN SOLUTION: keep x where it is positive and put 0 elsewhere, with torch.where (not torch.relu)
    # torch.where routes the gradient too: 1 where x > 0, 0 elsewhere (also at x = 0,
    # PyTorch's convention for the kink).
    return torch.where(x > 0, x, torch.zeros_like(x))
    # END SOLUTION


def sigmoid(x: Tensor) -> Tensor:
    """σ(x) = 1 / (1 + exp(-x)), elementwise, in x's dtype, finite (value and gradient) for every x."""
    # BEGIN SOLUTION: compute 1 / (1 + exp(-x)) so that no exp() overflows and the gradient at x = 0 stays 1/4
    # exp(-x) overflows for x < -88 in float32 (and its gradient becomes inf/inf = NaN);
    # for x < 0 use the equal form exp(x) / (1 + exp(x)). e = exp(-|x|) lies in (0, 1].
    # Write -|x| as where(x >= 0, -x, x), not -x.abs(): autograd takes |x|' = 0 at x = 0,
    # which would make σ'(0) = 0 instead of 1/4.
    e = torch.exp(torch.where(x >= 0, -x, x))  # (same shape as x), in (0, 1]
    return torch.where(x >= 0, 1 / (1 + e), e / (1 + e))
    # END SOLUTION


def tanh(x: Tensor) -> Tensor:
    """tanh(x) = (exp(x) - exp(-x)) / (exp(x) + exp(-x)), elementwise, in x's dtype, finite for every x."""
    # BEGIN SOLUTION: return 2·σ(2x) - 1 with your sigmoid, which is tanh written without overflow
    # (e^x - e^-x) / (e^x + e^-x) = (1 - e^-2x) / (1 + e^-2x) = 2 / (1 + e^-2x) - 1: the
    # naive quotient is inf / inf = NaN once e^|x| overflows (|x| > 88 in float32); the
    # sigmoid form is stable.
    return 2 * sigmoid(2 * x) - 1
    # END SOLUTION


# The activations by name: the MLP and the hand-written backprop look them up here.
ACTIVATIONS: dict[str, Callable[[Tensor], Tensor]] = {"relu": relu, "sigmoid": sigmoid, "tanh": tanh}


def activation_derivative(z: Tensor, activation: str) -> Tensor:
    """d activation(z) / dz, elementwise, at the pre-activations z (not the outputs).

    z: any shape. activation: "relu", "sigmoid" or "tanh" (any other name: ValueError).
    Returns the shape and dtype of z.
    """
    # BEGIN SOLUTION: return relu' = 1 where z > 0 else 0, σ' = σ(z)(1 - σ(z)), tanh' = 1 - tanh(z)²
    if activation == "relu":
        return (z > 0).to(z.dtype)  # 0 at z = 0, as autograd does for torch.relu
    if activation == "sigmoid":
        s = sigmoid(z)
        return s * (1 - s)
    if activation == "tanh":
        return 1 - tanh(z) ** 2  # in terms of the output t = tanh(z): 1 - t², so apply tanh first
    raise ValueError(f"unknown activation {activation!r}; choose one of {sorted(ACTIVATIONS)}")
    # END SOLUTION


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
        # BEGIN SOLUTION: build self.layers, an nn.ModuleList of nn.Linear from each size to the next
        sizes = [in_features, *hidden_sizes, out_features]  # e.g. [2, 32, 32, 3]
        # A plain Python list would hide the layers from .parameters(), .to() and the optimizer.
        self.layers = nn.ModuleList(nn.Linear(n_in, n_out) for n_in, n_out in zip(sizes[:-1], sizes[1:]))
        # END SOLUTION

    def forward(self, x: Tensor) -> Tensor:
        """x: (N, in_features). Returns (N, out_features): logits or values, no activation."""
        # BEGIN SOLUTION: apply each hidden layer then the activation; return the last layer's output as is
        act = ACTIVATIONS[self.activation]
        for layer in self.layers[:-1]:
            x = act(layer(x))  # (N, hidden_size)
        # No activation on the output: a ReLU here would clip every negative logit to 0.
        return self.layers[-1](x)  # (N, out_features)
        # END SOLUTION


# ------------------------------------------------------------------ losses
def cross_entropy(logits: Tensor, y: Tensor) -> Tensor:
    """Mean multi-class cross-entropy from logits: mean of -log softmax(logits)[y].

    logits: (N, C) scores; y: (N,) int64 class indices. Returns a scalar, finite
    even for logits of ±1000.
    """
    # BEGIN SOLUTION: return the mean of logsumexp(logits over the classes) - logits[y], shifting by the row max first
    # log softmax(z)_k = z_k - log Σ_j exp(z_j). Subtracting the row's max m changes nothing
    # (it cancels) but keeps every exp() <= 1, so nothing overflows.
    m = logits.max(dim=1, keepdim=True).values.detach()  # (N, 1); a constant, so detach
    log_sum_exp = m + torch.log(torch.exp(logits - m).sum(dim=1, keepdim=True))  # (N, 1)
    log_probs = logits - log_sum_exp  # (N, C)
    return -log_probs.gather(1, y[:, None]).mean()  # pick log p(y_i) in row i
    # END SOLUTION


def mse_loss(pred: Tensor, y: Tensor) -> Tensor:
    """Mean squared error over every element. pred and y: the same shape. Returns a scalar."""
    # BEGIN SOLUTION: return the mean over all elements of (pred - y)², after checking the shapes agree
    # (N, 1) - (N,) would broadcast to (N, N) and silently compare every pair.
    if pred.shape != y.shape:
        raise ValueError(f"mse_loss: pred has shape {tuple(pred.shape)} but y has {tuple(y.shape)}")
    return ((pred - y) ** 2).mean()
    # END SOLUTION


# ------------------------------------------------------------------ backprop by hand
def two_layer_backprop(X: Tensor, y: Tensor, W1: Tensor, b1: Tensor, W2: Tensor, b2: Tensor,
                       activation: str = "relu") -> dict[str, Tensor]:
    """The gradients of the mean cross-entropy of a 2-layer net, by hand (no autograd).

    The net: Z = X W1ᵀ + b1, A = activation(Z), logits = A W2ᵀ + b2 (nn.Linear's layout).
    X: (N, D), y: (N,) int64 in [0, C) (a batch need not hold every class), W1: (H, D), b1: (H,),
    W2: (C, H), b2: (C,).
    Returns {"W1": dW1, "b1": db1, "W2": dW2, "b2": db2}, each the shape and dtype of its parameter.
    """
    # BEGIN SOLUTION: run the forward pass, then apply the chain rule from the loss back to W1 and b1
    N = X.shape[0]
    # Forward, keeping what the backward pass needs.
    Z = X @ W1.T + b1  # (N, H) pre-activations
    A = ACTIVATIONS[activation](Z)  # (N, H)
    logits = A @ W2.T + b2  # (N, C)
    # d loss / d logits for the mean cross-entropy: (softmax - one-hot) / N, row by row.
    probs = torch.softmax(logits, dim=1)  # (N, C): each row sums to 1
    one_hot = torch.zeros_like(probs).scatter_(1, y[:, None], 1.0)  # (N, C), on the inputs' device
    d_logits = (probs - one_hot) / N  # (N, C)
    # logits = A W2ᵀ + b2
    dW2 = d_logits.T @ A  # (C, H)
    db2 = d_logits.sum(dim=0)  # (C,): b2 is added to every row
    dA = d_logits @ W2  # (N, H)
    # A = activation(Z), elementwise: multiply by the local slope.
    dZ = dA * activation_derivative(Z, activation)  # (N, H)
    # Z = X W1ᵀ + b1
    dW1 = dZ.T @ X  # (H, D)
    db1 = dZ.sum(dim=0)  # (H,)
    return {"W1": dW1, "b1": db1, "W2": dW2, "b2": db2}
    # END SOLUTION


# ------------------------------------------------------------------ training
def train(model: nn.Module, X: Tensor, y: Tensor, loss_fn: Callable[[Tensor, Tensor], Tensor], *,
          epochs: int = 300, lr: float = 0.01) -> list[float]:
    """Full-batch training with Adam: one step per epoch. Returns the loss before each step.

    loss_fn(model(X), y) is the loss: cross_entropy to classify, mse_loss to regress.
    """
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    losses = []
    for _ in range(epochs):
        # BEGIN SOLUTION: one step: clear old gradients, compute loss_fn(model(X), y), backpropagate, update
        optimizer.zero_grad()  # gradients accumulate across backward() calls otherwise
        loss = loss_fn(model(X), y)
        loss.backward()
        optimizer.step()
        # END SOLUTION
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
