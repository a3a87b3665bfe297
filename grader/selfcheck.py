"""The maintainer's self-check, fast: a topic's stub, mutants and correct variants each run
its suite once, in worker processes forked from the warm test process: one fewer at a time
than there are cores while the session's other tests run, as many as there are cores once
the session waits for them.

A fresh process would pay `import torch` (seconds) for a suite that takes a fraction of
one; a forked worker starts with everything imported (the suites' and references'
imports too, warmed in this process first). Each run is one `pytest.main` in the worker
(`runner.run_inprocess`), so a run sees exactly what the learner's would, and before
each run the worker puts back the process-global state it started with (the plugin's
`isolation.Snapshot`: PyTorch's hooks, modes, settings and random generators, patched
modules), so no run reaches the next. The
results are kept for the whole session, so a check that needs the same run again (the
off-limits shortcuts are mutants too) reads it instead of running it twice. The session
starts every self-check it will need as soon as its tests are collected (`start`, from
grader/tests/conftest.py), so the workers run them while the session's other tests run
in the main process (most of those wait on a test process of their own). Where there is
no fork (Windows), the runs are made one after the other in this process, when asked.
"""

from __future__ import annotations

import atexit
import collections
import concurrent.futures
import functools
import gc
import multiprocessing
import os
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

from grader import mutants, roadmap, runner, stubs
from grader.records import Record


@dataclass(frozen=True)
class Job:
    """One run of a topic's suite against a version of its file."""

    slug: str
    kind: str  # "stub", "mutant" or "variant"
    name: str  # the mutant's or variant's name ("stub" for the stub)
    first_failure: bool  # stop at the first failing test (-x): all a mutant needs

    @property
    def key(self) -> tuple[str, str, str]:
        return self.slug, self.kind, self.name


def jobs(topic: roadmap.Topic) -> list[Job]:
    """Every run the self-check makes for a topic: the stub, each mutant, each variant."""
    return ([Job(topic.slug, "stub", "stub", False)]
            + [Job(topic.slug, "mutant", name, True) for name in mutants.load(topic)]
            + [Job(topic.slug, "variant", name, False) for name in mutants.must_pass(topic)])


def source(job: Job) -> str:
    """The file the job tests."""
    topic = roadmap.load().find(job.slug)
    solution = topic.solution().read_text(encoding="utf-8")
    if job.kind == "stub":
        return stubs.stub_for(topic)
    edits = (mutants.load(topic) if job.kind == "mutant" else mutants.must_pass(topic))[job.name]
    return mutants.apply(solution, edits, job.name)


def _tasks_changed(job: Job) -> list[str]:
    if job.kind == "stub":
        return []
    topic = roadmap.load().find(job.slug)
    edits = (mutants.load(topic) if job.kind == "mutant" else mutants.must_pass(topic))[job.name]
    return mutants.tasks_changed(topic.solution().read_text(encoding="utf-8"), edits)


def run_job(job: Job) -> list[Record]:
    topic = roadmap.load().find(job.slug)
    with tempfile.TemporaryDirectory(prefix="kata-selfcheck-") as tmp:
        target = mutants.write_target(topic, source(job), Path(tmp))
        # A mutant needs one failing test: the tests of the tasks it changes first, the cheap ones
        # first within those and within the rest, and -x stops at it.
        extra = ["--tb=line"]
        if job.first_failure:
            extra += ["-x", "--kata-fast-first", *(f"--kata-first={task}" for task in _tasks_changed(job))]
        return runner.run_inprocess([job.slug], target, extra=extra)[job.slug]


# The one record of a run that could not be made (a mutant whose text no longer occurs in the
# solution): never a failing test, so never a caught mutant.
BROKEN = "(self-check)"

_CLEAN = None  # in a worker: the state it started with, put back before each run


class _Listed:
    """An installed distribution with its entry points read once (pytest looks them up
    for each plugin it imports, reading every package's entry_points.txt again: a quarter
    of a short run)."""

    def __init__(self, dist) -> None:
        self._dist = dist
        self.entry_points = dist.entry_points

    def __getattr__(self, name: str):
        return getattr(self._dist, name)


def _start_worker() -> None:
    global _CLEAN
    import importlib.metadata

    from grader.plugin import isolation

    listed = [_Listed(dist) for dist in importlib.metadata.distributions()]
    importlib.metadata.distributions = lambda **_: iter(listed)  # this worker runs pytest, and only that
    # What the worker starts with stays alive to its end: the garbage collector need not walk
    # it at every collection (with torch and every topic imported, a tenth of a short run).
    gc.freeze()

    _CLEAN = (isolation.Snapshot(roadmap.ROOT, roadmap.ROOT / "exercises"), isolation.settings())


def _run_in_worker(job: Job) -> tuple[tuple[str, str, str], list[dict]]:
    if _CLEAN is not None:  # what a run before left in this worker never reaches this one
        from grader.plugin import isolation

        snapshot, settings = _CLEAN
        snapshot.restore()
        isolation.restore_settings(settings)
    try:
        records = run_job(job)
    except Exception as exc:  # noqa: BLE001  (a broken mutant file: its check says so)
        records = [Record(job.slug, BROKEN, status="error", message=f"{type(exc).__name__}: {exc}")]
    return job.key, [r.to_json() for r in records]


def workers() -> int:
    """How many runs at a time: the cores this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


_POOL = None


def _pool():
    """The session's workers, forked once from this process after it imported what every
    suite and reference imports (torchvision included), so no run pays an import."""
    global _POOL
    if _POOL is None:
        from grader import watch

        for topic in roadmap.load().built:
            watch.warm_up(topic, freeze=False)
        _POOL = multiprocessing.get_context("fork").Pool(workers(), initializer=_start_worker)
        atexit.register(_POOL.terminate)
    return _POOL


def _can_fork() -> bool:
    return "fork" in multiprocessing.get_all_start_methods() and workers() > 1


class _Feeder:
    """Hands the queued jobs to the pool, at most `limit` at a time. While this process runs
    the session's other tests (the longer part on 2 cores), it keeps one core for them; once
    it waits for results, every core works on the self-check."""

    def __init__(self, pool, limit: int) -> None:
        self.pool, self.limit, self.running = pool, limit, 0
        self.queue: collections.deque = collections.deque()  # (job, future)
        self.lock = threading.Lock()

    def submit(self, job: Job) -> concurrent.futures.Future:
        future = concurrent.futures.Future()
        with self.lock:
            self.queue.append((job, future))
        self._fill()
        return future

    def widen(self, limit: int) -> None:
        with self.lock:
            self.limit = max(self.limit, limit)
        self._fill()

    def _fill(self) -> None:
        with self.lock:
            while self.queue and self.running < self.limit:
                job, future = self.queue.popleft()
                self.running += 1
                self.pool.apply_async(_run_in_worker, (job,), callback=functools.partial(self._done, future),
                                      error_callback=functools.partial(self._failed, future))

    def _done(self, future: concurrent.futures.Future, result) -> None:  # in the pool's result thread
        with self.lock:
            self.running -= 1
        future.set_result(result)
        self._fill()

    def _failed(self, future: concurrent.futures.Future, error: BaseException) -> None:
        with self.lock:
            self.running -= 1
        future.set_exception(error)
        self._fill()


_FEEDER: _Feeder | None = None
_STARTED: dict[tuple[str, str, str], concurrent.futures.Future] = {}  # job.key -> its run in the background


def start(slugs: list[str]) -> None:
    """Begin these topics' self-checks in the background, in this order, so they run while
    the session's other tests do: `results` then waits for what it needs. Without fork,
    nothing starts; `results` runs the jobs when asked."""
    global _FEEDER
    if not _can_fork():
        return
    if _FEEDER is None:
        _FEEDER = _Feeder(_pool(), max(1, workers() - 1))
    # The long runs first (the stubs and variants run every test; a mutant stops at its first
    # failure), so that the short ones fill the end and no worker is left with a long one alone.
    todo = [job for slug in slugs for job in jobs(roadmap.load().find(slug))]
    for job in sorted(todo, key=lambda job: job.first_failure):
        if job.key not in _STARTED:
            _STARTED[job.key] = _FEEDER.submit(job)


def uses(test):
    """Marks a test that reads `results`: the session starts those topics' self-checks early."""
    test.kata_selfcheck = True
    return test


def run_all(todo: list[Job]) -> dict[tuple[str, str, str], list[Record]]:
    """Run every job: {job.key: records}."""
    if not todo:
        return {}
    if not _can_fork() or len(todo) == 1:
        return {job.key: run_job(job) for job in todo}
    # Longest first (the stub and variants run every test), so no worker is left with one at the end.
    todo = sorted(todo, key=lambda job: job.first_failure)
    results = _pool().imap_unordered(_run_in_worker, todo, chunksize=1)
    return {key: [Record.from_json(r) for r in records] for key, records in results}


@functools.cache
def results(slug: str) -> dict[tuple[str, str, str], list[Record]]:
    """Every run of a topic's self-check, made once per session (at the first check that needs one)."""
    todo = jobs(roadmap.load().find(slug))
    if _FEEDER is not None:
        _FEEDER.widen(workers())  # this process waits from now on: its core joins the workers
    done = run_all([job for job in todo if job.key not in _STARTED])
    for job in todo:
        if job.key in _STARTED:
            key, records = _STARTED[job.key].result()
            done[key] = [Record.from_json(r) for r in records]
    return done
