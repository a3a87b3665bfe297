"""Pictures a topic's `main()` saves, for a learner who would rather look than read.

Every picture goes to `pictures/` in the project folder (ignored by git) under a stable
name that starts with the topic's number, so the next run replaces it; each function
returns the path for `main()` to print.

    from kata import pictures
    print("reconstructions:", pictures.grid(images, "03_reconstructions.png"))  # (N, C, H, W) in [0, 1]
    print("embedding:", pictures.scatter(points, "18_embedding.png", groups=labels))  # (N, 2)
    print("loss:", pictures.curve({"train": losses}, "03_loss.png"))  # one value per step or epoch

Image grids are torchvision's `save_image`; scatter plots and curves are drawn with
Pillow (torchvision's own dependency, so nothing is added to the install): no plotting
library.
"""

from __future__ import annotations

import os
import struct
import zlib
from collections.abc import Mapping, Sequence
from pathlib import Path

from torch import Tensor

FOLDER = Path(__file__).resolve().parent.parent / "pictures"
# Distinct colours for groups and curves, repeated past ten: the tab10 palette.
PALETTE = ((31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189),
           (140, 86, 75), (227, 119, 194), (127, 127, 127), (188, 189, 34), (23, 190, 207))
GREY, BLACK = (170, 170, 170), (0, 0, 0)
Extent = tuple[float, float, float, float]  # x_min, x_max, y_min, y_max


def folder() -> Path:
    """Where pictures go: $KATA_PICTURES when it is set (every test session sets it to a temporary
    folder, so that no test writes into the learner's pictures/), else FOLDER."""
    return Path(os.environ["KATA_PICTURES"]) if os.environ.get("KATA_PICTURES") else FOLDER


def path(name: str) -> Path:
    """<folder>/<name>, the folder made if needed. A name is a file name, never a path."""
    if Path(name).name != name or not name.endswith(".png"):
        raise ValueError(f"a picture's name is a file name ending in .png, got {name!r}")
    where = folder()
    where.mkdir(parents=True, exist_ok=True)
    return where / name


def grid(images: Tensor, name: str, *, nrow: int = 8, value_range: tuple[float, float] = (0.0, 1.0),
         min_size: int = 64) -> Path:
    """Images (N, C, H, W) with values in `value_range` (a Tanh generator's: (-1, 1)) as one grid.

    Small images are enlarged (each pixel a square) to at least `min_size` pixels a side, to be seen.
    """
    import torch.nn.functional as F
    from torchvision.utils import save_image

    out = path(name)
    low, high = value_range
    images = ((images.detach().float().cpu() - low) / (high - low)).clamp(0, 1)  # (N, C, H, W) in [0, 1]
    scale = max(1, -(-min_size // max(images.shape[-2:])))
    if scale > 1:
        images = F.interpolate(images, scale_factor=scale, mode="nearest")
    save_image(images, out, nrow=nrow, padding=2, pad_value=1.0)
    return out


class _Frame:
    """A white picture with a plotting area inside a margin, mapping data (x, y) to pixels."""

    def __init__(self, width: int, height: int, extent: Extent, title: str | None, margin: int = 8):
        from PIL import Image, ImageDraw, ImageFont

        self.image = Image.new("RGB", (width, height), "white")
        self.draw = ImageDraw.Draw(self.image)
        self.font = ImageFont.load_default()
        top = margin + (14 if title else 0)
        self.box = (margin, top, width - 1 - margin, height - 1 - margin)  # left, top, right, bottom
        x0, x1, y0, y1 = extent
        self.extent = (x0, x1 if x1 > x0 else x0 + 1.0, y0, y1 if y1 > y0 else y0 + 1.0)
        if title:
            self.draw.text((margin, 2), title, fill=BLACK, font=self.font)

    def pixel(self, x: float, y: float) -> tuple[float, float]:
        x0, x1, y0, y1 = self.extent
        left, top, right, bottom = self.box
        return left + (x - x0) / (x1 - x0) * (right - left), bottom - (y - y0) / (y1 - y0) * (bottom - top)

    def save(self, name: str) -> Path:
        out = path(name)
        self.image.save(out)
        return out


def _extent(xs: Sequence[float], ys: Sequence[float]) -> Extent:
    return (min(xs, default=0.0), max(xs, default=1.0), min(ys, default=0.0), max(ys, default=1.0))


def scatter(points: Tensor, name: str, *, groups: Tensor | Sequence[int] | None = None,
            labels: Sequence[str] | None = None, legend: Sequence[str] | None = None, title: str | None = None,
            extent: Extent | None = None, size: int = 400, dot: int = 2) -> Path:
    """Points (N, 2) as dots, coloured by `groups` (N,) ints, each written beside its dot when `labels`
    (N strings) are given; `legend[g]` names group g. `extent` fixes the axes, so pictures of several
    runs compare (points outside it are left out); by default the points' own range."""
    xy = points.detach().float().cpu().tolist()
    group = [0] * len(xy) if groups is None else [int(g) for g in (groups.tolist() if isinstance(groups, Tensor)
                                                                   else groups)]
    frame = _Frame(size, size, extent or _extent([p[0] for p in xy], [p[1] for p in xy]), title, margin=dot + 8)
    left, top, right, bottom = frame.box
    for i, (x, y) in enumerate(xy):
        px, py = frame.pixel(x, y)
        if left - 0.5 <= px <= right + 0.5 and top - 0.5 <= py <= bottom + 0.5:
            colour = PALETTE[group[i] % len(PALETTE)]
            frame.draw.ellipse((px - dot, py - dot, px + dot, py + dot), fill=colour)
            if labels is not None:
                frame.draw.text((px + dot + 2, py - 6), labels[i], fill=colour, font=frame.font)
    for g, text in enumerate(legend or ()):
        frame.draw.text((right - 8 * max(len(t) for t in legend), top + 12 * g), text,
                        fill=PALETTE[g % len(PALETTE)], font=frame.font)
    return frame.save(name)


def curve(series: Sequence[float] | Tensor | Mapping[str, Sequence[float] | Tensor], name: str, *,
          title: str | None = None, xlabel: str = "epoch", width: int = 480, height: int = 240) -> Path:
    """One line per series (a loss per step or epoch), left to right, with the y range and a legend.

    A plain sequence is one series; a mapping draws each, named in the legend, in its own colour.
    """
    named = dict(series) if isinstance(series, Mapping) else {"": series}
    lines = {key: [float(v) for v in (values.detach().flatten().tolist() if isinstance(values, Tensor)
                                      else values)] for key, values in named.items()}
    if not lines or any(not values for values in lines.values()):
        raise ValueError("a curve needs at least one value in each series")
    ys = [v for values in lines.values() for v in values]
    longest = max(len(values) for values in lines.values())
    frame = _Frame(width, height, (0.0, max(longest - 1, 1), min(ys), max(ys)), title, margin=10)
    left, top, right, bottom = frame.box
    frame.draw.line([(left, top), (left, bottom), (right, bottom)], fill=GREY)
    frame.draw.text((left + 3, top), f"{max(ys):.4g}", fill=GREY, font=frame.font)
    frame.draw.text((left + 3, bottom - 12), f"{min(ys):.4g}", fill=GREY, font=frame.font)
    frame.draw.text((right - 6 * len(f"{xlabel} {longest}"), bottom - 12), f"{xlabel} {longest}", fill=GREY,
                    font=frame.font)
    for i, (key, values) in enumerate(lines.items()):
        colour = PALETTE[i % len(PALETTE)]
        points = [frame.pixel(x, y) for x, y in enumerate(values)]
        if len(points) == 1:
            frame.draw.ellipse((points[0][0] - 2, points[0][1] - 2, points[0][0] + 2, points[0][1] + 2), fill=colour)
        else:
            frame.draw.line(points, fill=colour, width=2)
        if key:
            frame.draw.text((right - 7 * max(len(k) for k in lines), top + 12 * i), key, fill=colour, font=frame.font)
    return frame.save(name)


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
