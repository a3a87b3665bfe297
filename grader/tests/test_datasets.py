"""kata.datasets loads the real data sets: proved offline, on tiny files in the real formats.

Each test writes a few images to tmp_path exactly as the data sets lay them out on
disk (MNIST's idx files, CIFAR-10's pickled batches, Oxford-IIIT Pet's JPEGs and PNG
trimaps), loads them through kata.datasets with download=False, and checks shapes,
dtypes, ranges and that every pixel and label comes back. Nothing is downloaded:
the download-failure path is simulated. torchvision is imported inside the tests.
"""

from __future__ import annotations

import pickle
import struct
from pathlib import Path
from urllib.error import URLError

import numpy as np
import pytest
import torch

from kata import datasets


def _pixels(shape: tuple[int, ...], seed: int = 0) -> np.ndarray:
    """Random uint8 pixels, reproducible."""
    return np.random.default_rng(seed).integers(0, 256, size=shape, dtype=np.uint8)


# ------------------------------------------------------------------ MNIST and Fashion-MNIST
def _write_idx(path: Path, array: np.ndarray) -> None:
    """An idx file: magic (0x08 = unsigned byte, then the number of dims), big-endian dims, the bytes."""
    magic = {3: 2051, 1: 2049}[array.ndim]  # images, labels
    header = struct.pack(f">I{array.ndim}I", magic, *array.shape)
    path.write_bytes(header + array.astype(np.uint8).tobytes())


def _write_mnist(root: Path, folder: str, n_train: int = 5, n_test: int = 3) -> dict[str, tuple]:
    """<root>/<folder>/raw/{train,t10k}-{images-idx3,labels-idx1}-ubyte: the four files torchvision checks for."""
    raw = root / folder / "raw"
    raw.mkdir(parents=True)
    written = {}
    for prefix, n, seed in (("train", n_train, 1), ("t10k", n_test, 2)):
        images = _pixels((n, 28, 28), seed)
        labels = np.random.default_rng(seed + 10).integers(0, 10, size=n).astype(np.uint8)
        _write_idx(raw / f"{prefix}-images-idx3-ubyte", images)
        _write_idx(raw / f"{prefix}-labels-idx1-ubyte", labels)
        written[prefix] = (images, labels)
    return written


@pytest.mark.parametrize("name, folder", [("mnist", "MNIST"), ("fashion-mnist", "FashionMNIST")])
def test_mnist_round_trip(tmp_path, name, folder):
    written = _write_mnist(tmp_path, folder)
    for train, prefix in ((True, "train"), (False, "t10k")):
        images, labels = datasets.load(name, root=tmp_path, train=train, download=False)
        raw_images, raw_labels = written[prefix]
        n = len(raw_labels)
        assert images.shape == (n, 1, 28, 28) and images.dtype == torch.float32
        assert labels.shape == (n,) and labels.dtype == torch.int64
        assert 0.0 <= images.min() and images.max() <= 1.0
        # Every pixel comes back as value/255, in place: no transpose, no shift.
        torch.testing.assert_close(images[:, 0], torch.from_numpy(raw_images).float() / 255, rtol=0, atol=0)
        assert labels.tolist() == raw_labels.tolist()

    images, labels = datasets.load(name, root=str(tmp_path), download=False, limit=2)
    assert images.shape == (2, 1, 28, 28) and labels.tolist() == written["train"][1][:2].tolist()


# ------------------------------------------------------------------ CIFAR-10
def _write_cifar(root: Path, per_batch: int = 2) -> dict[str, tuple]:
    """<root>/cifar-10-batches-py/: data_batch_1..5, test_batch and batches.meta, pickled.

    A real batch is a dict with "data", uint8 (N, 3072) holding each image as its
    red, green and blue 32x32 planes, and "labels", a list of ints. The real files are
    Python 2 pickles whose str keys load as str under encoding="latin1" (as torchvision
    reads them); Python 3 str keys give the same dict.
    """
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    written = {}
    names = [f"data_batch_{k}" for k in range(1, 6)] + ["test_batch"]
    for seed, name in enumerate(names):
        data = _pixels((per_batch, 3072), seed)
        labels = np.random.default_rng(seed + 10).integers(0, 10, size=per_batch).tolist()
        batch = {"batch_label": name, "labels": labels, "data": data,
                 "filenames": [f"{name}_{i}.png" for i in range(per_batch)]}
        (folder / name).write_bytes(pickle.dumps(batch, protocol=2))
        written[name] = (data, labels)
    classes = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
    meta = {"num_cases_per_batch": per_batch, "num_vis": 3072, "label_names": classes}
    (folder / "batches.meta").write_bytes(pickle.dumps(meta, protocol=2))
    return written


def test_cifar10_round_trip(tmp_path, monkeypatch):
    import torchvision.datasets.cifar as cifar
    import torchvision.datasets.utils as utils

    # torchvision compares every CIFAR-10 file with the real one's md5, which tiny test
    # files cannot match: keep its existence check, drop only the checksum.
    monkeypatch.setattr(cifar, "check_integrity", lambda fpath, md5=None: utils.check_integrity(fpath))

    written = _write_cifar(tmp_path)
    for train, names in ((True, [f"data_batch_{k}" for k in range(1, 6)]), (False, ["test_batch"])):
        images, labels = datasets.load("cifar10", root=tmp_path, train=train, download=False)
        raw = np.concatenate([written[name][0] for name in names])  # (N, 3072)
        raw_labels = sum((written[name][1] for name in names), [])
        n = len(raw_labels)
        assert images.shape == (n, 3, 32, 32) and images.dtype == torch.float32
        assert labels.shape == (n,) and labels.dtype == torch.int64
        assert 0.0 <= images.min() and images.max() <= 1.0
        # Row k of a batch is the red plane, then green, then blue, each 32 rows of 32.
        expected = torch.from_numpy(raw).reshape(n, 3, 32, 32).float() / 255
        torch.testing.assert_close(images, expected, rtol=0, atol=0)
        assert labels.tolist() == raw_labels

    images, labels = datasets.load("cifar10", root=tmp_path, download=False, limit=3)
    first_labels = (written["data_batch_1"][1] + written["data_batch_2"][1])[:3]
    assert images.shape == (3, 3, 32, 32) and labels.tolist() == first_labels


# ------------------------------------------------------------------ Oxford-IIIT Pet
def _write_pets(root: Path, photos: dict[str, tuple[np.ndarray, np.ndarray]], split: str = "trainval") -> Path:
    """<root>/oxford-iiit-pet/: images/<name>.jpg, annotations/trimaps/<name>.png, annotations/<split>.txt.

    `photos` maps a name to its RGB pixels (H, W, 3) and its trimap (H, W) of 1/2/3.
    <split>.txt lines read "<name> <class id> <species: 1 cat, 2 dog> <breed id>".
    """
    from PIL import Image

    base = root / "oxford-iiit-pet"
    (base / "images").mkdir(parents=True, exist_ok=True)
    (base / "annotations" / "trimaps").mkdir(parents=True, exist_ok=True)
    lines = []
    for k, (name, (rgb, trimap)) in enumerate(photos.items()):
        Image.fromarray(rgb).save(base / "images" / f"{name}.jpg", quality=95)
        Image.fromarray(trimap).save(base / "annotations" / "trimaps" / f"{name}.png")
        lines.append(f"{name} {k + 1} {1 if name[0].isupper() else 2} {k + 1}\n")
    (base / "annotations" / f"{split}.txt").write_text("".join(lines))
    return base


def test_pets_round_trip(tmp_path):
    from PIL import Image

    size = 16
    names = ["Abyssinian_1", "beagle_2", "Bengal_3"]
    photos = {}
    for seed, name in enumerate(names):
        rgb = _pixels((size, size, 3), seed)
        trimap = np.random.default_rng(seed + 10).integers(1, 4, size=(size, size)).astype(np.uint8)
        photos[name] = (rgb, trimap)
    base = _write_pets(tmp_path, photos)

    # At its own size a photo is not resized: the pixels are the JPEG's, as PIL decodes it.
    images, masks = datasets.load_pets(root=tmp_path, image_size=size, download=False)
    assert images.shape == (3, 3, size, size) and images.dtype == torch.float32
    assert masks.shape == (3, 1, size, size) and masks.dtype == torch.float32
    for i, name in enumerate(names):
        decoded = np.asarray(Image.open(base / "images" / f"{name}.jpg").convert("RGB"))  # (H, W, 3)
        expected = torch.from_numpy(decoded.copy()).permute(2, 0, 1).float() / 255
        torch.testing.assert_close(images[i], expected, rtol=0, atol=0)
        # Foreground is the pet only (trimap 1); background (2) and border (3) are 0.
        expected_mask = torch.from_numpy(photos[name][1] == 1).float()
        torch.testing.assert_close(masks[i, 0], expected_mask, rtol=0, atol=0)

    images, masks = datasets.load_pets(root=tmp_path, image_size=size, download=False, limit=2)
    assert images.shape == (2, 3, size, size) and masks.shape == (2, 1, size, size)


def test_pets_resize(tmp_path):
    # A 40x30 photo (W x H): red on the left half, blue on the right; the pet (1) fills
    # the left half, a border (3) band runs down its edge, background (2) on the right.
    height, width = 30, 40
    rgb = np.zeros((height, width, 3), dtype=np.uint8)
    rgb[:, :20, 0] = 255
    rgb[:, 20:, 2] = 255
    trimap = np.full((height, width), 2, dtype=np.uint8)
    trimap[:, :20] = 1
    trimap[:, 18:22] = 3
    _write_pets(tmp_path, {"Persian_7": (rgb, trimap)})

    images, masks = datasets.load_pets(root=tmp_path, image_size=8, download=False)
    assert images.shape == (1, 3, 8, 8) and masks.shape == (1, 1, 8, 8)
    assert 0.0 <= images.min() and images.max() <= 1.0
    assert set(masks.unique().tolist()) <= {0.0, 1.0}, "the resized mask must stay 0/1"
    # Nearest neighbour on a 5x horizontal squash samples columns 2, 7, 12, 17 | 22, 27, 32, 37.
    expected = torch.tensor([1.0] * 4 + [0.0] * 4).expand(8, 8)
    torch.testing.assert_close(masks[0, 0], expected, rtol=0, atol=0)
    # The photo's halves stay red and blue away from the blended middle (JPEG blurs a little).
    red, blue = torch.tensor([1.0, 0.0, 0.0]), torch.tensor([0.0, 0.0, 1.0])
    torch.testing.assert_close(images[0, :, :, :3].mean((1, 2)), red, rtol=0, atol=0.08)
    torch.testing.assert_close(images[0, :, :, 5:].mean((1, 2)), blue, rtol=0, atol=0.08)


# ------------------------------------------------------------------ load_data: the one call of every topic's main()
def test_load_data_generated_is_kata_images():
    from kata.images import segmentation, shapes

    got = datasets.load_data("shapes", train_size=6, test_size=4, seed=3, image_size=16, channels=3)
    want = (*shapes(6, image_size=16, channels=3, seed=3), *shapes(4, image_size=16, channels=3, seed=3, split="test"))
    for g, w in zip(got, want):
        torch.testing.assert_close(g, w, rtol=0, atol=0)
    got = datasets.load_data("segmentation", train_size=3, test_size=2, seed=1)
    want = (*segmentation(3, seed=1), *segmentation(2, seed=1, split="test"))
    for g, w in zip(got, want):
        torch.testing.assert_close(g, w, rtol=0, atol=0)
    # Without image_size and channels: each data set's own (shapes 28x28 grey, segmentation 32x32 grey).
    assert datasets.load_data("shapes", train_size=2, test_size=1)[0].shape == (2, 1, 28, 28)
    assert datasets.load_data("segmentation", train_size=2, test_size=1)[2].shape == (1, 1, 32, 32)


def test_load_data_real_subset_padding_and_channels(tmp_path):
    written = _write_mnist(tmp_path, "MNIST", n_train=5, n_test=3)
    train_images = torch.from_numpy(written["train"][0]).float() / 255  # (5, 28, 28)
    test_images = torch.from_numpy(written["t10k"][0]).float() / 255  # (3, 28, 28)

    X, y, X_test, y_test = datasets.load_data("mnist", train_size=3, test_size=2, seed=4, image_size=32, channels=3,
                                              root=tmp_path, download=False)
    assert X.shape == (3, 3, 32, 32) and y.shape == (3,) and X_test.shape == (2, 3, 32, 32) and y_test.shape == (2,)
    # 28 -> 32: two rows and columns of zeros on every side; the grey repeated in all three channels.
    assert X[:, :, :2].abs().sum() == 0 and X[:, :, 30:].abs().sum() == 0 and X[..., :2].abs().sum() == 0
    assert torch.equal(X[:, 0], X[:, 1]) and torch.equal(X[:, 0], X[:, 2])
    inner = X[:, 0, 2:30, 2:30]  # (3, 28, 28)
    # The training examples are a random subset of the split, each with its own label, none twice.
    rows = [next(k for k in range(5) if torch.equal(image, train_images[k])) for image in inner]
    assert len(set(rows)) == 3 and y.tolist() == [written["train"][1][k] for k in rows]
    # The test examples are the split's first ones, in order.
    torch.testing.assert_close(X_test[:, 0, 2:30, 2:30], test_images[:2], rtol=0, atol=0)
    assert y_test.tolist() == written["t10k"][1][:2].tolist()
    # The same seed gives the same subset; without image_size and channels, the data set's own 28x28 grey.
    again = datasets.load_data("mnist", train_size=3, test_size=2, seed=4, root=tmp_path, download=False)
    torch.testing.assert_close(again[0], inner[:, None], rtol=0, atol=0)
    # More than the split holds: all of it.
    X, _, X_test, _ = datasets.load_data("mnist", train_size=100, test_size=100, root=tmp_path, download=False)
    assert len(X) == 5 and len(X_test) == 3


def test_load_data_pets_reads_both_splits(tmp_path):
    def photos(names, seed):
        return {name: (_pixels((20, 20, 3), seed + i),
                       np.random.default_rng(seed + i + 10).integers(1, 4, size=(20, 20)).astype(np.uint8))
                for i, name in enumerate(names)}

    _write_pets(tmp_path, photos(["Abyssinian_1", "beagle_2", "Bengal_3"], 0), split="trainval")
    _write_pets(tmp_path, photos(["Birman_4", "boxer_5"], 5), split="test")
    X, y, X_test, y_test = datasets.load_data("pets", train_size=2, test_size=5, image_size=16, root=tmp_path,
                                              download=False)
    assert X.shape == (2, 3, 16, 16) and y.shape == (2, 1, 16, 16)
    assert X_test.shape == (2, 3, 16, 16) and y_test.shape == (2, 1, 16, 16)  # the test split has 2 photos
    test_images, test_masks = datasets.load_pets(root=tmp_path, train=False, image_size=16, download=False)
    torch.testing.assert_close(X_test, test_images, rtol=0, atol=0)
    torch.testing.assert_close(y_test, test_masks, rtol=0, atol=0)
    grey = datasets.load_data("pets", train_size=3, test_size=1, image_size=16, channels=1, root=tmp_path,
                              download=False)
    assert grey[0].shape == (3, 1, 16, 16)
    torch.testing.assert_close(grey[2], test_images[:1].mean(1, keepdim=True), rtol=0, atol=0)


def test_load_data_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match="did you mean 'cifar10'"):
        datasets.load_data("cifar", train_size=10, test_size=10)
    with pytest.raises(ValueError, match="train_size"):
        datasets.load_data("shapes", train_size=0, test_size=10)
    with pytest.raises(ValueError, match="channels"):
        datasets.load_data("shapes", train_size=10, test_size=10, channels=2)
    _write_mnist(tmp_path, "MNIST")
    with pytest.raises(ValueError, match="smaller than the data set's images"):
        datasets.load_data("mnist", train_size=2, test_size=2, image_size=16, root=tmp_path, download=False)


# ------------------------------------------------------------------ failures a learner meets
def _loaders(root: Path, download: bool):
    for name in datasets.NAMES:
        yield name, lambda name=name: datasets.load(name, root=root, download=download)
    yield "pets", lambda: datasets.load_pets(root=root, download=download)


def _assert_helpful(message: str, root: Path) -> None:
    assert str(root.resolve()) in message, f"the message must say where it looked: {message}"
    assert "internet" in message and "copy" in message and "--data" in message, message
    assert "\n" not in message, f"one sentence, one line: {message!r}"


def test_missing_files_raise_a_helpful_error(tmp_path):
    for name, load in _loaders(tmp_path, download=False):
        with pytest.raises(RuntimeError) as excinfo:
            load()
        _assert_helpful(str(excinfo.value), tmp_path)
        assert "not in" in str(excinfo.value), f"{name}: {excinfo.value}"


def test_failed_download_raises_a_helpful_error(tmp_path, monkeypatch):
    import torchvision.datasets.cifar as cifar
    import torchvision.datasets.mnist as mnist
    import torchvision.datasets.oxford_iiit_pet as pets

    # No network in the tests: every download fails the way urllib fails offline.
    def offline(*args, **kwargs):
        raise URLError("[Errno -3] Temporary failure in name resolution")

    for module in (mnist, cifar, pets):
        monkeypatch.setattr(module, "download_and_extract_archive", offline)
    for name, load in _loaders(tmp_path, download=True):
        with pytest.raises(RuntimeError) as excinfo:
            load()
        _assert_helpful(str(excinfo.value), tmp_path)
        assert "could not download" in str(excinfo.value), f"{name}: {excinfo.value}"


def test_bad_arguments():
    with pytest.raises(ValueError, match="did you mean 'mnist'"):
        datasets.load("minst")
    with pytest.raises(ValueError, match="limit"):
        datasets.load("mnist", limit=-1)
    with pytest.raises(ValueError, match="image_size"):
        datasets.load_pets(image_size=0)
