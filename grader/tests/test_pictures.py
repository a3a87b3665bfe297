"""kata.pictures: the PNGs a topic's main() saves are valid, of the size asked for, and not blank."""

from __future__ import annotations

import pytest
import torch

from kata import pictures


@pytest.fixture
def folder(tmp_path, monkeypatch):
    monkeypatch.setattr(pictures, "FOLDER", tmp_path / "pictures")
    return tmp_path / "pictures"


def test_grid_scatter_and_curve_write_valid_pictures(folder):
    images = torch.rand(6, 1, 8, 8) * 2 - 1  # a Tanh generator's range
    out = pictures.grid(images, "g.png", nrow=3, value_range=(-1, 1))
    assert out == folder / "g.png" and pictures.png_size(out) == (3 * 10 + 2, 2 * 10 + 2)
    assert not pictures.is_blank(out)
    points = torch.randn(50, 2)
    out = pictures.scatter(points, "s.png", groups=torch.arange(50) % 3, size=100, labels=[str(i) for i in range(50)],
                           legend=["a", "b", "c"], title="three groups")
    assert pictures.png_size(out) == (100, 100) and not pictures.is_blank(out)
    out = pictures.curve({"train": [3.0, 2.0, 1.5, 1.4], "test": torch.tensor([3.1, 2.5])}, "c.png", width=120,
                         height=60, title="loss")
    assert pictures.png_size(out) == (120, 60) and not pictures.is_blank(out)
    assert pictures.png_size(pictures.curve([1.0], "one.png")) == (480, 240)
    with pytest.raises(ValueError, match="at least one value"):
        pictures.curve({"train": []}, "none.png")


def test_a_name_is_a_file_name_and_a_broken_file_is_not_a_png(folder):
    for name in ("../x.png", "sub/x.png", "x.jpg"):
        with pytest.raises(ValueError, match="file name ending in .png"):
            pictures.path(name)
    folder.mkdir()
    (folder / "bad.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 20)
    with pytest.raises(ValueError, match="not a PNG"):
        pictures.png_size(folder / "bad.png")
    blank = pictures.scatter(torch.zeros(0, 2), "empty.png", size=40, extent=(0, 1, 0, 1))
    assert pictures.is_blank(blank)
