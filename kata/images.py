"""Generated image data sets for stage 2 (images): deterministic per seed.

`shapes` draws one of ten shapes at a random position, size and colour, so a
classifier must recognise a pattern wherever it appears; `segmentation` draws noisy
scenes of circles and squares with their pixel masks. Both use their own
`torch.Generator` (see kata.common.rng) and return float32 tensors on the CPU.
Shapes: n images of S x S pixels, S = image_size.
"""

from __future__ import annotations

import torch
from torch import Tensor

from kata.common import rng

SHAPE_NAMES = (
    "disk", "ring", "square", "frame", "plus", "cross", "h-bar", "v-bar", "triangle", "diamond",
)


def _shape_masks(labels: Tensor, dr: Tensor, dc: Tensor, radius: Tensor) -> Tensor:
    """Boolean masks (n, H, W) of each sample's shape, from offsets to its centre."""
    r = radius[:, None, None]  # (n, 1, 1)
    w = (r / 3).clamp(min=1.0)  # stroke width
    ar, ac = dr.abs(), dc.abs()
    dist = (dr**2 + dc**2).sqrt()
    box = torch.maximum(ar, ac)
    masks = torch.stack([
        dist <= r,                                              # disk
        (dist - r * 0.8).abs() <= w * 0.6,                      # ring
        box <= r * 0.85,                                        # square
        (box - r * 0.8).abs() <= w * 0.6,                       # frame
        ((ar <= w / 2) & (ac <= r)) | ((ac <= w / 2) & (ar <= r)),  # plus
        (((dr - dc).abs() <= w * 0.7) | ((dr + dc).abs() <= w * 0.7)) & (box <= r * 0.8),  # cross
        (ar <= w / 2) & (ac <= r),                              # horizontal bar
        (ac <= w / 2) & (ar <= r),                              # vertical bar
        (dr <= r * 0.8) & (dr >= -r * 0.8) & (ac <= (dr + r * 0.8) * 0.6),  # triangle
        ar + ac <= r,                                           # diamond
    ])  # (10, n, H, W)
    return masks[labels, torch.arange(len(labels))]  # (n, H, W)


def shapes(n: int, *, image_size: int = 28, channels: int = 1, num_classes: int = 10, seed: int = 0,
           split: str = "train", noise_std: float = 0.1) -> tuple[Tensor, Tensor]:
    """Images of one of `num_classes` shapes (SHAPE_NAMES) anywhere in the frame.

    Returns images (n, channels, image_size, image_size) in [0, 1] and labels (n,) int64.
    Grey (channels=1, 28x28 like MNIST) or colour (channels=3, 32x32 like CIFAR-10):
    in colour, foreground and background get random colours, so only the shape
    tells the class.
    """
    if not 2 <= num_classes <= len(SHAPE_NAMES):
        raise ValueError(f"num_classes must be between 2 and {len(SHAPE_NAMES)}, got {num_classes}")
    g = rng(seed, split)
    labels = torch.randint(0, num_classes, (n,), generator=g)  # (n,)
    radius = image_size * (0.18 + 0.12 * torch.rand(n, generator=g))  # (n,)
    centre = radius[:, None] + torch.rand(n, 2, generator=g) * (image_size - 1 - 2 * radius[:, None])  # (n, 2)
    coords = torch.arange(image_size, dtype=torch.float32)
    dr = coords[None, :, None] - centre[:, 0, None, None]  # (n, S, 1)
    dc = coords[None, None, :] - centre[:, 1, None, None]  # (n, 1, S)
    dr, dc = torch.broadcast_tensors(dr, dc)  # (n, S, S)
    mask = _shape_masks(labels, dr, dc, radius).float()[:, None]  # (n, 1, S, S)
    if channels == 1:
        fg = 0.7 + 0.3 * torch.rand(n, 1, 1, 1, generator=g)
        bg = 0.2 * torch.rand(n, 1, 1, 1, generator=g)
    else:
        fg = torch.rand(n, channels, 1, 1, generator=g)
        bg = torch.rand(n, channels, 1, 1, generator=g)
        # Keep foreground and background apart in brightness, so every shape is visible.
        fg = torch.where(fg.mean(1, keepdim=True) > bg.mean(1, keepdim=True), fg, 1 - fg)
        bg = bg * 0.5
    images = bg + (fg - bg) * mask + noise_std * torch.randn(n, channels, image_size, image_size, generator=g)
    return images.clamp(0, 1), labels


def segmentation(n: int, *, image_size: int = 32, seed: int = 0, split: str = "train", noise_std: float = 0.6,
                 max_objects: int = 3) -> tuple[Tensor, Tensor]:
    """Noisy scenes of 1 to `max_objects` circles and squares, with their masks.

    Returns images (n, 1, image_size, image_size) and masks (n, 1, image_size, image_size) of 0.0/1.0.
    Objects are 0.6 brighter than the background, under an uneven illumination and
    Gaussian noise of standard deviation `noise_std`, so one pixel alone says little: a
    per-pixel threshold does badly where a network that looks at neighbourhoods does well.
    """
    g = rng(seed, split)
    coords = torch.arange(image_size, dtype=torch.float32)
    masks = torch.zeros(n, image_size, image_size, dtype=torch.bool)
    count = torch.randint(1, max_objects + 1, (n,), generator=g)
    for k in range(max_objects):
        radius = image_size * (0.08 + 0.1 * torch.rand(n, generator=g))  # (n,)
        centre = radius[:, None] + torch.rand(n, 2, generator=g) * (image_size - 1 - 2 * radius[:, None])
        dr = (coords[None, :, None] - centre[:, 0, None, None]).expand(n, image_size, image_size)
        dc = (coords[None, None, :] - centre[:, 1, None, None]).expand(n, image_size, image_size)
        is_square = torch.rand(n, generator=g) < 0.5
        r = radius[:, None, None]
        circle = dr**2 + dc**2 <= r**2
        square = torch.maximum(dr.abs(), dc.abs()) <= r * 0.85
        shape = torch.where(is_square[:, None, None], square, circle)  # (n, S, S)
        masks |= shape & (k < count)[:, None, None]
    # A smooth illumination ramp in a random direction, up to +-0.3 across the image.
    slope = (torch.rand(n, 2, generator=g) - 0.5) * 0.6 / image_size
    ramp = slope[:, 0, None, None] * (coords[None, :, None] - image_size / 2) + slope[:, 1, None, None] * (
        coords[None, None, :] - image_size / 2
    )  # (n, S, S)
    images = 0.6 * masks.float() + ramp + noise_std * torch.randn(n, image_size, image_size, generator=g)
    return images[:, None], masks.float()[:, None]  # (n, 1, S, S) each
