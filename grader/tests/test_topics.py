"""The maintainer's checks, for every built topic: the kata machinery proves its own suites.

- the committed stub is exactly what the generator makes from the solution;
- the stub fails every test of its suite (a test that passes on a stub cannot fail);
- every mutant (a plausible bug) fails at least one test;
- every test says what it proves (one of shapes/gradients/accuracy) and which task;
- every task has 2-3 progressive hints.
The solutions themselves pass: `pytest` runs every suite in tests/ against them.
"""

from __future__ import annotations

import ast

import pytest

from grader import mutants, roadmap, selfcheck, stubs, suites

ROADMAP = roadmap.load()
BUILT = ROADMAP.built
MUTANTS = [(t, name) for t in BUILT for name in mutants.load(t)]


def _stub_tasks(topic: roadmap.Topic) -> set[str]:
    """Top-level functions and classes of the solution that hold a solution region."""
    source = topic.solution().read_text(encoding="utf-8")
    tree = ast.parse(source)
    tasks = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            segment = ast.get_source_segment(source, node) or ""
            if "# BEGIN SOLUTION" in segment:
                tasks.add(node.name)
    return tasks


@pytest.mark.parametrize("topic", BUILT, ids=lambda t: t.slug)
def test_committed_stub_is_generated(topic):
    assert topic.exercise().exists(), f"{topic.exercise()} is missing: run `python grader stubs`"
    # As committed (HEAD), so a learner's edits don't fail the maintainer's check.
    committed = stubs.committed(topic.exercise())
    if committed is None:
        committed = topic.exercise().read_text(encoding="utf-8")
    assert committed == stubs.stub_for(topic), (
        f"{topic.exercise()} differs from what the generator makes from {topic.solution()}: "
        "edit the solution, then run `python grader stubs`"
    )


# The first check of a topic that needs a run makes all of the topic's runs (stub, mutants,
# variants) in parallel workers (grader/selfcheck.py): that test's time limit covers them all.
SELF_CHECK_LIMIT = 1800


@selfcheck.uses
@pytest.mark.timeout(SELF_CHECK_LIMIT)
@pytest.mark.parametrize("topic", BUILT, ids=lambda t: t.slug)
def test_stub_fails_every_test(topic):
    records = selfcheck.results(topic.slug)[(topic.slug, "stub", "stub")]
    assert records, f"{topic.slug}: the suite collected no test"
    broken = [r.message for r in records if r.name == selfcheck.BROKEN]
    assert not broken, f"{topic.slug}: the stub could not be run, so it proves nothing: {broken[0]}"
    passing = [r.name for r in records if r.status not in ("fail", "error")]
    assert not passing, f"{topic.slug}: these tests pass on the untouched stub, so they prove nothing: {passing}"


@selfcheck.uses
@pytest.mark.timeout(SELF_CHECK_LIMIT)
@pytest.mark.parametrize(("topic", "mutant"), MUTANTS, ids=[f"{t.slug}-{m}" for t, m in MUTANTS])
def test_mutant_is_caught(topic, mutant):
    # One failing test is all a mutant needs: -x stops there, so a mutant that would also
    # slow a later test down to its time limit costs nothing more (the rest do not run).
    records = selfcheck.results(topic.slug)[(topic.slug, "mutant", mutant)]
    broken = [r.message for r in records if r.name == selfcheck.BROKEN]
    assert not broken, f"{topic.slug}: the mutant '{mutant}' could not be made, so it proves nothing: {broken[0]}"
    cut = [r for r in records if r.message.startswith("did not run")]
    failing = [r.name for r in records if r.status in ("fail", "error") and r not in cut]
    unfinished = [f"{r.name}: {r.message}" for r in cut if r.status == "error"]
    assert failing or unfinished, f"{topic.slug}: the mutant '{mutant}' passes every test; the suite misses this bug"
    assert failing, (f"{topic.slug}: the suite did not finish on the mutant '{mutant}' (pytest itself broke): "
                     f"{unfinished}")


@pytest.mark.parametrize("topic", BUILT, ids=lambda t: t.slug)
def test_every_mutant_and_variant_still_applies_to_the_solution(topic):
    for job in selfcheck.jobs(topic)[1:]:
        selfcheck.source(job)  # raises, naming the edit, when its text is not in the solution exactly once


def test_a_mutant_runs_the_tests_of_the_tasks_it_changes_first():
    source = "import x\n\n\ndef a():\n    return 1\n\n\nclass B:\n    def f(self):\n        return 2\n"
    edits = [("return 2", "return 3"), ("import x", "import y"), ("return 1\n\n\nclass B", "return 0\n\n\nclass B")]
    assert mutants.tasks_changed(source, edits) == ["B", "a"]
    assert mutants.tasks_changed(source, [("absent", "")]) == []


def test_a_mutant_that_no_longer_applies_is_a_broken_run_not_a_caught_bug(monkeypatch):
    # A docstring that came to quote a mutant's text made two of 14's mutants fail to apply;
    # the failed run's one error record then read as "caught".
    topic = BUILT[0]
    monkeypatch.setattr(mutants, "load", lambda t: {"gone": [("text the solution does not hold", "x")]})
    key, records = selfcheck._run_in_worker(selfcheck.Job(topic.slug, "mutant", "gone", True))
    assert key == (topic.slug, "mutant", "gone")
    assert [r["name"] for r in records] == [selfcheck.BROKEN]
    assert "occurs 0 times" in records[0]["message"]


@pytest.mark.parametrize("topic", BUILT, ids=lambda t: t.slug)
def test_topic_has_enough_mutants(topic):
    assert len(mutants.load(topic)) >= 5, (
        f"{topic.slug}: keep at least 5 named mutants in tests/{topic.slug}/mutants.py"
    )


@pytest.mark.parametrize("topic", BUILT, ids=lambda t: t.slug)
def test_tests_are_tagged(topic):
    tests = suites.outline(topic)
    assert tests, f"{topic.slug}: no test functions in tests/{topic.slug}/test_*.py"
    for test in tests:
        assert len(test.kinds) == 1, f"{test.file}::{test.name} must be marked with exactly one of {roadmap.KINDS}"
        assert test.task, f"{test.file}::{test.name} must say which task it checks: @task(\"name\")"
        assert test.task in topic.hints, (
            f"{test.file}::{test.name}: task {test['task']!r} has no hints in grader/roadmap.toml"
        )


@pytest.mark.parametrize("topic", BUILT, ids=lambda t: t.slug)
def test_every_task_has_progressive_hints(topic):
    missing = _stub_tasks(topic) - set(topic.hints)
    assert not missing, f"{topic.slug}: tasks without hints in grader/roadmap.toml: {sorted(missing)}"
    for task, hints in topic.hints.items():
        assert 2 <= len(hints) <= 3, f"{topic.slug}: task {task!r} needs 2-3 hints, has {len(hints)}"


@pytest.mark.parametrize("topic", BUILT, ids=lambda t: t.slug)
def test_topic_folders_are_complete(topic):
    for path in (topic.exercise(), topic.solution(), topic.exercise().parent / "README.md",
                 topic.tests() / "NOTES.md"):
        assert path.exists(), f"{topic.slug}: {path.relative_to(roadmap.ROOT)} is missing"
    assert list(topic.tests().glob("test_*.py")), f"{topic.slug}: tests/{topic.slug} has no test_*.py"


def test_no_stray_topic_folders():
    known = {t.slug for t in BUILT}
    for top in ("exercises", "solutions", "tests"):
        for path in (roadmap.ROOT / top).iterdir():
            if path.is_dir() and path.name[:2].isdigit():
                assert path.name in known, f"{top}/{path.name} is not a built topic in grader/roadmap.toml"
