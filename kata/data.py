"""Generated data sets for stage 1 (foundations): deterministic per seed.

Every generator draws only from its own `torch.Generator`, so a learner's extra
calls to `torch.rand` cannot change the data, and the same seed always gives the
same tensors. `split="train"` and `split="test"` are independent samples of the
same distribution (the same blobs, the same subspace). Everything is float32 on the CPU; move it with `.to(device)`.
Images are S x S pixels, S = image_size.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from kata.common import rng


def two_blobs(n: int, *, seed: int = 0, split: str = "train", distance: float = 4.0) -> tuple[Tensor, Tensor]:
    """Two 2-D Gaussian blobs for binary classification.

    Returns X (n, 2) and y (n,) with values 0.0 or 1.0 (float, as BCE wants).
    The centres are `distance` apart along a random direction; each blob has unit
    variance, so the best linear classifier errs on about Φ(-distance/2) of points.
    """
    fixed, g = rng(seed), rng(seed, split)
    angle = torch.rand(1, generator=fixed) * 2 * math.pi
    direction = torch.cat([angle.cos(), angle.sin()])  # (2,)
    centre = torch.randn(2, generator=fixed)
    y = (torch.rand(n, generator=g) < 0.5).float()  # (n,)
    X = torch.randn(n, 2, generator=g) + centre + (y[:, None] - 0.5) * distance * direction  # (n, 2)
    return X, y


def rings(n: int, *, num_classes: int = 3, seed: int = 0, split: str = "train", noise_std: float = 0.08) -> tuple[Tensor, Tensor]:
    """Concentric rings, one class per ring: no straight line separates them.

    Returns X (n, 2) and y (n,) int64 in [0, num_classes). Ring k has radius k + 1
    (scaled so the outer ring has radius 1) and radial Gaussian noise of standard deviation `noise_std`.
    """
    g = rng(seed, split)
    y = torch.randint(0, num_classes, (n,), generator=g)  # (n,)
    radius = (y.float() + 1) / num_classes + noise_std * torch.randn(n, generator=g)
    angle = torch.rand(n, generator=g) * 2 * math.pi
    X = torch.stack([radius * angle.cos(), radius * angle.sin()], dim=1)  # (n, 2)
    return X, y


def wave(n: int, *, seed: int = 0, split: str = "train", noise_std: float = 0.05) -> tuple[Tensor, Tensor]:
    """A 1-D regression problem: y = sin(2x) + x/2 + Gaussian noise of standard deviation `noise_std`, x in [-2, 2].

    Returns X (n, 1) and y (n, 1).
    """
    g = rng(seed, split)
    X = torch.rand(n, 1, generator=g) * 4 - 2  # (n, 1)
    y = torch.sin(2 * X) + X / 2 + noise_std * torch.randn(n, 1, generator=g)  # (n, 1)
    return X, y


def low_rank(n: int, *, dim: int = 20, rank: int = 3, seed: int = 0, split: str = "train", noise_std: float = 0.05) -> Tensor:
    """Points near a random `rank`-dimensional subspace of R^dim, centred at a random mean.

    Returns X (n, dim). PCA with `rank` components explains all but the noise.
    """
    fixed, g = rng(seed), rng(seed, split)
    basis = torch.linalg.qr(torch.randn(dim, rank, generator=fixed))[0]  # (dim, rank), orthonormal columns
    mean = torch.randn(dim, generator=fixed)
    scales = torch.linspace(3.0, 1.0, rank)  # distinct variances, so the components are well defined
    codes = torch.randn(n, rank, generator=g) * scales  # (n, rank)
    return codes @ basis.T + mean + noise_std * torch.randn(n, dim, generator=g)  # (n, dim)


def blob_images(n: int, *, image_size: int = 16, seed: int = 0, split: str = "train", width: float = 1.5) -> tuple[Tensor, Tensor]:
    """Images of one Gaussian blob at a random position: 2 numbers explain each image.

    Returns images (n, 1, image_size, image_size) with values in [0, 1] and the blob centres
    (n, 2) in pixels (row, column). A linear method needs many components for them;
    a nonlinear autoencoder with a 2-D code can learn the position itself.
    """
    g = rng(seed, split)
    centres = 2 + torch.rand(n, 2, generator=g) * (image_size - 5)  # (n, 2), away from the border
    coords = torch.arange(image_size, dtype=torch.float32)
    dr = coords[None, :, None] - centres[:, 0, None, None]  # (n, S, 1)
    dc = coords[None, None, :] - centres[:, 1, None, None]  # (n, 1, S)
    images = torch.exp(-(dr**2 + dc**2) / (2 * width**2))  # (n, S, S)
    return images[:, None], centres


def square_images(n: int, *, image_size: int = 16, seed: int = 0, split: str = "train") -> Tensor:
    """Images of a hollow square at a random position: anomalies for a blob autoencoder.

    Returns images (n, 1, image_size, image_size) with values in [0, 1].
    """
    g = rng(seed, split)
    side = torch.randint(4, 8, (n,), generator=g)
    top = (torch.rand(n, generator=g) * (image_size - side)).long()
    left = (torch.rand(n, generator=g) * (image_size - side)).long()
    coords = torch.arange(image_size)
    rows = (coords[None] >= top[:, None]) & (coords[None] < (top + side)[:, None])  # (n, S)
    cols = (coords[None] >= left[:, None]) & (coords[None] < (left + side)[:, None])  # (n, S)
    inner_r = (coords[None] > top[:, None]) & (coords[None] < (top + side - 1)[:, None])
    inner_c = (coords[None] > left[:, None]) & (coords[None] < (left + side - 1)[:, None])
    outer = rows[:, :, None] & cols[:, None, :]  # (n, S, S)
    inner = inner_r[:, :, None] & inner_c[:, None, :]
    return (outer & ~inner).float()[:, None]  # (n, 1, S, S)


def ring_of_gaussians(n: int, *, modes: int = 8, radius: float = 2.0, noise_std: float = 0.02, seed: int = 0,
                      split: str = "train") -> tuple[Tensor, Tensor]:
    """Points from `modes` small Gaussians evenly spaced on a circle: the classic test of a GAN's mode coverage.

    Returns X (n, 2) and y (n,) int64, each point's mode in [0, modes). Mode k sits at
    radius * (cos 2πk/modes, sin 2πk/modes), modes are equally likely, and each has
    standard deviation `noise_std` in both directions. The layout is fixed (the same for
    every seed, so `ring_centres` gives it); the seed draws only the points.
    """
    if modes < 1 or noise_std < 0:
        raise ValueError(f"modes must be >= 1 and noise_std >= 0, got modes={modes}, noise_std={noise_std}")
    g = rng(seed, split)
    y = torch.randint(0, modes, (n,), generator=g)  # (n,)
    X = ring_centres(modes, radius)[y] + noise_std * torch.randn(n, 2, generator=g)  # (n, 2)
    return X, y


def ring_centres(modes: int = 8, radius: float = 2.0) -> Tensor:
    """The centres (modes, 2) of ring_of_gaussians' modes, mode k at angle 2πk/modes."""
    angle = torch.arange(modes, dtype=torch.float32) * (2 * math.pi / modes)  # (modes,)
    return radius * torch.stack([angle.cos(), angle.sin()], dim=1)  # (modes, 2)
