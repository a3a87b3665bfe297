"""ResNet: deep networks that train because every block only learns a correction.

K. He, X. Zhang, S. Ren, J. Sun, "Deep Residual Learning for Image Recognition"
(CVPR 2016), arXiv:1512.03385. A block computes y = relu(F(x) + shortcut(x)): the
shortcut is the identity when shapes agree (section 3.2) and a 1x1 convolution
with BatchNorm (a "projection", option B of section 3.3) when the stride or the
channel count changes. ResNet-18/34 stack BasicBlocks (two 3x3 convolutions);
ResNet-50 stacks Bottlenecks (1x1 down, 3x3, 1x1 up to 4x the width, section 4.1
and Table 1).

The layout and module names follow torchvision's `torchvision/models/resnet.py`,
so its state dicts load with `strict=True`. Like torchvision, the Bottleneck puts
its stride on the 3x3 convolution, not on the first 1x1 as the paper does: this is
"ResNet v1.5", slightly more accurate, and the layout torchvision's weights expect.

The identity path is also why depth stops hurting: the gradient that reaches an
early layer is the sum of the gradient through the blocks and the one that skips
them, so it cannot vanish layer after layer. `MLPStack` shows this on a plain
tanh MLP with and without skips.

Read the lesson in README.md beside this file. Run the hidden tests with
    uv run pytest exercises/06_resnet
and train a small ResNet on generated shapes (or CIFAR-10 / MNIST) with
    uv run python exercises/06_resnet/resnet.py [--data cifar10]

Shapes: B batch, C channels, H and W height and width.
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


def conv3x3(in_planes: int, out_planes: int, stride: int = 1) -> nn.Conv2d:
    """3x3 convolution with padding 1: keeps H and W at stride 1, halves them at stride 2.

    No bias: the BatchNorm right after it has its own shift, a bias would be wasted.
    """
    return nn.Conv2d(in_planes, out_planes, kernel_size=3, stride=stride, padding=1, bias=False)


def conv1x1(in_planes: int, out_planes: int, stride: int = 1) -> nn.Conv2d:
    """1x1 convolution: mixes channels at each position (and subsamples at stride 2)."""
    return nn.Conv2d(in_planes, out_planes, kernel_size=1, stride=stride, bias=False)


class BasicBlock(nn.Module):
    """Two 3x3 convolutions and a shortcut: relu(bn2(conv2(relu(bn1(conv1(x))))) + shortcut(x)).

    inplanes channels in, planes * expansion = planes channels out. `stride` sits on
    conv1. `downsample` (a conv1x1 + BatchNorm, or None for the identity) maps x to
    the output's shape when the stride or the channel count changes.
    """

    expansion = 1  # out channels = planes * expansion

    def __init__(self, inplanes: int, planes: int, stride: int = 1, downsample: nn.Module | None = None) -> None:
        super().__init__()
        # BEGIN SOLUTION: create conv1 (3x3, with the stride), bn1, relu, conv2 (3x3), bn2 and keep downsample and stride
        self.conv1 = conv3x3(inplanes, planes, stride)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = conv3x3(planes, planes)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = downsample  # registered as a submodule (downsample.0, downsample.1) when given
        self.stride = stride
        # END SOLUTION

    def forward(self, x: Tensor) -> Tensor:
        """x: (B, inplanes, H, W). Returns (B, planes, H / stride, W / stride)."""
        # BEGIN SOLUTION: compute the residual branch, add the shortcut (x, or downsample(x)), then apply the ReLU
        identity = x if self.downsample is None else self.downsample(x)  # (B, planes, H', W')
        out = self.relu(self.bn1(self.conv1(x)))  # (B, planes, H', W')
        out = self.bn2(self.conv2(out))  # no ReLU yet: the branch must be able to output negative corrections
        out = out + identity  # the skip: the block learns F(x) = y - x, a correction to x
        return self.relu(out)  # the ReLU comes after the addition (section 3.2, Fig. 2)
        # END SOLUTION


class Bottleneck(nn.Module):
    """1x1 (reduce to planes) -> 3x3 (with the stride) -> 1x1 (expand to 4 * planes), plus a shortcut.

    inplanes channels in, planes * 4 out. The 1x1 convolutions make a deep block
    cheap: the 3x3 works on `planes` channels, a quarter of the block's width.
    """

    expansion = 4  # out channels = planes * expansion

    def __init__(self, inplanes: int, planes: int, stride: int = 1, downsample: nn.Module | None = None) -> None:
        super().__init__()
        # BEGIN SOLUTION: create conv1 (1x1), bn1, conv2 (3x3, with the stride), bn2, conv3 (1x1 to planes * expansion), bn3, relu; keep downsample and stride
        self.conv1 = conv1x1(inplanes, planes)
        self.bn1 = nn.BatchNorm2d(planes)
        # ResNet v1.5: the stride on the 3x3, where the paper put it on the first 1x1. A stride-2 1x1
        # simply skips three pixels in four; the 3x3 sees all of them before subsampling.
        self.conv2 = conv3x3(planes, planes, stride)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = conv1x1(planes, planes * self.expansion)
        self.bn3 = nn.BatchNorm2d(planes * self.expansion)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample
        self.stride = stride
        # END SOLUTION

    def forward(self, x: Tensor) -> Tensor:
        """x: (B, inplanes, H, W). Returns (B, planes * 4, H / stride, W / stride)."""
        # BEGIN SOLUTION: run 1x1 -> 3x3 -> 1x1 with BatchNorm after each and ReLU after the first two, add the shortcut, then apply the ReLU
        identity = x if self.downsample is None else self.downsample(x)  # (B, 4 * planes, H', W')
        out = self.relu(self.bn1(self.conv1(x)))  # (B, planes, H, W)
        out = self.relu(self.bn2(self.conv2(out)))  # (B, planes, H', W')
        out = self.bn3(self.conv3(out))  # (B, 4 * planes, H', W')
        return self.relu(out + identity)
        # END SOLUTION


Block = type[BasicBlock] | type[Bottleneck]


class ResNet(nn.Module):
    """The stem, four stages of residual blocks, global average pooling, a linear classifier.

    block: BasicBlock or Bottleneck; layers: the number of blocks in each of the 4 stages.
    Module names follow torchvision (conv1, bn1, relu, maxpool, layer1-4, avgpool, fc).

    Two departures from ImageNet's ResNet, for small images; neither adds or renames a
    parameter, so state dicts stay compatible:
      width: channels of the first stage (64 in the paper); stage k has width * 2^(k-1)
        * expansion channels out.
      small_input: a 3x3 stride-1 stem and no max-pooling (as the paper's CIFAR-10 nets,
        section 4.2), instead of a 7x7 stride-2 convolution and a stride-2 max-pool that
        would shrink a 32x32 image to 8x8 before the first block.
    zero_init_residual: start the last BatchNorm of every block at weight 0, so every
      block starts as the identity (Goyal et al. 2017, arXiv:1706.02677, section 5.1).
    """

    def __init__(self, block: Block, layers: list[int], num_classes: int = 1000, *, in_channels: int = 3,
                 width: int = 64, small_input: bool = False, zero_init_residual: bool = False) -> None:
        super().__init__()
        self.inplanes = width  # channels entering the next block; _make_layer updates it
        # BEGIN SOLUTION: build the stem (conv1, bn1, relu, maxpool; a 3x3 stride-1 conv1 and no max-pool if small_input), layer1-4 with _make_layer (widths x1, x2, x4, x8; stride 2 from layer2 on), avgpool and fc
        if small_input:
            self.conv1 = nn.Conv2d(in_channels, width, kernel_size=3, stride=1, padding=1, bias=False)
            self.maxpool = nn.Identity()  # no parameters: the state dict is unchanged
        else:
            self.conv1 = nn.Conv2d(in_channels, width, kernel_size=7, stride=2, padding=3, bias=False)
            self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.bn1 = nn.BatchNorm2d(width)
        self.relu = nn.ReLU(inplace=True)
        # Each stage after the first halves H and W and doubles the width (Table 1).
        self.layer1 = self._make_layer(block, width, layers[0])
        self.layer2 = self._make_layer(block, width * 2, layers[1], stride=2)
        self.layer3 = self._make_layer(block, width * 4, layers[2], stride=2)
        self.layer4 = self._make_layer(block, width * 8, layers[3], stride=2)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))  # any input size ends as (B, C, 1, 1)
        self.fc = nn.Linear(width * 8 * block.expansion, num_classes)
        # END SOLUTION

        # He initialisation for the ReLU network (He et al. 2015); BatchNorm starts as the identity.
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
        if zero_init_residual:
            # BEGIN SOLUTION: set the weight of the last BatchNorm of every block (bn2 of a BasicBlock, bn3 of a Bottleneck) to 0
            for m in self.modules():
                if isinstance(m, BasicBlock):
                    nn.init.zeros_(m.bn2.weight)  # the branch outputs 0: the block is relu(x + 0) = x
                elif isinstance(m, Bottleneck):
                    nn.init.zeros_(m.bn3.weight)
            # END SOLUTION

    def _make_layer(self, block: Block, planes: int, blocks: int, stride: int = 1) -> nn.Sequential:
        """One stage: `blocks` blocks of the `block` given here (not necessarily the network's), the
        first from self.inplanes channels; the first one changes the stride and the width."""
        # BEGIN SOLUTION: give the first block the stride and, if the stride is not 1 or the channels change, a downsample nn.Sequential(conv1x1, BatchNorm2d); the others keep the shape
        out_channels = planes * block.expansion
        downsample = None
        # Any change of shape needs a projection: the stride (layer2-4) or the channel count alone
        # (layer1 of ResNet-50 goes from 64 to 256 channels at stride 1).
        if stride != 1 or self.inplanes != out_channels:
            downsample = nn.Sequential(conv1x1(self.inplanes, out_channels, stride), nn.BatchNorm2d(out_channels))
        layers = [block(self.inplanes, planes, stride, downsample)]
        self.inplanes = out_channels
        layers += [block(self.inplanes, planes) for _ in range(1, blocks)]
        return nn.Sequential(*layers)
        # END SOLUTION

    def forward(self, x: Tensor) -> Tensor:
        """x: (B, in_channels, H, W). Returns logits (B, num_classes)."""
        # BEGIN SOLUTION: stem (conv1, bn1, relu, maxpool), layer1 to layer4, avgpool, flatten, fc
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))  # (B, width, H/4, W/4); (B, width, H, W) if small_input
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))  # (B, 8 * width * expansion, H/32, W/32)
        x = torch.flatten(self.avgpool(x), 1)  # (B, 8 * width * expansion)
        return self.fc(x)  # (B, num_classes)
        # END SOLUTION


def resnet18(num_classes: int = 1000, **kwargs) -> ResNet:
    """ResNet-18: BasicBlocks, [2, 2, 2, 2] per stage (11,689,512 parameters at 1000 classes)."""
    return ResNet(BasicBlock, [2, 2, 2, 2], num_classes, **kwargs)


def resnet34(num_classes: int = 1000, **kwargs) -> ResNet:
    """ResNet-34: BasicBlocks, [3, 4, 6, 3] per stage (21,797,672 parameters)."""
    return ResNet(BasicBlock, [3, 4, 6, 3], num_classes, **kwargs)


def resnet50(num_classes: int = 1000, **kwargs) -> ResNet:
    """ResNet-50: Bottlenecks, [3, 4, 6, 3] per stage (25,557,032 parameters)."""
    return ResNet(Bottleneck, [3, 4, 6, 3], num_classes, **kwargs)


class MLPStack(nn.Module):
    """A deep tanh MLP, with or without skips: the vanishing gradient and its cure in a few lines.

    input (Linear + tanh) -> `num_layers` hidden layers of `hidden_size` units -> output Linear.
    A hidden layer computes h = tanh(W h + b) (plain) or h = h + tanh(W h + b) (residual).
    No normalisation, so only the skips keep the gradient alive.
    """

    def __init__(self, in_features: int, hidden_size: int, num_layers: int, num_classes: int, *,
                 residual: bool = True) -> None:
        super().__init__()
        self.residual = residual
        self.input = nn.Linear(in_features, hidden_size)
        self.hidden = nn.ModuleList(nn.Linear(hidden_size, hidden_size) for _ in range(num_layers))
        self.output = nn.Linear(hidden_size, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        """x: (N, in_features). Returns logits (N, num_classes)."""
        h = torch.tanh(self.input(x))  # (N, hidden_size)
        for layer in self.hidden:
            # BEGIN SOLUTION: update h with tanh(layer(h)), added to h (h + tanh(layer(h))) when self.residual, replacing h otherwise
            # Plain: dh_out/dh_in = diag(tanh') W, a product of `num_layers` such factors, each of norm < 1
            # with PyTorch's default init, so the gradient shrinks geometrically. Residual: I + diag(tanh') W,
            # whose identity term carries the gradient through unchanged.
            update = torch.tanh(layer(h))  # (N, hidden_size)
            h = h + update if self.residual else update
            # END SOLUTION
        return self.output(h)  # (N, num_classes)


def train_step(model: nn.Module, optimizer: torch.optim.Optimizer, batch: tuple[Tensor, Tensor]) -> float:
    """One update on a batch: X (B, C, H, W) images, y (B,) int64 labels. Returns the batch's loss as a float."""
    X, y = batch
    # BEGIN SOLUTION: clear the gradients, compute the cross-entropy of model(X) against y, backpropagate, step the optimizer, return loss.item()
    optimizer.zero_grad()  # gradients add up across backward() calls otherwise
    loss = F.cross_entropy(model(X), y)  # (B, num_classes) logits: the softmax is inside the loss
    loss.backward()
    optimizer.step()
    return loss.item()  # a float: the tensor would keep the whole graph alive
    # END SOLUTION


def train(model: nn.Module, X: Tensor, y: Tensor, *, epochs: int = 6, lr: float = 1e-2,
          batch_size: int = 32, seed: int = 0, log_every: int = 0) -> list[float]:
    """Adam on minibatches of cross-entropy (train_step), reshuffled each epoch from `seed`.

    X: (N, C, H, W) images; y: (N,) int64 labels, on the model's device. Returns the
    mean loss of each epoch. The learning rate decays from lr to 0 along a cosine over
    the whole run: large steps early, small ones at the end, so the last epoch settles
    instead of bouncing around the minimum.
    """
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    steps = epochs * math.ceil(len(X) / batch_size)  # the scheduler is stepped after every batch
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=steps)
    # fit puts the model in train mode: BatchNorm normalises with each batch's statistics
    # and updates its running ones.
    return fit(model, (X, y), optimizer, train_step, epochs=epochs, batch_size=batch_size, seed=seed,
               scheduler=scheduler, log_every=log_every)


def first_layer_grad_norm(model: MLPStack, X: Tensor, y: Tensor) -> float:
    """The norm of the loss's gradient with respect to the first layer's weights."""
    model.zero_grad()
    F.cross_entropy(model(X), y).backward()
    return model.input.weight.grad.norm().item()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Train a small ResNet on generated shapes, MNIST, Fashion-MNIST or CIFAR-10.")
    parser.add_argument("--data", choices=CLASSIFICATION, default="shapes",
                        help="generated shapes (default) or a real data set, downloaded once into --root")
    parser.add_argument("--root", default="data", help="where real data sets are kept")
    parser.add_argument("--train-size", type=int, default=4000)
    parser.add_argument("--test-size", type=int, default=1000)
    parser.add_argument("--image-size", type=int, default=None,
                        help="image side in pixels (default: 16 for shapes, as in the hidden suite; the data set's own otherwise)")
    parser.add_argument("--depth", type=int, choices=[10, 18, 34], default=10,
                        help="10: one BasicBlock per stage; 18 and 34 as in the paper")
    parser.add_argument("--width", type=int, default=16, help="channels of the first stage (64 on ImageNet)")
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--lr", type=float, default=1e-2)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default=default_device())
    args = parser.parse_args(argv)

    torch.manual_seed(args.seed)
    # Why skips: the first layer's gradient in a 20-layer tanh MLP, with and without them.
    X_flat = torch.randn(256, 32, device=args.device)
    y_flat = torch.randint(0, 4, (256,), device=args.device)
    for residual in (False, True):
        mlp = MLPStack(32, 64, 20, 4, residual=residual).to(args.device)
        name = "residual" if residual else "plain   "
        print(f"{name} tanh MLP, depth 20: first-layer gradient norm {first_layer_grad_norm(mlp, X_flat, y_flat):.3g}")

    image_size = args.image_size or (16 if args.data == "shapes" else None)
    try:
        data = load_data(args.data, train_size=args.train_size, test_size=args.test_size, seed=args.seed,
                         image_size=image_size, root=args.root)
    except (RuntimeError, ValueError) as exc:  # a real data set neither on disk nor downloadable; bad sizes
        print(f"error: {exc}", file=sys.stderr)
        return 1
    X, y, X_test, y_test = (t.to(args.device) for t in data)  # (N, C, H, W), (N,)
    # Standardise each channel with the training set's statistics.
    mean, std = X.mean((0, 2, 3), keepdim=True), X.std((0, 2, 3), keepdim=True)
    X, X_test = (X - mean) / std, (X_test - mean) / std
    num_classes = 10
    layers = {10: [1, 1, 1, 1], 18: [2, 2, 2, 2], 34: [3, 4, 6, 3]}[args.depth]
    model = ResNet(BasicBlock, layers, num_classes, in_channels=X.shape[1], width=args.width,
                   small_input=True).to(args.device)
    print(f"{args.data}: {len(X)} training images of shape {tuple(X.shape[1:])}, {num_classes} classes; "
          f"ResNet-{args.depth} of width {args.width}, {sum(p.numel() for p in model.parameters()):,} parameters")
    losses = train(model, X, y, epochs=args.epochs, lr=args.lr, batch_size=args.batch_size, seed=args.seed,
                   log_every=1)
    print(f"test accuracy {accuracy(model, X_test, y_test):.3f}"
          + (" (the hidden suite asks for at least 0.85 on shapes)" if args.data == "shapes" else ""))
    title = f"06 ResNet-{args.depth} on {args.data}"
    print(f"loss curve: {pictures.curve({'train': losses}, '06_loss.png', title=title)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
