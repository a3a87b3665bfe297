"""`python grader watch NN`: rerun a topic's suite each time the file is saved, fast.

A fresh `pytest` pays `import torch`, the first optimizer (torch._dynamo) and the
suite's imports every time: seconds, for tests that take a fraction of one. The
watcher pays them once, in a warm parent, and for every save forks a fresh child
that runs the suite. The child is a copy of the warm parent, so:
- it starts in milliseconds, with everything imported;
- nothing it does reaches the next run: seeds, default dtype, monkeypatches and
  the learner's module all die with it;
- a crash, an os._exit or a hang of the learner's code ends the child only: the
  watcher kills a child (and what it started) that runs past the time limit.
Where there is no fork (Windows), each run is a fresh process, as `pytest` is.
"""

from __future__ import annotations

import ast
import atexit
import contextlib
import gc
import importlib
import os
import random
import signal
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

from grader import roadmap, rules, runner
from grader.grading import show

SETTLE = 0.05  # seconds a file must stay unchanged before it is run (editors write in steps)


def warm_up(topic: roadmap.Topic, *, freeze: bool = True) -> None:
    """Import, once, what every run of the topic's suite needs (and with `freeze`, set it
    aside from the garbage collector: it lives as long as the watcher)."""
    import pytest  # noqa: F401
    import torch

    import grader.checks  # noqa: F401  (grader.plugin is left to pytest: it rewrites a plugin's asserts on import)

    torch.set_num_threads(1)  # as tests/conftest.py does, before any parallel work
    torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)  # the first optimizer imports torch._dynamo
    # What the suite and the topic's file import, even inside a function (torchvision in
    # a test that compares with it), and the modules that hold its off-limits callables.
    for path in [*sorted(topic.tests().glob("*.py")), *[p for p in [topic.solution()] if p.exists()]]:
        for name in _imports(path):
            with contextlib.suppress(Exception):
                importlib.import_module(name)
    for calls in topic.off_limits.values():
        for name in calls:
            with contextlib.suppress(Exception):
                rules.resolve(name)
    # Everything imported so far lives as long as the watcher: the garbage collector of
    # each child can skip it (pytest collects several times at exit: 0.5 s otherwise).
    if freeze:
        gc.collect()
        gc.freeze()
        atexit.register(gc.unfreeze)  # at exit, let extension modules see their objects freed


def _imports(path: Path) -> list[str]:
    """The absolute module names a file imports, at its top level or inside a function."""
    names = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.append(node.module)
    return names


def pytest_args(topic: roadmap.Topic, target: Path, *, seed: int, device: str) -> list[str]:
    return [str(topic.tests()), f"--kata-target={target}", f"--kata-seed={seed}", f"--kata-device={device}",
            "-q", "--no-header", "-p", "no:cacheprovider"]


def run_once(args: list[str], *, time_limit: float = runner.TOPIC_TIME_LIMIT, quiet: bool = False) -> int | None:
    """Run pytest with `args` in a fresh child; its exit code, or None if it ran out of time."""
    sys.stdout.flush()
    sys.stderr.flush()
    if not hasattr(os, "fork"):
        out = subprocess.DEVNULL if quiet else None
        try:
            return subprocess.run([sys.executable, "-m", "pytest", *args], cwd=roadmap.ROOT, timeout=time_limit,
                                  stdout=out, stderr=out).returncode
        except subprocess.TimeoutExpired:
            return None
    pid = os.fork()
    if pid == 0:  # the child: run the suite, then leave without running the parent's exit handlers
        code = 3
        try:
            os.setpgid(0, 0)  # its own group: the watcher can end it with all it started
            signal.signal(signal.SIGINT, signal.SIG_DFL)
            if quiet:
                devnull = os.open(os.devnull, os.O_WRONLY)
                os.dup2(devnull, 1)
                os.dup2(devnull, 2)
            import pytest

            code = int(pytest.main(args))
        except BaseException:  # noqa: BLE001
            import traceback

            traceback.print_exc()
        finally:
            with contextlib.suppress(Exception):
                sys.stdout.flush()
                sys.stderr.flush()
            import posix  # os._exit itself may be a test's guard: fork copies it

            posix._exit(code)
    with contextlib.suppress(OSError):  # set it here too: whichever of the two runs first
        os.setpgid(pid, pid)
    deadline = time.monotonic() + time_limit
    try:
        while True:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                return os.waitstatus_to_exitcode(status)
            if time.monotonic() > deadline:
                return None
            time.sleep(0.005)
    finally:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signal.SIGKILL)  # what the learner's code started, or the child itself
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, 0)


def _stamp(path: Path) -> tuple[int, int] | None:
    try:
        info = path.stat()
    except OSError:
        return None
    return info.st_mtime_ns, info.st_size


def _settled(path: Path, stamp: tuple[int, int] | None) -> tuple[int, int] | None:
    """Wait until the file stops changing (an editor may write it in several steps)."""
    while True:
        time.sleep(SETTLE)
        now = _stamp(path)
        if now == stamp:
            return now
        stamp = now


def _verdict(code: int | None, time_limit: float) -> str:
    if code is None:
        return f"stopped: the suite ran past {time_limit:g} s (an infinite loop?)"
    if code == 0:
        return "every test passed"
    if code < 0:
        return f"the test process crashed ({signal.Signals(-code).name})"
    return "some tests failed" if code == 1 else f"pytest ended with exit code {code}"


def watch(topic: roadmap.Topic, target: Path, *, seed: int = 0, device: str = "cpu", interval: float = 0.1,
          once: bool = False, time_limit: float = runner.TOPIC_TIME_LIMIT) -> int:
    path = topic.file_in(target)
    print(f"Watching {show(path)}: every save reruns its hidden suite. Ctrl-C stops.", flush=True)
    warm_up(topic)
    args = pytest_args(topic, target, seed=seed, device=device)
    last = None
    while True:
        stamp = _stamp(path)
        if stamp != last:
            last = _settled(path, stamp)
            print(f"\n--- {datetime.now():%H:%M:%S} ---", flush=True)
            started = time.perf_counter()
            code = run_once(args, time_limit=time_limit)
            print(f"--- {_verdict(code, time_limit)} ({time.perf_counter() - started:.2f} s); "
                  "waiting for the next save ---", flush=True)
            if once:
                return 0 if code == 0 else 1
        time.sleep(interval)


def bench(topic: roadmap.Topic, target: Path, *, repeat: int = 3, interval: float = 0.1) -> list[float]:
    """Seconds from saving the file to the verdict, as `watch` gives it: a save at a random
    moment of the polling interval, the wait for the file to settle, the child's run."""
    warm_up(topic)
    args = pytest_args(topic, target, seed=0, device="cpu")
    path = topic.file_in(target)
    run_once(args, quiet=True)  # the first run also fills the OS's file cache
    figures = []
    for _ in range(repeat):
        saved = time.perf_counter()
        os.utime(path)
        time.sleep(random.uniform(0, interval))  # where in its polling the watcher was
        _settled(path, _stamp(path))
        code = run_once(args, quiet=True)
        figures.append(time.perf_counter() - saved)
        if code != 0:
            raise RuntimeError(f"{topic.slug}: the suite failed on {show(path)} (exit code {code})")
    return figures


if __name__ == "__main__":  # python -m grader.watch SLUG TARGET REPEAT: one topic's warm figures, for `bench`
    figures = bench(roadmap.load().find(sys.argv[1]), Path(sys.argv[2]), repeat=int(sys.argv[3]))
    print(" ".join(f"{f:.4f}" for f in figures))
