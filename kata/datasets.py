"""Data for the image topics' `main()`: one call, `load_data`, for generated and real data sets.

    X, y, X_test, y_test = load_data("shapes", train_size=2000, test_size=1000, seed=0)   # generated, the default
    X, y, X_test, y_test = load_data("cifar10", train_size=5000, test_size=1000)          # real, downloaded once
    X, y, X_test, y_test = load_data("pets", train_size=500, test_size=200, image_size=64) # y: masks

A topic's main() offers the names of CLASSIFICATION or SEGMENTATION as its `--data`
and passes its `--train-size`, `--test-size`, `--seed` and `--root`. The generated
data sets come from `kata.images` and need nothing else. The real ones (MNIST,
Fashion-MNIST, CIFAR-10, Oxford-IIIT Pet) wrap torchvision's dataset classes,
download into `root` the first time (download=True), and come back as whole tensors
on the CPU; `load` and `load_pets` read one split of them.

The hidden suites never call this module: they train on `kata.images` directly and
never download anything. torchvision is imported inside the functions only:
importing it takes seconds.
"""

from __future__ import annotations

import difflib
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor

from kata.common import rng

NAMES = ("mnist", "fashion-mnist", "cifar10")

# name -> (torchvision class, title, the folder under `root` where torchvision keeps its files)
_SOURCES = {
    "mnist": ("MNIST", "MNIST", "MNIST/raw"),
    "fashion-mnist": ("FashionMNIST", "Fashion-MNIST", "FashionMNIST/raw"),
    "cifar10": ("CIFAR10", "CIFAR-10", "cifar-10-batches-py"),
}

# Oxford-IIIT Pet trimaps label each pixel 1 = pet, 2 = background, 3 = border (the
# uncertain outline). The mask's foreground is the pet only: borders count as background.
_PET = 1


def _not_available(title: str, folder: Path, download: bool) -> RuntimeError:
    """The one sentence a learner reads when a data set cannot be loaded."""
    if download:
        what = f"could not download {title} into {folder}"
    else:
        what = f"{title} is not in {folder} (and download=False)"
    return RuntimeError(
        f"{what}: connect to the internet and try again with download=True, or copy the data set's "
        "files into that folder, or run the topic without --data to use the generated data."
    )


def _check_limit(limit: int | None) -> None:
    if limit is not None and limit < 0:
        raise ValueError(f"limit must be None (all examples) or >= 0, got {limit}")


def load(name: str, *, root: str | Path = "data", train: bool = True, download: bool = True,
         limit: int | None = None) -> tuple[Tensor, Tensor]:
    """One split of a classification data set, as whole tensors on the CPU.

    name: one of NAMES ("mnist", "fashion-mnist", "cifar10").
    root: the folder that holds (or will hold) the data sets' files.
    train: the training split (60,000 MNIST / 50,000 CIFAR-10 images) or the test split (10,000).
    limit: keep only the first `limit` examples, in the data set's own order.

    Returns images (N, C, H, W) float32 in [0, 1] (MNIST and Fashion-MNIST: C=1, 28x28;
    CIFAR-10: C=3, 32x32) and labels (N,) int64 in [0, 10).
    Raises RuntimeError when the files are missing and cannot be downloaded.
    """
    if name not in _SOURCES:
        close = difflib.get_close_matches(name, NAMES, n=1)
        maybe = f" (did you mean {close[0]!r}?)" if close else ""
        raise ValueError(f"unknown data set {name!r}: choose one of {', '.join(NAMES)}{maybe}")
    _check_limit(limit)
    from torchvision import datasets

    class_name, title, subfolder = _SOURCES[name]
    root = Path(root).expanduser()
    try:
        dataset = getattr(datasets, class_name)(root, train=train, download=download)
    except (RuntimeError, OSError) as exc:  # a failed download (URLError is an OSError), or missing files
        raise _not_available(title, (root / subfolder).resolve(), download) from exc

    if name == "cifar10":
        pixels = torch.from_numpy(dataset.data[:limit])  # (N, 32, 32, 3) uint8: CIFAR keeps channels last
        pixels = pixels.permute(0, 3, 1, 2).contiguous()  # (N, 3, 32, 32)
    else:
        pixels = dataset.data[:limit].unsqueeze(1)  # (N, 1, 28, 28) uint8
    images = pixels.float() / 255  # (N, C, H, W) in [0, 1]
    labels = torch.as_tensor(dataset.targets[:limit], dtype=torch.int64)  # (N,)
    return images, labels


def load_pets(*, root: str | Path = "data", train: bool = True, image_size: int = 64, download: bool = True,
              limit: int | None = None) -> tuple[Tensor, Tensor]:
    """Oxford-IIIT Pet for segmentation: photos of cats and dogs and their pet masks.

    train: the "trainval" split (3,680 photos) or the "test" split (3,669).
    Each photo is resized to image_size x image_size (squashed: the aspect ratio is not
    kept), bilinearly; its trimap with nearest-neighbour, so the mask stays exactly 0/1.
    The mask's foreground (1.0) is the pet only: trimap value 1. Background (2) and
    the uncertain border around the pet (3) are 0.0.
    limit: keep only the first `limit` photos, in the order of annotations/<split>.txt.

    Returns images (N, 3, S, S) float32 in [0, 1] and masks (N, 1, S, S) float32 of
    0.0/1.0, on the CPU (S = image_size).
    Raises RuntimeError when the files are missing and cannot be downloaded.
    """
    if image_size < 1:
        raise ValueError(f"image_size must be a positive number of pixels, got {image_size}")
    _check_limit(limit)
    from PIL import Image
    from torchvision import datasets
    from torchvision.transforms.functional import pil_to_tensor

    root = Path(root).expanduser()
    split = "trainval" if train else "test"
    try:
        dataset = datasets.OxfordIIITPet(root, split=split, target_types="segmentation", download=download)
    except (RuntimeError, OSError) as exc:  # a failed download (URLError is an OSError), or missing files
        raise _not_available("Oxford-IIIT Pet", (root / "oxford-iiit-pet").resolve(), download) from exc

    count = len(dataset) if limit is None else min(limit, len(dataset))
    size = (image_size, image_size)
    images = torch.empty(count, 3, *size)  # (N, 3, S, S)
    masks = torch.empty(count, 1, *size)  # (N, 1, S, S)
    for i in range(count):
        photo, trimap = dataset[i]  # PIL images: RGB, and one channel of 1/2/3
        photo = photo.resize(size, Image.Resampling.BILINEAR)
        trimap = trimap.resize(size, Image.Resampling.NEAREST)  # nearest: labels are never blended
        images[i] = pil_to_tensor(photo).float() / 255  # (3, S, S)
        masks[i] = (pil_to_tensor(trimap) == _PET).float()  # (1, S, S)
    return images, masks


# ------------------------------------------------------------------ one entry point for every topic's main()
CLASSIFICATION = ("shapes", "mnist", "fashion-mnist", "cifar10")  # targets: labels (N,) int64
SEGMENTATION = ("segmentation", "pets")  # targets: masks (N, 1, S, S) of 0.0/1.0

# Each data set's own image side and channels, where image_size and channels are None.
_NATIVE = {"shapes": (28, 1), "mnist": (28, 1), "fashion-mnist": (28, 1), "cifar10": (32, 3),
           "segmentation": (32, 1), "pets": (64, 3)}


def load_data(name: str, *, train_size: int, test_size: int, seed: int = 0, image_size: int | None = None,
              channels: int | None = None, root: str | Path = "data",
              download: bool = True) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Training and test data for an image topic's main(): X, y, X_test, y_test, on the CPU.

    name: a generated data set of kata.images, drawn from `seed` (nothing is
      downloaded: every topic's default), or a real one, downloaded into `root` once:
        classification, y = labels (N,) int64:       "shapes", "mnist", "fashion-mnist", "cifar10"
        segmentation, y = masks (N, 1, S, S) of 0/1: "segmentation", "pets"
    train_size, test_size: how many examples. A real data set gives at most what its
      split holds: training examples are a random subset of its training split (drawn
      from `seed`), test examples the first of its test split.
    image_size: S, the side of the square images. Generated data is drawn at S; Pets'
      photos are resized to S; MNIST-like and CIFAR images are zero-padded, centred,
      up to S (28 -> 32 as LeNet-5 did: five 2x2 poolings need 32). None: the data
      set's own (shapes and MNIST 28, CIFAR-10 and segmentation 32, Pets 64).
    channels: 1 (grey) or 3 (colour); None: the data set's own. Generated shapes are
      drawn in it; a real data set is converted (grey repeated, colour averaged).

    Returns X (N, C, S, S) float32 images and y, for train_size and test_size examples.
    Raises ValueError for an unknown name or impossible sizes, RuntimeError when a
    real data set is neither on disk nor downloadable (its message says what to do).
    """
    if name not in _NATIVE:
        close = difflib.get_close_matches(name, list(_NATIVE), n=1)
        maybe = f" (did you mean {close[0]!r}?)" if close else ""
        raise ValueError(f"unknown data set {name!r}: choose one of {', '.join(_NATIVE)}{maybe}")
    if train_size < 1 or test_size < 1:
        raise ValueError(f"train_size and test_size must be >= 1, got {train_size} and {test_size}")
    if channels not in (None, 1, 3):
        raise ValueError(f"channels must be 1 (grey), 3 (colour) or None (the data set's own), got {channels}")
    native_size, native_channels = _NATIVE[name]
    image_size = native_size if image_size is None else image_size
    channels = native_channels if channels is None else channels

    if name == "shapes":
        from kata.images import shapes

        X, y = shapes(train_size, image_size=image_size, channels=channels, seed=seed)
        X_test, y_test = shapes(test_size, image_size=image_size, channels=channels, seed=seed, split="test")
        return X, y, X_test, y_test
    if name == "segmentation":
        from kata.images import segmentation

        X, y = segmentation(train_size, image_size=image_size, seed=seed)
        X_test, y_test = segmentation(test_size, image_size=image_size, seed=seed, split="test")
        return _convert(X, channels), y, _convert(X_test, channels), y_test
    if name == "pets":
        # Every training photo is read and resized (a while, once per run), then a random subset kept.
        X, y = load_pets(root=root, train=True, image_size=image_size, download=download)
        keep = torch.randperm(len(X), generator=rng(seed))[:train_size]  # a random subset
        X_test, y_test = load_pets(root=root, train=False, image_size=image_size, download=download,
                                   limit=test_size)
        return _convert(X[keep], channels), y[keep], _convert(X_test, channels), y_test

    X, y = load(name, root=root, train=True, download=download)  # (N, C, s, s) in [0, 1], (N,)
    keep = torch.randperm(len(X), generator=rng(seed))[:train_size]  # a random subset
    X_test, y_test = load(name, root=root, train=False, download=download, limit=test_size)
    X, X_test = (_convert(_pad_to(images, image_size), channels) for images in (X[keep], X_test))
    return X, y[keep], X_test, y_test


def _pad_to(images: Tensor, image_size: int) -> Tensor:
    """Zero-pad (N, C, s, s) images, centred, to (N, C, S, S); S must be at least s."""
    extra = image_size - images.shape[-1]
    if extra < 0:
        raise ValueError(f"image_size {image_size} is smaller than the data set's images "
                         f"({images.shape[-1]} pixels): images are padded, never cropped")
    before = extra // 2
    return F.pad(images, (before, extra - before, before, extra - before))  # (N, C, S, S)


def _convert(images: Tensor, channels: int) -> Tensor:
    """(N, C, S, S) images with `channels` channels: grey repeated into colour, colour averaged into grey."""
    if images.shape[1] == channels:
        return images
    if channels == 1:
        return images.mean(1, keepdim=True)  # (N, 1, S, S)
    return images.expand(-1, channels, -1, -1).contiguous()  # (N, 3, S, S): the same grey in every channel


def load_omniglot(*, root: str | Path = "data", background: bool = True, image_size: int = 28,
                  classes: int | None = None, download: bool = True) -> tuple[Tensor, Tensor]:
    """Omniglot (Lake et al., 2015): 1,623 handwritten characters of 50 alphabets, 20 drawings each.

    background: the 964 characters of the 30 "background" alphabets (to train on) or the 659 of
    the 20 "evaluation" alphabets (never seen in training: what a Siamese network verifies).
    classes: keep the first `classes` characters, in torchvision's order (None: all of them).
    Each 105x105 drawing is resized to image_size (bilinear) and inverted, so strokes are bright
    on a dark background as in kata.images.glyphs.

    Returns images (N, 1, S, S) float32 in [0, 1] and labels (N,) int64 (the character's index),
    on the CPU. Raises RuntimeError when the files are missing and cannot be downloaded.
    """
    if image_size < 1:
        raise ValueError(f"image_size must be a positive number of pixels, got {image_size}")
    if classes is not None and classes < 2:
        raise ValueError(f"classes must be None (all characters) or at least 2, got {classes}")
    from PIL import Image
    from torchvision import datasets
    from torchvision.transforms.functional import pil_to_tensor

    root = Path(root).expanduser()
    folder = "images_background" if background else "images_evaluation"
    try:
        dataset = datasets.Omniglot(root, background=background, download=download)
    except (RuntimeError, OSError) as exc:  # a failed download (URLError is an OSError), or missing files
        raise _not_available("Omniglot", (root / "omniglot-py" / folder).resolve(), download) from exc
    keep = [k for k, (_, character) in enumerate(dataset._flat_character_images)
            if classes is None or character < classes]
    images = torch.empty(len(keep), 1, image_size, image_size)  # (N, 1, S, S)
    labels = torch.empty(len(keep), dtype=torch.int64)  # (N,)
    for row, k in enumerate(keep):
        drawing, character = dataset[k]  # a PIL image (white background, black strokes), the character's index
        drawing = drawing.convert("L").resize((image_size, image_size), Image.Resampling.BILINEAR)
        images[row] = 1 - pil_to_tensor(drawing).float() / 255  # (1, S, S): strokes bright
        labels[row] = character
    return images, labels
