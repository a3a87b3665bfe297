"""kata.pictures: the PNGs a topic's main() saves are valid, of the size asked for, and not blank."""

from __future__ import annotations

import sys

import pytest
import torch

from kata import pictures


@pytest.fixture
def folder(tmp_path, monkeypatch):
    monkeypatch.setenv("KATA_PICTURES", str(tmp_path / "pictures"))
    return tmp_path / "pictures"


def test_grid_scatter_and_curve_write_valid_pictures(folder):
    images = torch.rand(6, 1, 8, 8) * 2 - 1  # a Tanh generator's range
    out = pictures.grid(images, "g.png", nrow=3, value_range=(-1, 1))
    assert out == folder / "g.png" and pictures.png_size(out) == (3 * 66 + 2, 2 * 66 + 2)  # 8x8 shown 64x64
    assert pictures.png_size(pictures.grid(images, "big.png", nrow=6, min_size=1)) == (6 * 10 + 2, 10 + 2)
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


# Each topic's main() with tiny settings, and the pictures it must save (issue 16: a loss curve for
# every training run, and what a learner would rather see than read).
MAINS = {
    "01_logistic_regression": (["--epochs", "2"], ["01_loss.png"]),
    "02_mlp": (["--epochs", "2"], ["02_rings_loss.png", "02_wave_loss.png"]),
    "03_autoencoder": (["--epochs", "1"], ["03_loss.png", "03_reconstructions.png", "03_denoised.png"]),
    "04_cnn": (["--epochs", "1", "--train-size", "64", "--test-size", "16"], ["04_loss.png", "04_filters.png"]),
    "05_vgg": (["--epochs", "1", "--train-size", "32", "--test-size", "8", "--width-divisor", "16"], ["05_loss.png"]),
    "06_resnet": (["--epochs", "1", "--train-size", "32", "--test-size", "8", "--width", "4"], ["06_loss.png"]),
    "07_unet": (["--epochs", "1", "--train-size", "16", "--test-size", "8", "--width", "4", "--depth", "2"],
                ["07_loss.png", "07_masks.png"]),
    "08_word2vec_glove": (["--epochs", "1", "--train-size", "200"], ["08_loss.png", "08_word_vectors.png"]),
    "09_rnn": (["--epochs", "1", "--train-size", "40", "--test-size", "8", "--embed-dim", "4", "--hidden-size", "4"],
               ["09_loss.png"]),
    "10_lstm_gru": (["--epochs", "1", "--train-size", "40", "--test-size", "8", "--embed-dim", "4",
                     "--hidden-size", "4"], ["10_loss.png"]),
    "11_bilstm": (["--epochs", "1", "--train-size", "40", "--test-size", "8", "--embed-dim", "4",
                   "--hidden-size", "4"], ["11_loss.png"]),
    "12_seq2seq": (["--epochs", "1", "--train-size", "40", "--test-size", "8", "--embed-dim", "4",
                    "--hidden-size", "4"], ["12_loss.png"]),
    "13_attention": (["--epochs", "1", "--train-size", "40", "--test-size", "8", "--embed-dim", "4",
                      "--hidden-size", "4"], ["13_loss.png", "13_attention.png"]),
    "14_elmo": (["--epochs", "1", "--train-size", "60", "--test-size", "60", "--embed-dim", "8"], ["14_loss.png"]),
    "15_bert": (["--train-size", "40", "--test-size", "20", "--embed-dim", "8", "--num-heads", "2", "--num-layers",
                 "1", "--epochs", "1", "--batch-size", "32"], ["15_pretraining_loss.png", "15_finetuning_loss.png"]),
    "16_sbert": (["--train", "--train-size", "32", "--test-size", "20", "--epochs", "1"], ["16_loss.png"]),
    "17_colbert": (["--train-size", "24", "--test-size", "12", "--dim", "8", "--epochs", "1", "--batch-size", "12"],
                   ["17_loss.png"]),
}


@pytest.mark.parametrize("slug", sorted(MAINS))
def test_each_topics_main_saves_its_pictures(slug, folder, capsys):
    import importlib.util

    from grader import roadmap

    spec = importlib.util.spec_from_file_location(f"pictures_{slug}", roadmap.load().find(slug).solution())
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    try:
        spec.loader.exec_module(module)
    finally:
        del sys.modules[spec.name]
    argv, names = MAINS[slug]
    assert module.main([*argv, "--seed", "0", "--device", "cpu"]) == 0
    printed = capsys.readouterr().out
    for name in names:
        picture = folder / name
        assert picture.exists(), f"{slug}'s main() saved no {name}; it printed:\n{printed[-800:]}"
        assert str(picture) in printed, f"{slug}'s main() should print where {name} is"
        width, height = pictures.png_size(picture)
        assert width >= 64 and height >= 48 and not pictures.is_blank(picture), (name, width, height)
    assert sorted(p.name for p in folder.iterdir()) == sorted(names)
