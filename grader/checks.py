"""Assertions for the hidden suites, written for a learner reading a failure.

Each helper hides itself from the traceback and says what was expected, what came,
and the likely cause, e.g.

    sigmoid(z): expected shape (4, 3), got (12,). Likely cause: a reshape or view
    that flattened the input.

`on_meta` and `check_on_meta` run the learner's code on PyTorch's `meta` device
(tensors with shapes and no data), a stand-in for a GPU at no cost: a tensor the
code makes on the CPU by default fails there as it would on a GPU.
"""

from __future__ import annotations

import contextlib
import linecache
import os
import sys
from collections.abc import Callable, Iterator, Sequence

import torch

from grader.text import exception_text

LIKELY = "Likely cause: "
# The usual reason why code fails on another device than the CPU, or returns a tensor on the wrong one.
DEVICE = ("a tensor made without device= lands on the CPU: make new tensors from the input (torch.zeros_like(x), "
          "x.new_zeros(n), torch.where(c, x, 0.0)) or pass device=x.device, and keep the input on its device "
          "(no .cpu(), .numpy() or copy into a CPU tensor)")

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
                 device: torch.device | str | None = None, finite: bool = True, hint: str = "") -> torch.Tensor:
    """Fail unless `value` is a tensor of this shape (and dtype, and device), without NaN or inf.

    `device` compares the device's type ("meta", "cuda"), and its index when it names one;
    its failure falls back on the likely cause DEVICE when no `hint` is given. A meta
    tensor has no values, so the finiteness check passes over it.
    """
    __tracebackhide__ = True
    if not isinstance(value, torch.Tensor):
        raise AssertionError(
            f"{name}: expected a torch.Tensor, got {type(value).__name__}: {value!r:.200}{_hint(hint)}")
    if shape is not None and tuple(value.shape) != tuple(shape):
        raise AssertionError(f"{name}: expected shape {tuple(shape)}, got {tuple(value.shape)}{_hint(hint)}")
    if dtype is not None and value.dtype != dtype:
        raise AssertionError(f"{name}: expected dtype {dtype}, got {value.dtype}{_hint(hint)}")
    if device is not None and not _same_device(value.device, torch.device(device)):
        raise AssertionError(f"{name}: expected a tensor on the {torch.device(device)} device, got one on "
                             f"{value.device}{_hint(hint or DEVICE)}")
    if finite and value.is_floating_point() and value.device.type != "meta":
        bad = ~torch.isfinite(value)
        if bad.any():
            count = int(bad.sum())
            first = tuple(int(i) for i in bad.nonzero()[0])
            raise AssertionError(
                f"{name}: {count} of {value.numel()} values are NaN or infinite "
                f"(first at index {first}: {value[first].item()}){_hint(hint)}"
            )
    return value


def _same_device(got: torch.device, expected: torch.device) -> bool:
    return got.type == expected.type and (expected.index is None or got.index == expected.index)


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


def assert_equal(actual, expected: torch.Tensor, name: str, *, hint: str = "") -> None:
    """Fail unless `actual` is a tensor of `expected`'s shape holding exactly its values
    (torch.equal: values compared after type promotion, NaN equal to nothing).

    Use it in place of `assert torch.equal(a, b), "..."`, whose failure shows the raw
    tensors: this one says the shape, how many values differ and the first that does.
    """
    __tracebackhide__ = True
    actual = check_tensor(actual, name, shape=expected.shape, finite=False, hint=hint)
    if "meta" in (actual.device.type, expected.device.type):
        return  # no values to compare
    got, want = actual.detach().cpu(), expected.detach().cpu()
    differ = got != want
    if bool(differ.any()):
        first = tuple(int(i) for i in differ.nonzero()[0])
        where = f"index {first}" if first else "the one value"
        raise AssertionError(
            f"{name}: {int(differ.sum())} of {got.numel()} values differ from the expected ones "
            f"(first at {where}: got {_scalar(got[first])}, expected {_scalar(want[first])}){_hint(hint)}"
        )


def _scalar(value: torch.Tensor) -> str:
    """One element as Python writes it: every digit of a float, since equality is exact."""
    return repr(value.item())


IN_PLACE = ("an in-place operation on an input (add_, mul_, clamp_, +=, x[mask] = ..., or returning the input "
            "itself where a new tensor was meant): compute into new tensors")


def clones(**tensors: torch.Tensor) -> dict[str, torch.Tensor]:
    """Copies of a call's inputs, taken before it, to show afterwards that the call left them alone."""
    return {name: t.detach().clone() for name, t in tensors.items()}


def fill_uniform(module: torch.nn.Module, generator: torch.Generator, scale: float) -> torch.nn.Module:
    """Every parameter of `module` drawn uniformly from (-scale, scale) with `generator`, in
    place, so that every weight, gate and bias matters to a comparison. Returns the module."""
    with torch.no_grad():
        for p in module.parameters():
            p.copy_((torch.rand(p.shape, generator=generator, dtype=p.dtype) * 2 - 1) * scale)
    return module


def check_unchanged(call: str, before: dict[str, torch.Tensor], *, hint: str = IN_PLACE, **after: torch.Tensor) -> None:
    """Each input still holds the values it held before `call` (against its copy from `clones`)."""
    __tracebackhide__ = True
    for name, value in after.items():
        assert_close(value, before[name], f"{name} after {call}, against a copy taken before the call", atol=0, rtol=0,
                     hint=f"{call} changed its input {name}, which the caller still needs: {hint}")


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


# ------------------------------------------------------------------ on the meta device
class _NeedsValues(Exception):
    """Raised by Tensor.tolist on a meta tensor inside `on_meta`: the code reads values, it is not wrong."""


class on_meta:  # noqa: N801  (a context manager, named and used like contextlib.suppress)
    """Run a block of the learner's code on `meta` inputs; `.ran` says whether it ran to its end.

        with on_meta("conv2d(x, weight)", hint=UNFOLD) as meta:
            out = topic.conv2d(torch.randn(2, 3, 8, 8, device="meta"), torch.randn(4, 3, 3, 3, device="meta"))
        if meta.ran:
            check_tensor(out, "conv2d on the meta device", shape=(2, 4, 6, 6), device="meta")

    The meta device stands in for a GPU at no cost. What happens inside the block:
    - a device mismatch (a tensor made without device=, a .cpu(), a meta tensor copied
      into a CPU one) fails as an AssertionError that names the call, the line it came
      from and the likely cause (`hint`, by default DEVICE);
    - code that needs real values (.item(), bool(t), .tolist(), a boolean mask, unique)
      cannot run on meta and is correct all the same: the block stops, the error is
      dropped and `ran` is False, so the checks on its results are skipped, not failed;
    - any other exception (the stub's own NotImplementedError, a shape error) passes
      through untouched. torch's NotImplementedErrors on meta never do, so none is
      reported as the learner's unfinished TODO.
    Build a module under `with torch.device("meta"):` and call it here, outside that
    block: inside it, a tensor made without device= lands on meta too and proves nothing.
    """

    def __init__(self, name: str, *, hint: str = "") -> None:
        self.name = name
        self.hint = hint or DEVICE
        self.ran = False
        self.reason = ""  # why the block stopped early, when ran is False
        self._tolist = None

    def __enter__(self) -> on_meta:
        self._tolist = torch.Tensor.__dict__.get("tolist")
        inherited = torch.Tensor.tolist

        def tolist(tensor, *args, **kwargs):
            if tensor.device.type == "meta":  # torch's own error would read as a device bug
                raise _NeedsValues("Tensor.tolist() needs the values a meta tensor does not have")
            return inherited(tensor, *args, **kwargs)

        torch.Tensor.tolist = tolist
        return self

    def __exit__(self, kind, exc, tb) -> bool:
        __tracebackhide__ = True
        if self._tolist is None:
            del torch.Tensor.tolist
        else:
            torch.Tensor.tolist = self._tolist
        if exc is None:
            self.ran = True
            return False
        if not isinstance(exc, Exception):
            return False  # KeyboardInterrupt, a pytest skip or exit
        cause = _meta_failure(exc)
        if cause == "values":
            self.reason = _first_line(exc)
            return True
        if cause == "device":
            raise AssertionError(
                f"{self.name} on the meta device (a stand-in for a GPU: shapes, no data) failed:\n"
                f"  {type(exc).__name__}: {_first_line(exc)}{_origin(exc)}\n{LIKELY}{self.hint}"
            ) from None
        return False


def check_on_meta(name: str, fn: Callable, *args, shape: Sequence[int] | None = None, dtype: torch.dtype | None = None,
                  hint: str = "", **kwargs) -> torch.Tensor | None:
    """`fn(*args, **kwargs)` inside `on_meta(name)`; its result must be a tensor on the meta device.

        check_on_meta("sigmoid(z) for z (2, 3)", topic.sigmoid, torch.empty(2, 3, device="meta"), shape=(2, 3))

    Returns the result, or None when fn needed real values (then nothing is checked).
    `hint` is the likely cause of every failure here; DEVICE when not given.
    """
    __tracebackhide__ = True
    with on_meta(name, hint=hint) as meta:
        result = fn(*args, **kwargs)
    if not meta.ran:
        return None
    return check_tensor(result, f"{name} on the meta device", shape=shape, dtype=dtype, device="meta",
                        hint=hint or DEVICE)


def check_follows_the_input(make: Callable[[], torch.nn.Module], x: torch.Tensor, shape: Sequence[int],
                            name: str) -> None:
    """The module `make()` builds runs on the meta device, and in float64 as it does in float32.

        check_follows_the_input(lambda: topic.Down(4, 8), torch.randn(2, 4, 11, 7), (2, 8, 5, 3), "Down(4, 8)")
    """
    __tracebackhide__ = True
    hint = ("every tensor the module makes must follow the input: torch.zeros(n) with no device= lands on the CPU "
            "(use torch.zeros_like(x) or device=x.device), and a .float() turns float64 into float32")
    with torch.no_grad():
        check_on_meta(name, make().eval().to("meta"), x.to("meta"), shape=shape, hint=hint)
        check_tensor(make().eval().double()(x.double()), f"{name} in float64 (module.double(), float64 input)",
                     shape=shape, dtype=torch.float64, hint=hint)


def _meta_failure(exc: Exception) -> str | None:
    """'device', 'values' (code that reads values) or None (not the meta device's doing), from torch's messages."""
    if isinstance(exc, _NeedsValues):
        return "values"
    text = exception_text(exc).lower()
    if isinstance(exc, NotImplementedError):
        if "cannot copy out of meta tensor" in text:  # .cpu(), or a CPU tensor given the input's values
            return "device"
        if "meta tensor" in text or "register_meta" in text or "'meta' backend" in text:
            return "values"  # an operator whose output size depends on the values: nonzero, a boolean mask
        return None  # the stub's TODO
    if isinstance(exc, RuntimeError):
        if "device" in text:  # "Tensor on device cpu is not on the expected device meta!"
            return "device"
        if "meta tensor" in text:  # "Tensor.item() cannot be called on meta tensors", bool(t), float(t)
            return "values"
        return None
    if isinstance(exc, TypeError) and "can't convert meta" in text:  # .numpy(), which fails on a GPU too
        return "device"
    return None


def _first_line(exc: BaseException) -> str:
    lines = [line for line in exception_text(exc).splitlines() if line.strip()]
    return lines[0] if lines else type(exc).__name__


def _origin(exc: BaseException) -> str:
    """'\n  at path:line: statement' for the innermost frame outside torch and this file, or ''."""
    torch_dir = os.path.dirname(torch.__file__) + os.sep
    found = None
    tb = exc.__traceback__
    while tb is not None:
        path = tb.tb_frame.f_code.co_filename
        if not path.startswith(torch_dir) and path != __file__ and not path.startswith("<"):
            found = (path, tb.tb_lineno)
        tb = tb.tb_next
    if found is None:
        return ""
    path, line = found
    try:
        shown = os.path.relpath(path)
    except ValueError:  # another drive, on Windows
        shown = path
    return f"\n  at {shown}:{line}: {linecache.getline(path, line).strip()}"
