"""PyTorch's process-global state, put back before each test: one topic's settings never
reach another's tests."""

from __future__ import annotations

import sys

import pytest

from grader.plugin.run import run_of


def _torch_state() -> dict | None:
    torch = sys.modules.get("torch")
    if torch is None:
        return None
    return {
        "dtype": torch.get_default_dtype(),
        "grad": torch.is_grad_enabled(),
        "anomaly": (torch.is_anomaly_enabled(), torch.is_anomaly_check_nan_enabled()),
        "deterministic": (torch.are_deterministic_algorithms_enabled(),
                          torch.is_deterministic_algorithms_warn_only_enabled()),
        "threads": torch.get_num_threads(),
        "device": torch.get_default_device(),
        "matmul": torch.get_float32_matmul_precision(),
        "cudnn": (torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark),
    }


def _restore_torch(saved: dict | None) -> None:
    """Put back what _torch_state saw; only what changed (some setters import a lot)."""
    now = _torch_state()
    if saved is None or saved == now:
        return
    import torch

    setters = {
        "dtype": torch.set_default_dtype,
        "grad": torch.set_grad_enabled,
        "anomaly": lambda value: torch.set_anomaly_enabled(*value),
        "deterministic": lambda value: torch.use_deterministic_algorithms(value[0], warn_only=value[1]),
        "threads": torch.set_num_threads,
        "device": lambda value: torch.set_default_device(None if value == torch.device("cpu") else value),
        "matmul": torch.set_float32_matmul_precision,
    }
    for key, set_value in setters.items():
        if now[key] != saved[key]:
            set_value(saved[key])
    if now["cudnn"] != saved["cudnn"]:
        torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = saved["cudnn"]


def pytest_collection_finish(session: pytest.Session) -> None:
    run = run_of(session.config)
    run.torch_state = _torch_state()  # after the conftests: the state every test starts from


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    checks = sys.modules.get("grader.checks")  # imported by the suites; it imports torch
    if checks is not None:
        checks.measured.clear()
    run = run_of(item.config)
    if run.torch_state is None:
        run.torch_state = _torch_state()
    _restore_torch(run.torch_state)
