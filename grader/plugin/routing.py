"""Which files a run tests: `exercises/NN_x[/file.py][::name]` and `solutions/...` arguments
become the topic's suite in tests/, with the target they named; the header that says
whose files are under test; and, for the maintainer's mutants, the cheap tests first."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest


def _defining_file(suite: Path, name: str) -> Path | None:
    """The test file of a suite that defines the test (or class) `name` at its top level."""
    for path in sorted(suite.glob("test_*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        if any(isinstance(node, (ast.FunctionDef, ast.ClassDef)) and node.name == name for node in tree.body):
            return path
    return None


def redirect(args: list[str], root: Path) -> tuple[list[str], str | None]:
    """Turn `exercises/NN_x[/file.py][::name]` and `solutions/...` arguments into the suites in `tests/`.

    Returns the new arguments and the target they named (None when none did).
    """
    new_args, targets = [], set()
    for arg in args:
        path_part, sep, selection = arg.partition("::")
        try:
            parts = Path(path_part).resolve().relative_to(root).parts
        except ValueError:
            new_args.append(arg)
            continue
        if not parts or parts[0] not in ("exercises", "solutions"):
            new_args.append(arg)
            continue
        targets.add(parts[0])
        if len(parts) == 1:
            new_args.append(str(root / "tests"))
            continue
        suite = root / "tests" / parts[1]
        if not selection:
            new_args.append(str(suite))
            continue
        name = re.split(r"[\[:]", selection, maxsplit=1)[0]
        test_file = _defining_file(suite, name) if suite.is_dir() else None
        if test_file is None:
            raise pytest.UsageError(f"{arg}: no test named {name!r} in tests/{parts[1]}; "
                                    f"run `pytest {parts[0]}/{parts[1]}` to see its tests")
        new_args.append(f"{test_file}::{selection}")
    if len(targets) > 1:
        raise pytest.UsageError("run exercises/ and solutions/ separately: one target per pytest run")
    return new_args, targets.pop() if targets else None



def pytest_report_header(config: pytest.Config) -> str:
    root, target = config.kata_root, config.kata_target
    settings = f"seed {config.getoption('--kata-seed')}, device {config.getoption('--kata-device')}"
    if target == root / "exercises":
        return f"kata: testing YOUR files in exercises/ ({settings}); the references: pytest solutions"
    if target == root / "solutions":
        return f"kata: testing the REFERENCE solutions in solutions/ ({settings}); your files: pytest exercises"
    return f"kata: testing the files in {target} ({settings})"


def check_device(device: str) -> None:
    if device == "cpu":
        return
    import torch

    try:
        parsed = torch.device(device)
    except (RuntimeError, ValueError):
        raise pytest.UsageError(f"--kata-device {device}: not a device PyTorch knows; use cpu or cuda") from None
    if parsed.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0:
            raise pytest.UsageError(f"--kata-device {device}: this machine has no CUDA GPU that PyTorch can use "
                                    "(torch.cuda.is_available() is False); leave the option out to test on the CPU")
        if parsed.index is not None and parsed.index >= count:
            raise pytest.UsageError(f"--kata-device {device}: this machine has {count} CUDA GPU(s), "
                                    f"numbered from 0 to {count - 1}")
    elif parsed.type == "mps" and not torch.backends.mps.is_available():
        raise pytest.UsageError(f"--kata-device {device}: Apple's MPS is not available on this machine")


KIND_ORDER = ("shapes", "gradients", "accuracy")  # cheapest first


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """With --kata-first TASK, that task's tests run first; with --kata-fast-first, the cheap
    tests first (shapes, gradients, accuracy) within those and within the rest. The order
    is otherwise kept (the sort is stable)."""
    first, fast = set(config.getoption("--kata-first")), config.getoption("--kata-fast-first")
    if not first and not fast:
        return

    def rank(item: pytest.Item) -> tuple[int, int]:
        marker = item.get_closest_marker("task")
        task = marker.args[0] if marker is not None and marker.args else None
        kinds = [i for i, kind in enumerate(KIND_ORDER) if item.get_closest_marker(kind)]
        return (0 if task in first else 1), (kinds[0] if kinds and fast else len(KIND_ORDER))

    items.sort(key=rank)
