"""One pytest run's state: what the plugin remembers between hooks (time-outs, import
failures, which tests reported), and the rule that a run in which a collected test did
not report fails."""

from __future__ import annotations

import os
import sys
import threading
from pathlib import Path

import pytest

from grader import roadmap
from grader.plugin.where import learner_frame, location


class Run:
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

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        self.collected = [item.nodeid for item in session.items]

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.when == "call" or (report.when == "setup" and not report.passed):
            self.reported.add(report.nodeid)

    def pytest_keyboard_interrupt(self, excinfo: pytest.ExceptionInfo) -> None:
        """pytest.exit() or KeyboardInterrupt: remember where the learner's code raised it."""
        what = "pytest.exit()" if isinstance(excinfo.value, pytest.exit.Exception) else "KeyboardInterrupt"
        entry = learner_frame(excinfo, self.config.kata_target.resolve(), folder=True)
        if entry is None and isinstance(excinfo.value, pytest.Session.Interrupted):
            self.pytest_stopped = True  # pytest's own stop (errors while collecting): it says why itself
            return
        self.stopped = f"{what} was raised at {location(entry)}" if entry else f"{what} stopped the run"

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


RUN = pytest.StashKey[Run]()


def run_of(config: pytest.Config) -> Run:
    return config.stash[RUN]


def in_hidden_suite(item: pytest.Item) -> bool:
    return item.path.parent.parent == item.config.kata_root / "tests"


def target_file(item: pytest.Item) -> Path | None:
    """The file under test of a hidden suite's test."""
    if not in_hidden_suite(item):
        return None
    try:
        return roadmap.load().find(item.path.parent.name).file_in(item.config.kata_target).resolve()
    except (KeyError, TypeError):
        return None
