"""The memory limit of a run that tests the learner's files (RLIMIT_DATA, on Linux)."""

from __future__ import annotations

import re

import pytest

from grader.plugin.where import text_of

DEFAULT_MEMORY_LIMIT = "4G"


def parse_size(text: str) -> int:
    """'4G', '512M', '1.5GiB', '0' -> bytes."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([KMGT]?)(?:i?B)?\s*", text, re.IGNORECASE)
    if not match:
        raise pytest.UsageError(f"memory limit {text!r}: write a size such as 4G, 512M or 0 (no limit)")
    scale = {"": 1, "K": 2**10, "M": 2**20, "G": 2**30, "T": 2**40}[match[2].upper()]
    return int(float(match[1]) * scale)


def limit_memory(config: pytest.Config) -> None:
    """Cap the memory of a run that tests the learner's files (or any run given the option)."""
    option = config.getoption("--kata-memory-limit")
    if option is None and config.kata_target != config.kata_root / "exercises":
        return  # the maintainer's runs of the references and mutants
    limit = parse_size(option if option is not None else config.getini("kata_memory_limit"))
    config.kata_memory_limit = limit
    try:
        import resource
    except ImportError:  # Windows
        return
    if not limit:
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_DATA)
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    if soft == resource.RLIM_INFINITY or limit < soft:
        resource.setrlimit(resource.RLIMIT_DATA, (limit, hard))


def size_text(n: int) -> str:
    return f"{n / 2**30:g} GiB" if n >= 2**30 else f"{n / 2**20:g} MiB"


def out_of_memory(exc: BaseException) -> bool:
    return isinstance(exc, MemoryError) or "can't allocate memory" in text_of(exc)
