"""What every topic shares: the seeded random generator, a file's held-out split and the default device.

`rng` is the one way the project's data generators draw random numbers: each data
set draws from its own `torch.Generator`, so a learner's extra calls to
`torch.rand` cannot change the data, and the same seed always gives the same
tensors. `hold_out` splits a learner's own file (sentences, pairs) into what a
`main()` trains on and what it tests on. `default_device` is what a topic's
`main()` trains on when no `--device` is given.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

import torch

T = TypeVar("T")

SPLITS = ("train", "test")


def rng(seed: int, split: str | None = None) -> torch.Generator:
    """A dedicated random generator on the CPU, independent of torch's global state.

    `rng(seed)` draws a data set's fixed parts (a blob's centre, a subspace, a
    vocabulary); `rng(seed, "train")` and `rng(seed, "test")` draw two independent
    samples of it.
    """
    if split is not None and split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    offset = 0 if split is None else 1_000_003 * (1 + SPLITS.index(split))
    return torch.Generator().manual_seed(seed + offset)


def hold_out(items: Sequence[T], seed: int, *, source: str = "the file", what: str = "lines"
             ) -> tuple[list[T], list[T]]:
    """A file's items in a random order drawn from rng(seed) (a file may be sorted by topic
    or length): nine tenths to train on, a tenth (at least one) to test on.

    Returns (train, test). Raises ValueError naming `source` (the file) and `what` (its
    items) when it has fewer than two.
    """
    if len(items) < 2:
        raise ValueError(f"{source} has {len(items)} {what}: give it at least two, one to train on and one to test on")
    order = torch.randperm(len(items), generator=rng(seed)).tolist()
    held_out = max(1, len(items) // 10)
    return [items[i] for i in order[held_out:]], [items[i] for i in order[:held_out]]


def default_device() -> str:
    """'cuda' when a GPU is available, else 'cpu': the default of every topic's `--device`.

    The hidden suites do not use this: they run on the CPU unless given `--kata-device`.
    """
    return "cuda" if torch.cuda.is_available() else "cpu"
