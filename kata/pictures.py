"""Pictures a topic's `main()` saves, for a learner who would rather look than read.

Every picture goes to `pictures/` in the project folder (ignored by git) under a stable
name, so the next run replaces it; each function returns the path for `main()` to print.

    from kata import pictures
    print("reconstructions:", pictures.grid(images, "03_reconstructions.png"))  # (N, C, H, W) in [0, 1]
    print("embedding:", pictures.scatter(points, "18_embedding.png", groups=labels))  # (N, 2)
    print("loss:", pictures.curve(losses, "03_loss.png"))  # one value per step or epoch

Image grids are torchvision's `save_image`; scatter plots and curves are drawn into a
uint8 image here and written with Pillow (torchvision's own dependency): no plotting library.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Sequence
from pathlib import Path

import torch
from torch import Tensor

FOLDER = Path(__file__).resolve().parent.parent / "pictures"
# Distinct colours for groups (RGB), repeated past ten: the tab10 palette.
PALETTE = torch.tensor([[31, 119, 180], [255, 127, 14], [44, 160, 44], [214, 39, 40], [148, 103, 189],
                        [140, 86, 75], [227, 119, 194], [127, 127, 127], [188, 189, 34], [23, 190, 207]],
                       dtype=torch.uint8)


def path(name: str) -> Path:
    """pictures/<name>, the folder made if needed. A name is a file name, never a path."""
    if Path(name).name != name or not name.endswith(".png"):
        raise ValueError(f"a picture's name is a file name ending in .png, got {name!r}")
    FOLDER.mkdir(exist_ok=True)
    return FOLDER / name


def grid(images: Tensor, name: str, *, nrow: int = 8, value_range: tuple[float, float] = (0.0, 1.0)) -> Path:
    """Images (N, C, H, W) with values in `value_range` (a Tanh generator's: (-1, 1)) as one grid."""
    from torchvision.utils import save_image

    out = path(name)
    low, high = value_range
    save_image(((images.detach().float().cpu() - low) / (high - low)).clamp(0, 1), out, nrow=nrow, padding=2,
               pad_value=1.0)
    return out


def _canvas(width: int, height: int) -> Tensor:
    return torch.full((3, height, width), 255, dtype=torch.uint8)  # (3, H, W) white


def _to_pixels(points: Tensor, width: int, height: int, extent: tuple[float, float, float, float] | None,
               margin: int) -> tuple[Tensor, Tensor]:
    x, y = points[:, 0].double(), points[:, 1].double()
    x0, x1, y0, y1 = extent if extent is not None else (x.min().item(), x.max().item(), y.min().item(), y.max().item())
    span_x, span_y = max(x1 - x0, 1e-12), max(y1 - y0, 1e-12)
    col = margin + (x - x0) / span_x * (width - 1 - 2 * margin)
    row = height - 1 - margin - (y - y0) / span_y * (height - 1 - 2 * margin)  # y grows upwards
    return col.round().long(), row.round().long()


def _write(image: Tensor, name: str) -> Path:
    from PIL import Image  # comes with torchvision

    out = path(name)
    Image.fromarray(image.permute(1, 2, 0).contiguous().numpy()).save(out)
    return out


def scatter(points: Tensor, name: str, *, groups: Tensor | None = None, size: int = 320, dot: int = 2,
            extent: tuple[float, float, float, float] | None = None) -> Path:
    """Points (N, 2) as dots on a square white picture, coloured by `groups` (N,) ints when given.

    `extent` (x_min, x_max, y_min, y_max) fixes the axes, so pictures from several runs compare;
    by default the points' own range. Points outside the extent are left out.
    """
    points = points.detach().float().cpu()
    image = _canvas(size, size)
    col, row = _to_pixels(points, size, size, extent, margin=dot + 2)
    colours = PALETTE[(groups.cpu().long() % len(PALETTE))] if groups is not None else \
        PALETTE[:1].expand(len(points), 3)  # (N, 3)
    for dr in range(-dot, dot + 1):
        for dc in range(-dot, dot + 1):
            r, c = row + dr, col + dc
            inside = (r >= 0) & (r < size) & (c >= 0) & (c < size)
            image[:, r[inside], c[inside]] = colours[inside].T
    return _write(image, name)


def curve(values: Sequence[float] | Tensor, name: str, *, width: int = 400, height: int = 200) -> Path:
    """A line through the values (a loss per step or epoch), left to right, on a white picture."""
    y = torch.as_tensor(values, dtype=torch.float64).flatten().cpu()
    if len(y) == 0:
        raise ValueError("a curve needs at least one value")
    image = _canvas(width, height)
    image[:, height - 3, 2:width - 2] = 160  # the x axis
    image[:, 2:height - 2, 2] = 160  # the y axis
    t = torch.linspace(0, len(y) - 1, max(width * 2, len(y)), dtype=torch.float64)  # join the values densely
    left = t.floor().long().clamp(max=max(len(y) - 2, 0))
    right = (left + 1).clamp(max=len(y) - 1)
    frac = t - left
    dense = torch.stack([t, y[left] * (1 - frac) + y[right] * frac], 1)  # (steps, 2)
    col, row = _to_pixels(dense, width, height, None, margin=6)
    for dr in (0, 1):
        image[:, (row + dr).clamp(0, height - 1), col] = PALETTE[0][:, None]
    return _write(image, name)


def png_size(file: Path | str) -> tuple[int, int]:
    """(width, height) of a PNG, after checking its signature and that its data decompress: for tests."""
    data = Path(file).read_bytes()
    if data[:8] != b"\x89PNG\r\n\x1a\n" or data[12:16] != b"IHDR":
        raise ValueError(f"{file} is not a PNG")
    width, height = struct.unpack(">II", data[16:24])
    chunks, at = [], 8
    while at < len(data):
        (length,), kind = struct.unpack(">I", data[at:at + 4]), data[at + 4:at + 8]
        if kind == b"IDAT":
            chunks.append(data[at + 8:at + 8 + length])
        at += 12 + length
    zlib.decompress(b"".join(chunks))  # raises on a truncated or corrupt file
    return width, height


def is_blank(file: Path | str) -> bool:
    """True when every pixel of the PNG has one colour: for tests."""
    from PIL import Image

    with Image.open(file) as image:
        return all(low == high for low, high in image.convert("RGB").getextrema())
