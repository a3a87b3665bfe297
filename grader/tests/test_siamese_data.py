"""The data of topic 18: kata.images.glyphs (classes that stay the same across splits and calls,
distinct from one another) and kata.datasets.load_omniglot (offline: a stand-in for torchvision's
class, and the real class with no files on disk)."""

from __future__ import annotations

import pytest
import torch

from kata import datasets
from kata.images import _glyph_strokes, glyphs


def test_glyphs_are_deterministic_per_seed_and_split():
    X, y = glyphs(50, classes=range(5), seed=3)
    X2, y2 = glyphs(50, classes=range(5), seed=3)
    assert torch.equal(X, X2) and torch.equal(y, y2)
    X3, _ = glyphs(50, classes=range(5), seed=3, split="test")
    assert not torch.equal(X, X3)
    assert X.shape == (50, 1, 20, 20) and X.dtype == torch.float32 and y.dtype == torch.int64
    assert 0 <= X.min() and X.max() <= 1 and set(y.tolist()) <= set(range(5))


def test_a_glyph_class_is_the_same_in_every_split_and_call_and_classes_differ():
    # Without noise or jitter a class's mean image is its strokes: compare classes by their means.
    def means(classes, split, n=400):
        X, y = glyphs(n, classes=classes, seed=0, split=split, noise_std=0.0)
        return {k: X[y == k].mean(0) for k in classes}

    train, test = means(range(10), "train"), means(range(5, 15), "test")
    for k in range(5, 10):  # one class, drawn in two splits and two calls with other classes
        same = (train[k] - test[k]).abs().mean().item()
        others = min((train[k] - test[j]).abs().mean().item() for j in range(5, 15) if j != k)
        assert same < 0.75 * others, (k, same, others)
    # The strokes themselves: from (seed, class) alone, and different for every class.
    strokes = [_glyph_strokes(0, k, 3) for k in range(40)]
    assert torch.equal(strokes[7], _glyph_strokes(0, 7, 3)) and not torch.equal(strokes[7], _glyph_strokes(1, 7, 3))
    assert min((a - b).abs().max().item() for i, a in enumerate(strokes) for b in strokes[i + 1:]) > 0.01
    X, y = glyphs(20, classes=[30, 31], seed=0)
    assert set(y.tolist()) <= {30, 31}
    with pytest.raises(ValueError):
        glyphs(5, classes=[], seed=0)


class _FakeOmniglot:
    """torchvision's Omniglot as load_omniglot uses it: _flat_character_images and (PIL image, class) items."""

    def __init__(self, root, background=True, download=False):
        from PIL import Image

        self.items = [(Image.new("L", (105, 105), color=255 if k % 2 else 0), k // 3 + (0 if background else 100))
                      for k in range(12)]  # 4 characters, 3 drawings each
        self._flat_character_images = [(f"{k}.png", c) for k, (_, c) in enumerate(self.items)]

    def __getitem__(self, index):
        return self.items[index]


def test_load_omniglot_resizes_inverts_and_keeps_the_first_classes(monkeypatch, tmp_path):
    import torchvision.datasets

    monkeypatch.setattr(torchvision.datasets, "Omniglot", _FakeOmniglot)
    X, y = datasets.load_omniglot(root=tmp_path, background=True, image_size=14, classes=2, download=False)
    assert X.shape == (6, 1, 14, 14) and X.dtype == torch.float32
    assert y.tolist() == [0, 0, 0, 1, 1, 1]
    # Black strokes on white in the files: bright on dark here (the white image is 0, the black one 1).
    assert torch.allclose(X[0], torch.ones(1, 14, 14)) and torch.allclose(X[1], torch.zeros(1, 14, 14))
    X, y = datasets.load_omniglot(root=tmp_path, background=False, image_size=8, download=False)
    assert X.shape == (12, 1, 8, 8)
    with pytest.raises(ValueError):
        datasets.load_omniglot(root=tmp_path, classes=1, download=False)


def test_load_omniglot_without_files_says_what_to_do(tmp_path):
    with pytest.raises(RuntimeError, match="Omniglot is not in .*download=False.*without --data"):
        datasets.load_omniglot(root=tmp_path, download=False)
