"""`grader hint` answers the first failing test: grader/roadmap.toml maps every test to the
hints of its task that help pass it (`hints_for`), and the command shows them one call at a
time, from the cached results when the file has not changed."""

from __future__ import annotations

import hashlib
import os

import pytest

from grader import cli, roadmap, runner, state, stubs, suites
from grader.records import Record

ROADMAP = roadmap.load()
BUILT = ROADMAP.built


# ------------------------------------------------------------------ the mapping: a self-check
@pytest.mark.parametrize("topic", BUILT, ids=lambda t: t.slug)
def test_every_test_maps_to_hints_of_its_task_and_every_name_is_a_real_test(topic):
    outline = {t.name: t.task for t in suites.outline(topic)}
    where = f"grader/roadmap.toml, [topics.hints_for] of {topic.slug}"
    unknown = sorted(set(topic.hints_for) - set(outline))
    assert not unknown, f"{where} names tests that tests/{topic.slug}/ does not have: {unknown}"
    missing = [name for name in outline if name not in topic.hints_for]
    assert not missing, f"{where}: say which hints of its task answer each of these tests: {missing}"
    named: dict[str, set[int]] = {task: set() for task in topic.hints}
    for name, numbers in topic.hints_for.items():
        task = outline[name]
        count = len(topic.hints[task])
        assert isinstance(numbers, list) and numbers, f"{where}: {name} = {numbers!r} should list at least one hint"
        assert all(type(n) is int and 1 <= n <= count for n in numbers), (
            f"{where}: {name} = {numbers}: task {task!r} has hints 1 to {count}")
        assert numbers == sorted(set(numbers)), (
            f"{where}: {name} = {numbers}: list each hint once, weakest first (the order they are shown in)")
        named[task].update(numbers)
    for task, numbers in named.items():
        unused = sorted(set(range(1, len(topic.hints[task]) + 1)) - numbers)
        assert not unused, f"{where}: no test of task {task!r} names its hint(s) {unused}, so no failure shows them"


# ------------------------------------------------------------------ the command
class Runner:
    """runner.run without processes: the tests named in `failing` fail, every other test passes."""

    def __init__(self, failing=()) -> None:
        self.failing = set(failing)
        self.calls: list[list[str]] = []

    def __call__(self, slugs, target, *, progress=None, dependencies=None, **options):
        if slugs:
            self.calls.append(list(slugs))
        results = {}
        for slug in slugs:
            topic = ROADMAP.find(slug)
            if dependencies is not None:  # as the plugin reports it: the file under test, as imported
                path = topic.file_in(target)
                dependencies[slug] = {os.path.realpath(path): hashlib.sha256(path.read_bytes()).hexdigest()}
            results[slug] = [Record(slug, t.name, t.kind, t.task, "fail" if t.name in self.failing else "pass",
                                    "AssertionError: wrong" if t.name in self.failing else "")
                             for t in suites.outline(topic)]
        return results


def _started(exercises, topic: roadmap.Topic, note: str = "started") -> None:
    path = topic.file_in(exercises)
    path.write_text(stubs.stub_for(topic) + f"\n# {note}\n", encoding="utf-8")


def _hints_shown(capsys, topic: roadmap.Topic, task: str, calls: int, *argv: str) -> list[int]:
    shown = []
    for _ in range(calls):
        assert cli.main(["hint", topic.slug, *argv]) == 0
        out = capsys.readouterr().out
        numbers = [i for i, text in enumerate(topic.hints[task], start=1) if f"\n  {text}\n" in out]
        assert len(numbers) == 1, out
        shown.append(numbers[0])
    return shown


LSTM = ROADMAP.find("10")
FORGET_BIAS = "test_lstm_cell_starts_as_pytorch_does_with_the_forget_gate_bias_set"


def test_with_only_the_forget_bias_test_failing_no_hint_is_about_forward(learner, monkeypatch, capsys):
    # The issue's case: topic 10's LSTMCell hint 3 is about forward, which passes here.
    monkeypatch.setattr(runner, "run", Runner(failing=[FORGET_BIAS]))
    _started(learner.exercises, LSTM)
    assert cli.main(["hint", "10"]) == 0
    out = capsys.readouterr().out
    assert f"task LSTMCell · hint 1 of 2\nFor {FORGET_BIAS}, the first failing test of the task." in out, out
    assert "Run `uv run python grader hint 10` again for a stronger hint." in out
    assert cli.main(["hint", "10"]) == 0
    out = capsys.readouterr().out
    assert "hint 2 of 2\n" in out and f"\n  {LSTM.hints['LSTMCell'][1]}\n" in out
    assert "That was the last hint for this test." in out
    assert _hints_shown(capsys, LSTM, "LSTMCell", 2) == [2, 2], "past the last, the strongest again: never hint 3"


def test_progression_follows_the_first_failing_test_as_it_moves(learner, monkeypatch, capsys):
    first, then = "test_lstm_cell_has_pytorchs_parameters_and_shapes", FORGET_BIAS
    fake = Runner(failing=[first, then])
    monkeypatch.setattr(runner, "run", fake)
    _started(learner.exercises, LSTM)
    assert _hints_shown(capsys, LSTM, "LSTMCell", 2) == [1, 2]
    fake.failing = {then}
    _started(learner.exercises, LSTM, "the shapes are right now")  # a changed file: graded again
    assert _hints_shown(capsys, LSTM, "LSTMCell", 2) == [2, 2], "hints 1 and 2 answer it; 1 was shown already"
    fake.failing = {"test_lstm_cell_equals_nn_lstm_cell_forward_and_backward"}
    _started(learner.exercises, LSTM, "the forget bias is right now")
    assert _hints_shown(capsys, LSTM, "LSTMCell", 2) == [3, 3]


@pytest.mark.parametrize("topic", BUILT, ids=lambda t: t.slug)
def test_a_hint_the_first_failing_test_does_not_name_is_never_shown(topic, learner, monkeypatch, capsys):
    # Every test of every task, as the task's only failing one, with the hints of that task
    # already shown in part: each call shows one of the hints the test names.
    tests = suites.outline(topic)
    fake = Runner()
    monkeypatch.setattr(runner, "run", fake)
    _started(learner.exercises, topic)
    for k, test in enumerate(tests):
        fake.failing = {test.name}
        _started(learner.exercises, topic, f"edit {k}")
        state.forget_hints(topic.slug)
        numbers = topic.hints_for[test.name]
        shown = _hints_shown(capsys, topic, test.task, 1)  # graded: the first failing test is found
        # The calls that follow show the same as `hint NN <test>` (no grading: quicker).
        shown += _hints_shown(capsys, topic, test.task, len(numbers), test.name)
        assert shown == [*numbers, numbers[-1]], (test.name, shown)


def test_a_test_named_on_the_command_line_gets_its_own_hints(learner, capsys):
    # No grading at all: the learner pastes the name from a FAILED line.
    node = f"tests/{LSTM.slug}/test_lstm_gru.py::{FORGET_BIAS}"
    assert _hints_shown(capsys, LSTM, "LSTMCell", 3, node) == [1, 2, 2]
    assert cli.main(["hint", "10", "test_nothing_like_it"]) == 1
    assert "has no task or test 'test_nothing_like_it'" in capsys.readouterr().err


def test_the_hints_shown_by_an_older_grader_still_count(learner, capsys):
    state.save({LSTM.slug: {"LSTMCell": 1}})  # how many, in order: hint 1 was shown
    assert _hints_shown(capsys, LSTM, "LSTMCell", 1, FORGET_BIAS) == [2]
    assert state.load()[LSTM.slug]["LSTMCell"] == [1, 2]


# ------------------------------------------------------------------ from the cache
def test_the_first_hint_costs_no_suite_run_when_the_results_are_fresh(learner, monkeypatch, capsys):
    fake = Runner(failing=[FORGET_BIAS])
    monkeypatch.setattr(runner, "run", fake)
    assert cli.main(["hint", "10"]) == 0, "an untouched stub..."
    assert fake.calls == [], "...is never run: every test fails by construction"
    state.forget_hints(LSTM.slug)
    _started(learner.exercises, LSTM)
    assert cli.main([]) == 0  # the report grades the file and keeps its results
    capsys.readouterr()
    assert fake.calls == [[LSTM.slug]]
    assert _hints_shown(capsys, LSTM, "LSTMCell", 3) == [1, 2, 2]
    assert fake.calls == [[LSTM.slug]], "hint read the results the report kept: no suite run"
    _started(learner.exercises, LSTM, "changed")
    cli.main(["hint", "10"])
    assert fake.calls[-1] == [LSTM.slug] and len(fake.calls) == 2, "a changed file is graded again, once"
