# Your file: fill in each TODO, then run `uv run pytest exercises/07_unet`.
# Maintainers: generated from solutions/07_unet/unet.py by
# `python grader stubs`; edit the solution, never this file.
"""U-Net: an encoder-decoder for segmentation, with skip connections that concatenate.

O. Ronneberger, P. Fischer, T. Brox, "U-Net: Convolutional Networks for Biomedical
Image Segmentation", MICCAI 2015 (arXiv:1505.04597), section 2 and figure 1. The
contracting path (left of the "U") repeats two 3x3 convolutions and a 2x2 max-pool,
doubling the channels at each step; the expansive path (right) upsamples with a 2x2
up-convolution that halves the channels, concatenates the encoder's feature map of
the same resolution, and applies two 3x3 convolutions again. A 1x1 convolution maps
the last features to one score (logit) per pixel and class.

Two departures from the paper, both common today (and explained where they happen):
the 3x3 convolutions use padding 1 (the paper's are unpadded, so its output is
smaller than its input and the skips must be cropped), and each is followed by
BatchNorm. Sizes that do not halve evenly (odd H or W) are handled: the upsampled
map is padded to the skip's size before the concatenation, so the output always has
the input's spatial size. Inputs smaller than 2**depth are refused with a ValueError.

Read the lesson in README.md beside this file. Run the hidden tests with
    uv run pytest exercises/07_unet
and train on generated scenes of noisy circles and squares with
    uv run python exercises/07_unet/unet.py            (or --data pets for Oxford-IIIT Pets)

Shapes: B batch, C channels, H x W pixels.
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
from kata.datasets import SEGMENTATION, load_data
from kata.training import fit


class DoubleConv(nn.Module):
    """(3x3 conv, padding 1 -> BatchNorm -> ReLU) twice: the unit of both paths.

    Attributes, in order: conv1, bn1, conv2, bn2 (nn.BatchNorm2d with PyTorch's defaults,
    eps 1e-5 and momentum 0.1; nn.Identity when batch_norm=False). Keeps H and W; maps
    in_channels to out_channels.
    """

    def __init__(self, in_channels: int, out_channels: int, *, batch_norm: bool = True) -> None:
        super().__init__()
        # TODO: create conv1 (in -> out) and conv2 (out -> out), both 3x3 with padding 1, and bn1, bn2
        raise NotImplementedError("DoubleConv.__init__(): create conv1 (in -> out) and conv2 (out -> out), both 3x3 with padding 1, and bn1, bn2")

    def forward(self, x: Tensor) -> Tensor:
        """x: (B, in_channels, H, W). Returns (B, out_channels, H, W)."""
        # TODO: apply conv1, bn1, ReLU, then conv2, bn2, ReLU
        raise NotImplementedError("DoubleConv.forward(): apply conv1, bn1, ReLU, then conv2, bn2, ReLU")


class Down(nn.Module):
    """One step down the contracting path: 2x2 max-pool (stride 2), then a DoubleConv.

    Attributes: pool (nn.MaxPool2d), conv (DoubleConv). Halves H and W (rounding
    down), maps in_channels to out_channels.
    """

    def __init__(self, in_channels: int, out_channels: int, *, batch_norm: bool = True) -> None:
        super().__init__()
        # TODO: create self.pool, a 2x2 max-pool with stride 2, and self.conv, a DoubleConv(in -> out)
        raise NotImplementedError("Down.__init__(): create self.pool, a 2x2 max-pool with stride 2, and self.conv, a DoubleConv(in -> out)")

    def forward(self, x: Tensor) -> Tensor:
        """x: (B, in_channels, H, W). Returns (B, out_channels, H // 2, W // 2)."""
        # TODO: pool, then the double convolution
        raise NotImplementedError("Down.forward(): pool, then the double convolution")


def pad_to_match(x: Tensor, reference: Tensor) -> Tensor:
    """Zero-pad (or crop) x around its centre to reference's H and W.

    x: (B, C, h, w); reference: (B, C', H, W). Returns (B, C, H, W). When the size
    differs by an odd number, the extra row (column) goes at the bottom (right):
    top = (H - h) // 2, bottom = (H - h) - top, and the same for left and right.
    A negative difference crops instead (F.pad accepts negative padding).
    """
    # TODO: F.pad x by (left, right, top, bottom), splitting each difference as d // 2 before, the rest after
    raise NotImplementedError("pad_to_match(): F.pad x by (left, right, top, bottom), splitting each difference as d // 2 before, the rest after")


class Up(nn.Module):
    """One step up the expansive path: up-convolve, concatenate the skip, DoubleConv.

    Attributes: up (nn.ConvTranspose2d, kernel 2, stride 2, in_channels ->
    in_channels // 2), conv (DoubleConv(in_channels -> out_channels)). The skip
    comes from the encoder level of the same resolution and has in_channels // 2
    channels, so the concatenation has in_channels channels again.
    """

    def __init__(self, in_channels: int, out_channels: int, *, batch_norm: bool = True) -> None:
        super().__init__()
        # TODO: create self.up, a 2x2 stride-2 ConvTranspose2d (in -> in // 2), and self.conv (in -> out)
        raise NotImplementedError("Up.__init__(): create self.up, a 2x2 stride-2 ConvTranspose2d (in -> in // 2), and self.conv (in -> out)")

    def forward(self, x: Tensor, skip: Tensor) -> Tensor:
        """x: (B, in_channels, h, w), skip: (B, in_channels // 2, H, W) with H in {2h, 2h + 1}.

        Returns (B, out_channels, H, W).
        """
        # TODO: upsample x, pad it to the skip's size, concatenate [skip, x] on the channels, apply self.conv
        raise NotImplementedError("Up.forward(): upsample x, pad it to the skip's size, concatenate [skip, x] on the channels, apply self.conv")


class UNet(nn.Module):
    """A U-Net of configurable depth (number of poolings) and width (channels at the top).

    Level i of the contracting path has width * 2**i channels. Attributes:
    inc (DoubleConv(in_channels -> width)), downs (nn.ModuleList of `depth` Down
    blocks), ups (nn.ModuleList of `depth` Up blocks, deepest first), head (1x1
    nn.Conv2d(width -> num_classes)). The paper's network is depth=4, width=64.
    """

    def __init__(self, in_channels: int = 1, num_classes: int = 1, *, depth: int = 4, width: int = 64,
                 batch_norm: bool = True) -> None:
        super().__init__()
        self.depth = depth
        # TODO: build inc, `depth` Downs (channels double), `depth` Ups (deepest first) and a 1x1 head
        raise NotImplementedError("UNet.__init__(): build inc, `depth` Downs (channels double), `depth` Ups (deepest first) and a 1x1 head")

    def forward(self, x: Tensor) -> Tensor:
        """x: (B, in_channels, H, W) with H, W >= 2**depth. Returns logits (B, num_classes, H, W)."""
        H, W = x.shape[-2:]
        if min(H, W) < 2**self.depth:
            raise ValueError(
                f"UNet(depth={self.depth}) needs inputs of at least {2**self.depth}x{2**self.depth} pixels "
                f"(each of the {self.depth} poolings halves the size), got {H}x{W}"
            )
        # TODO: run inc and the Downs keeping each output, then each Up with its level's skip, then the head
        raise NotImplementedError("UNet.forward(): run inc and the Downs keeping each output, then each Up with its level's skip, then the head")


def binarize(pred: Tensor, *, threshold: float = 0.5, from_logits: bool = True) -> Tensor:
    """Turn scores into a 0/1 mask: 1 where the probability is at least `threshold`.

    pred: any shape, logits (from_logits=True) or probabilities. threshold lies in (0, 1)
    for logits; probabilities take any value (0.0 marks every pixel). Returns a bool
    tensor; pred itself is left as it was.
    """
    # TODO: compare the probability with threshold; for logits, compare with the logit of threshold instead
    raise NotImplementedError("binarize(): compare the probability with threshold; for logits, compare with the logit of threshold instead")


def dice_score(pred: Tensor, target: Tensor, *, threshold: float = 0.5, from_logits: bool = True) -> Tensor:
    """Dice coefficient 2|P ∩ T| / (|P| + |T|) of binary masks, one value per image.

    pred: (B, 1, H, W) logits or probabilities, thresholded with binarize();
    target: (B, 1, H, W) of 0/1. Returns (B,) floats. An image where both masks are
    empty scores 1 (they agree perfectly).
    """
    # TODO: per image 2|P ∩ T| / (|P| + |T|) of the binarised masks, 1 where both are empty
    raise NotImplementedError("dice_score(): per image 2|P ∩ T| / (|P| + |T|) of the binarised masks, 1 where both are empty")


def iou_score(pred: Tensor, target: Tensor, *, threshold: float = 0.5, from_logits: bool = True) -> Tensor:
    """Intersection over union |P ∩ T| / |P ∪ T| of binary masks, one value per image.

    Same arguments as dice_score. Returns (B,) floats; 1 where both masks are empty.
    """
    # TODO: binarize pred, return inter / (|P| + |T| - inter) per image, 1 where both are empty
    raise NotImplementedError("iou_score(): binarize pred, return inter / (|P| + |T| - inter) per image, 1 where both are empty")


def soft_dice_loss(logits: Tensor, target: Tensor, *, eps: float = 1.0) -> Tensor:
    """1 - soft Dice, differentiable: probabilities instead of a thresholded mask.

    logits: (B, 1, H, W); target: (B, 1, H, W) of 0/1. Per image,
    dice = (2 Σ p t + eps) / (Σ p + Σ t + eps) with p = sigmoid(logits); returns the
    scalar mean over the batch of 1 - dice. eps keeps empty masks defined (dice 1);
    eps=0.0 is the plain soft Dice.
    """
    # TODO: per image dice = (2 Σ p t + eps) / (Σ p + Σ t + eps), p = sigmoid(logits); mean of 1 - dice
    raise NotImplementedError("soft_dice_loss(): per image dice = (2 Σ p t + eps) / (Σ p + Σ t + eps), p = sigmoid(logits); mean of 1 - dice")


def train_step(model: nn.Module, optimizer: torch.optim.Optimizer, batch: tuple[Tensor, Tensor]) -> float:
    """One update on a batch: images (B, C, H, W), masks (B, 1, H, W) of 0/1. Returns the batch's loss as a float.

    The loss is BCE with logits plus soft_dice_loss, both on the model's logits (B, 1, H, W).
    """
    images, masks = batch
    # TODO: zero the gradients, loss = BCE with logits + soft_dice_loss of model(images) against masks, backward, step, return loss.item()
    raise NotImplementedError("train_step(): zero the gradients, loss = BCE with logits + soft_dice_loss of model(images) against masks, backward, step, return loss.item()")


def train(model: nn.Module, images: Tensor, masks: Tensor, *, epochs: int = 10, lr: float = 0.01,
          batch_size: int = 32, seed: int = 0, log_every: int = 0,
          evaluate: Callable[[], dict[str, float]] | None = None) -> list[float]:
    """Adam on BCE-with-logits + soft Dice loss (train_step), in mini-batches shuffled from `seed`.

    images: (N, C, H, W); masks: (N, 1, H, W) of 0/1, on the model's device. Returns
    the mean loss of each epoch. log_every and evaluate go to kata.training.fit (a
    progress line every log_every epochs, with the metrics evaluate() returns).
    """
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    # The learning rate falls from lr to 0 along a cosine: the weights settle at the end, and
    # BatchNorm's running averages (what eval() uses) catch up with them.
    steps = epochs * math.ceil(len(images) / batch_size)  # the scheduler is stepped after every batch
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=steps)
    return fit(model, (images, masks), optimizer, train_step, epochs=epochs, batch_size=batch_size, seed=seed,
               scheduler=scheduler, log_every=log_every, evaluate=evaluate)


@torch.no_grad()
def evaluate(model: nn.Module, images: Tensor, masks: Tensor) -> tuple[float, float]:
    """Mean Dice and mean IoU of the model's masks over a data set, in eval mode."""
    model.eval()
    logits = torch.cat([model(images[i:i + 64]) for i in range(0, len(images), 64)])
    return dice_score(logits, masks).mean().item(), iou_score(logits, masks).mean().item()


def threshold_baseline(images: Tensor, masks: Tensor, test_images: Tensor, test_masks: Tensor) -> float:
    """Mean test IoU of the best single brightness threshold on the training images.

    What a network must beat: a rule that looks at one pixel at a time.
    """
    grey = images.mean(1, keepdim=True)  # (N, 1, H, W)
    candidates = torch.quantile(grey.flatten()[:100_000].float().cpu(), torch.linspace(0.05, 0.95, 37)).tolist()
    best = max(candidates, key=lambda c: iou_score(grey - c, masks, threshold=0.5).mean().item())
    return iou_score(test_images.mean(1, keepdim=True) - best, test_masks).mean().item()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Train a small U-Net to segment generated scenes or Oxford-IIIT Pets.")
    parser.add_argument("--data", choices=SEGMENTATION, default="segmentation",
                        help="segmentation: generated noisy circles and squares (default); pets: Oxford-IIIT Pet masks, "
                             "downloaded once into --root")
    parser.add_argument("--root", default="data", help="where real data sets are kept")
    parser.add_argument("--train-size", type=int, default=512)
    parser.add_argument("--test-size", type=int, default=256)
    parser.add_argument("--image-size", type=int, default=None,
                        help="image side in pixels (default 32 for segmentation, 64 for pets)")
    parser.add_argument("--depth", type=int, default=3)
    parser.add_argument("--width", type=int, default=16)
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--lr", type=float, default=0.01)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default=default_device())
    args = parser.parse_args(argv)

    torch.manual_seed(args.seed)
    try:
        data = load_data(args.data, train_size=args.train_size, test_size=args.test_size, seed=args.seed,
                         image_size=args.image_size, root=args.root)
    except (RuntimeError, ValueError) as exc:  # a real data set neither on disk nor downloadable; bad sizes
        print(f"error: {exc}", file=sys.stderr)
        return 1
    images, masks, test_images, test_masks = (t.to(args.device) for t in data)
    print(f"{args.data}: {len(images)} training and {len(test_images)} test images of {tuple(images.shape[1:])}")
    model = UNet(images.shape[1], 1, depth=args.depth, width=args.width).to(args.device)
    print(f"UNet(depth={args.depth}, width={args.width}): {sum(p.numel() for p in model.parameters()):,} parameters")

    def test_scores() -> dict[str, float]:
        dice, iou = evaluate(model, test_images, test_masks)
        return {"test dice": dice, "test IoU": iou}

    losses = train(model, images, masks, epochs=args.epochs, lr=args.lr, batch_size=args.batch_size, seed=args.seed,
                   log_every=1, evaluate=test_scores)
    dice, iou = evaluate(model, test_images, test_masks)
    baseline = threshold_baseline(images, masks, test_images, test_masks)
    print(f"test IoU {iou:.3f}; the best single brightness threshold reaches {baseline:.3f}")
    print(f"loss curve: {pictures.curve({'train': losses}, '07_loss.png', title=f'07 U-Net on {args.data}')}")
    with torch.no_grad():  # rows: 8 test images, the true masks, the predicted masks (logit > 0: p > 0.5)
        shown = test_images[:8]  # (8, C, H, W)
        predicted = (model(shown) > 0).float()  # (8, 1, H, W)
    low, high = shown.amin(), shown.amax()
    rows = [(shown - low) / (high - low + 1e-12), test_masks[:8].float(), predicted]
    rows = torch.cat([row.expand(-1, shown.shape[1], -1, -1) for row in rows])  # (24, C, H, W)
    print(f"test images, true masks, predicted masks: {pictures.grid(rows, '07_masks.png', nrow=len(shown))}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
