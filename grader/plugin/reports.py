"""What a learner reads when a test fails: the TODO it reached, or one summary of the
exception with the line of their file, the test line that called it and the likely
cause, instead of pages of traceback; and the one-line reason the grader shows."""

from __future__ import annotations

import re
import sys
import unittest
from pathlib import Path

import pytest

from grader.plugin.exits import ExitCalled, timed_out
from grader.plugin.loading import ImportFailed, MissingName, ReturnError
from grader.plugin.memory import out_of_memory, size_text
from grader.plugin.run import in_hidden_suite, run_of, target_file
from grader.plugin.where import MAX_LINE, display, first_line, learner_frame, location, summary, text_of
from grader.text import shorten

OUTPUT_CAP = 10_000  # characters of captured output kept per section of a report


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
    where = f"{display(Path(str(entry.path)))}:{entry.lineno}"
    todo = text_of(excinfo.value)
    return f"not implemented yet ({where}): {todo}" if todo else f"not implemented yet ({where})"


def _learner_error(item: pytest.Item, excinfo: pytest.ExceptionInfo, target: Path | None) -> str | None:
    """An exception from the learner's code: one summary, where it came from, its likely cause."""
    exc = excinfo.value
    if not isinstance(exc, Exception):
        return None
    inner = learner_frame(excinfo, target)
    if isinstance(exc, AssertionError) and not _hints(exc) and (inner is None or excinfo.traceback[-1] != inner):
        return None  # a check failed: its own message says what was expected
    if inner is None and not isinstance(exc, (ReturnError, MissingName, ExitCalled)) and not _hints(exc):
        return None
    lines = [summary(exc)]
    if inner is not None:
        lines.append(f"  raised at {location(inner)}: {first_line(inner.statement)}")
    caller = next((e for e in reversed(excinfo.traceback)
                   if e.path and Path(str(e.path)).resolve() == Path(item.path).resolve()), None)
    if caller is not None:
        lines.append(f"  called by the test at {location(caller)}: {first_line(caller.statement)}")
    lines += _hints(exc)
    if out_of_memory(exc):
        limit = getattr(item.config, "kata_memory_limit", 0)
        allowed = f"a test run may use ({size_text(limit)}, --kata-memory-limit)" if limit else "this machine has"
        lines.append(f"Likely cause: your code needs more memory than {allowed}")
    return "\n".join(lines)


def _skipped_by_learner(excinfo: pytest.ExceptionInfo, target: Path | None) -> str | None:
    """A skip or an xfail raised from the file under test (pytest's, or unittest's SkipTest)."""
    if not excinfo.errisinstance((pytest.skip.Exception, pytest.xfail.Exception, unittest.SkipTest)):
        return None
    entry = learner_frame(excinfo, target)
    if entry is None:
        return None
    if excinfo.errisinstance(pytest.xfail.Exception):
        what = "pytest.xfail()"
    elif excinfo.errisinstance(unittest.SkipTest):
        what = "raise unittest.SkipTest"
    else:
        what = "pytest.skip()"
    return f"your code called {what} at {location(entry)}: a test cannot be skipped by the file it tests"


def _cap(text: str) -> str:
    if len(text) <= OUTPUT_CAP:
        return text
    half = OUTPUT_CAP // 2
    return (f"{text[:half]}\n[... output cut: {len(text):,} characters in all; the first and last "
            f"{half:,} are shown ...]\n{text[-half:]}")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    raised = call.excinfo  # before pytest's unittest plugin turns a SkipTest into a skip of its own
    report = yield
    run = run_of(item.config)
    report.sections = [(title, _cap(text)) for title, text in report.sections]
    if call.when == "call" and metrics():
        report.user_properties.append(("metrics", metrics()))
    excinfo = call.excinfo
    if excinfo is None:
        return report
    target = target_file(item)
    if timed_out(excinfo) and in_hidden_suite(item):
        run.hung.setdefault(item.path.parent.name, item.name)
    if excinfo.errisinstance(ImportFailed):
        path = excinfo.value.path
        first = run.import_failures.setdefault(path, item.name)
        if first != item.name:
            report.longrepr = (f"not run: {display(path)} could not be imported "
                               f"(the reason is shown once, under {first})")
        return report
    skipped = _skipped_by_learner(excinfo, target) or (raised is not None and _skipped_by_learner(raised, target))
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


def metrics() -> list[dict]:
    checks = sys.modules.get("grader.checks")
    return list(checks.measured) if checks is not None else []


def short_message(report: pytest.TestReport) -> str:
    """The one-line reason a test failed (or was skipped), as the grader shows it."""
    longrepr = report.longrepr
    crash = getattr(longrepr, "reprcrash", None)
    if crash is not None:
        text = crash.message
    elif isinstance(longrepr, tuple) and len(longrepr) == 3:  # a skip: (path, line, reason)
        text = str(longrepr[2]).removeprefix("Skipped: ")
    else:
        text = str(longrepr)
    lines = [line for line in text.strip().splitlines() if line.strip()]
    first = lines[0] if lines else ""
    first = _OWN_EXCEPTION.sub("", first)  # `grader.plugin.loading.ImportFailed: ...`: the message is the news
    return shorten(first, MAX_LINE)


# The plugin's own exception classes, as pytest prefixes a crash message with them.
_OWN_EXCEPTION = re.compile(r"^(?:grader\.plugin(?:\.\w+)*\.)?(?:ImportFailed|OffLimits|ExitCalled): ")
