"""Run hidden suites and collect one Record per test.

`run` grades topics in a child pytest process (so `import torch` is paid once for
all of them) and keeps each topic's grade its own:
- the child runs in its own process group under a memory limit, and when it ends
  the whole group is killed: nothing the learner's code started outlives it;
- each topic has its own time limit; the topic that runs out is named, and the
  topics after it run on in a fresh process;
- a topic whose tests did not all report (its code crashed the process, called
  pytest.exit(), raised KeyboardInterrupt, ...) is graded again on its own, so the
  report names the topic at fault and the others keep their grades.
`run_inprocess` runs suites inside the current process, for the maintainer's checks,
which run many suites (stubs, mutants, seeds) back to back.
"""

from __future__ import annotations

import contextlib
import io
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from grader import roadmap, zygote
from grader.records import Record, by_topic

TOPIC_TIME_LIMIT = 300.0  # seconds for one topic's whole suite; each test also has pytest's 60 s limit
START_LIMIT = 300.0  # seconds for the child to start its first test (import torch, collect the suites)
EXIT_GRACE = 10.0  # seconds for the child to exit once its last test has reported
POLL = 0.05


def _args(slugs: list[str], target: Path, results: Path, seed: int, device: str, extra: list[str]) -> list[str]:
    return [
        *(str(roadmap.load().find(slug).tests()) for slug in slugs),
        f"--kata-target={target}",
        f"--kata-results={results}",
        f"--kata-seed={seed}",
        f"--kata-device={device}",
        "-p", "no:cacheprovider",
        # pytest's check for exceptions in __del__ runs gc.collect() five times at exit:
        # half a second per run with torch loaded, and nothing a learner needs.
        "-p", "no:unraisableexception",
        "-q", "--no-header", "-rN",
        *extra,
    ]


def _finish(slug: str, records: list[Record], cause: str) -> list[Record]:
    """A topic's records with every test that did not report marked as an error, saying why."""
    if not records:
        return [Record(slug, "(suite)", status="error", message=cause or "the suite did not run")]
    for record in records:
        if record.status is None:
            record.status = "error"
            record.message = f"did not run to the end: {cause}" if cause else "did not run to the end"
    return records


@dataclass
class _Child:
    """What one child pytest process left behind."""

    records: dict[str, Record] = field(default_factory=dict)
    started: list[str] = field(default_factory=list)  # topics, in the order their first test started
    cause: str = ""  # why it ended before every test reported ("" when none is known)
    timed_out: bool = False  # the last started topic ran out of time
    dependencies: dict[str, dict[str, str]] = field(default_factory=dict)  # topic -> {file under test: sha256}

    def unfinished(self, slug: str) -> bool:
        records = [r for r in self.records.values() if r.topic == slug]
        return not records or any(r.status is None for r in records)


def run(slugs: list[str], target: Path, *, seed: int = 0, device: str = "cpu", extra: list[str] = (),
        time_limit: float | Mapping[str, float] = TOPIC_TIME_LIMIT, memory_limit: str | None = None,
        progress: Callable[[str], None] | None = None,
        dependencies: dict[str, dict[str, str]] | None = None) -> dict[str, list[Record]]:
    """Run the suites of `slugs` against `target` in child processes: {slug: records}.

    `time_limit` is seconds per topic (one figure, or one per slug); `memory_limit`
    the plugin's --kata-memory-limit (None: its default); `progress(slug)` is called
    when a topic's first test starts. `dependencies`, when given, receives for each
    topic the files under test its results depend on ({path: sha256 of what ran}).
    """
    final: dict[str, list[Record]] = {}
    options = dict(seed=seed, device=device, extra=list(extra), time_limit=time_limit,
                   memory_limit=memory_limit, progress=progress)
    if slugs:
        _grade(list(slugs), target, final, options, dependencies if dependencies is not None else {})
    return {slug: final[slug] for slug in slugs}


def _grade(slugs: list[str], target: Path, final: dict[str, list[Record]], options: dict,
           dependencies: dict[str, dict[str, str]]) -> None:
    child = _run_child(slugs, target, **options)
    records = by_topic(slugs, list(child.records.values()))
    unfinished = [slug for slug in slugs if child.unfinished(slug)]
    for slug in slugs:
        if slug not in unfinished:
            final[slug] = records[slug]
            dependencies[slug] = child.dependencies.get(slug, {})
    if not unfinished:
        return
    if len(slugs) == 1:
        final[slugs[0]] = _finish(slugs[0], records[slugs[0]], child.cause)
        return
    culprit = child.started[-1] if child.started and child.started[-1] in unfinished else None
    if culprit is None:  # it died before any topic was at work: grade each alone
        for slug in unfinished:
            _grade([slug], target, final, options, dependencies)
        return
    if child.timed_out:  # it spent its time already: no second run
        final[culprit] = _finish(culprit, records[culprit], child.cause)
    else:  # alone, it shows whether it was at fault
        _grade([culprit], target, final, options, dependencies)
    rest = [slug for slug in unfinished if slug != culprit]
    if rest:
        _grade(rest, target, final, options, dependencies)


def _limit(time_limit: float | Mapping[str, float], slug: str) -> float:
    if isinstance(time_limit, Mapping):
        return time_limit.get(slug, TOPIC_TIME_LIMIT)
    return time_limit


def _run_child(slugs: list[str], target: Path, *, seed: int, device: str, extra: list[str],
               time_limit: float | Mapping[str, float], memory_limit: str | None,
               progress: Callable[[str], None] | None) -> _Child:
    from grader import processes
    from grader.plugin import DEFAULT_MEMORY_LIMIT, read_dependencies, read_results

    child = _Child()
    limits = [f"--kata-memory-limit={memory_limit if memory_limit is not None else DEFAULT_MEMORY_LIMIT}"]
    # The project's own settings whatever other pytest.ini the learner's folders hold, and
    # sys.path without the project folder in front (-P, no `pythonpath`): it comes last,
    # so a scratch random.py or torch.py there shadows nothing. `python -m pytest`, but
    # with the project folder appended for `-p grader.plugin` and `kata`.
    root = roadmap.ROOT
    config = ["-c", str(root / "pyproject.toml"), f"--rootdir={root}", "-o", "pythonpath="]
    main = ("import sys; root = sys.argv.pop(1); root in sys.path or sys.path.append(root); "
            "import pytest; raise SystemExit(pytest.console_main())")
    with tempfile.TemporaryDirectory(prefix="kata-") as tmp:
        results, log = Path(tmp) / "results.jsonl", Path(tmp) / "output.txt"
        cmd = [sys.executable, "-P", "-c", main, str(root),
               *_args(slugs, target, results, seed, device, [*limits, *config, *extra])]
        env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
        killed, current, topic_start, finished_at, offset = "", "", 0.0, None, 0
        started_at = time.monotonic()
        with log.open("wb") as out:
            processes.contain()  # a daemonised process comes back to the grader, to be ended below
            warm = zygote.get(root, env)  # started before `before`: it is the grader's, not the run's
            before = processes.descendants()
            proc = _start(cmd, warm, env=env, log=log, out=out)
            try:
                while True:
                    returncode = proc.poll()
                    offset, events = _new_events(results, offset)
                    for event in events:
                        if event["event"] == "started" and event.get("topic") and event["topic"] != current:
                            current, topic_start = event["topic"], time.monotonic()
                            child.started.append(current)
                            if progress is not None:
                                progress(current)
                        elif event["event"] == "finished":
                            finished_at = time.monotonic()
                    if returncode is not None:
                        break
                    now = time.monotonic()
                    if finished_at is not None:
                        if now - finished_at > EXIT_GRACE:  # e.g. a thread of the learner's: the results are in
                            break
                    elif current and now - topic_start > _limit(time_limit, current):
                        child.timed_out = True
                        killed = (f"ran out of time: {_limit(time_limit, current):g} s for the whole topic "
                                  "(an infinite loop, or a step far too slow?)")
                        break
                    elif not current and now - started_at > START_LIMIT:
                        killed = f"the test process did not start a test within {START_LIMIT:g} s"
                        break
                    time.sleep(POLL)
            finally:
                _kill_group(proc, before)
        records, last = read_results(results)
        child.records = records
        child.dependencies = read_dependencies(results)
        output = log.read_bytes()[-4000:].decode("utf-8", "replace")
    child.cause = killed or _cause(proc.returncode, last, output)
    running = last.get("started", {}).get("nodeid")
    if child.cause and running and any(r.status is None for r in records.values()):
        child.cause += f" (while running {running.rsplit('::', 1)[-1]})"
    return child


def _start(cmd: list[str], warm: zygote.Zygote | None, *, env: dict[str, str], log: Path, out):
    """The test process: forked from the warm zygote where there is one, else a fresh one.

    `cmd` is the fresh process's command line: `python -P -c MAIN root <pytest arguments>`;
    the zygote was started the same way, so its child needs only the pytest arguments.
    """
    if warm is not None:
        try:
            return warm.spawn(cmd[5:], cwd=roadmap.ROOT, env=env, log=log)
        except (OSError, ValueError):  # the zygote broke: a fresh process, as without one
            pass
    return subprocess.Popen(cmd, cwd=roadmap.ROOT, stdout=out, stderr=subprocess.STDOUT, env=env,
                            start_new_session=os.name == "posix")


def _new_events(results: Path, offset: int) -> tuple[int, list[dict]]:
    """The complete JSON lines added to the results file since `offset`."""
    import json

    try:
        with results.open("rb") as f:
            f.seek(offset)
            data = f.read()
    except FileNotFoundError:
        return offset, []
    end = data.rfind(b"\n") + 1
    events = []
    for line in data[:end].splitlines():
        with contextlib.suppress(json.JSONDecodeError):
            events.append(json.loads(line))
    return offset + end, events


def _cause(returncode: int, last: dict, output: str) -> str:
    """Why a child ended before every test reported, in words."""
    if "finished" in last:
        return last["finished"].get("stopped", "")
    if returncode is not None and returncode < 0:
        number = -returncode
        if number == signal.SIGKILL:
            return ("the test process was killed by the system (SIGKILL): most likely it used more memory "
                    "than the machine could give")
        name = signal.Signals(number).name if number in signal.Signals._value2member_map_ else f"signal {number}"
        return f"the test process crashed ({name})"
    tail = [line for line in output.strip().splitlines() if line.strip()][-1:] or ["no output"]
    return (f"the test process exited (exit code {returncode}) before its tests ended; did your code call "
            f"sys.exit() or os._exit()? Its last output: {tail[0][:200]}")


def _kill_group(proc: subprocess.Popen, before: set[int] | None = None) -> None:
    """End the child and everything it started: its process group and, on Linux, every
    process below the grader that was not there `before` (what left the group: a daemon)."""
    from grader import processes

    with processes.held_signals():  # a SIGTERM now would leave the child running: it waits
        if os.name == "posix":
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
        elif proc.poll() is None:
            proc.kill()
        proc.wait()
        if before is not None:
            processes.end_new_descendants(before)


def run_inprocess(slugs: list[str], target: Path, *, seed: int = 0, device: str = "cpu",
                  extra: list[str] = ()) -> dict[str, list[Record]]:
    """Run the suites in this process (torch already imported): {slug: records}.

    A test that did not report (e.g. after -x stopped the run) is an error "did not run".
    """
    import pytest

    from grader.plugin import read_results

    with tempfile.TemporaryDirectory(prefix="kata-") as tmp:
        results = Path(tmp) / "results.jsonl"
        before = set(sys.modules)
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            pytest.main(_args(slugs, target, results, seed, device, ["--capture=sys", "--kata-no-exit", *extra]))
        for name in set(sys.modules) - before:
            if name.startswith("kata_"):  # the loaded topic files, one per content
                del sys.modules[name]
        records, last = read_results(results)
    if not records:
        return {slug: _finish(slug, [], "pytest wrote no results") for slug in slugs}
    grouped = by_topic(slugs, list(records.values()))
    cause = last.get("finished", {}).get("stopped", "")
    return {slug: _finish(slug, grouped[slug], cause) if grouped[slug] else grouped[slug] for slug in grouped}
