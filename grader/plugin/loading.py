"""Loading the file under test: the `topic` fixture imports the learner's file (or the
solution, or a mutant) under a name of its own, turns a file that does not import into
one readable failure, names a missing function in the learner's words and checks what
their functions return against their signatures."""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import inspect
import re
import sys
import traceback
from pathlib import Path
from types import ModuleType

import pytest

from grader import files, roadmap
from grader.plugin.where import display, summary


class ImportFailed(pytest.fail.Exception):
    """The file under test does not import (shown in full once per run)."""

    def __init__(self, path: Path, message: str) -> None:
        super().__init__(message, pytrace=False)
        self.path = path


class ReturnError(TypeError):
    """A learner's function returned the wrong type, dtype or device for its signature."""


class MissingName(AttributeError):
    """The file under test lacks a function or class the suite calls."""


def load_file(path: Path, source: bytes | None = None) -> ModuleType:
    """Import a topic's file under a name of its own, fresh for each distinct content.

    The bytes are read once and those very bytes run, so `__kata_sha256__` (what the
    results are keyed on) is the code that was tested, even if the file is saved again
    while the tests run.
    """
    source = path.read_bytes() if source is None else source
    digest = hashlib.sha256(source).hexdigest()
    name = f"kata_{path.parent.name}_{path.stem}_{digest[:12]}"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    module.__kata_sha256__ = digest
    sys.modules[name] = module  # dataclasses and pickling look the module up by name
    try:
        exec(compile(source, str(path), "exec", dont_inherit=True), vars(module))
    except BaseException:
        del sys.modules[name]
        raise
    _guard_module(module, path)
    return module


def _guard_module(module: ModuleType, path: Path) -> None:
    """Name a missing function in the learner's words, and check what their functions return."""
    shown = display(path)

    def missing(attr: str):
        if attr.startswith("__"):
            raise AttributeError(attr)
        public = [n for n in vars(module) if not n.startswith("_")]
        import difflib

        close = difflib.get_close_matches(attr, public, n=1)
        guess = f" (did you rename it to `{close[0]}`?)" if close else " (did you rename it?)"
        raise MissingName(f"your file {shown} has no function or class `{attr}`{guess}")

    if "__getattr__" not in vars(module):
        module.__getattr__ = missing
    for name, value in list(vars(module).items()):
        if inspect.isfunction(value) and value.__module__ == module.__name__:
            setattr(module, name, _checked(value))
        elif inspect.isclass(value) and value.__module__ == module.__name__:
            for attr, member in list(vars(value).items()):
                if inspect.isfunction(member) and not attr.startswith("__"):
                    setattr(value, attr, _checked(member))


def _tensor_annotation(annotation) -> int | None:
    """0 for `-> Tensor`, n for `-> tuple[Tensor, ...]` of n tensors, None otherwise."""
    text = annotation if isinstance(annotation, str) else getattr(annotation, "__name__", repr(annotation))
    text = text.replace("torch.", "").replace(" ", "")
    if text == "Tensor":
        return 0
    match = re.fullmatch(r"tuple\[Tensor(?:,Tensor)*\]", text)
    return text.count("Tensor") if match else None


def _checked(fn):
    """`fn`, failing with a clear message when it returns something its signature does not promise."""
    expected = _tensor_annotation(fn.__annotations__.get("return", ""))
    if expected is None:
        return fn

    @functools.wraps(fn)
    def checked(*args, **kwargs):
        __tracebackhide__ = True
        result = fn(*args, **kwargs)
        _check_result(fn, result, expected, [*args, *kwargs.values()])
        return result

    return checked


def _check_result(fn, result, expected: int, inputs: list) -> None:
    import torch

    __tracebackhide__ = True
    name = f"{fn.__qualname__}()"
    if expected == 0:
        values = [result]
    elif not isinstance(result, tuple) or len(result) != expected:
        got = f"a tuple of {len(result)}" if isinstance(result, tuple) else type(result).__name__
        raise ReturnError(f"{name} returned {got}: its signature promises a tuple of {expected} tensors")
    else:
        values = list(result)
    tensors = [x for x in inputs if isinstance(x, torch.Tensor)]
    floats = {x.dtype for x in tensors if x.is_floating_point()}
    devices = {x.device for x in tensors}
    for value in values:
        if not isinstance(value, torch.Tensor):
            kind = "None (a missing return?)" if value is None else type(value).__name__
            raise ReturnError(f"{name} returned {kind}: expected a torch.Tensor")
        if len(floats) == 1 and value.is_floating_point() and value.dtype not in floats:
            (dtype,) = floats
            raise ReturnError(f"{name} returned dtype {value.dtype} for {dtype} inputs: expected {dtype}. "
                              "Create new tensors with the inputs' dtype (dtype=x.dtype, or zeros_like)")
        if len(devices) == 1 and value.device not in devices:
            (device,) = devices
            raise ReturnError(f"{name} returned a tensor on {value.device} for inputs on {device}: "
                              f"expected {device}. Create new tensors on the inputs' device (device=x.device)")


def _import_failure(path: Path, exc: BaseException) -> str:
    """The block a learner sees when their file does not import: where, the line, a caret."""
    shown = display(path)
    if isinstance(exc, SyntaxError) and exc.lineno:
        lines = [f"{shown}, line {exc.lineno}: {type(exc).__name__}: {exc.msg}"]
        if exc.text:
            text = exc.text.rstrip("\n")
            stripped = text.lstrip()
            lines.append(f"    {stripped}")
            if exc.offset:
                start = max(exc.offset - (len(text) - len(stripped)), 1)
                end = exc.end_offset if exc.end_offset and exc.end_offset > exc.offset else exc.offset + 1
                lines.append("    " + " " * (start - 1) + "^" * max(end - exc.offset, 1))
        return "\n".join(lines)
    frame = None
    for entry in reversed(traceback.extract_tb(exc.__traceback__)):
        if Path(entry.filename).resolve() == path.resolve():
            frame = entry
            break
    text = summary(exc)
    if frame is None:
        return f"{shown} could not be imported: {text}"
    return f"{shown}, line {frame.lineno}, while importing: {text}\n    {frame.line}"


def _not_utf8(path: Path, data: bytes) -> str | None:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        return (f"{display(path)} is not UTF-8 text (line {line} has the byte 0x{data[exc.start]:02x}): "
                "save it as UTF-8 in your editor")
    return None


@pytest.fixture(scope="module")
def topic(request: pytest.FixtureRequest) -> ModuleType:
    """The module under test: the learner's file, the solution, or a mutant."""
    slug = request.path.parent.name
    entry = roadmap.load().find(slug)
    path = entry.file_in(request.config.kata_target)
    restore = f"`python grader reset {entry.number:02d}` brings the stub back"
    if path.is_dir() or not path.exists():
        what = "is a folder, not a file" if path.is_dir() else "does not exist"
        raise ImportFailed(path, f"{display(path)} {what}: {restore}")
    try:  # a FIFO or a link to /dev/zero is refused before it is opened: it would never end
        source = files.read_bytes(path)
    except files.Refused as exc:
        raise ImportFailed(path, f"{exc}: {restore}") from None  # "<file> is a FIFO (named pipe), not a regular file"
    except OSError as exc:
        raise ImportFailed(path, f"{display(path)} cannot be read: {exc.strerror or exc}") from None
    reason = _not_utf8(path, source)
    if reason:
        raise ImportFailed(path, reason)
    try:
        return load_file(path, source)
    except pytest.fail.Exception as exc:
        if isinstance(exc, pytest.xfail.Exception):
            raise ImportFailed(path, _import_failure(path, exc)) from None
        raise  # a time-out while importing
    except BaseException as exc:  # SyntaxError, an exception at import, even SystemExit or a skip
        raise ImportFailed(path, _import_failure(path, exc)) from None


@pytest.fixture
def seed(request: pytest.FixtureRequest) -> int:
    return request.config.getoption("--kata-seed")


@pytest.fixture
def device(request: pytest.FixtureRequest) -> str:
    return request.config.getoption("--kata-device")
