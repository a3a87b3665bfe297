"""The grader's commands as a learner uses them: the report, hints, reset, compare, JSON,
and the learner's state in .grader/. The runs themselves are in test_isolation.py."""

from __future__ import annotations

import hashlib
import json
import os

import pytest

from grader import cli, commands, grading, integrity, readme, render, roadmap, runner, state, stubs
from grader.records import Record

ROADMAP = roadmap.load()
FIRST, SECOND = ROADMAP.built[0], ROADMAP.built[1]


class FakeRunner:
    """runner.run without processes: every test of a topic passes, or fails for the topics in `failing`."""

    def __init__(self, failing=()) -> None:
        self.calls: list[list[str]] = []
        self.failing = set(failing)

    def __call__(self, slugs, target, *, progress=None, dependencies=None, **options):
        if slugs:
            self.calls.append(list(slugs))
        results = {}
        for _i, slug in enumerate(slugs, start=1):
            if progress is not None:
                progress(slug)
            topic = ROADMAP.find(slug)
            if dependencies is not None:  # what the plugin reports: the file under test, as it was imported
                path = topic.file_in(target)
                dependencies[slug] = {os.path.realpath(path): hashlib.sha256(path.read_bytes()).hexdigest()}
            status = "fail" if slug in self.failing else "pass"
            results[slug] = [Record(slug, t.name, t.kind, t.task, status, "AssertionError: wrong" * (status == "fail"))
                             for t in grading.suites.outline(topic)]
        return results


@pytest.fixture
def fake_runner(monkeypatch) -> FakeRunner:
    fake = FakeRunner()
    monkeypatch.setattr(runner, "run", fake)
    return fake


def test_report_on_untouched_stubs_names_the_first_topic(learner, capsys):
    grades = grading.grade(ROADMAP.topics)  # untouched stubs are not even run
    render.print_report(grades, ROADMAP.scoring)
    out = capsys.readouterr().out
    assert f"Overall: 0 of {len(ROADMAP.built)} available topics passed" in out
    assert f"Next: {FIRST.number:02d} {FIRST.display_name}" in out
    assert f"uv run pytest exercises/{FIRST.slug}" in out
    for topic in ROADMAP.topics:
        assert topic.display_name in out, f"the report must list {topic.slug}"
        if topic.title_ko:
            assert topic.title_ko in out


def test_hints_are_progressive(learner, capsys):
    task = next(iter(FIRST.hints))
    shown = []
    for _ in range(len(FIRST.hints[task]) + 1):
        assert cli.main(["hint", FIRST.slug, task]) == 0
        shown.append(capsys.readouterr().out)
    for i, hint in enumerate(FIRST.hints[task]):
        assert hint in shown[i], f"call {i + 1} should show hint {i + 1}"
    assert FIRST.hints[task][-1] in shown[-1], "past the last hint, the last one is shown again"


def test_reset_backs_up_the_file_forgets_its_hints_and_says_how_to_restore(learner, capsys):
    learner.write(FIRST, "# my work in progress\n")
    cli.main(["hint", FIRST.slug, next(iter(FIRST.hints))])
    assert cli.main(["reset", FIRST.slug]) == 0
    out = capsys.readouterr().out
    backups = list((learner.root / ".grader" / "backups" / FIRST.slug).iterdir())
    assert len(backups) == 1 and backups[0].read_text(encoding="utf-8") == "# my work in progress\n"
    assert learner.path(FIRST).read_text(encoding="utf-8") == stubs.stub_for(FIRST)
    assert f"To bring your file back: cp .grader/backups/{FIRST.slug}/{backups[0].name} " in out.replace(
        str(learner.root) + "/", ""), out
    assert FIRST.slug not in state.load(), "reset starts the topic's hints again"
    assert f"Hints for {FIRST.slug} start again from the first." in out


def test_reset_brings_back_a_deleted_topic_folder_with_its_lesson(learner, capsys):
    import shutil

    shutil.rmtree(learner.path(FIRST).parent)
    grades = {g.topic.slug: g for g in grading.grade(ROADMAP.topics)}
    assert "is missing" in grades[FIRST.slug].reason
    assert render.results_json([grades[FIRST.slug]], ROADMAP.scoring)["topics"][0]["message"].endswith(
        "brings the topic back")
    assert cli.main(["reset", FIRST.slug]) == 0
    assert learner.path(FIRST).read_text(encoding="utf-8") == stubs.stub_for(FIRST)
    assert FIRST.lesson(learner.root).read_text(encoding="utf-8") == stubs.committed(FIRST.lesson())
    assert "Restored the lesson" in capsys.readouterr().out


def test_compare_shows_answers_in_place_of_the_raise(learner, capsys):
    assert cli.main(["compare", FIRST.slug, "--no-run"]) == 0
    out = capsys.readouterr().out
    removed = [line for line in out.splitlines() if line.startswith("-") and not line.startswith("---")]
    assert removed and all("raise NotImplementedError" in line for line in removed), (
        "the diff of an untouched stub against the reference should only swap each raise for its answer"
    )
    assert "BEGIN SOLUTION" not in out


def test_hint_and_compare_reuse_the_last_results_of_an_unchanged_file(learner, fake_runner, capsys):
    learner.write(FIRST, stubs.stub_for(FIRST) + "\n# started\n")
    cli.main(["hint", FIRST.slug])
    cli.main(["hint", FIRST.slug])
    cli.main(["compare", FIRST.slug])
    assert fake_runner.calls == [[FIRST.slug], [FIRST.slug]], "one run of the file, one of the reference"
    learner.write(FIRST, stubs.stub_for(FIRST) + "\n# changed\n")
    cli.main(["hint", FIRST.slug])
    assert fake_runner.calls[-1] == [FIRST.slug], "a changed file runs again"


def test_compare_leaves_the_stubs_todo_lines_out_of_the_diff(learner, capsys):
    stub = stubs.stub_for(FIRST)
    todos = [line for line in stub.splitlines() if line.strip().startswith("# TODO:")]
    assert len(todos) >= 2
    # The learner deleted the first TODO, kept the others, and wrote a TODO of their own.
    learner.write(FIRST, stub.replace(todos[0] + "\n", "", 1).replace(todos[1], todos[1] + "\n    # TODO: mine", 1))
    assert cli.main(["compare", FIRST.slug, "--no-run"]) == 0
    out = capsys.readouterr().out
    changed = [line for line in out.splitlines() if line[:1] in "+-" and not line.startswith(("---", "+++"))]
    assert not [line for line in changed if line.strip() in {f"-{t.strip()}" for t in todos} | {
        f"+{t.strip()}" for t in todos} or any(t.strip() in line for t in todos)], "a TODO line is in the diff"
    assert "-    # TODO: mine" in changed, "the learner's own comments are code: they stay"
    assert "leaves out the stub's TODO comments" in out
    # Each hunk says where it is in the learner's file: the line's number, and the definition.
    lines = out.splitlines()
    i = next(k for k, line in enumerate(lines) if line.startswith("@@"))
    start = int(lines[i].split()[1].split(",")[0].removeprefix("-"))
    assert lines[i + 1][1:] == learner.path(FIRST).read_text(encoding="utf-8").splitlines()[start - 1]
    assert lines[i].split("@@")[-1].strip().startswith(("def ", "class ")), lines[i]


def test_compare_from_cached_results_runs_no_suite_as_hint_does(learner, fake_runner, capsys):
    learner.write(FIRST, stubs.stub_for(FIRST) + "\n# started\n")
    assert cli.main([]) == 0  # the report keeps the results of the learner's file
    assert fake_runner.calls == [[FIRST.slug]]
    assert cli.main(["hint", FIRST.slug]) == 0
    assert len(fake_runner.calls) == 1, "hint on a fresh cache: no run"
    assert cli.main(["compare", FIRST.slug]) == 0
    assert len(fake_runner.calls) == 2, "the reference runs once..."
    assert cli.main(["compare", FIRST.slug]) == 0
    assert len(fake_runner.calls) == 2, "...and then both files' results are cached: no run at all"
    learner.write(FIRST, stubs.stub_for(FIRST) + "\n# changed\n")
    assert cli.main(["compare", FIRST.slug]) == 0
    assert len(fake_runner.calls) == 3, "a changed file runs again, the unchanged reference does not"
    first_test = grading.suites.outline(FIRST)[0].name
    assert any(line.startswith(first_test) and line.split()[-2:] == ["pass", "pass"]
               for line in capsys.readouterr().out.splitlines()), "the results side by side, from the cache"


def test_the_report_runs_only_the_topics_that_changed(learner, fake_runner, capsys):
    learner.solve(FIRST)
    learner.solve(SECOND)
    assert cli.main([]) == 0
    learner.write(SECOND, SECOND.solution().read_text(encoding="utf-8") + "\n# an edit\n")
    assert cli.main([]) == 0
    assert fake_runner.calls == [[FIRST.slug, SECOND.slug], [SECOND.slug]]


def test_next_names_the_topic_in_progress_before_an_untouched_one(learner, capsys, monkeypatch):
    monkeypatch.setattr(runner, "run", FakeRunner(failing=[SECOND.slug]))
    learner.solve(SECOND)  # 01 untouched, 02 in progress
    cli.main([])
    out = capsys.readouterr().out
    assert f"Next: {SECOND.number:02d} {SECOND.display_name}" in out, out


def test_the_reason_is_never_cut_in_the_middle_of_a_word(learner, capsys, monkeypatch):
    long = "AssertionError: " + " ".join(["supercalifragilistic"] * 30)

    def failing(slugs, target, **options):
        return {slug: [Record(slug, t.name, t.kind, t.task, "fail", long) for t in grading.suites.outline(
            ROADMAP.find(slug))] for slug in slugs}

    monkeypatch.setattr(runner, "run", failing)
    learner.solve(FIRST)
    cli.main([])
    lines = [line for line in capsys.readouterr().out.splitlines() if "supercali" in line]
    assert lines and all(line.rstrip().endswith(("supercalifragilistic", "supercalifragilistic…")) for line in lines)


def test_progress_shows_on_a_terminal_only(learner, fake_runner, capsys, monkeypatch):
    learner.solve(FIRST)
    learner.solve(SECOND)
    monkeypatch.setattr("sys.stderr.isatty", lambda: True)
    cli.main([])
    assert f"grading {SECOND.slug} (2 of 2)" in capsys.readouterr().err
    learner.write(FIRST, FIRST.solution().read_text(encoding="utf-8") + "\n# again\n")
    cli.main(["--json"])
    assert "grading" not in capsys.readouterr().err, "--json shows no progress"
    monkeypatch.setattr("sys.stderr.isatty", lambda: False)
    learner.write(FIRST, FIRST.solution().read_text(encoding="utf-8") + "\n# piped\n")
    cli.main([])
    assert "grading" not in capsys.readouterr().err, "piped: no progress"


@pytest.mark.parametrize("damage", ["cp949", "folder", "unreadable"])
def test_a_damaged_learner_file_never_crashes_a_command(learner, fake_runner, capsys, monkeypatch, damage):
    path = learner.path(FIRST)
    if damage == "cp949":  # a Korean comment saved by a Windows editor
        path.write_bytes("# 한국어 주석\n".encode("cp949") + stubs.stub_for(FIRST).encode())
    elif damage == "folder":
        path.unlink()
        path.mkdir()
    else:  # what chmod 000 gives (as root, every file can be read: so the refusal is simulated)
        for method in ("read_bytes", "read_text"):
            real = getattr(type(path), method)

            def refuse(self, *args, _real=real, **kwargs):
                if self == path:
                    raise PermissionError(13, "Permission denied", str(self))
                return _real(self, *args, **kwargs)

            monkeypatch.setattr(type(path), method, refuse)
    for argv in ([], ["--json"], ["hint", FIRST.slug], ["compare", FIRST.slug, "--no-run"], ["reset", FIRST.slug]):
        code = cli.main(argv)
        captured = capsys.readouterr()
        assert "Traceback" not in captured.err + captured.out, (argv, captured.err)
        assert code in (0, 1), (argv, code, captured.err)
        if argv == ["--json"]:
            assert json.loads(captured.out)["version"] == 3


def test_json_is_always_one_valid_results_object(learner, monkeypatch, capsys):
    def broken(*args, **kwargs):
        raise RuntimeError("something nobody expected")

    monkeypatch.setattr(runner, "run", broken)
    learner.solve(FIRST)
    assert cli.main(["--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["status"] == "error" and "something nobody expected" in data["message"]


def test_a_topic_without_tests_is_an_error_never_a_pass(learner, fake_runner, monkeypatch):
    monkeypatch.setattr(grading.suites, "outline", lambda topic: [])
    learner.solve(FIRST)
    grade = grading.grade([FIRST])[0]
    assert grade.status == "error" and "has no tests" in grade.reason


def test_a_changed_suite_is_reported_instead_of_a_grade(learner, fake_runner, monkeypatch):
    learner.solve(FIRST)
    learner.solve(SECOND)
    changes = {FIRST.slug: [f"tests/{FIRST.slug}/test_x.py (changed)"]}
    grades = grading.grade([FIRST, SECOND], changes=changes)
    assert grades[0].status == "error" and "its hidden suite differ" in grades[0].reason
    assert f"git checkout HEAD -- tests/{FIRST.slug}" in grades[0].reason
    assert grades[1].status == "passed"
    grades = grading.grade([FIRST, SECOND], changes={integrity.EVERY_TOPIC: ["grader/checks.py (changed)"]})
    assert {g.status for g in grades} == {"error"}


@pytest.mark.parametrize("damage", ["corrupted", "not an object", "not a folder"])
def test_a_damaged_state_folder_never_gives_a_traceback(learner, capsys, damage):
    folder = learner.root / ".grader"
    folder.mkdir(exist_ok=True)
    if damage == "corrupted":
        (folder / "state.json").write_bytes(b"\x00{ not json")
    elif damage == "not an object":
        (folder / "state.json").write_text("[1, 2]", encoding="utf-8")
    else:  # nothing can be written in it (as with a read-only folder)
        folder.rmdir()
        folder.write_text("", encoding="utf-8")
    task = next(iter(FIRST.hints))
    assert cli.main(["hint", FIRST.slug, task]) == 0
    learner.write(FIRST, "# mine\n")
    assert cli.main(["reset", FIRST.slug]) in (0, 1)
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    assert FIRST.hints[task][0] in captured.out


def test_two_resets_at_once_never_name_an_empty_backup(learner, capsys, monkeypatch):
    # The second reset runs at the moment the first one writes the stub: it must see the
    # learner's file or the stub, never a half-written (empty) file.
    learner.write(FIRST, "# my work\n" * 1000)
    mine = learner.path(FIRST)
    second = []

    def interleave():
        if not second:
            second.append(True)
            cli.main(["reset", FIRST.slug])

    real_write_text, real_replace = type(mine).write_text, os.replace

    def write_text(self, *args, **kwargs):
        if self == mine:
            with open(self, "w"):  # what open("w") does first: truncate
                pass
            interleave()
        return real_write_text(self, *args, **kwargs)

    def replace(src, dst, *args, **kwargs):
        if str(dst) == str(mine):
            interleave()
        return real_replace(src, dst, *args, **kwargs)

    monkeypatch.setattr(type(mine), "write_text", write_text)
    monkeypatch.setattr(os, "replace", replace)
    cli.main(["reset", FIRST.slug])
    out = capsys.readouterr().out
    named = [line.split("Saved your file to ", 1)[1] for line in out.splitlines() if "Saved your file to" in line]
    assert named
    for name in named:
        path = learner.root / name if not os.path.isabs(name) else name
        assert os.path.getsize(path) > 0, f"reset named an empty backup: {name}"


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
