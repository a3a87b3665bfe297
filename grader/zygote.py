"""A warm process that starts the grader's test processes: each is forked from it, so none
pays `import torch` again.

A fresh test process spends seconds (most of a topic's grading) importing PyTorch and
building the first optimizer, which imports torch._dynamo. The zygote pays that once:
it is a fresh interpreter started exactly as a test process would be (`python -P`, the
project folder last on sys.path) that imports torch and pytest and nothing of the
grader's or the learner's, then waits. For each run the runner asks it for a child: the
child leaves the zygote's process group for one of its own, takes the run's working
folder, environment and output file, and runs `pytest` with the run's arguments, exactly
what `python -m pytest` would do in a fresh process, but starting warm. The learner's
code only ever runs in the child, so the zygote stays clean for the next one, and the
runner ends a child (and what it started) as it ends any test process: by its group.

The zygote talks over its standard input and output, one JSON object a line:
    -> {"args": [...], "cwd": "...", "env": {...}, "log": "...", "err": "..." or null}
    <- {"pid": 1234}                     the child, in a process group of its own
    <- {"exit": 1234, "code": -9}        when it ended (negative: the signal), as Popen says
It ends when its standard input closes (the grader ended, however it ended).
Where there is no fork (Windows), or with KATA_ZYGOTE=0, the runner starts fresh processes.
"""

from __future__ import annotations

import atexit
import json
import os
import select
import subprocess
import sys
import threading
import time
from pathlib import Path

# What the zygote runs: the project folder last on sys.path, as in a test process; torch,
# its first optimizer and pytest imported; then it serves.
MAIN = ("import sys; root = sys.argv.pop(1); root in sys.path or sys.path.append(root); "
        "from grader.zygote import serve; serve()")
STARTUP = 600.0  # seconds the zygote may take to import torch on a very busy machine


def available() -> bool:
    return hasattr(os, "fork") and os.environ.get("KATA_ZYGOTE", "1") != "0"


# ------------------------------------------------------------------ the zygote's side
def serve() -> None:
    """Import what every test process needs, then fork a child per request until stdin closes."""
    threading.Thread(target=_end_with_the_grader, daemon=True).start()
    import pytest  # noqa: F401
    import torch

    torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)  # imports torch._dynamo, as the suites' conftest
    out = os.fdopen(os.dup(1), "w", buffering=1)
    lock = threading.Lock()

    def say(message: dict) -> None:
        with lock:
            out.write(json.dumps(message) + "\n")

    def reap() -> None:
        while True:
            try:
                pid, status = os.waitpid(-1, 0)
            except ChildProcessError:
                time.sleep(0.05)
                continue
            say({"exit": pid, "code": os.waitstatus_to_exitcode(status)})

    threading.Thread(target=reap, daemon=True).start()
    say({"ready": True})
    for line in sys.stdin:
        request = json.loads(line)
        pid = os.fork()
        if pid == 0:
            _child(request)  # never returns
        try:
            os.setpgid(pid, pid)  # also done in the child: whichever runs first, no signal can miss the group
        except OSError:
            pass
        say({"pid": pid})


def _end_with_the_grader() -> None:
    """End this process as soon as the grader's end of stdin closes, even in the middle of
    `import torch` (seconds of CPU for nobody, after a Ctrl-C at the grader's start)."""
    poller = select.poll()
    poller.register(0, select.POLLHUP)  # HUP and ERR are reported whatever is asked: nothing else wakes it
    while True:
        if any(event & (select.POLLHUP | select.POLLERR | select.POLLNVAL) for _, event in poller.poll()):
            os._exit(0)


def _child(request: dict) -> None:
    code = 1
    try:
        os.setpgid(0, 0)
        log = os.open(request["log"], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        err = os.open(request["err"], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644) if request.get("err") else log
        devnull = os.open(os.devnull, os.O_RDONLY)
        os.dup2(devnull, 0)
        os.dup2(log, 1)
        os.dup2(err, 2)
        # New stream objects: the zygote's may be locked by its other thread at the fork.
        sys.stdin = open(0, closefd=False)  # noqa: SIM115
        sys.stdout = open(1, "w", buffering=1, closefd=False)  # noqa: SIM115
        sys.stderr = open(2, "w", buffering=1, closefd=False)  # noqa: SIM115
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update(request["env"])
        import signal

        for number in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGPIPE, signal.SIGCHLD):
            signal.signal(number, signal.SIG_DFL if number != signal.SIGINT else signal.default_int_handler)
        sys.argv = ["pytest", *request["args"]]
        import pytest

        try:
            code = pytest.console_main()
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
    except BaseException:  # noqa: BLE001  (whatever happens, the child ends here, never back in the zygote)
        import traceback

        traceback.print_exc()
    finally:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except Exception:  # noqa: BLE001
                pass
        os._exit(code if isinstance(code, int) else 1)


# ------------------------------------------------------------------ the runner's side
class Zygote:
    def __init__(self, root: Path, env: dict[str, str]) -> None:
        self.proc = subprocess.Popen([sys.executable, "-P", "-c", MAIN, str(root)], cwd=root, env=env,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                     text=True, bufsize=1, start_new_session=True)
        self.exits: dict[int, int] = {}
        self.buffer = ""

    def wait_ready(self) -> None:
        """Wait until it has imported torch and pytest (OSError if it never does)."""
        message = self._next(STARTUP)
        if not message or not message.get("ready"):
            self.close()
            raise OSError("the zygote did not start")

    def alive(self) -> bool:
        return self.proc.poll() is None

    def _read(self, timeout: float) -> None:
        """Take in what the zygote said within `timeout` seconds (exits are kept by pid)."""
        fd = self.proc.stdout.fileno()
        ready, _, _ = select.select([fd], [], [], timeout)
        if not ready:
            return
        data = os.read(fd, 65536)
        if not data:
            raise OSError("the zygote ended")
        self.buffer += data.decode("utf-8")

    def _next(self, timeout: float) -> dict | None:
        """The next message that is not an exit (exits are recorded on the way)."""
        deadline = time.monotonic() + timeout
        while True:
            while "\n" in self.buffer:
                line, self.buffer = self.buffer.split("\n", 1)
                message = json.loads(line)
                if "exit" in message:
                    self.exits[message["exit"]] = message["code"]
                else:
                    return message
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            self._read(remaining)

    def _drain(self, timeout: float = 0.0) -> None:
        self._read(timeout)
        while "\n" in self.buffer:
            line, self.buffer = self.buffer.split("\n", 1)
            message = json.loads(line)
            if "exit" in message:
                self.exits[message["exit"]] = message["code"]

    def spawn(self, args: list[str], *, cwd: Path, env: dict[str, str], log: Path, err: Path | None = None) -> Child:
        """A test process running pytest with `args`; its output goes to `log` (its standard
        error too, unless `err` names another file)."""
        request = {"args": args, "cwd": str(cwd), "env": env, "log": str(log), "err": str(err) if err else None}
        self.proc.stdin.write(json.dumps(request) + "\n")
        self.proc.stdin.flush()
        message = self._next(60.0)
        if not message or "pid" not in message:
            raise OSError("the zygote did not start a test process")
        return Child(self, message["pid"])

    def close(self) -> None:
        if self.proc.poll() is None:
            try:
                self.proc.stdin.close()
                self.proc.wait(timeout=5)
            except (OSError, subprocess.TimeoutExpired):
                self.proc.kill()
                self.proc.wait()


class Child:
    """A test process forked by the zygote, with Popen's pid, poll(), wait() and kill()."""

    def __init__(self, zygote: Zygote, pid: int) -> None:
        self.zygote, self.pid, self.returncode = zygote, pid, None

    def poll(self) -> int | None:
        if self.returncode is None:
            try:
                self.zygote._drain()
            except OSError:  # the zygote died: its children went with their group
                self.returncode = -9
            self.returncode = self.zygote.exits.pop(self.pid, self.returncode)
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.poll() is None:
            if deadline is not None and time.monotonic() > deadline:
                raise subprocess.TimeoutExpired(str(self.pid), timeout)
            try:
                self.zygote._drain(0.05)
            except OSError:
                self.returncode = -9
        return self.returncode

    def kill(self) -> None:
        try:
            os.killpg(self.pid, 9)
        except OSError:
            pass


_zygote: Zygote | None = None


def get(root: Path, env: dict[str, str]) -> Zygote | None:
    """The running zygote (started on first use), or None where there is none to be had."""
    global _zygote
    if not available():
        return None
    if _zygote is not None and _zygote.alive():
        return _zygote
    try:
        _zygote = Zygote(root, env)
        _zygote.wait_ready()
    except OSError:
        _zygote = None
        return None
    atexit.register(_zygote.close)
    return _zygote
