"""kata.data.ring_of_gaussians: topic 19's points, deterministic per seed, on the modes ring_centres gives."""

import math

import pytest
import torch

from kata.data import ring_centres, ring_of_gaussians


def test_points_sit_on_their_modes_with_the_asked_spread():
    X, y = ring_of_gaussians(4000, modes=6, radius=3.0, noise_std=0.1, seed=1)
    assert X.shape == (4000, 2) and X.dtype == torch.float32 and y.shape == (4000,) and y.dtype == torch.int64
    centres = ring_centres(6, 3.0)
    assert torch.allclose(centres.norm(dim=1), torch.full((6,), 3.0))
    assert torch.allclose(centres[1], torch.tensor([3 * math.cos(math.pi / 3), 3 * math.sin(math.pi / 3)]))
    offsets = X - centres[y]
    assert abs(offsets.std().item() - 0.1) < 0.005 and offsets.mean(0).abs().max() < 0.01
    counts = torch.bincount(y, minlength=6)
    assert counts.min() > 4000 / 6 * 0.85  # modes equally likely
    assert (torch.cdist(X, centres).argmin(1) == y).all()  # well apart: every point is nearest its own mode


def test_same_seed_same_points_and_splits_differ():
    a, _ = ring_of_gaussians(50, seed=3)
    b, _ = ring_of_gaussians(50, seed=3)
    c, _ = ring_of_gaussians(50, seed=3, split="test")
    torch.manual_seed(0)
    d, _ = ring_of_gaussians(50, seed=3)
    assert torch.equal(a, b) and torch.equal(a, d) and not torch.equal(a, c)
    X, _ = ring_of_gaussians(10, noise_std=0.0)
    assert torch.allclose(X.norm(dim=1), torch.full((10,), 2.0))


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match="modes"):
        ring_of_gaussians(5, modes=0)
    with pytest.raises(ValueError, match="noise_std"):
        ring_of_gaussians(5, noise_std=-1.0)
