"""`python grader classroom`: a class's submissions graded into a gradebook by the teacher's
own suites and grader (issue 17). Six generated learners: correct (a clone inside a folder),
partly done (a zip of exercises/ with one bug), broken (a syntax error), hostile (kills the
process that grades it), tampered (the same bug as the partly done one, with a conftest.py
and a test file that would make everything pass) and hung (sleeps at import)."""

from __future__ import annotations

import csv
import io
import zipfile
from types import SimpleNamespace

import pytest

from grader import classroom, cli, integrity, mutants, roadmap

ROADMAP = roadmap.load()
TOPIC = ROADMAP.built[0]  # the quickest suite
RIGGED = '''import pytest


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    report.outcome = "passed"  # every test passes, whatever the code does
'''


def _buggy() -> str:
    solution = TOPIC.solution().read_text(encoding="utf-8")
    return mutants.apply(solution, mutants.load(TOPIC)["bce_summed_not_averaged"], "bce_summed_not_averaged")


def _class(folder):
    inner = TOPIC.file_in(folder / "alice" / "pytorch-katas" / "exercises")  # a clone inside a folder
    inner.parent.mkdir(parents=True)
    inner.write_text(TOPIC.solution().read_text(encoding="utf-8"), encoding="utf-8")
    with zipfile.ZipFile(folder / "bob.zip", "w") as z:  # a zip of exercises/ only
        z.writestr(f"exercises/{TOPIC.slug}/{TOPIC.file}", _buggy())
    for learner, text in (("carol", "def broken(:\n"),
                          ("dave", "import os, signal\nos.kill(os.getppid(), signal.SIGKILL)\n"),
                          ("erin", _buggy()),
                          ("gina", "import time\ntime.sleep(3600)\n")):
        TOPIC.file_in(folder / learner / "exercises").parent.mkdir(parents=True)
        TOPIC.file_in(folder / learner / "exercises").write_text(text, encoding="utf-8")
    # erin tampers: a conftest.py that passes everything beside her file and at the top, and a test
    # file of her own where the suite would be.
    (TOPIC.file_in(folder / "erin" / "exercises").parent / "conftest.py").write_text(RIGGED, encoding="utf-8")
    (folder / "erin" / "conftest.py").write_text(RIGGED, encoding="utf-8")
    fake = folder / "erin" / "tests" / TOPIC.slug / "test_everything.py"
    fake.parent.mkdir(parents=True)
    fake.write_text("def test_nothing():\n    assert True\n", encoding="utf-8")
    (folder / ".DS_Store").write_bytes(b"\0")  # not a learner


@pytest.mark.timeout(600)
def test_a_class_is_graded_into_the_expected_gradebook(tmp_path, monkeypatch, capsys):
    submissions = tmp_path / "submissions"
    submissions.mkdir()
    _class(submissions)
    out = tmp_path / "grades" / "gradebook.csv"
    monkeypatch.setattr(integrity, "changes", lambda root=None: {})  # as committed (this checkout may be at work)
    code = cli.main(["--time-limit", "15", "classroom", str(submissions), "--out", str(out),
                     "--topics", f"{TOPIC.number:02d}", "--jobs", "6"])
    printed = capsys.readouterr()
    run = SimpleNamespace(stdout=printed.out)
    assert code == 0, printed.out[-3000:] + printed.err[-3000:]
    assert "[6/6]" in run.stdout and all(f"] {name}:" in run.stdout for name in ("alice", "dave", "gina")), run.stdout
    rows = {row["learner"]: row for row in csv.DictReader(io.StringIO(out.read_text(encoding="utf-8")))}
    assert list(rows) == ["alice", "bob", "carol", "dave", "erin", "gina"], rows
    column = next(name for name in next(iter(rows.values())) if name.startswith(TOPIC.slug))
    maximum = int(column.rsplit("of ", 1)[1].rstrip(")"))
    scores = {name: int(row[column]) for name, row in rows.items()}
    assert scores["alice"] == maximum and rows["alice"]["topics passed"] == "1", rows["alice"]
    assert 0 < scores["bob"] < maximum and rows["bob"]["topics passed"] == "0", rows["bob"]
    assert scores["erin"] == scores["bob"], "a tampered conftest.py or test file changed erin's grade"
    for name in ("carol", "dave", "gina"):
        assert scores[name] == 0 and rows[name]["topics passed"] == "0" and rows[name]["note"], rows[name]
    assert "SyntaxError" in rows["carol"]["note"] or "syntax" in rows["carol"]["note"], rows["carol"]
    assert "time" in rows["gina"]["note"], rows["gina"]
    assert "classroom-" not in out.read_text(encoding="utf-8"), "a message names the teacher's temporary folder"
    results = classroom.results_folder(out)
    assert (results / "alice" / "results.json").is_file() and (results / "bob" / "results.json").is_file()
    # The teacher's view: bob's and erin's bug fails the same tests, shown with their first message.
    assert "fail for the most learners" in run.stdout and f"{TOPIC.slug}::" in run.stdout, run.stdout


def test_the_gradebook_does_not_depend_on_the_order_and_never_holds_a_formula(tmp_path):
    def results(score: int, status: str) -> dict:
        return {"topics": [{"slug": TOPIC.slug, "status": status, "score": score, "message": None}],
                "tests": [{"name": f"{TOPIC.slug}::test_a", "status": "fail" if status != "passed" else "pass",
                           "message": f"bug of {score}"}]}

    rows = [classroom.Row("=cmd()", results(3, "in progress"), found=[TOPIC.slug]),
            classroom.Row("ann", results(5, "in progress"), found=[TOPIC.slug]),
            classroom.Row("zed", None, note="-the submission could not be read")]
    written = []
    for order in (rows, rows[::-1]):
        out = tmp_path / f"{len(written)}.csv"
        classroom.write(sorted(order, key=lambda r: r.learner), [TOPIC], out)
        written.append(out.read_text(encoding="utf-8"))
        assert classroom.hardest(sorted(order, key=lambda r: r.learner)) == [
            (f"{TOPIC.slug}::test_a", 2, 2, "bug of 3")]
    assert written[0] == written[1]
    assert "'=cmd()" in written[0] and "'-the submission" in written[0]


def test_a_zip_that_is_not_one_or_holds_a_huge_file_costs_its_own_row(tmp_path):
    (tmp_path / "broken.zip").write_bytes(b"not a zip")
    with zipfile.ZipFile(tmp_path / "huge.zip", "w", compression=zipfile.ZIP_DEFLATED) as z:
        z.writestr(f"exercises/{TOPIC.slug}/{TOPIC.file}", b"#" * (5 * 2**20))
    options = dict(seed=0, device="cpu", time_limit=10.0, memory_limit=None)
    for learner in ("broken", "huge"):
        row = classroom.grade_learner(classroom.Submission(learner, tmp_path / f"{learner}.zip"), [TOPIC], options,
                                      tmp_path)
        assert row.results is None and "could not be read" in row.note, row


def test_a_class_is_graded_only_with_the_pristine_suites(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(integrity, "changes", lambda root=None: {TOPIC.slug: [f"tests/{TOPIC.slug}/x.py (changed)"]})
    assert cli.main(["classroom", str(tmp_path)]) == 1
    assert "differ from the committed version" in capsys.readouterr().err
