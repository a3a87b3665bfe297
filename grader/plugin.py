"""The pytest plugin that runs a topic's hidden suite against the learner's file.

Whose files a run tests (its target):
- the learner's, in exercises/: `pytest`, `pytest -m shapes`, `pytest tests/NN_x`
  (or a FAILED line pasted: `pytest tests/NN_x/test_file.py::test_name`) and
  `pytest exercises/NN_x[/any_file.py][::test_name]`;
- the reference solutions: `pytest solutions[/NN_x...]` or `--kata-target=solutions`;
- a folder laid out like exercises/ (`--kata-target=<folder>`: the grader's mutants).
A path into exercises/ or solutions/ becomes the topic's suite in tests/, and a
`::test_name` selection is kept. The suites reach the file under test through the
`topic` fixture, so a file that does not import fails its tests with one readable
block (shown once) instead of stopping collection.

Around the learner's code the plugin keeps each run honest: torch's global state is
restored before each test, a skip or an exit called from the learner's file is a
failure, every collected test must report, output and memory are capped, and an
exception from the learner's code is shown as one summary with its likely cause.
"""

from __future__ import annotations

import ast
import functools
import hashlib
import importlib.util
import inspect
import json
import os
import re
import reprlib
import sys
import threading
import traceback
from pathlib import Path
from types import ModuleType

import pytest

from grader import roadmap
from grader.records import Metric, Record
from grader.text import shorten

TARGET_HELP = ("whose files the hidden suites test: 'exercises' (yours, the default), 'solutions' "
               "(the reference) or a folder laid out like them")
SEED_HELP = "seed for the data and the training runs of accuracy tests (default 0)"
DEVICE_HELP = "device for training runs: 'cpu' (default) or 'cuda'"
RESULTS_HELP = "write one JSON line per event (collected, started, finished test) to this file (the grader reads it)"
MEMORY_HELP = ("most memory a run testing your files may use, e.g. '4G' (default), '512M', or '0' for no limit; "
               "enforced on Linux (RLIMIT_DATA)")
NO_EXIT_HELP = "never end the process early (for runs inside another program)"
DEFAULT_MEMORY_LIMIT = "4G"
OUTPUT_CAP = 10_000  # characters of captured output kept per section of a report
MAX_LINE = 300  # characters of an exception's summary line


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("kata", "PyTorch katas")
    group.addoption("--kata-target", default=None, help=TARGET_HELP)
    group.addoption("--kata-seed", type=int, default=0, help=SEED_HELP)
    group.addoption("--kata-device", default="cpu", help=DEVICE_HELP)
    group.addoption("--kata-results", default=None, help=RESULTS_HELP)
    group.addoption("--kata-memory-limit", default=None, help=MEMORY_HELP)
    group.addoption("--kata-no-exit", action="store_true", help=NO_EXIT_HELP)
    parser.addini("kata_memory_limit", MEMORY_HELP, default=DEFAULT_MEMORY_LIMIT)


# ------------------------------------------------------------------ which files are under test
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


def pytest_configure(config: pytest.Config) -> None:
    root = Path(config.rootpath)
    args, named = redirect(list(config.args), root)
    config.args[:] = args
    option = config.getoption("--kata-target")
    if option in ("exercises", "solutions") and named and option != named:
        raise pytest.UsageError(f"--kata-target={option} and a path into {named}/: one target per pytest run")
    target = option or named or "exercises"
    config.kata_root = root
    config.kata_target = (root / target) if target in ("exercises", "solutions") else Path(target).resolve()
    _check_device(config.getoption("--kata-device"))
    _limit_memory(config)
    config.stash[_RUN] = _Run(config)
    config.pluginmanager.register(config.stash[_RUN], "kata-run")
    if config.getoption("--kata-results"):
        writer = ResultsWriter(config.getoption("--kata-results"), config.getoption("--kata-seed"))
        config.pluginmanager.register(writer, "kata-results")


def pytest_report_header(config: pytest.Config) -> str:
    root, target = config.kata_root, config.kata_target
    settings = f"seed {config.getoption('--kata-seed')}, device {config.getoption('--kata-device')}"
    if target == root / "exercises":
        return f"kata: testing YOUR files in exercises/ ({settings}); the references: pytest solutions"
    if target == root / "solutions":
        return f"kata: testing the REFERENCE solutions in solutions/ ({settings}); your files: pytest exercises"
    return f"kata: testing the files in {target} ({settings})"


def _check_device(device: str) -> None:
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


# ------------------------------------------------------------------ memory
def parse_size(text: str) -> int:
    """'4G', '512M', '1.5GiB', '0' -> bytes."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([KMGT]?)(?:i?B)?\s*", text, re.IGNORECASE)
    if not match:
        raise pytest.UsageError(f"memory limit {text!r}: write a size such as 4G, 512M or 0 (no limit)")
    scale = {"": 1, "K": 2**10, "M": 2**20, "G": 2**30, "T": 2**40}[match[2].upper()]
    return int(float(match[1]) * scale)


def _limit_memory(config: pytest.Config) -> None:
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


def _size(n: int) -> str:
    return f"{n / 2**30:g} GiB" if n >= 2**30 else f"{n / 2**20:g} MiB"


def _out_of_memory(exc: BaseException) -> bool:
    return isinstance(exc, MemoryError) or "can't allocate memory" in str(exc)


# ------------------------------------------------------------------ loading the learner's file
class ImportFailed(pytest.fail.Exception):
    """The file under test does not import (shown in full once per run)."""

    def __init__(self, path: Path, message: str) -> None:
        super().__init__(message, pytrace=False)
        self.path = path


class ReturnError(TypeError):
    """A learner's function returned the wrong type, dtype or device for its signature."""


class MissingName(AttributeError):
    """The file under test lacks a function or class the suite calls."""


def load_file(path: Path) -> ModuleType:
    """Import a topic's file under a name of its own, fresh for each distinct content."""
    source = path.read_bytes()
    digest = hashlib.sha1(source).hexdigest()[:12]
    name = f"kata_{path.parent.name}_{path.stem}_{digest}"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses and pickling look the module up by name
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise
    _guard_module(module, path)
    return module


def _guard_module(module: ModuleType, path: Path) -> None:
    """Name a missing function in the learner's words, and check what their functions return."""
    shown = _display(path)

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
    shown = _display(path)
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
    summary = _summary(exc)
    if frame is None:
        return f"{shown} could not be imported: {summary}"
    return f"{shown}, line {frame.lineno}, while importing: {summary}\n    {frame.line}"


def _not_utf8(path: Path) -> str | None:
    data = path.read_bytes()
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        return (f"{_display(path)} is not UTF-8 text (line {line} has the byte 0x{data[exc.start]:02x}): "
                "save it as UTF-8 in your editor")
    return None


@pytest.fixture(scope="module")
def topic(request: pytest.FixtureRequest) -> ModuleType:
    """The module under test: the learner's file, the solution, or a mutant."""
    slug = request.path.parent.name
    entry = roadmap.load().find(slug)
    path = entry.file_in(request.config.kata_target)
    if not path.is_file():
        what = "is a folder, not a file" if path.is_dir() else "does not exist"
        raise ImportFailed(path, f"{_display(path)} {what}: `python grader reset {entry.number:02d}` "
                                 "brings the stub back")
    try:
        reason = _not_utf8(path)
    except OSError as exc:
        reason = f"{_display(path)} cannot be read: {exc.strerror}"
    if reason:
        raise ImportFailed(path, reason)
    try:
        return load_file(path)
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


def _display(path: Path) -> str:
    """A path as the learner types it: relative to where they run pytest, or to the repository."""
    path = path.resolve()
    for base in (Path.cwd(), roadmap.ROOT):
        if path.is_relative_to(base):
            return str(path.relative_to(base))
    return str(path)


# ------------------------------------------------------------------ one run's state
class _Run:
    """One pytest run: what the plugin remembers, and the hooks that need it.

    Registered per run (not module-level state), so a run inside another run (the
    maintainer's checks run suites in-process) keeps its own.
    """

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.session: pytest.Session | None = None
        self.hung: dict[str, str] = {}  # topic folder -> the first of its tests that hit the time limit
        self.import_failures: dict[Path, str] = {}  # file under test -> the test that showed why
        self.collected: list[str] = []
        self.reported: set[str] = set()
        self.stopped: str = ""  # why the run stopped early, in words
        self.unreported: str = ""  # the message when some tests did not report
        self.pytest_stopped = False
        self.torch_state: dict | None = None
        self.threads_before = set(threading.enumerate())

    def pytest_sessionstart(self, session: pytest.Session) -> None:
        self.session = session

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.when == "call" or (report.when == "setup" and not report.passed):
            self.reported.add(report.nodeid)

    def pytest_keyboard_interrupt(self, excinfo: pytest.ExceptionInfo) -> None:
        """pytest.exit() or KeyboardInterrupt: remember where the learner's code raised it."""
        what = "pytest.exit()" if isinstance(excinfo.value, pytest.exit.Exception) else "KeyboardInterrupt"
        entry = _learner_frame(excinfo, self.config.kata_target.resolve(), folder=True)
        if entry is None and isinstance(excinfo.value, pytest.Session.Interrupted):
            self.pytest_stopped = True  # pytest's own stop (errors while collecting): it says why itself
            return
        self.stopped = f"{what} was raised at {_where(entry)}" if entry else f"{what} stopped the run"

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        """A run in which a collected test did not report is a failure, whatever stopped it."""
        missing = [nodeid for nodeid in self.collected if nodeid not in self.reported]
        if not missing or session.shouldfail or self.pytest_stopped:  # e.g. -x: pytest says why
            return
        why = self.stopped or "the run was stopped before they ran"
        self.unreported = (f"{len(missing)} of {len(self.collected)} tests did not report a result, "
                           f"so this run fails: {why}")
        if session.exitstatus == pytest.ExitCode.OK:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED

    def pytest_terminal_summary(self, terminalreporter) -> None:
        if self.unreported:
            terminalreporter.write_sep("=", "kata", red=True)
            terminalreporter.write_line(self.unreported, red=True)

    @pytest.hookimpl(trylast=True)
    def pytest_unconfigure(self, config: pytest.Config) -> None:
        """End the process if the learner's code left a (non-daemon) thread running.

        Python waits for such threads at exit, so `pytest` would hang after its summary.
        """
        if config.getoption("--kata-no-exit"):
            return
        lingering = [t for t in threading.enumerate()
                     if t not in self.threads_before and t.is_alive() and not t.daemon]
        if not lingering:
            return
        sys.stdout.flush()
        sys.stderr.write(f"kata: your code left {len(lingering)} thread(s) running "
                         f"({', '.join(t.name for t in lingering)}); the run ends without waiting for them\n")
        sys.stderr.flush()
        status = self.session.exitstatus if self.session is not None else 1
        os._exit(int(status))


_RUN = pytest.StashKey[_Run]()


def _run(config: pytest.Config) -> _Run:
    return config.stash[_RUN]


def _in_hidden_suite(item: pytest.Item) -> bool:
    return item.path.parent.parent == item.config.kata_root / "tests"


def _target_file(item: pytest.Item) -> Path | None:
    """The file under test of a hidden suite's test."""
    if not _in_hidden_suite(item):
        return None
    try:
        return roadmap.load().find(item.path.parent.name).file_in(item.config.kata_target).resolve()
    except (KeyError, TypeError):
        return None


# ------------------------------------------------------------------ torch's global state
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
    run = _run(session.config)
    run.collected = [item.nodeid for item in session.items]
    run.torch_state = _torch_state()  # after the conftests: the state every test starts from


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    checks = sys.modules.get("grader.checks")  # imported by the suites; it imports torch
    if checks is not None:
        checks.measured.clear()
    run = _run(item.config)
    if run.torch_state is None:
        run.torch_state = _torch_state()
    _restore_torch(run.torch_state)


# ------------------------------------------------------------------ exits, hangs, lingering threads
class ExitCalled(Exception):
    """The learner's code called os._exit() while a test ran."""


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem):
    real = os._exit

    def guarded_exit(status: int) -> None:
        if threading.current_thread() is not threading.main_thread():
            real(status)  # e.g. pytest-timeout's thread method
        raise ExitCalled(f"your code called os._exit({status}), which would end the test run without a result")

    os._exit = guarded_exit
    try:
        return (yield)
    finally:
        os._exit = real


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> None:
    hung = _run(pyfuncitem.config).hung
    topic_slug = pyfuncitem.path.parent.name
    if _in_hidden_suite(pyfuncitem) and topic_slug in hung:
        # One infinite loop would otherwise cost the time limit once per test that calls it.
        pytest.fail(f"not run: {hung[topic_slug]} hit the time limit earlier (an infinite loop?); "
                    "fix that first, then run the suite again", pytrace=False)


def _timed_out(excinfo: pytest.ExceptionInfo | None) -> bool:
    return excinfo is not None and excinfo.errisinstance(pytest.fail.Exception) and str(excinfo.value).startswith("Timeout")


# ------------------------------------------------------------------ learner-facing reports
def _learner_frame(excinfo: pytest.ExceptionInfo, target: Path | None, *, folder: bool = False):
    """The innermost traceback entry in the file under test (with folder=True: in any file
    under the target folder `target`)."""
    if target is None:
        return None
    for entry in reversed(excinfo.traceback):
        if not entry.path:
            continue
        path = Path(str(entry.path)).resolve()
        if path == target or (folder and path.is_relative_to(target)):
            return entry
    return None


def _first_line(statement) -> str:
    lines = str(statement).strip().splitlines()
    return shorten(lines[0], 160) if lines else ""


def _where(entry) -> str:
    return f"{_display(Path(str(entry.path)))}:{entry.lineno + 1}, in {entry.name}()"


def _summary(exc: BaseException) -> str:
    """An exception's first line, at most MAX_LINE characters, cut between words."""
    lines = [line for line in str(exc).strip().splitlines() if line.strip()]
    text = f"{type(exc).__name__}: {lines[0]}" if lines else type(exc).__name__
    return shorten(text, MAX_LINE)


def _hints(exc: BaseException) -> list[str]:
    checks = sys.modules.get("grader.checks")  # only `checks.calling` adds these notes
    if checks is None:
        return []
    return [note for note in getattr(exc, "__notes__", []) if note.startswith(checks.LIKELY)]


def _todo_message(excinfo: pytest.ExceptionInfo, target: Path | None) -> str | None:
    """A NotImplementedError raised by the file under test itself: the stub's TODO."""
    if not excinfo.errisinstance(NotImplementedError) or target is None:
        return None
    entry = excinfo.traceback[-1]  # where it was raised: the TODO sits on the line above
    if not entry.path or Path(str(entry.path)).resolve() != target:
        return None
    where = f"{_display(Path(str(entry.path)))}:{entry.lineno}"
    return f"not implemented yet ({where}): {excinfo.value}" if str(excinfo.value) else f"not implemented yet ({where})"


def _learner_error(item: pytest.Item, excinfo: pytest.ExceptionInfo, target: Path | None) -> str | None:
    """An exception from the learner's code: one summary, where it came from, its likely cause."""
    exc = excinfo.value
    if not isinstance(exc, Exception):
        return None
    inner = _learner_frame(excinfo, target)
    if isinstance(exc, AssertionError) and not _hints(exc) and (inner is None or excinfo.traceback[-1] != inner):
        return None  # a check failed: its own message says what was expected
    if inner is None and not isinstance(exc, (ReturnError, MissingName, ExitCalled)) and not _hints(exc):
        return None
    lines = [_summary(exc)]
    if inner is not None:
        lines.append(f"  raised at {_where(inner)}: {_first_line(inner.statement)}")
    caller = next((e for e in reversed(excinfo.traceback)
                   if e.path and Path(str(e.path)).resolve() == Path(item.path).resolve()), None)
    if caller is not None:
        lines.append(f"  called by the test at {_where(caller)}: {_first_line(caller.statement)}")
    lines += _hints(exc)
    if _out_of_memory(exc):
        limit = getattr(item.config, "kata_memory_limit", 0)
        lines.append("Likely cause: your code needs more memory than "
                     + (f"a test run may use ({_size(limit)}, --kata-memory-limit)" if limit else "this machine has"))
    return "\n".join(lines)


def _skipped_by_learner(excinfo: pytest.ExceptionInfo, target: Path | None) -> str | None:
    if not excinfo.errisinstance((pytest.skip.Exception, pytest.xfail.Exception)):
        return None
    entry = _learner_frame(excinfo, target)
    if entry is None:
        return None
    what = "pytest.xfail()" if excinfo.errisinstance(pytest.xfail.Exception) else "pytest.skip()"
    return f"your code called {what} at {_where(entry)}: a test cannot be skipped by the file it tests"


def _cap(text: str) -> str:
    if len(text) <= OUTPUT_CAP:
        return text
    half = OUTPUT_CAP // 2
    return (f"{text[:half]}\n[... output cut: {len(text):,} characters in all; the first and last "
            f"{half:,} are shown ...]\n{text[-half:]}")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    report = yield
    run = _run(item.config)
    report.sections = [(title, _cap(text)) for title, text in report.sections]
    if call.when == "call" and _metrics():
        report.user_properties.append(("metrics", _metrics()))
    excinfo = call.excinfo
    if excinfo is None:
        return report
    target = _target_file(item)
    if _timed_out(excinfo) and _in_hidden_suite(item):
        run.hung.setdefault(item.path.parent.name, item.name)
    if excinfo.errisinstance(ImportFailed):
        path = excinfo.value.path
        first = run.import_failures.setdefault(path, item.name)
        if first != item.name:
            report.longrepr = (f"not run: {_display(path)} could not be imported "
                               f"(the reason is shown once, under {first})")
        return report
    skipped = _skipped_by_learner(excinfo, target)
    if skipped:
        report.outcome = "failed"
        report.longrepr = skipped
        if hasattr(report, "wasxfail"):
            del report.wasxfail
        return report
    if report.failed:
        message = _todo_message(excinfo, target) or _learner_error(item, excinfo, target)
        if message:
            report.longrepr = message  # the traceback would be pages of the test's and torch's code
    return report


# ------------------------------------------------------------------ comparing big containers
BIG = 200  # items, nested ones counted (characters for a string), past which a failed == or != is explained in short


def _big(value: object) -> bool:
    """Whether `value` holds more than BIG items, counting those of nested containers."""
    seen, stack = 0, [value]
    while stack and seen <= BIG:
        item = stack.pop()
        if isinstance(item, (str, bytes)):
            seen += len(item)
        elif isinstance(item, (list, tuple, set, frozenset)):
            seen += len(item)
            stack.extend(item)
        elif isinstance(item, dict):
            seen += len(item)
            stack.extend(item.values())
    return seen > BIG


@pytest.hookimpl(wrapper=True)
def pytest_assertrepr_compare(config: pytest.Config, op: str, left: object, right: object):
    """A few lines first, and pytest's diff cut short, when a failed == or != compares big containers.

    pytest's own explanation diffs their pretty-printed forms: quadratic, and never cut
    short when CI (or BUILD_NUMBER) is set, where explaining two lists of twenty sentences
    took longer than a test's time limit. So CI mode is off while pytest explains them.
    """
    if op not in ("==", "!=") or not (_big(left) or _big(right)):
        return (yield)
    saved = {name: os.environ.pop(name) for name in ("CI", "BUILD_NUMBER") if name in os.environ}
    try:
        results = yield
    finally:
        os.environ.update(saved)
    return [_in_short(op, left, right), *results]


def _in_short(op: str, left: object, right: object) -> list[str]:
    short = reprlib.Repr()  # keyword arguments need Python 3.12
    short.maxlist = short.maxtuple = short.maxdict = short.maxset = 8
    short.maxstring = short.maxother = 80
    lines = [f"{short.repr(left)} {op} {short.repr(right)}"]
    if op == "!=":
        return [*lines, "the two sides are equal"]
    sized = (list, tuple, str, bytes)
    if isinstance(left, sized) and isinstance(right, sized):
        if len(left) != len(right):
            lines.append(f"the left side has {len(left)} items, the right side {len(right)}")
        for i, (a, b) in enumerate(zip(left, right)):
            try:
                differ = bool(a != b)
            except Exception:  # e.g. tensors of several elements: no single truth value
                break
            if differ:
                lines.append(f"first difference at index {i}: {short.repr(a)} != {short.repr(b)}")
                break
    return lines


def _metrics() -> list[dict]:
    checks = sys.modules.get("grader.checks")
    return list(checks.measured) if checks is not None else []


def short_message(report: pytest.TestReport) -> str:
    """The one-line reason a test failed, as the grader shows it."""
    longrepr = report.longrepr
    crash = getattr(longrepr, "reprcrash", None)
    text = crash.message if crash is not None else str(longrepr)
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return shorten(lines[0], MAX_LINE) if lines else ""


# ------------------------------------------------------------------ results for the grader
class ResultsWriter:
    """Writes one JSON line per event, flushed at once, so a run killed half-way still tells
    which tests finished and which one was running:

        {"event": "collected", "records": [...]}   every test, status null
        {"event": "started", "nodeid": ..., "topic": ...}
        {"event": "record", "nodeid": ..., "record": {...}}   after a test's teardown
        {"event": "finished", "exitstatus": 0, "stopped": "..."}
    """

    def __init__(self, path: str, seed: int) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.file = self.path.open("a", encoding="utf-8")
        self.seed = seed
        self.records: dict[str, Record] = {}

    def _emit(self, event: dict) -> None:
        self.file.write(json.dumps(event) + "\n")
        self.file.flush()

    def pytest_runtest_logstart(self, nodeid: str, location) -> None:
        record = self.records.get(nodeid)
        self._emit({"event": "started", "nodeid": nodeid, "topic": record.topic if record else None})

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        record = self.records.get(report.nodeid)
        if record is None:
            return
        if report.failed:
            if record.status == "pass" or report.when != "teardown":
                record.status = "fail" if report.when == "call" else "error"
                record.message = short_message(report)
                record.details = report.longreprtext[-4000:]
        elif report.when == "call" and report.passed and record.status is None:
            record.status = "pass"
        elif report.skipped and record.status is None:
            record.status = "skip"
            record.message = short_message(report)
        record.duration += report.duration
        for key, value in report.user_properties:
            if key == "metrics":
                record.metrics = [Metric(**m, seed=self.seed) for m in value]

    def pytest_runtest_logfinish(self, nodeid: str, location) -> None:
        record = self.records.get(nodeid)
        if record is not None:
            self._emit({"event": "record", "nodeid": nodeid, "record": record.to_json()})

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        for item in session.items:
            kinds = [k for k in roadmap.KINDS if item.get_closest_marker(k)]
            task = item.get_closest_marker("task")
            self.records[item.nodeid] = Record(item.path.parent.name, item.name,
                                               kind=kinds[0] if len(kinds) == 1 else None,
                                               task=task.args[0] if task else None)
        self._emit({"event": "collected", "records": {k: r.to_json() for k, r in self.records.items()}})

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        if report.failed:  # a broken test file: report it rather than lose it
            record = Record(Path(report.fspath).parent.name, report.nodeid, status="error",
                            message=short_message(report), details=report.longreprtext[-4000:])
            self.records[report.nodeid] = record
            self._emit({"event": "record", "nodeid": report.nodeid, "record": record.to_json()})

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        # A test that never reported keeps status null: the reader decides what that means
        # (the grader runs its topic again, alone; after -x it simply did not run).
        stopped = _run(session.config).stopped
        self._emit({"event": "finished", "exitstatus": int(session.exitstatus), "stopped": stopped})
        self.file.close()


def read_results(path: Path) -> tuple[dict[str, Record], dict]:
    """A ResultsWriter's file: the records by node id (null status: never reported), and the
    last 'started' and 'finished' events ({} when absent)."""
    records: dict[str, Record] = {}
    events: dict = {}
    if not path.exists():
        return records, events
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            event = json.loads(line)
        except json.JSONDecodeError:  # a line cut by a kill
            continue
        if event["event"] == "collected":
            records.update({k: Record.from_json(r) for k, r in event["records"].items()})
        elif event["event"] == "record":
            records[event["nodeid"]] = Record.from_json(event["record"])
        else:
            events[event["event"]] = event
    return records, events
