"""Exits and hangs: os._exit() from the learner's code fails the test instead of ending the
run (in the test's own process only: a worker process it forked, a DataLoader's or
multiprocessing's, exits as usual); a topic whose test hit the time limit does not pay
it again for every test; and a test that outlives its time limit by far (code that
blocks or ignores the alarm signal pytest-timeout uses) ends the run with a message
instead of hanging it."""

from __future__ import annotations

import os
import sys
import threading

import pytest

from grader.plugin.run import in_hidden_suite, run_of
from grader.plugin.where import text_of


class ExitCalled(Exception):
    """The learner's code called os._exit() while a test ran."""


WATCHDOG_GRACE = 15.0  # seconds past a test's time limit before the watchdog ends the run


def _grace() -> float:
    """WATCHDOG_GRACE, or KATA_WATCHDOG_GRACE's seconds (the grader's own tests wait less)."""
    try:
        return float(os.environ.get("KATA_WATCHDOG_GRACE", WATCHDOG_GRACE))
    except ValueError:
        return WATCHDOG_GRACE


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem):
    real = os._exit
    pid = os.getpid()

    def guarded_exit(status: int) -> None:
        if os.getpid() != pid or threading.current_thread() is not threading.main_thread():
            real(status)  # a forked worker ending, or pytest-timeout's thread method
        raise ExitCalled(f"your code called os._exit({status}), which would end the test run without a result")

    os._exit = guarded_exit
    watchdog = _watchdog(item, real)
    try:
        return (yield)
    finally:
        if watchdog is not None:
            watchdog.cancel()
        os._exit = real
        if os.getpid() != pid:  # a process the learner's code forked came back into pytest: it ends here
            real(0)


def _time_limit(item: pytest.Item) -> float:
    """The test's pytest-timeout limit in seconds (0: none)."""
    try:
        import pytest_timeout

        return float(pytest_timeout._get_item_settings(item).timeout or 0)
    except Exception:  # noqa: BLE001  (another version of pytest-timeout: no watchdog rather than no test)
        return 0.0


def _watchdog(item: pytest.Item, real_exit) -> threading.Timer | None:
    """A timer that ends the process when the test outlives its time limit by the grace."""
    limit = _time_limit(item)
    if not limit or item.config.getoption("--kata-no-exit"):
        return None

    def end_the_run() -> None:
        reason = (f"{item.name} did not stop at its {limit:g} s time limit: your code blocks or ignores the alarm "
                  "signal that ends a test, so the run ends here")
        writer = item.config.pluginmanager.get_plugin("kata-results")
        if writer is not None:
            writer.abort(reason)
        capture = item.config.pluginmanager.get_plugin("capturemanager")
        try:  # the terminal's own streams back, so the message is seen rather than captured with the test
            if capture is not None:
                capture.suspend_global_capture(in_=True)
            sys.stdout.flush()
        finally:
            os.write(2, f"\nkata: {reason}\n".encode("utf-8", "backslashreplace"))
            real_exit(1)

    timer = threading.Timer(limit + _grace(), end_the_run)
    timer.daemon = True
    timer.start()
    return timer


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> None:
    hung = run_of(pyfuncitem.config).hung
    topic_slug = pyfuncitem.path.parent.name
    if in_hidden_suite(pyfuncitem) and topic_slug in hung:
        # One infinite loop would otherwise cost the time limit once per test that calls it.
        pytest.fail(f"not run: {hung[topic_slug]} hit the time limit earlier (an infinite loop?); "
                    "fix that first, then run the suite again", pytrace=False)


def timed_out(excinfo: pytest.ExceptionInfo | None) -> bool:
    """Whether a test failed by pytest-timeout's limit."""
    return (excinfo is not None and excinfo.errisinstance(pytest.fail.Exception)
            and text_of(excinfo.value).startswith("Timeout"))
