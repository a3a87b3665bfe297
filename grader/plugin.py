"""The pytest plugin that runs a topic's hidden suite against the learner's file.

`pytest exercises/06_resnet` collects `tests/06_resnet` and points it at
`exercises/06_resnet/<file>`; `pytest solutions/06_resnet` does the same against the
reference; `pytest tests/06_resnet` defaults to the reference. The suites reach the
file through the `topic` fixture, so a file that does not import fails every test
with one readable line instead of stopping collection.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import sys
import traceback
from pathlib import Path
from types import ModuleType

import pytest

from grader import checks, roadmap
from grader.records import Metric, Record

TARGET_HELP = "whose files the hidden suites test: 'exercises' (yours), 'solutions' (the reference) or a folder laid out like them"
SEED_HELP = "seed for the data and the training runs of accuracy tests (default 0)"
DEVICE_HELP = "device for training runs: 'cpu' (default) or 'cuda'"
RESULTS_HELP = "write one JSON record per test to this file (the grader reads it)"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("kata", "PyTorch katas")
    group.addoption("--kata-target", default=None, help=TARGET_HELP)
    group.addoption("--kata-seed", type=int, default=0, help=SEED_HELP)
    group.addoption("--kata-device", default="cpu", help=DEVICE_HELP)
    group.addoption("--kata-results", default=None, help=RESULTS_HELP)


def redirect(args: list[str], root: Path) -> tuple[list[str], str | None]:
    """Turn `exercises/NN_x[/file.py]` and `solutions/...` arguments into `tests/NN_x`.

    Returns the new arguments and the target they named (None when none did).
    """
    new_args, targets = [], set()
    for arg in args:
        path_part, sep, rest = arg.partition("::")
        path = Path(path_part).resolve()
        try:
            parts = path.relative_to(root).parts
        except ValueError:
            new_args.append(arg)
            continue
        if parts and parts[0] in ("exercises", "solutions"):
            targets.add(parts[0])
            suite = root / "tests"
            if len(parts) > 1:
                suite = suite / parts[1]
            new_args.append(str(suite))
        else:
            new_args.append(arg)
    if len(targets) > 1:
        raise pytest.UsageError("run exercises/ and solutions/ separately: one target per pytest run")
    return new_args, targets.pop() if targets else None


def pytest_configure(config: pytest.Config) -> None:
    root = roadmap.ROOT
    args, named = redirect(list(config.args), root)
    config.args[:] = args
    target = config.getoption("--kata-target") or named or "solutions"
    config.kata_target = (root / target) if target in ("exercises", "solutions") else Path(target).resolve()
    if config.getoption("--kata-results"):
        writer = ResultsWriter(config.getoption("--kata-results"), config.getoption("--kata-seed"))
        config.pluginmanager.register(writer, "kata-results")


def pytest_report_header(config: pytest.Config) -> str:
    return (
        f"kata: target={config.kata_target} seed={config.getoption('--kata-seed')} "
        f"device={config.getoption('--kata-device')}"
    )


# ------------------------------------------------------------------ loading the learner's file
def load_file(path: Path) -> ModuleType:
    """Import a topic's file under a name of its own, fresh for each distinct content."""
    digest = hashlib.sha1(path.read_bytes()).hexdigest()[:12]
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
    return module


def _import_failure(path: Path, exc: BaseException) -> str:
    where = ""
    for frame in reversed(traceback.extract_tb(exc.__traceback__)):
        if Path(frame.filename).resolve() == path.resolve():
            where = f" (line {frame.lineno})"
            break
    if isinstance(exc, SyntaxError):
        where = f" (line {exc.lineno})"
    return f"could not import {path}{where}: {type(exc).__name__}: {exc}"


@pytest.fixture(scope="module")
def topic(request: pytest.FixtureRequest) -> ModuleType:
    """The module under test: the learner's file, the solution, or a mutant."""
    slug = request.path.parent.name
    entry = roadmap.load().find(slug)
    path = entry.file_in(request.config.kata_target)
    if not path.exists():
        pytest.fail(f"{path} does not exist: `python grader reset {entry.number:02d}` brings the stub back", pytrace=False)
    try:
        return load_file(path)
    except pytest.fail.Exception:
        raise  # a time-out while importing
    except BaseException as exc:  # SyntaxError, an exception at import, even SystemExit
        pytest.fail(_import_failure(path, exc), pytrace=False)


@pytest.fixture
def seed(request: pytest.FixtureRequest) -> int:
    return request.config.getoption("--kata-seed")


@pytest.fixture
def device(request: pytest.FixtureRequest) -> str:
    return request.config.getoption("--kata-device")


# ------------------------------------------------------------------ learner-facing reports
def _todo_message(excinfo: pytest.ExceptionInfo) -> str | None:
    if excinfo is None or not excinfo.errisinstance(NotImplementedError):
        return None
    entry = excinfo.traceback[-1]  # where the stub raised: the TODO sits on the line above
    where = f"{_display(Path(entry.path))}:{entry.lineno + 1}"
    return f"not implemented yet ({where}): {excinfo.value}" if str(excinfo.value) else f"not implemented yet ({where})"


def _display(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(roadmap.ROOT))
    except ValueError:
        return str(path)


def pytest_runtest_setup(item: pytest.Item) -> None:
    checks.measured.clear()


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> None:
    hung = pyfuncitem.config.stash.get(_HUNG, {})
    topic_slug = pyfuncitem.path.parent.name
    if _in_hidden_suite(pyfuncitem) and topic_slug in hung:
        # One infinite loop would otherwise cost the time limit once per test that calls it.
        pytest.fail(f"not run: {hung[topic_slug]} hit the time limit earlier (an infinite loop?); "
                    "fix that first, then run the suite again", pytrace=False)


_HUNG = pytest.StashKey[dict]()  # topic folder -> the first test of it that timed out


def _in_hidden_suite(item: pytest.Item) -> bool:
    return item.path.parent.parent == roadmap.ROOT / "tests"


def _timed_out(excinfo: pytest.ExceptionInfo | None) -> bool:
    return excinfo is not None and excinfo.errisinstance(pytest.fail.Exception) and str(excinfo.value).startswith("Timeout")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    report = yield
    if call.when == "call" and checks.measured:
        report.user_properties.append(("metrics", list(checks.measured)))
    if _timed_out(call.excinfo) and _in_hidden_suite(item):
        item.config.stash.setdefault(_HUNG, {}).setdefault(item.path.parent.name, item.name)
    todo = _todo_message(call.excinfo)
    if todo and report.failed:
        report.longrepr = todo  # the traceback only points into the stub's raise
    return report


def short_message(report: pytest.TestReport) -> str:
    """The one-line reason a test failed, as the grader shows it."""
    longrepr = report.longrepr
    crash = getattr(longrepr, "reprcrash", None)
    text = crash.message if crash is not None else str(longrepr)
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[0][:300] if lines else ""


class ResultsWriter:
    """Collects one Record per test: topic, name, what it proves, task, status, message."""

    def __init__(self, path: str, seed: int) -> None:
        self.path = Path(path)
        self.seed = seed
        self.records: dict[str, Record] = {}

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
        record.duration += report.duration
        for key, value in report.user_properties:
            if key == "metrics":
                record.metrics = [Metric(**m, seed=self.seed) for m in value]

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        for item in session.items:
            kinds = [k for k in roadmap.KINDS if item.get_closest_marker(k)]
            task = item.get_closest_marker("task")
            self.records[item.nodeid] = Record(item.path.parent.name, item.name,
                                               kind=kinds[0] if len(kinds) == 1 else None,
                                               task=task.args[0] if task else None)

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        if report.failed:  # a broken test file: report it rather than lose it
            self.records[report.nodeid] = Record(Path(report.fspath).parent.name, report.nodeid, status="error",
                                                 message=short_message(report),
                                                 details=report.longreprtext[-4000:])

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        for record in self.records.values():
            if record.status is None:  # interrupted, e.g. by -x
                record.status = "error"
                record.message = record.message or "did not run to the end"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.write_text(json.dumps([r.to_json() for r in self.records.values()], indent=1), encoding="utf-8")
