"""Assertions for the hidden suites, written for a learner reading a failure.

Each helper hides itself from the traceback and says what was expected, what came,
and the likely cause, e.g.

    sigmoid(z): expected shape (4, 3), got (12,). Likely cause: a reshape or view
    that flattened the input.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterator, Sequence

import torch

LIKELY = "Likely cause: "

# Metrics measured by assert_at_least / assert_at_most during the current test; the
# plugin attaches them to the test's record so seed sweeps can report them.
measured: list[dict] = []


def _hint(hint: str) -> str:
    return f"\n{LIKELY}{hint}" if hint else ""


@contextlib.contextmanager
def calling(hint: str) -> Iterator[None]:
    """Give an exception raised inside the block the likely cause `hint`.

    Wrap the calls into the learner's code whose failure has a known cause:

        with calling("pass stride, padding and dilation on to F.unfold"):
            out = topic.conv2d(x, weight, stride=2)

    When the learner's conv2d raises (a shape error in unfold, say), the report shows
    the exception's one-line summary, where in their file it came from, and
    "Likely cause: pass stride, ...". A failed check keeps its own hint, and so does
    an `assert` written in the block itself: the hint is for what the learner's code raised.
    """
    here = sys._getframe(2).f_code.co_filename  # the test that opened the block
    try:
        yield
    except Exception as exc:
        if _raised_in(exc) not in (here, __file__):
            exc.add_note(f"{LIKELY}{hint}")
        raise


def call(fn: Callable, *args, hint: str, **kwargs):
    """`fn(*args, **kwargs)` inside `calling(hint)`: one call into the learner's code."""
    __tracebackhide__ = True
    with calling(hint):
        return fn(*args, **kwargs)


def _raised_in(exc: BaseException) -> str | None:
    """The file of the innermost frame an exception came from."""
    tb = exc.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    return None if tb is None else tb.tb_frame.f_code.co_filename


def check_tensor(value, name: str, *, shape: Sequence[int] | None = None, dtype: torch.dtype | None = None,
                 finite: bool = True, hint: str = "") -> torch.Tensor:
    """Fail unless `value` is a tensor of this shape (and dtype), without NaN or inf."""
    __tracebackhide__ = True
    if not isinstance(value, torch.Tensor):
        raise AssertionError(f"{name}: expected a torch.Tensor, got {type(value).__name__}: {value!r:.200}{_hint(hint)}")
    if shape is not None and tuple(value.shape) != tuple(shape):
        raise AssertionError(f"{name}: expected shape {tuple(shape)}, got {tuple(value.shape)}{_hint(hint)}")
    if dtype is not None and value.dtype != dtype:
        raise AssertionError(f"{name}: expected dtype {dtype}, got {value.dtype}{_hint(hint)}")
    if finite and value.is_floating_point():
        bad = ~torch.isfinite(value)
        if bad.any():
            count = int(bad.sum())
            first = tuple(int(i) for i in bad.nonzero()[0])
            raise AssertionError(
                f"{name}: {count} of {value.numel()} values are NaN or infinite "
                f"(first at index {first}: {value[first].item()}){_hint(hint)}"
            )
    return value


def assert_close(actual, expected: torch.Tensor, name: str, *, atol: float = 1e-5, rtol: float = 1e-5,
                 hint: str = "") -> None:
    """Fail unless `actual` has `expected`'s shape and values within atol + rtol * |expected|."""
    __tracebackhide__ = True
    actual = check_tensor(actual, name, shape=expected.shape, finite=False, hint=hint)
    actual = actual.detach().to(device="cpu", dtype=torch.float64)
    expected = expected.detach().to(device="cpu", dtype=torch.float64)
    both_nan = actual.isnan() & expected.isnan()
    excess = (actual - expected).abs() - (atol + rtol * expected.abs())
    excess = torch.where(both_nan, torch.zeros_like(excess), excess).nan_to_num(nan=float("inf"))
    if excess.numel() and excess.max() > 0:
        worst = tuple(int(i) for i in torch.nonzero(excess == excess.max())[0])
        diff = (actual - expected).abs()[worst].item()
        bad = int((excess > 0).sum())
        raise AssertionError(
            f"{name}: {bad} of {actual.numel()} values differ from the reference "
            f"(tolerance atol={atol:g}, rtol={rtol:g}).\n"
            f"Largest difference {diff:.4g} at index {worst}: got {actual[worst].item():.6g}, "
            f"expected {expected[worst].item():.6g}.{_hint(hint)}"
        )


def assert_at_least(value: float, bar: float, name: str, *, chance: float | None = None, hint: str = "") -> None:
    """Fail unless a metric reaches its bar (say what chance would give)."""
    __tracebackhide__ = True
    measured.append({"name": name, "value": float(value), "bar": bar, "direction": ">="})
    if not value >= bar:  # also catches NaN
        chance_note = f" (chance is {chance:.2f})" if chance is not None else ""
        raise AssertionError(f"{name}: got {value:.4f}, expected at least {bar:.4f}{chance_note}.{_hint(hint)}")


def assert_at_most(value: float, bar: float, name: str, *, hint: str = "") -> None:
    """Fail unless a metric (a loss, an error) stays at or below its bar."""
    __tracebackhide__ = True
    measured.append({"name": name, "value": float(value), "bar": bar, "direction": "<="})
    if not value <= bar:  # also catches NaN
        raise AssertionError(f"{name}: got {value:.4g}, expected at most {bar:.4g}.{_hint(hint)}")
