# Your file: fill in each TODO, then run `uv run pytest exercises/05_vgg`.
# Maintainers: generated from solutions/05_vgg/vgg.py by
# `python grader stubs`; edit the solution, never this file.
"""VGG: very deep networks built from one repeated idea, 3x3 convolutions and 2x2 pooling.

K. Simonyan & A. Zisserman, "Very Deep Convolutional Networks for Large-Scale Image
Recognition" (ICLR 2015), section 2 and Table 1. Every VGG is a stack of 3x3
convolutions (stride 1, padding 1, so the size stays) with ReLU, cut into five
blocks by 2x2 max-pooling (each halves the size), followed by three fully connected
layers. The variants differ only in how many convolutions each block holds, so the
whole family is one table (columns A, B, D, E = VGG-11, 13, 16, 19) read by one
builder. BatchNorm after each convolution (Ioffe & Szegedy 2015) is the "_bn"
variant: it came after the paper and makes the deep stacks easy to train.

The layout follows torchvision's `vgg.py` exactly, module for module, so that its
state dicts (and its pretrained weights) load into these models with strict=True.

Read the lesson in README.md beside this file. Run the hidden tests with
    uv run pytest exercises/05_vgg
and train a narrow VGG-11 with BatchNorm on generated 32x32 colour shapes with
    uv run python exercises/05_vgg/vgg.py            (or --data cifar10 for the real thing)

Shapes: B images, C channels, H x W pixels, K classes.
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

# One entry per layer: an int is a 3x3 convolution with that many output channels
# (followed by ReLU, or BatchNorm and ReLU), "M" is a 2x2 max-pool with stride 2.
Config = list[int | str]


def config(name: str) -> Config:
    """The layer list of one column of the paper's Table 1.

    name: "A" (VGG-11), "B" (VGG-13), "D" (VGG-16) or "E" (VGG-19). Raises ValueError
    for any other name. (Columns A-LRN and C of the paper are left out, as in torchvision.)
    Returns a new list at every call: a caller may edit it without changing the table.
    """
    # TODO: return Table 1's column for `name` (channels as ints, "M" for each max-pool); ValueError otherwise
    raise NotImplementedError("config(): return Table 1's column for `name` (channels as ints, \"M\" for each max-pool); ValueError otherwise")


def make_layers(cfg: Config, batch_norm: bool = False, *, in_channels: int = 3, width_divisor: int = 1) -> nn.Sequential:
    """The convolutional part ("features") of a VGG, one module per step of `cfg`.

    Each int v gives Conv2d(c, v // width_divisor, 3, padding=1) then a ReLU (torchvision's
    works in place to save memory), with BatchNorm2d (PyTorch's defaults) between them when
    batch_norm; each "M" gives MaxPool2d(2, 2). cfg is only read, never changed.
    The modules sit flat in one nn.Sequential, so their indices (and the state-dict
    keys "0.weight", "1.running_mean", ...) are torchvision's.
    width_divisor > 1 makes a narrow copy of the same architecture (64 -> 8 for 8).
    Input (B, in_channels, H, W); output (B, last channels, H / 2^pools, W / 2^pools).
    """
    # TODO: append Conv2d(3x3, padding 1)[, BatchNorm2d], ReLU for each int and MaxPool2d(2, 2) for each "M"
    raise NotImplementedError("make_layers(): append Conv2d(3x3, padding 1)[, BatchNorm2d], ReLU for each int and MaxPool2d(2, 2) for each \"M\"")


class VGG(nn.Module):
    """features -> avgpool -> flatten -> classifier, with torchvision's module names.

    features: from make_layers, ending with `out_channels` channels.
    The classifier is Linear(out_channels * pool_size², hidden_size), ReLU, Dropout,
    Linear(hidden_size, hidden_size), ReLU, Dropout, Linear(hidden_size, num_classes):
    seven modules at indices 0-6. The defaults (512, 7, 4096, dropout 0.5) are the paper's;
    dropout=0.0 keeps every unit. init_weights=True applies _init_weights; False keeps
    the modules' own initialisation.
    """

    def __init__(self, features: nn.Sequential, num_classes: int = 1000, *, out_channels: int = 512,
                 pool_size: int = 7, hidden_size: int = 4096, dropout: float = 0.5,
                 init_weights: bool = True) -> None:
        super().__init__()
        # TODO: keep features; add avgpool (AdaptiveAvgPool2d to pool_size²) and the 7-module classifier; init if asked
        raise NotImplementedError("VGG.__init__(): keep features; add avgpool (AdaptiveAvgPool2d to pool_size²) and the 7-module classifier; init if asked")

    def _init_weights(self) -> None:
        """torchvision's initialisation, in place (every module keeps its parameter tensors, so an
        optimizer built before still holds them): He (fan_out) for convolutions, BatchNorm at
        weight 1, N(0, 0.01) for Linear, zero biases. It runs whenever it is called, whatever
        init_weights the model was built with."""
        # TODO: kaiming_normal_(fan_out, relu) conv weights, BN weight 1, Linear N(0, 0.01), every bias 0
        raise NotImplementedError("VGG._init_weights(): kaiming_normal_(fan_out, relu) conv weights, BN weight 1, Linear N(0, 0.01), every bias 0")

    def forward(self, x: Tensor) -> Tensor:
        """x: (B, C, H, W) with H, W >= 32 (five pools). Returns logits (B, num_classes)."""
        # TODO: features, avgpool, flatten all but the batch dimension, classifier
        raise NotImplementedError("VGG.forward(): features, avgpool, flatten all but the batch dimension, classifier")


def vgg(cfg: str, *, batch_norm: bool = False, num_classes: int = 1000, in_channels: int = 3,
        width_divisor: int = 1, pool_size: int = 7, hidden_size: int = 4096, dropout: float = 0.5,
        init_weights: bool = True) -> VGG:
    """The one builder behind every variant: VGG(make_layers(config(cfg), batch_norm), ...).

    cfg: "A", "B", "D" or "E". The defaults give the paper's model for 224x224 ImageNet;
    width_divisor, pool_size and hidden_size shrink it (same layers, fewer channels) for
    small images, e.g. vgg("A", batch_norm=True, width_divisor=8, pool_size=1, hidden_size=64).
    """
    # TODO: build features from config(cfg) with make_layers; pass its last channel count to VGG
    raise NotImplementedError("vgg(): build features from config(cfg) with make_layers; pass its last channel count to VGG")


# The eight models of torchvision.models, by their names. kwargs go to vgg().
def vgg11(**kwargs) -> VGG:
    return vgg("A", batch_norm=False, **kwargs)


def vgg11_bn(**kwargs) -> VGG:
    return vgg("A", batch_norm=True, **kwargs)


def vgg13(**kwargs) -> VGG:
    return vgg("B", batch_norm=False, **kwargs)


def vgg13_bn(**kwargs) -> VGG:
    return vgg("B", batch_norm=True, **kwargs)


def vgg16(**kwargs) -> VGG:
    return vgg("D", batch_norm=False, **kwargs)


def vgg16_bn(**kwargs) -> VGG:
    return vgg("D", batch_norm=True, **kwargs)


def vgg19(**kwargs) -> VGG:
    return vgg("E", batch_norm=False, **kwargs)


def vgg19_bn(**kwargs) -> VGG:
    return vgg("E", batch_norm=True, **kwargs)


def narrow_vgg(cfg: str = "A", *, batch_norm: bool = True, num_classes: int = 10, **kwargs) -> VGG:
    """By default VGG-11 with BatchNorm at 1/8 of the width, for 32x32 images: the same layers with
    8..64 channels, 1x1 maps after five pools (so pool_size=1) and a 64-wide classifier;
    about 0.15 M parameters instead of 129 M. kwargs override these choices.

    init_weights=False keeps PyTorch's default initialisation (scaled by each layer's
    fan-in): torchvision's N(0, 0.01) suits 4096-wide layers, but through a 64-wide
    classifier it leaves logits near 1e-4 and training stuck at chance.
    """
    options = dict(width_divisor=8, pool_size=1, hidden_size=64, dropout=0.0, init_weights=False) | kwargs
    return vgg(cfg, batch_norm=batch_norm, num_classes=num_classes, **options)


# ------------------------------------------------------------------ training
def train_step(model: nn.Module, optimizer: torch.optim.Optimizer, batch: tuple[Tensor, Tensor]) -> float:
    """One update on a batch (X (B, C, H, W), y (B,)): cross-entropy of the logits. Returns the loss."""
    X, y = batch
    optimizer.zero_grad()
    loss = F.cross_entropy(model(X), y)
    loss.backward()
    optimizer.step()
    return loss.item()


def train(model: nn.Module, X: Tensor, y: Tensor, *, epochs: int = 6, batch_size: int = 64, lr: float = 0.05,
          seed: int = 0, log_every: int = 0) -> list[float]:
    """SGD with Nesterov momentum and a one-cycle learning rate (warm up to lr, then anneal)
    on mini-batches of cross-entropy. X: (N, C, H, W), y: (N,). Returns each epoch's mean loss."""
    optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9, nesterov=True)
    steps = epochs * math.ceil(len(X) / batch_size)  # the schedule is stepped after every batch
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=lr, total_steps=steps)
    return fit(model, (X, y), optimizer, train_step, epochs=epochs, batch_size=batch_size, seed=seed,
               scheduler=scheduler, log_every=log_every)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Train a narrow VGG-11 with BatchNorm on 32x32 images: generated shapes or a real data set.")
    parser.add_argument("--data", choices=CLASSIFICATION, default="shapes",
                        help="generated colour shapes (default) or a real data set, downloaded once into --root")
    parser.add_argument("--root", default="data", help="where real data sets are kept")
    parser.add_argument("--train-size", type=int, default=2000)
    parser.add_argument("--test-size", type=int, default=1000)
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--lr", type=float, default=0.05, help="the peak of the one-cycle schedule")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--width-divisor", type=int, default=8, help="8 gives 8..64 channels instead of 64..512")
    parser.add_argument("--no-bn", action="store_true", help="leave BatchNorm out, to see what it brings")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default=default_device())
    args = parser.parse_args(argv)

    torch.manual_seed(args.seed)
    try:
        # 32x32 colour for every data set: five 2x2 pools need 32 pixels (MNIST's 28 would shrink to 0),
        # so MNIST is padded to 32 and its grey repeated in three channels.
        data = load_data(args.data, train_size=args.train_size, test_size=args.test_size, seed=args.seed,
                         image_size=32, channels=3, root=args.root)
    except (RuntimeError, ValueError) as exc:  # a real data set neither on disk nor downloadable; bad sizes
        print(f"error: {exc}", file=sys.stderr)
        return 1
    X, y, X_test, y_test = (t.to(args.device) for t in data)  # (N, 3, 32, 32), (N,)
    num_classes = 10
    model = narrow_vgg("A", batch_norm=not args.no_bn, num_classes=num_classes, width_divisor=args.width_divisor,
                       hidden_size=512 // args.width_divisor).to(args.device)
    print(f"VGG-11{'' if args.no_bn else ' with BatchNorm'}, width / {args.width_divisor}: "
          f"{sum(p.numel() for p in model.parameters()):,} parameters; {len(X)} {args.data} images")
    losses = train(model, X, y, epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, seed=args.seed,
                   log_every=1)
    print(f"test accuracy {accuracy(model, X_test, y_test):.3f} (the hidden suite asks for at least 0.8 on shapes after 9 epochs of 1000 images)")
    print(f"loss curve: {pictures.curve({'train': losses}, '05_loss.png', title=f'05 VGG-11 on {args.data}')}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
