"""What the grader does so that nothing a test run started outlives it.

- `contain()` (Linux): the grader becomes a child subreaper (prctl PR_SET_CHILD_SUBREAPER),
  so a process that the learner's code daemonised (a double fork and setsid, which
  leaves the test process's group) is re-parented to the grader, not to init; after
  the run, `end_new_descendants` finds it through /proc and kills it.
- `on_termination()`: SIGTERM and SIGHUP (what `timeout`, CI and a closed terminal send,
  also through `uv run`, which passes them on) raise Terminated in the grader, so that
  the `finally` blocks that kill the test process and remove its temporary folder run,
  as they do for Ctrl-C; the command then exits with 128 + the signal's number.

Not contained: on other systems (no subreaper, no /proc) a daemonised process survives,
as it does under plain `pytest`, whose process is not a subreaper.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import time

PR_SET_CHILD_SUBREAPER = 36  # linux/prctl.h
_subreaper: bool | None = None


class Terminated(BaseException):
    """The grader received SIGTERM or SIGHUP (a BaseException: no `except Exception` keeps it)."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def contain() -> bool:
    """Make this process a child subreaper (once); whether it is one."""
    global _subreaper
    if _subreaper is None:
        _subreaper = False
        if sys.platform.startswith("linux"):
            with contextlib.suppress(Exception):
                import ctypes

                libc = ctypes.CDLL(None, use_errno=True)
                _subreaper = libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0
    return _subreaper


def _table() -> dict[int, tuple[int, str]]:
    """{pid: (parent pid, state)} of every process /proc shows ({} without /proc)."""
    table = {}
    try:
        names = os.listdir("/proc")
    except OSError:
        return table
    for name in names:
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as f:
                fields = f.read().rsplit(b")", 1)[1].split()  # the name, in parentheses, may hold anything
        except (OSError, IndexError):
            continue  # it ended meanwhile
        table[int(name)] = (int(fields[1]), fields[0].decode("ascii", "replace"))
    return table


def descendants(table: dict[int, tuple[int, str]] | None = None) -> set[int]:
    """The processes below this one (children, their children, ...), as /proc shows them now."""
    table = _table() if table is None else table
    children: dict[int, list[int]] = {}
    for pid, (ppid, _) in table.items():
        children.setdefault(ppid, []).append(pid)
    found, todo = set(), [os.getpid()]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def end_new_descendants(before: set[int], patience: float = 5.0) -> None:
    """Kill every descendant of this process that was not among `before`, and reap the
    ones that are (or become, as their parents die) its children."""
    me = os.getpid()
    deadline = time.monotonic() + patience
    while True:
        table = _table()
        new = descendants(table) - before
        if not new:
            return
        for pid in new:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
        for pid in new:
            if table.get(pid, (0, ""))[0] == me:
                with contextlib.suppress(ChildProcessError, OSError):
                    os.waitpid(pid, os.WNOHANG)
        if time.monotonic() > deadline:
            return
        time.sleep(0.01)


@contextlib.contextmanager
def held_signals():
    """Signals that would stop the grader wait until the block ends (its cleanup runs whole)."""
    held = {signal.SIGINT, signal.SIGTERM, getattr(signal, "SIGHUP", signal.SIGTERM)}
    if not hasattr(signal, "pthread_sigmask"):
        yield
        return
    old = signal.pthread_sigmask(signal.SIG_BLOCK, held)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


@contextlib.contextmanager
def on_termination():
    """Within the block, SIGTERM and SIGHUP raise Terminated (the first one; later ones are
    ignored, so that the cleanup it starts runs to the end)."""
    wanted = [signal.SIGTERM] + ([signal.SIGHUP] if hasattr(signal, "SIGHUP") else [])
    received: list[int] = []

    def handler(signum, frame):
        if not received:
            received.append(signum)
            raise Terminated(signum)

    old = {}
    try:
        for signum in wanted:
            old[signum] = signal.signal(signum, handler)
    except ValueError:  # not the main thread: leave the signals as they are
        pass
    try:
        yield
    finally:
        for signum, previous in old.items():
            signal.signal(signum, previous)
