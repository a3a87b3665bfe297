"""The grader's own behaviour: the report, robustness to broken files, hints, reset, JSON, stubs."""

from __future__ import annotations

import json
import shutil
import time

import pytest

from grader import cli, commands, grading, mutants, notebooks, readme, render, roadmap, runner, state, stubs

ROADMAP = roadmap.load()
FIRST = ROADMAP.built[0]


def _exercises_with_solutions(tmp_path, topics=ROADMAP.built):
    """An exercises/ folder where these topics hold their solutions (the others are missing)."""
    for topic in topics:
        path = tmp_path / topic.slug / topic.file
        path.parent.mkdir(parents=True)
        shutil.copy(topic.solution(), path)
    return tmp_path


def _break(topic: roadmap.Topic, exercises, edit) -> None:
    path = exercises / topic.slug / topic.file
    path.write_text(edit(path.read_text(encoding="utf-8")), encoding="utf-8")


# Ways a learner's file can go wrong, each put into its own topic in one grading run.
BREAKAGES = {
    # NaN from the first `return` of topic 01 (its sigmoid): every probability is NaN.
    "nan_everywhere": lambda src: src.replace("import torch\n", "import torch\n_nan = float('nan')\n", 1)
    .replace("return ", "return _nan * ", 1),
    "syntax_error": lambda src: src.replace("def ", "def def ", 1),
    "exception_at_import": lambda src: src + "\nraise RuntimeError('boom at import')\n",
    "infinite_loop": lambda src: src + "\nwhile True:\n    pass\n",
}


@pytest.mark.timeout(180)
def test_grader_survives_broken_files_and_grades_the_rest(tmp_path):
    exercises = _exercises_with_solutions(tmp_path)
    broken = dict(zip(BREAKAGES, ROADMAP.built, strict=False))  # breakage -> the topic that gets it
    for name, topic in broken.items():
        _break(topic, exercises, BREAKAGES[name])
    grades = {g.topic.slug: g for g in grading.grade(ROADMAP.topics, exercises=exercises, test_timeout=3)}
    for name, topic in broken.items():
        g = grades[topic.slug]
        assert g.status == "in progress", f"{name} in {topic.slug}: expected 'in progress', got {g.status}"
        assert g.reason and "\n" not in g.reason, f"{name} in {topic.slug}: expected a one-line reason, got {g.reason!r}"
    assert "SyntaxError" in grades[broken["syntax_error"].slug].reason
    assert "boom at import" in grades[broken["exception_at_import"].slug].reason
    assert "Timeout" in grades[broken["infinite_loop"].slug].reason
    for topic in ROADMAP.built[len(broken):]:
        g = grades[topic.slug]
        assert g.status == "passed", f"broken files elsewhere must not affect {topic.slug}: {g.reason}"


@pytest.mark.timeout(120)
def test_an_infinite_loop_costs_the_time_limit_once_per_topic(tmp_path):
    source = FIRST.solution().read_text(encoding="utf-8")
    looping = source.replace('    """\n', '    """\n    while True:\n        pass\n', 1)  # the first function hangs
    target = mutants.write_target(FIRST, looping, tmp_path)
    started = time.perf_counter()
    records = runner.run_inprocess([FIRST.slug], target, extra=["--timeout=2"])[FIRST.slug]
    elapsed = time.perf_counter() - started
    timed_out = [r for r in records if r.message.startswith("Failed: Timeout") or r.message.startswith("Timeout")]
    not_run = [r for r in records if "hit the time limit earlier" in r.message]
    assert len(timed_out) == 1, [r.message for r in records]
    assert len(not_run) == len(records) - 1 - sum(r.status == "pass" for r in records)
    assert elapsed < 20, f"the suite took {elapsed:.0f} s: the time limit was paid more than once"


@pytest.mark.timeout(180)
def test_grader_survives_a_crashing_test_process(tmp_path):
    # os._exit kills the whole pytest process: the grader then grades each topic alone.
    exercises = _exercises_with_solutions(tmp_path, ROADMAP.built[:2])
    _break(FIRST, exercises, lambda src: src + "\nimport os\nos._exit(3)\n")
    grades = {g.topic.slug: g for g in grading.grade(ROADMAP.topics, exercises=exercises)}
    assert grades[FIRST.slug].status == "in progress"
    assert "died" in grades[FIRST.slug].reason, grades[FIRST.slug].reason
    assert grades[ROADMAP.built[1].slug].status == "passed", grades[ROADMAP.built[1].slug].reason


def test_report_on_untouched_stubs_names_the_first_topic(tmp_path, capsys):
    for topic in ROADMAP.built:
        path = tmp_path / topic.slug / topic.file
        path.parent.mkdir(parents=True)
        path.write_text(stubs.stub_for(topic), encoding="utf-8")
    grades = grading.grade(ROADMAP.topics, exercises=tmp_path)  # untouched stubs are not even run
    render.print_report(grades, ROADMAP.scoring)
    out = capsys.readouterr().out
    assert f"Overall: 0 of {len(ROADMAP.built)} available topics passed" in out
    assert f"Next: {FIRST.number:02d} {FIRST.display_name}" in out
    assert f"uv run pytest exercises/{FIRST.slug}" in out
    for topic in ROADMAP.topics:
        assert topic.display_name in out, f"the report must list {topic.slug}"
        if topic.title_ko:
            assert topic.title_ko in out


@pytest.mark.timeout(120)
def test_report_and_json_when_everything_passes(tmp_path, capsys):
    grades = grading.grade(ROADMAP.topics, exercises=_exercises_with_solutions(tmp_path))
    render.print_report(grades, ROADMAP.scoring)
    out = capsys.readouterr().out
    n = len(ROADMAP.built)
    assert f"Overall: {n} of {n} available topics passed" in out
    results = render.results_json([g for g in grades if g.status != "not available"], ROADMAP.scoring)
    assert results["version"] == 3 and results["status"] == "pass"
    assert results["score"] == results["max_score"] > 0
    assert {t["status"] for t in results["tests"]} == {"pass"}
    assert all(isinstance(t["task_id"], int) and t["kind"] in roadmap.KINDS for t in results["tests"])
    json.dumps(results)  # serialisable as it is


def test_hints_are_progressive(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(state, "STATE_DIR", tmp_path / ".grader")
    task = next(iter(FIRST.hints))
    shown = []
    for _ in range(len(FIRST.hints[task]) + 1):
        assert cli.main(["hint", FIRST.slug, task]) == 0
        shown.append(capsys.readouterr().out)
    for i, hint in enumerate(FIRST.hints[task]):
        assert hint in shown[i], f"call {i + 1} should show hint {i + 1}"
    assert FIRST.hints[task][-1] in shown[-1], "past the last hint, the last one is shown again"


def test_reset_backs_up_the_learners_file(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(state, "STATE_DIR", tmp_path / ".grader")
    monkeypatch.setattr(grading, "EXERCISES", tmp_path / "exercises")
    mine = tmp_path / "exercises" / FIRST.slug / FIRST.file
    mine.parent.mkdir(parents=True)
    mine.write_text("# my work in progress\n", encoding="utf-8")
    assert cli.main(["reset", FIRST.slug]) == 0
    out = capsys.readouterr().out
    backups = list((tmp_path / ".grader" / "backups" / FIRST.slug).iterdir())
    assert len(backups) == 1 and backups[0].read_text(encoding="utf-8") == "# my work in progress\n"
    assert backups[0].name in out, "reset must name the backup it made"
    assert mine.read_text(encoding="utf-8") == stubs.stub_for(FIRST)


def test_compare_shows_answers_in_place_of_the_raise(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(grading, "EXERCISES", tmp_path)
    mine = tmp_path / FIRST.slug / FIRST.file
    mine.parent.mkdir(parents=True)
    mine.write_text(stubs.stub_for(FIRST), encoding="utf-8")
    assert cli.main(["compare", FIRST.slug, "--no-run"]) == 0
    out = capsys.readouterr().out
    removed = [line for line in out.splitlines() if line.startswith("-") and not line.startswith("---")]
    assert removed and all("raise NotImplementedError" in line for line in removed), (
        "the diff of an untouched stub against the reference should only swap each raise for its answer"
    )
    assert "BEGIN SOLUTION" not in out


def test_unknown_command_suggests_the_closest(capsys):
    assert cli.main(["hnit"]) == 2
    assert "Did you mean 'hint'?" in capsys.readouterr().err


def test_unknown_topic_is_one_sentence(capsys):
    assert cli.main(["hint", "99"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("python grader: no topic '99'") and "Traceback" not in err


def test_help_lists_every_command(capsys):
    with pytest.raises(SystemExit):
        cli.main(["--help"])
    out = capsys.readouterr().out
    for name in commands.COMMANDS:
        assert name in out


def test_readme_table_is_current():
    text = (roadmap.ROOT / "README.md").read_text(encoding="utf-8")
    assert readme.with_table(text) == text, "README.md's roadmap table is stale: run `python grader readme`"


def test_notebook_round_trip(tmp_path):
    pytest.importorskip("nbformat")
    path = tmp_path / "topic.ipynb"
    notebooks.write(FIRST, path)
    source = FIRST.exercise().read_text(encoding="utf-8")
    assert notebooks.to_source(path).split() == source.split()


# ------------------------------------------------------------------ the stub generator
def _stub(source: str) -> str:
    return stubs.make_stub(source, FIRST, name="t.py")


def test_stub_keeps_signature_docstring_and_indentation():
    source = (
        "def f(x: int) -> int:\n"
        '    """Doc."""\n'
        "    if x:\n"
        "        # BEGIN SOLUTION: return x doubled\n"
        "        return 2 * x\n"
        "        # END SOLUTION\n"
        "    return 0\n"
    )
    stub = _stub(source)
    assert 'def f(x: int) -> int:\n    """Doc."""\n    if x:\n        # TODO: return x doubled\n' in stub
    assert '        raise NotImplementedError("f(): return x doubled")\n    return 0\n' in stub
    assert "2 * x" not in stub
    compile(stub, "stub.py", "exec")


@pytest.mark.parametrize(("source", "complaint"), [
    ("def f():\n    # BEGIN SOLUTION: a\n    return 1\n", "never closed"),
    ("def f():\n    # BEGIN SOLUTION: a\n    # BEGIN SOLUTION: b\n    pass\n    # END SOLUTION\n", "inside the region"),
    ("def f():\n    pass\n    # END SOLUTION\n", "without a BEGIN"),
    ("def f():\n    # BEGIN SOLUTION\n    return 1\n    # END SOLUTION\n", "write the TODO"),
    ("# BEGIN SOLUTION: a\nx = 1\n# END SOLUTION\n", "inside a function"),
    ("def f():\n    return 1\n", "no '# BEGIN SOLUTION' region"),
    ("def f():\n    return 1  # BEGIN SOLUTION: a\n", "alone on its line"),
])
def test_stub_generator_refuses_bad_markers(source, complaint):
    with pytest.raises(stubs.MarkerError, match=complaint):
        _stub(source)
