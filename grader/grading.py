"""Grading: run the learner's files through their hidden suites and sum up each topic.

A Grade holds one Record per test function of the suite's outline (parameters
aggregated), so a topic's score does not depend on how many cases a test loops over.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from grader import roadmap, runner, stubs, suites
from grader.records import Record

EXERCISES = roadmap.ROOT / "exercises"


@dataclass
class Grade:
    topic: roadmap.Topic
    status: str  # "passed", "in progress", "not started", "not available"
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


def file_state(topic: roadmap.Topic, exercises: Path | None = None) -> str:
    """'missing', 'untouched' (still the generated stub) or 'edited'."""
    path = topic.file_in(exercises or EXERCISES)
    if not path.exists():
        return "missing"
    return "untouched" if path.read_text(encoding="utf-8") == stubs.stub_for(topic) else "edited"


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


def grade(topics: list[roadmap.Topic], *, seed: int = 0, device: str = "cpu", exercises: Path | None = None,
          test_timeout: float | None = None) -> list[Grade]:
    """Grade the learner's files: untouched stubs are not run (they fail by construction)."""
    exercises = exercises or EXERCISES
    states = {t.slug: file_state(t, exercises) for t in topics if t.built}
    to_run = [t.slug for t in topics if states.get(t.slug) == "edited"]
    extra = [f"--timeout={test_timeout}"] if test_timeout else []
    results = runner.run(to_run, exercises, seed=seed, device=device, extra=extra)
    grades = []
    for topic in topics:
        if not topic.built:
            grades.append(Grade(topic, "not available"))
            continue
        state = states[topic.slug]
        if state != "edited":
            tests = [Record(topic.slug, t.name, t.kind, t.task, "fail", "not started") for t in suites.outline(topic)]
            reason = ("the file is missing: `python grader reset` brings the stub back" if state == "missing"
                      else "not started: the file is still the untouched stub")
            grades.append(Grade(topic, "not started", tests, reason))
            continue
        tests = aggregate(topic, results.get(topic.slug, []))
        failing = [t for t in tests if not t.passed]
        reason = f"{failing[0].name}: {failing[0].message}" if failing else ""
        grades.append(Grade(topic, "in progress" if failing else "passed", tests, reason))
    return grades
