# Your file: fill in each TODO, then run `uv run pytest exercises/04_cnn`.
# Maintainers: generated from solutions/04_cnn/cnn.py by
# `python grader stubs`; edit the solution, never this file.
"""A convolutional neural network from its parts: convolution by im2col, max-pooling, LeNet.

A convolution slides one small filter over every position of an image. Written out,
it is one matrix product: `F.unfold` (im2col) copies each receptive field into a
column, and the filters, flattened into rows, multiply all columns at once. Max-pooling
is the same gather followed by a max. LeNet stacks them: conv, ReLU, pool, twice,
then a small classifier on the flattened features.

Papers: Y. LeCun et al., "Gradient-based learning applied to document recognition"
(Proc. IEEE 1998), section II (LeNet-5); K. Chellapilla, S. Puri and P. Simard,
"High performance convolutional neural networks for document processing" (2006),
for convolution as unfolding plus a matrix product.

Read the lesson in README.md beside this file. Run the hidden tests with
    uv run pytest exercises/04_cnn
and train on generated shapes (or MNIST, Fashion-MNIST, CIFAR-10) with
    uv run python exercises/04_cnn/cnn.py [--data shapes|mnist|fashion-mnist|cifar10]

Shapes: B images, C input channels, O output channels (filters), H x W pixels,
kH x kW a kernel, L = H_out * W_out output positions.
"""

from __future__ import annotations

import argparse
import math
import sys

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from kata import pictures
from kata.common import default_device
from kata.datasets import CLASSIFICATION, load_data
from kata.training import accuracy, fit


def conv_output_size(size: int, kernel_size: int, *, stride: int = 1, padding: int = 0, dilation: int = 1) -> int:
    """How many positions a kernel visits along one axis of length `size`.

    Returns floor((size + 2 * padding - dilation * (kernel_size - 1) - 1) / stride) + 1,
    the formula in the docs of nn.Conv2d and nn.MaxPool2d.
    """
    # TODO: return floor((size + 2*padding - dilation*(kernel_size - 1) - 1) / stride) + 1
    raise NotImplementedError("conv_output_size(): return floor((size + 2*padding - dilation*(kernel_size - 1) - 1) / stride) + 1")


def conv2d(x: Tensor, weight: Tensor, bias: Tensor | None = None, *, stride: int = 1, padding: int = 0,
           dilation: int = 1) -> Tensor:
    """The same result as F.conv2d, computed as im2col (F.unfold) then one matrix product.

    x: (B, C, H, W); weight: (O, C, kH, kW); bias: (O,) or None.
    Returns (B, O, H_out, W_out). Like PyTorch, this is a cross-correlation: the
    kernel is not flipped. F.conv2d is what the tests compare with: do not call it.
    """
    B, C, H, W = x.shape
    O, _, kH, kW = weight.shape
    # TODO: unfold x into receptive-field columns, multiply by the flattened weight, add the bias per output channel, reshape to (B, O, H_out, W_out)
    raise NotImplementedError("conv2d(): unfold x into receptive-field columns, multiply by the flattened weight, add the bias per output channel, reshape to (B, O, H_out, W_out)")


def max_pool2d(x: Tensor, kernel_size: int, *, stride: int | None = None, padding: int = 0) -> Tensor:
    """The same result as F.max_pool2d(x, kernel_size, stride, padding), by unfolding windows.

    x: (B, C, H, W). stride defaults to kernel_size (windows side by side).
    Returns (B, C, H_out, W_out): the largest value of each window, per channel.
    F.max_pool2d is what the tests compare with: do not call it.
    """
    # TODO: pad with -inf, cut out every window with Tensor.unfold on the two spatial dimensions, take each window's max
    raise NotImplementedError("max_pool2d(): pad with -inf, cut out every window with Tensor.unfold on the two spatial dimensions, take each window's max")


class Conv2d(nn.Module):
    """A convolution layer with learnable filters, computed by your conv2d.

    Parameters `weight` (O, C, k, k) and `bias` (O,) (None with bias=False), named and
    shaped as in nn.Conv2d, so that state dicts load both ways.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, *, stride: int = 1,
                 padding: int = 0, dilation: int = 1, bias: bool = True) -> None:
        super().__init__()
        self.stride, self.padding, self.dilation = stride, padding, dilation
        # TODO: create self.weight (O, C, k, k) and self.bias (O,) or None as nn.Parameters, uniform in ±1/sqrt(C*k*k)
        raise NotImplementedError("Conv2d.__init__(): create self.weight (O, C, k, k) and self.bias (O,) or None as nn.Parameters, uniform in ±1/sqrt(C*k*k)")

    def forward(self, x: Tensor) -> Tensor:
        """x: (B, C, H, W). Returns (B, O, H_out, W_out)."""
        # TODO: call your conv2d with this layer's weight, bias, stride, padding and dilation
        raise NotImplementedError("Conv2d.forward(): call your conv2d with this layer's weight, bias, stride, padding and dilation")


class LeNet(nn.Module):
    """LeNet-5 for small images: (conv 5x5, ReLU, max-pool 2x2) twice, then two linear layers.

    For 28x28 grey images with padding=2 (LeCun's 32x32 input, padded):
      (B, 1, 28, 28) -conv1-> (B, 6, 28, 28) -pool-> (B, 6, 14, 14)
                     -conv2-> (B, 16, 10, 10) -pool-> (B, 16, 5, 5) -> 400 -> hidden_size -> num_classes.
    `features(x)` returns the output of the second pool, `forward(x)` the logits.
    """

    def __init__(self, in_channels: int = 1, num_classes: int = 10, *, image_size: int = 28,
                 channels: tuple[int, int] = (6, 16), hidden_size: int = 84, padding: int = 2) -> None:
        super().__init__()
        # TODO: make self.conv1, self.conv2 (your Conv2d, kernel 5, conv1 padded), self.fc1 from the flattened features to hidden_size, self.fc2 to num_classes
        raise NotImplementedError("LeNet.__init__(): make self.conv1, self.conv2 (your Conv2d, kernel 5, conv1 padded), self.fc1 from the flattened features to hidden_size, self.fc2 to num_classes")

    def features(self, x: Tensor) -> Tensor:
        """x: (B, C, H, W). Returns the pooled feature maps (B, channels[1], h, w)."""
        # TODO: apply conv1, ReLU, 2x2 max-pool, conv2, ReLU, 2x2 max-pool
        raise NotImplementedError("LeNet.features(): apply conv1, ReLU, 2x2 max-pool, conv2, ReLU, 2x2 max-pool")

    def forward(self, x: Tensor) -> Tensor:
        """x: (B, C, H, W). Returns logits (B, num_classes)."""
        # TODO: flatten the features per image, then fc1, ReLU, fc2
        raise NotImplementedError("LeNet.forward(): flatten the features per image, then fc1, ReLU, fc2")


class MLP(nn.Module):
    """The baseline: one hidden layer on the flattened pixels. No weight sharing, no locality."""

    def __init__(self, in_features: int, hidden_size: int, num_classes: int = 10) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(in_features, hidden_size), nn.ReLU(),
                                 nn.Linear(hidden_size, num_classes))

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)  # (B, num_classes)


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def train_step(model: nn.Module, optimizer: torch.optim.Optimizer, batch: tuple[Tensor, Tensor]) -> float:
    """One update on a batch (X (B, C, H, W), y (B,)): cross-entropy of the logits. Returns the loss."""
    X, y = batch
    optimizer.zero_grad()  # gradients add up across backward() calls otherwise
    loss = F.cross_entropy(model(X), y)  # (B, num_classes) logits: the softmax is inside the loss
    loss.backward()
    optimizer.step()
    return loss.item()


def train(model: nn.Module, X: Tensor, y: Tensor, *, epochs: int = 5, lr: float = 8e-3, batch_size: int = 64,
          seed: int = 0, log_every: int = 0) -> list[float]:
    """Adam on the cross-entropy with a one-cycle learning rate (warm up to lr, then anneal), on shuffled
    mini-batches (the order drawn from `seed`). Returns each epoch's mean loss."""
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    # A short run learns most when the rate climbs to its peak and anneals to almost 0 by the last batch.
    steps = epochs * math.ceil(len(X) / batch_size)  # the schedule is stepped after every batch
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=lr, total_steps=steps)
    return fit(model, (X, y), optimizer, train_step, epochs=epochs, batch_size=batch_size, seed=seed,
               scheduler=scheduler, log_every=log_every)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Train LeNet (and a same-budget MLP) on generated shapes or real images.")
    parser.add_argument("--data", choices=CLASSIFICATION, default="shapes",
                        help="generated shapes (default) or a real data set, downloaded once into --root")
    parser.add_argument("--root", default="data", help="where real data sets are kept")
    parser.add_argument("--train-size", type=int, default=2000)
    parser.add_argument("--test-size", type=int, default=1000)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--lr", type=float, default=8e-3, help="the peak of the one-cycle schedule")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default=default_device())
    args = parser.parse_args(argv)

    torch.manual_seed(args.seed)
    try:
        data = load_data(args.data, train_size=args.train_size, test_size=args.test_size, seed=args.seed,
                         root=args.root)
    except (RuntimeError, ValueError) as exc:  # a real data set neither on disk nor downloadable; bad sizes
        print(f"error: {exc}", file=sys.stderr)
        return 1
    X, y, X_test, y_test = (t.to(args.device) for t in data)
    mean, std = X.mean(), X.std()  # standardise with the training set's statistics: Adam starts better
    X, X_test = (X - mean) / std, (X_test - mean) / std
    _, C, H, W = X.shape  # (N, C, H, W): 1x28x28 for shapes and MNIST, 3x32x32 for CIFAR-10
    num_classes = 10
    cnn = LeNet(C, num_classes, image_size=H).to(args.device)
    # The baseline gets about as many parameters as the CNN: hidden_size * (C*H*W + 1 + num_classes) + num_classes.
    hidden_size = max(1, round(count_parameters(cnn) / (C * H * W + 1 + num_classes)))
    mlp = MLP(C * H * W, hidden_size, num_classes).to(args.device)
    curves = {}
    for name, model in (("LeNet", cnn), ("MLP", mlp)):
        print(f"{name}: {count_parameters(model):,} parameters, {args.epochs} epochs on {len(X)} {args.data} images")
        curves[name] = train(model, X, y, epochs=args.epochs, lr=args.lr, batch_size=args.batch_size, seed=args.seed,
                             log_every=1)
        print(f"  test accuracy {accuracy(model, X_test, y_test):.3f}")
    print(f"loss curves: {pictures.curve(curves, '04_loss.png', title=f'04 {args.data}: cross-entropy')}")
    # What the first layer learned to look for: each of conv1's 6 filters (C, 5, 5), scaled to its own range.
    filters = cnn.conv1.weight.detach()  # (6, C, 5, 5)
    low, high = filters.amin((1, 2, 3), keepdim=True), filters.amax((1, 2, 3), keepdim=True)
    print(f"first-layer filters: {pictures.grid((filters - low) / (high - low + 1e-12), '04_filters.png', nrow=6)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
