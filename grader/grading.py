"""Grading: run the learner's files through their hidden suites and sum up each topic.

A Grade holds one Record per test function of the suite's outline (parameters
aggregated), so a topic's score does not depend on how many cases a test loops over.
Results are kept per content (the learner's file as it was imported, every other file
under test the run imported before the topic's last test, the suite, the grader): a
topic none of whose files changed since the last run is not run again; results the
machine may have caused (a time-out, memory, a full disk) are never kept.
"""

from __future__ import annotations

import hashlib
import os
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

from grader import files, integrity, roadmap, runner, state, stubs, suites
from grader.records import Record

EXERCISES = roadmap.ROOT / "exercises"
STATUSES = ("passed", "in progress", "error", "not started", "not available")


@dataclass
class Grade:
    topic: roadmap.Topic
    status: str  # one of STATUSES; "error": the topic could not be graded (reason says why)
    tests: list[Record] = field(default_factory=list)  # one per test function
    reason: str = ""  # why nothing ran, or the first failure

    def points(self, scoring: dict[str, int]) -> tuple[int, int]:
        got = sum(scoring.get(t.kind, 0) for t in self.tests if t.passed)
        return got, sum(scoring.get(t.kind, 0) for t in self.tests)

    def by_kind(self) -> dict[str, tuple[int, int]]:
        return {
            kind: (sum(1 for t in self.tests if t.kind == kind and t.passed),
                   sum(1 for t in self.tests if t.kind == kind))
            for kind in roadmap.KINDS
        }


def show(path: Path) -> str:
    """A path as the learner types it: relative to the repository when inside it."""
    return str(path.relative_to(roadmap.ROOT)) if path.is_relative_to(roadmap.ROOT) else str(path)


def file_state(topic: roadmap.Topic, exercises: Path | None = None) -> tuple[str, str]:
    """('missing' | 'untouched' | 'edited' | 'unreadable', a reason in words for the last).

    The file is read only when it is a regular file of at most files.MAX_BYTES: a FIFO,
    a device or a huge file is 'unreadable', said in words (see grader/files.py).
    """
    from grader import files

    exercises = exercises or EXERCISES
    path = topic.file_in(exercises)
    blocker = files.not_a_folder([exercises, path.parent])
    if blocker is not None:
        return "unreadable", f"{show(blocker)} is a file, not a folder"
    try:
        if path.is_dir():
            return "unreadable", f"{show(path)} is a folder, not a file"
        if not path.exists():
            return "missing", ""
        data = files.read_bytes(path)
    except files.Refused as exc:
        return "unreadable", str(exc)
    except OSError as exc:
        return "unreadable", f"{show(path)} cannot be read ({exc.strerror or exc})"
    return ("untouched" if data == stubs.stub_for(topic).encode("utf-8") else "edited"), ""


def suite_key(topic: roadmap.Topic, *, seed: int, device: str, memory_limit: str | None) -> str:
    """A digest of everything a topic's results depend on besides the files under test: its
    suite, the grader, the data generators, the settings and the versions."""
    h = hashlib.sha256()

    def add(label: str, data: bytes) -> None:
        h.update(f"{label}\0{len(data)}\0".encode())
        h.update(data)

    root = roadmap.ROOT
    shared = [root / "tests" / "conftest.py", root / "pyproject.toml", roadmap.ROADMAP_FILE]
    for folder in (topic.tests(), root / "grader", root / "grader" / "plugin", root / "kata"):
        shared += sorted(p for p in folder.glob("*.py"))
    for p in shared:
        if p.is_file():
            add(str(p.relative_to(root)), p.read_bytes())
    versions = f"{sys.version}|{_version('torch')}|{_version('pytest')}|{seed}|{device}|{memory_limit}"
    add("settings", versions.encode())
    return h.hexdigest()


def _digest(path: str | Path) -> str | None:
    """The file's SHA-256, None when it cannot be read (or is no regular file: a FIFO would hang)."""
    try:
        return hashlib.sha256(files.read_bytes(Path(path))).hexdigest()
    except OSError:  # files.Refused included
        return None


def _cache_key(topic: roadmap.Topic, suite: str, file_digest: str) -> str:
    return f"{topic.slug}:{suite}:{file_digest}"


def _cached(kept: dict, key: str) -> list[Record] | None:
    """The kept records under `key`, if every file they depended on is still what ran then."""
    entry = kept.get(key)
    if not isinstance(entry, dict) or not isinstance(entry.get("records"), list):
        return None  # absent, or written by an older grader
    dependencies = entry.get("dependencies", {})
    if any(_digest(path) != digest for path, digest in dependencies.items()):
        return None
    return [Record.from_json(r) for r in entry["records"]]


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "?"


def aggregate(topic: roadmap.Topic, records: list[Record]) -> list[Record]:
    """One record per test function of the suite's outline, from the run's records."""
    by_name: dict[str, list[Record]] = {}
    for record in records:
        by_name.setdefault(record.function, []).append(record)
    tests = []
    for test in suites.outline(topic):
        runs = by_name.pop(test.name, [])
        failed = [r for r in runs if not r.passed]
        status = "pass" if runs and not failed else ("error" if failed and failed[0].status == "error" else "fail")
        message = failed[0].message if failed else ("" if runs else "did not run")
        tests.append(Record(topic.slug, test.name, test.kind, test.task, status, message,
                            failed[0].details if failed else ""))
    # A suite-level error (a broken test file, a crashed process) has no outline entry:
    # it goes first, since it explains why the outline's tests did not run.
    suite_errors = [Record(topic.slug, name, None, None, "error", runs[0].message, runs[0].details)
                    for name, runs in by_name.items()]
    return suite_errors + tests


# What the machine, not the code, can cause: such results are never kept.
ENVIRONMENT = ("Timeout", "ran out of time", "hit the time limit earlier", "did not stop at its", "MemoryError",
               "can't allocate memory", "more memory than", "killed by the system", "No space left on device",
               "Errno 28", "Errno 122", "Disk quota exceeded", "Too many open files",
               "Resource temporarily unavailable", "the test process crashed", "did not start a test")


def _cacheable(records: list[Record]) -> bool:
    """Results worth keeping: every test reported (no crash, time-out or stop in between), and
    nothing in them that the machine may have caused (a time-out on a busy machine, memory,
    a full disk): those are run again next time."""
    if not records or any(r.status is None or r.name == "(suite)" or r.message.startswith("did not run to the end")
                          for r in records):
        return False
    return not any(marker in r.message or marker in r.details for r in records for marker in ENVIRONMENT)


def _changed_suite(topic: roadmap.Topic, changes: dict[str, list[str]] | None) -> str:
    """Why a topic is not graded when its suite or the grader differs from the committed version."""
    if not changes:
        return ""
    suite, grader = changes.get(topic.slug, []), changes.get(integrity.EVERY_TOPIC, [])
    if not suite and not grader:
        return ""
    changed = suite or grader
    few = changed[0] + (f" and {len(changed) - 1} more" if len(changed) > 1 else "")
    whose = "its hidden suite" if suite else "the grader's own files"
    return (f"not graded: {whose} differ from the committed version ({few}), so a pass would prove nothing; "
            f"{integrity.restore_hint(changed)}")


def grade(topics: list[roadmap.Topic], *, seed: int = 0, device: str = "cpu", exercises: Path | None = None,
          time_limit: float | Mapping[str, float] = runner.TOPIC_TIME_LIMIT, memory_limit: str | None = None,
          progress: Callable[[str, int, int], None] | None = None, cache: bool = False,
          changes: dict[str, list[str]] | None = None) -> list[Grade]:
    """Grade the learner's files: untouched stubs are not run (they fail by construction).

    `time_limit`: seconds per topic (one figure, or one per slug); `memory_limit`: what
    a test run may use ('4G'; None: the plugin's default); `progress(slug, i, n)` is
    called when the i-th of n topics to run starts; `cache`: reuse (and keep) the
    results of unchanged files in .grader/; `changes` (integrity.changes()): a topic
    whose suite or grader differs from the committed version is an error, not a grade.
    """
    exercises = exercises or EXERCISES
    built = [t for t in topics if t.built]
    states = {t.slug: file_state(t, exercises) for t in built}
    refused = {t.slug: _changed_suite(t, changes) for t in built}
    edited = [t for t in built if states[t.slug][0] == "edited" and not refused[t.slug]]
    suites_now = {t.slug: suite_key(t, seed=seed, device=device, memory_limit=memory_limit)
                  for t in edited} if cache else {}
    kept = state.load_results() if cache else {}
    results: dict[str, list[Record]] = {}
    for t in edited:
        digest = _digest(t.file_in(exercises)) if cache else None
        hit = _cached(kept, _cache_key(t, suites_now[t.slug], digest)) if digest else None
        if hit is not None:
            results[t.slug] = hit
    to_run = [t.slug for t in edited if t.slug not in results]
    started: list[str] = []

    def started_topic(slug: str) -> None:
        started.append(slug)
        if progress is not None:
            progress(slug, len(started), len(to_run))

    dependencies: dict[str, dict[str, str]] = {}
    results.update(runner.run(to_run, exercises, seed=seed, device=device, time_limit=time_limit,
                              memory_limit=memory_limit, progress=started_topic, dependencies=dependencies))
    if cache and to_run:
        by_slug = {t.slug: t for t in edited}
        for slug in to_run:
            # Kept under the file as it was imported (not as it was before the run: the learner
            # may have saved it since), with every other file under test the run depended on.
            depends = dict(dependencies.get(slug, {}))
            tested = depends.pop(os.path.realpath(by_slug[slug].file_in(exercises)), None)
            if tested is None or not _cacheable(results[slug]):
                continue
            key = _cache_key(by_slug[slug], suites_now[slug], tested)
            kept.pop(key, None)
            kept[key] = {"dependencies": depends, "records": [r.to_json() for r in results[slug]]}
        state.save_results(kept)
    return [_grade_one(t, exercises, states.get(t.slug, ("", "")), refused.get(t.slug, ""), results.get(t.slug, []))
            for t in topics]


def _grade_one(topic: roadmap.Topic, exercises: Path, file: tuple[str, str], refused: str,
               records: list[Record]) -> Grade:
    if not topic.built:
        return Grade(topic, "not available")
    outline = suites.outline(topic)
    if not outline:
        return Grade(topic, "error", [Record(topic.slug, "(suite)", status="error",
                                             message=f"{show(topic.tests())} has no tests")],
                     f"{show(topic.tests())} has no tests: a topic without tests is never a pass")
    kind, why = file
    if refused or kind == "unreadable":
        reason = refused or f"{why}: `python grader reset {topic.number:02d}` saves it and restores the stub"
        tests = [Record(topic.slug, t.name, t.kind, t.task, "error", reason) for t in outline]
        return Grade(topic, "error", tests, reason)
    if kind != "edited":
        tests = [Record(topic.slug, t.name, t.kind, t.task, "fail", "not started") for t in outline]
        reason = (f"{show(topic.file_in(exercises))} is missing: `python grader reset {topic.number:02d}` brings the "
                  "topic back" if kind == "missing" else "not started: the file is still the untouched stub")
        return Grade(topic, "not started", tests, reason)
    tests = aggregate(topic, records)
    failing = [t for t in tests if not t.passed]
    reason = f"{failing[0].name}: {failing[0].message}" if failing else ""
    return Grade(topic, "in progress" if failing else "passed", tests, reason)
