"""Real data sets for the image topics' `main()`: MNIST, Fashion-MNIST, CIFAR-10, Oxford-IIIT Pet.

The hidden suites never call this module (they train on the generated data of
`kata.images`, and never download anything); a topic's `main()` calls it when the
learner asks for real data. It wraps torchvision's own dataset classes, downloads
into `root` the first time (download=True), and returns whole tensors on the CPU:

    images, labels = load("mnist", train=True, limit=10_000)  # (N, 1, 28, 28), (N,)
    images, masks = load_pets(size=64)                         # (N, 3, 64, 64), (N, 1, 64, 64)

torchvision is imported inside the functions only: importing it takes seconds.
"""

from __future__ import annotations

import difflib
from pathlib import Path

import torch
from torch import Tensor

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


def load_pets(*, root: str | Path = "data", size: int = 64, download: bool = True,
              limit: int | None = None) -> tuple[Tensor, Tensor]:
    """Oxford-IIIT Pet (its "trainval" split, 3,680 photos of cats and dogs) for segmentation.

    Each photo is resized to size x size (squashed: the aspect ratio is not kept),
    bilinearly; its trimap with nearest-neighbour, so the mask stays exactly 0/1.
    The mask's foreground (1.0) is the pet only: trimap value 1. Background (2) and
    the uncertain border around the pet (3) are 0.0.
    limit: keep only the first `limit` photos, in the order of annotations/trainval.txt.

    Returns images (N, 3, size, size) float32 in [0, 1] and masks (N, 1, size, size)
    float32 of 0.0/1.0, on the CPU.
    Raises RuntimeError when the files are missing and cannot be downloaded.
    """
    if size < 1:
        raise ValueError(f"size must be a positive number of pixels, got {size}")
    _check_limit(limit)
    from PIL import Image
    from torchvision import datasets
    from torchvision.transforms.functional import pil_to_tensor

    root = Path(root).expanduser()
    try:
        dataset = datasets.OxfordIIITPet(root, split="trainval", target_types="segmentation", download=download)
    except (RuntimeError, OSError) as exc:  # a failed download (URLError is an OSError), or missing files
        raise _not_available("Oxford-IIIT Pet", (root / "oxford-iiit-pet").resolve(), download) from exc

    count = len(dataset) if limit is None else min(limit, len(dataset))
    images = torch.empty(count, 3, size, size)  # (N, 3, size, size)
    masks = torch.empty(count, 1, size, size)  # (N, 1, size, size)
    for i in range(count):
        photo, trimap = dataset[i]  # PIL images: RGB, and one channel of 1/2/3
        photo = photo.resize((size, size), Image.Resampling.BILINEAR)
        trimap = trimap.resize((size, size), Image.Resampling.NEAREST)  # nearest: labels are never blended
        images[i] = pil_to_tensor(photo).float() / 255  # (3, size, size)
        masks[i] = (pil_to_tensor(trimap) == _PET).float()  # (1, size, size)
    return images, masks
