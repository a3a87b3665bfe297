"""Broken, hostile or unlucky learner code never crashes the grader, never costs another
topic its grade and never outlives the run. These tests grade real topics in child
processes, as `python grader` does.

No test here depends on how fast healthy code runs: a time limit is only ever set for
the topic whose code hangs, and healthy topics keep the default limits, far above
what they need even on a busy machine.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import time

import pytest

from grader import grading, mutants, render, roadmap, runner

ROADMAP = roadmap.load()
FIRST, SECOND = ROADMAP.built[0], ROADMAP.built[1]


def _exercises_with_solutions(tmp_path, topics=ROADMAP.built):
    """An exercises/ folder where these topics hold their solutions (the others are missing)."""
    for topic in topics:
        path = topic.file_in(tmp_path)
        path.parent.mkdir(parents=True)
        shutil.copy(topic.solution(), path)
    return tmp_path


def _break(topic: roadmap.Topic, exercises, edit) -> None:
    path = topic.file_in(exercises)
    path.write_text(edit(path.read_text(encoding="utf-8")), encoding="utf-8")


def _in_first_function(code: str):
    """An edit that runs `code` at the start of the file's first function (its docstring kept)."""
    body = "".join(f"    {line}\n" for line in code.splitlines())
    return lambda src: src.replace('    """\n', '    """\n' + body, 1)


# Ways a learner's file can go wrong, each put into its own topic in one grading run.
BREAKAGES = {
    # NaN from the first `return` of topic 01 (its sigmoid): every probability is NaN.
    "nan_everywhere": lambda src: src.replace("import torch\n", "import torch\n_nan = float('nan')\n", 1)
    .replace("return ", "return _nan * ", 1),
    "syntax_error": lambda src: src.replace("def ", "def def ", 1),
    "exception_at_import": lambda src: src + "\nraise RuntimeError('boom at import')\n",
    # A hang that pytest's per-test limit cannot interrupt (it blocks the alarm signal that
    # pytest-timeout uses), like a native call that never returns.
    "hang_at_import": lambda src: src + "\nimport signal\nsignal.pthread_sigmask(signal.SIG_BLOCK, "
                                        "{signal.SIGALRM})\nwhile True:\n    pass\n",
}


@pytest.mark.timeout(600)
def test_grader_survives_broken_files_and_grades_the_rest(tmp_path):
    broken = dict(zip(BREAKAGES, ROADMAP.built, strict=False))  # breakage -> the topic that gets it
    # Two healthy topics after the broken ones (quick suites: 09 and 11), graded in the fresh
    # test process that takes over after the hang. Grading every other topic here again
    # (the solutions' suites, which `pytest solutions` runs already) took 30 s.
    healthy = [ROADMAP.find("09_rnn"), ROADMAP.find("11_bilstm")]
    exercises = _exercises_with_solutions(tmp_path, [*broken.values(), *healthy])
    for name, topic in broken.items():
        _break(topic, exercises, BREAKAGES[name])
    hang = broken["hang_at_import"].slug
    # Only the hanging topic gets a short limit: the healthy ones keep the default.
    grades = {g.topic.slug: g for g in grading.grade(ROADMAP.topics, exercises=exercises, time_limit={hang: 3})}
    for name, topic in broken.items():
        g = grades[topic.slug]
        assert g.status == "in progress", f"{name} in {topic.slug}: expected 'in progress', got {g.status}"
        assert g.reason and "\n" not in g.reason, (
            f"{name} in {topic.slug}: expected a one-line reason, got {g.reason!r}"
        )
    assert "SyntaxError" in grades[broken["syntax_error"].slug].reason
    assert "boom at import" in grades[broken["exception_at_import"].slug].reason
    assert "ran out of time: 3 s for the whole topic" in grades[hang].reason, grades[hang].reason
    for topic in healthy:
        g = grades[topic.slug]
        assert g.status == "passed", f"broken files elsewhere must not affect {topic.slug}: {g.reason}"


@pytest.mark.timeout(120)
def test_an_infinite_loop_costs_the_time_limit_once_per_topic(tmp_path):
    source = FIRST.solution().read_text(encoding="utf-8")
    looping = _in_first_function("while True:\n    pass")(source)
    target = mutants.write_target(FIRST, looping, tmp_path)
    records = runner.run_inprocess([FIRST.slug], target, extra=["--timeout=2"])[FIRST.slug]
    timed_out = [r for r in records if r.message.startswith("Failed: Timeout") or r.message.startswith("Timeout")]
    not_run = [r for r in records if "hit the time limit earlier" in r.message]
    assert len(timed_out) == 1, [r.message for r in records]
    assert len(not_run) == len(records) - 1 - sum(r.passed for r in records)


@pytest.mark.timeout(300)
def test_a_crash_is_named_and_the_other_topics_keep_their_grades(tmp_path):
    exercises = _exercises_with_solutions(tmp_path, ROADMAP.built[:2])
    _break(FIRST, exercises, _in_first_function("import os, signal\nos.kill(os.getpid(), signal.SIGSEGV)"))
    grades = {g.topic.slug: g for g in grading.grade(ROADMAP.topics, exercises=exercises)}
    assert grades[FIRST.slug].status == "in progress"
    assert "the test process crashed (SIGSEGV)" in grades[FIRST.slug].reason, grades[FIRST.slug].reason
    assert grades[SECOND.slug].status == "passed", grades[SECOND.slug].reason


@pytest.mark.timeout(300)
def test_a_stop_raised_by_one_topic_never_costs_another_its_grade(tmp_path):
    # KeyboardInterrupt from the learner's code stopped the whole run: the correct topic
    # graded after it read "did not run to the end" and scored 0.
    exercises = _exercises_with_solutions(tmp_path, ROADMAP.built[:2])
    _break(FIRST, exercises, lambda src: src.replace("    losses = []\n", "    raise KeyboardInterrupt\n", 1))
    assert "raise KeyboardInterrupt" in FIRST.file_in(exercises).read_text(encoding="utf-8")
    grades = {g.topic.slug: g for g in grading.grade(ROADMAP.topics, exercises=exercises)}
    reason = grades[FIRST.slug].reason
    assert grades[FIRST.slug].status == "in progress"
    assert f"KeyboardInterrupt was raised at {FIRST.file_in(exercises)}:" in reason, reason
    assert grades[SECOND.slug].status == "passed", grades[SECOND.slug].reason


@pytest.mark.timeout(300)
def test_nothing_the_learners_code_starts_outlives_grading(tmp_path):
    # A non-daemon thread made pytest hang after its summary (the grader waited 600 s);
    # a child process outlived both.
    pid_file = tmp_path / "child.pid"
    exercises = _exercises_with_solutions(tmp_path / "exercises", [FIRST])
    _break(FIRST, exercises, lambda src: src + (
        "\nimport subprocess, threading, time\n"
        f"_child = subprocess.Popen(['sleep', '600'])\nopen({str(pid_file)!r}, 'w').write(str(_child.pid))\n"
        "threading.Thread(target=time.sleep, args=(3600,), name='forever').start()\n"))
    (grade,) = [g for g in grading.grade([FIRST], exercises=exercises)]
    assert grade.status == "passed", grade.reason
    pid = int(pid_file.read_text())
    deadline = time.monotonic() + 10
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _alive(pid), "the learner's child process outlived the grading run"


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"  # a zombie is dead
    except FileNotFoundError:
        return False
    except OSError:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        return True


def test_a_kill_by_the_system_says_it_was_probably_memory():
    cause = runner._cause(-signal.SIGKILL, {}, "")
    assert "killed by the system (SIGKILL): most likely it used more memory" in cause


@pytest.mark.timeout(600)
def test_report_and_json_when_everything_passes(tmp_path, capsys):
    # The topics that test_grader_survives_broken_files_and_grades_the_rest breaks, graded
    # healthy under the default memory limit. (Each topic's suite needs far less: all 14
    # solutions' suites in one process leave it 1.4 GB of data, against the 4 GB limit.)
    topics = ROADMAP.built[:len(BREAKAGES)]
    grades = grading.grade(ROADMAP.topics, exercises=_exercises_with_solutions(tmp_path, topics))
    grades = [g for g in grades if g.topic in topics or g.status == "not available"]
    render.print_report(grades, ROADMAP.scoring)
    out = capsys.readouterr().out
    n = len(topics)
    assert f"Overall: {n} of {n} available topics passed" in out, out
    # The grader names the script of the last topic passed and the folder its pictures go to.
    assert f"See {topics[-1].number:02d} at work: uv run python " in out and f"pictures{os.sep}" in out, out
    results = render.results_json([g for g in grades if g.status != "not available"], ROADMAP.scoring)
    assert results["version"] == 3 and results["status"] == "pass"
    assert results["score"] == results["max_score"] > 0
    assert {t["status"] for t in results["tests"]} == {"pass"}
    assert all(isinstance(t["task_id"], int) and t["kind"] in roadmap.KINDS for t in results["tests"])
    json.dumps(results)  # serialisable as it is
