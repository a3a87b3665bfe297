"""The suite author's checklist (docs/CHECKLIST.md), enforced where a machine can, for every built topic:

- every task says which built-ins are off limits to it (an empty list when none are),
  each of them resolves to a real callable and is named in the topic's lesson;
- every pattern of the checklist is proved by at least one named mutant, or declared
  not applicable with a reason; a task with off-limits calls has a mutant that takes
  the shortcut, and the suite rejects it *because* of the rule;
- the topic's NOTES.md names the mutants that prove each pattern;
- at least two correct variants written differently from the reference pass every test.
"""

from __future__ import annotations

import pytest

from grader import mutants, roadmap, rules, selfcheck, stubs
from grader.tests.test_topics import SELF_CHECK_LIMIT, _stub_tasks

BUILT = roadmap.load().built
VARIANTS = [(t, name) for t in BUILT for name in mutants.must_pass(t)]


def _attr(module, name: str, default):
    return getattr(module, name, default) if module is not None else default


@pytest.mark.parametrize("topic", BUILT, ids=lambda t: t.slug)
def test_every_task_declares_its_off_limits_calls(topic):
    tasks = _stub_tasks(topic)
    undeclared = sorted(tasks - set(topic.off_limits))
    assert not undeclared, (
        f"{topic.slug}: in grader/roadmap.toml, [topics.off_limits] must list every task, with the built-ins it may "
        f"not call (an empty list when calling them is fine): missing {undeclared}"
    )
    unknown = sorted(set(topic.off_limits) - tasks)
    assert not unknown, f"{topic.slug}: [topics.off_limits] names tasks the solution does not have: {unknown}"
    lesson = topic.lesson().read_text(encoding="utf-8")
    for task, names in topic.off_limits.items():
        for name in names:
            _, _, value = rules.resolve(name)
            assert callable(value), f"{topic.slug}: off-limits name {name!r} of task {task} is not callable"
            assert f"`{name}`" in lesson, (
                f"{topic.slug}: the lesson must tell the learner that `{name}` is off limits in {task} "
                f"(exercises/{topic.slug}/README.md)"
            )


@pytest.mark.parametrize("topic", BUILT, ids=lambda t: t.slug)
def test_every_checklist_pattern_is_proved_by_a_mutant(topic):
    module = mutants.load_module(topic)
    patterns = _attr(module, "PATTERNS", {})
    skipped = _attr(module, "NOT_APPLICABLE", {})
    known = set(mutants.load(topic))
    assert set(patterns) | set(skipped) <= set(mutants.CHECKLIST), (
        f"{topic.slug}: PATTERNS and NOT_APPLICABLE use the keys {sorted(mutants.CHECKLIST)}"
    )
    for key, rule in mutants.CHECKLIST.items():
        names = patterns.get(key, [])
        if key in skipped:
            assert not names, f"{topic.slug}: pattern {key!r} is both proved and declared not applicable"
            assert len(skipped[key].strip()) > 10, f"{topic.slug}: say why pattern {key!r} ({rule}) does not apply"
            continue
        assert names, (
            f"{topic.slug}: no mutant proves pattern {key!r} ({rule}): add one to PATTERNS in "
            f"tests/{topic.slug}/mutants.py, or explain in NOT_APPLICABLE why it does not apply"
        )
        assert set(names) <= known, f"{topic.slug}: PATTERNS[{key!r}] names unknown mutants {sorted(set(names) - known)}"
    has_rules = any(topic.off_limits.values())
    assert has_rules == ("builtin" not in skipped), (
        f"{topic.slug}: pattern 'builtin' applies exactly when some task has off-limits calls"
    )


@pytest.mark.parametrize("topic", BUILT, ids=lambda t: t.slug)
def test_notes_name_the_mutants_of_each_pattern(topic):
    notes = (topic.tests() / "NOTES.md").read_text(encoding="utf-8")
    patterns = _attr(mutants.load_module(topic), "PATTERNS", {})
    missing = sorted({name for names in patterns.values() for name in names if name not in notes})
    assert not missing, f"{topic.slug}: tests/{topic.slug}/NOTES.md should list, by pattern, the mutants {missing}"


@selfcheck.uses
@pytest.mark.timeout(SELF_CHECK_LIMIT)
@pytest.mark.parametrize("topic", [t for t in BUILT if any(t.off_limits.values())], ids=lambda t: t.slug)
def test_shortcut_mutants_fail_because_of_the_rule(topic):
    names = _attr(mutants.load_module(topic), "PATTERNS", {}).get("builtin", [])
    assert names, f"{topic.slug}: add a mutant that calls an off-limits built-in, under PATTERNS['builtin']"
    for name in names:
        records = selfcheck.results(topic.slug)[(topic.slug, "mutant", name)]  # the run test_topics checks
        assert any("off limits" in r.message for r in records), (
            f"{topic.slug}: mutant {name} should fail with the off-limits message, got "
            f"{[r.message for r in records if r.status != 'pass'][:2]}"
        )


@pytest.mark.parametrize("topic", BUILT, ids=lambda t: t.slug)
def test_topic_keeps_two_correct_variants(topic):
    assert len(mutants.must_pass(topic)) >= 2, (
        f"{topic.slug}: keep at least two correct variants, written differently from the reference, in MUST_PASS"
    )


@selfcheck.uses
@pytest.mark.timeout(SELF_CHECK_LIMIT)
@pytest.mark.parametrize(("topic", "variant"), VARIANTS, ids=[f"{t.slug}-{v}" for t, v in VARIANTS])
def test_correct_variant_passes_every_test(topic, variant):
    source = selfcheck.source(selfcheck.Job(topic.slug, "variant", variant, False))
    assert source != topic.solution().read_text(encoding="utf-8")
    stubs.make_stub(source, topic)  # still a well-formed solution
    records = selfcheck.results(topic.slug)[(topic.slug, "variant", variant)]
    failing = [f"{r.name}: {r.message}" for r in records if r.status != "pass"]
    assert records and not failing, f"{topic.slug}: the correct variant '{variant}' fails: {failing}"
