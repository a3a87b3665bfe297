"""Exits and hangs: os._exit() from the learner's code fails the test instead of ending the
run, and a topic whose test hit the time limit does not pay it again for every test."""

from __future__ import annotations

import os
import threading

import pytest

from grader.plugin.run import in_hidden_suite, run_of


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
    hung = run_of(pyfuncitem.config).hung
    topic_slug = pyfuncitem.path.parent.name
    if in_hidden_suite(pyfuncitem) and topic_slug in hung:
        # One infinite loop would otherwise cost the time limit once per test that calls it.
        pytest.fail(f"not run: {hung[topic_slug]} hit the time limit earlier (an infinite loop?); "
                    "fix that first, then run the suite again", pytrace=False)


def timed_out(excinfo: pytest.ExceptionInfo | None) -> bool:
    """Whether a test failed by pytest-timeout's limit."""
    return (excinfo is not None and excinfo.errisinstance(pytest.fail.Exception)
            and str(excinfo.value).startswith("Timeout"))
