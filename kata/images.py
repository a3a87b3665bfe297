"""Generated image data sets for stage 2 (images): deterministic per seed.

`shapes` draws one of ten shapes at a random position, size and colour, so a
classifier must recognise a pattern wherever it appears; `segmentation` draws noisy
scenes of circles and squares with their pixel masks. Both use their own
`torch.Generator` (see kata.common.rng) and return float32 tensors on the CPU.
Shapes: n images of S x S pixels, S = image_size.
"""

from __future__ import annotations

from collections.abc import Sequence

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


def _glyph_strokes(seed: int, label: int, strokes: int) -> Tensor:
    """The strokes of glyph class `label`: (strokes, 2, 2), each stroke's two end points (row, col) in the
    frame's [0, 1] coordinates, 0.3-0.6 long. From the class's own generator: the same glyph in every split.
    """
    g = rng(seed + 1_000_003 * (3 + label))  # past rng's split offsets (1 and 2 times 1_000_003)
    start = 0.2 + 0.6 * torch.rand(strokes, 2, generator=g)  # (strokes, 2)
    angle = 2 * torch.pi * torch.rand(strokes, generator=g)  # (strokes,)
    length = 0.3 + 0.3 * torch.rand(strokes, 1, generator=g)  # (strokes, 1)
    end = (start + length * torch.stack([angle.sin(), angle.cos()], -1)).clamp(0.1, 0.9)  # (strokes, 2)
    return torch.stack([start, end], dim=1)  # (strokes, 2, 2)


def glyphs(n: int, *, classes: range | Sequence[int] = range(10), image_size: int = 20, strokes: int = 3,
           seed: int = 0, split: str = "train", noise_std: float = 0.1) -> tuple[Tensor, Tensor]:
    """Hand-drawn-looking glyphs: each class a pattern of `strokes` line strokes, each image a jittered copy.

    A class's strokes come from (seed, class) alone, so classes 0..9 are the same glyphs in the
    "train" and "test" splits, and classes 10..19 are glyphs no model trained on 0..9 has seen:
    what a Siamese network is tested on (Omniglot's background and evaluation alphabets, in small).
    Each image draws its class's strokes rotated (up to +-15 degrees), scaled (0.85-1.15), shifted
    (up to +-15% of the frame), with each end point moved a little, a stroke width of 1-2 pixels,
    and Gaussian noise of `noise_std`: raw pixels of two copies of one glyph differ a lot.

    Returns images (n, 1, image_size, image_size) in [0, 1] (strokes bright on a dark background)
    and labels (n,) int64, drawn uniformly from `classes`.
    """
    classes = torch.as_tensor(list(classes), dtype=torch.int64)
    if len(classes) < 1 or strokes < 1:
        raise ValueError(f"glyphs needs at least one class and one stroke, got {len(classes)} classes and "
                         f"{strokes} strokes")
    g = rng(seed, split)
    pick = torch.randint(0, len(classes), (n,), generator=g)  # (n,)
    table = torch.stack([_glyph_strokes(seed, int(k), strokes) for k in classes])  # (K, strokes, 2, 2)
    ends = table[pick] - 0.5  # (n, strokes, 2, 2), about the frame's centre
    angle = (torch.rand(n, generator=g) - 0.5) * (torch.pi / 6)  # (n,) +-15 degrees
    scale = 0.85 + 0.3 * torch.rand(n, generator=g)  # (n,)
    shift = (torch.rand(n, 2, generator=g) - 0.5) * 0.3  # (n, 2)
    cos, sin = angle.cos() * scale, angle.sin() * scale
    turn = torch.stack([torch.stack([cos, -sin], -1), torch.stack([sin, cos], -1)], -2)  # (n, 2, 2)
    ends = torch.einsum("nij,nsej->nsei", turn, ends) + shift[:, None, None]  # (n, strokes, 2, 2)
    ends = ends + 0.03 * torch.randn(ends.shape, generator=g)  # each end point moves a little
    ends = (ends + 0.5) * (image_size - 1)  # in pixels
    width = 0.5 + 0.5 * torch.rand(n, 1, 1, 1, generator=g)  # (n, 1, 1, 1) half the stroke width
    coords = torch.arange(image_size, dtype=torch.float32)
    pixel = torch.stack(torch.meshgrid(coords, coords, indexing="ij"), -1)  # (S, S, 2) (row, col)
    a, b = ends[:, :, None, None, 0], ends[:, :, None, None, 1]  # (n, strokes, 1, 1, 2) each
    ab = b - a
    t = (((pixel - a) * ab).sum(-1) / (ab * ab).sum(-1).clamp(min=1e-6)).clamp(0, 1)  # (n, strokes, S, S)
    dist = (pixel - (a + t[..., None] * ab)).norm(dim=-1)  # (n, strokes, S, S): to the nearest point of each stroke
    ink = (width + 0.5 - dist.min(1).values[:, None]).clamp(0, 1)  # (n, 1, S, S): anti-aliased strokes
    images = ink + noise_std * torch.randn(n, 1, image_size, image_size, generator=g)
    return images.clamp(0, 1), classes[pick]
