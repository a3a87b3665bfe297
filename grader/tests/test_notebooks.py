"""`grader notebook`: what a learner does in Jupyter comes back into the graded file, and
nothing else does."""

from __future__ import annotations

import os

import pytest

from grader import cli, grading, notebooks, roadmap, state

nbformat = pytest.importorskip("nbformat")

BUILT = roadmap.load().built
FIRST = BUILT[0]


@pytest.mark.parametrize("topic", BUILT, ids=lambda t: t.slug)
def test_an_unchanged_notebook_gives_back_the_file_byte_for_byte(topic, tmp_path):
    for path in (topic.exercise(), topic.solution()):
        notebooks.write(topic, path, tmp_path / "nb.ipynb")
        text, left_out = notebooks.to_source(tmp_path / "nb.ipynb")
        assert text == path.read_text(encoding="utf-8") and not left_out


def _notebook(tmp_path):
    path = tmp_path / "nb.ipynb"
    notebooks.write(FIRST, FIRST.solution(), path)
    return path, nbformat.read(str(path), as_version=4)


def test_magics_shell_escapes_and_scratch_cells_stay_out_of_the_file(tmp_path):
    path, nb = _notebook(tmp_path)
    file_cells = [c for c in nb.cells if notebooks.FILE_TAG in c.metadata.get("tags", [])]
    file_cells[1].source = "%timeit 1 + 1\n!pip list\nfiles = !ls\nsigmoid?\n" + file_cells[1].source
    file_cells[2].source = "%%time\n" + file_cells[2].source
    nb.cells.insert(5, nbformat.v4.new_code_cell("print(sigmoid(torch.zeros(3)))  # trying it out"))
    nb.cells.insert(6, nbformat.v4.new_code_cell("%%bash\nls -l"))
    nbformat.write(nb, str(path))
    text, left_out = notebooks.to_source(path)
    assert text == FIRST.solution().read_text(encoding="utf-8"), "only the learner's code comes back"
    assert left_out == ["2 scratch cells (cells you added)", "5 lines of IPython magics or shell commands"]


def test_running_the_notebook_in_a_kernel_does_not_start_main(tmp_path):
    path, nb = _notebook(tmp_path)
    code = [c.source for c in nb.cells if c.cell_type == "code" and notebooks.RUN_CELL_TAG not in c.metadata["tags"]]
    assert not any(notebooks.MAIN_GUARD in source for source in code)
    namespace = {"__name__": "__main__"}  # what a kernel runs cells under
    for source in code:
        exec(compile(source, "<cell>", "exec"), namespace)  # noqa: S102
    assert callable(namespace["main"])  # defined, not run: running it would train for seconds and exit


def test_the_notebook_names_its_kernel(tmp_path):
    _, nb = _notebook(tmp_path)
    assert nb.metadata["kernelspec"]["name"] == "python3"
    assert nb.metadata["kernelspec"]["language"] == "python"


def test_sync_reports_what_it_left_out_and_backs_up_the_file(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(grading, "EXERCISES", tmp_path / "exercises")
    monkeypatch.setattr(state, "STATE_DIR", tmp_path / ".grader")
    mine = FIRST.file_in(tmp_path / "exercises")
    mine.parent.mkdir(parents=True)
    mine.write_text(FIRST.exercise().read_text(encoding="utf-8"), encoding="utf-8")
    assert cli.main(["notebook", FIRST.slug]) == 0
    assert "uv run --with jupyterlab jupyter lab" in capsys.readouterr().out
    nb_path = mine.with_suffix(".ipynb")
    nb = nbformat.read(str(nb_path), as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell("x = 1"))
    nbformat.write(nb, str(nb_path))
    mine.write_text(mine.read_text(encoding="utf-8") + "\n# edited outside the notebook\n", encoding="utf-8")
    assert cli.main(["notebook", FIRST.slug, "--sync", "--force"]) == 0
    out = capsys.readouterr().out
    assert "Saved your file to" in out and "Left out: 1 scratch cell (cells you added)." in out
    assert mine.read_text(encoding="utf-8") == FIRST.exercise().read_text(encoding="utf-8")


# ------------------------------------------------------------------ files pytest handles, notebooks that are damaged
@pytest.fixture
def mine(tmp_path, monkeypatch):
    """The learner's file of the first topic, in tmp, holding the untouched stub."""
    monkeypatch.setattr(grading, "EXERCISES", tmp_path / "exercises")
    monkeypatch.setattr(state, "STATE_DIR", tmp_path / ".grader")
    path = FIRST.file_in(tmp_path / "exercises")
    path.parent.mkdir(parents=True)
    path.write_text(FIRST.exercise().read_text(encoding="utf-8"), encoding="utf-8")
    return path


def _one_sentence(capsys) -> str:
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err + captured.out, captured.err
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("python grader: "), captured.err
    return lines[0]


@pytest.mark.parametrize(("damage", "said"), [
    (lambda src: src.replace(b"def ", b"def def ", 1), "is not valid Python (line"),
    (lambda src: src.replace(b"import torch", b"import\0torch", 1), "holds a NUL byte"),
    (lambda src: src.replace(b"\n", b"\n# caf\xe9 (Latin-1)\n", 1), "is not UTF-8 text (byte 0xe9"),
], ids=["syntax-error", "nul-byte", "latin-1"])
def test_a_file_that_cannot_be_cut_into_cells_is_one_sentence(mine, capsys, damage, said):
    mine.write_bytes(damage(mine.read_bytes()))
    assert cli.main(["notebook", FIRST.slug]) == 1
    assert said in _one_sentence(capsys)
    assert not mine.with_suffix(".ipynb").exists()


def test_a_file_with_a_utf8_bom_makes_a_notebook_and_comes_back(mine, capsys):
    # Windows editors write a BOM; Python and pytest accept the file.
    text = mine.read_text(encoding="utf-8")
    mine.write_bytes(b"\xef\xbb\xbf" + text.encode("utf-8"))
    assert cli.main(["notebook", FIRST.slug]) == 0
    assert cli.main(["notebook", FIRST.slug, "--sync"]) == 0
    assert "Saved your file" not in capsys.readouterr().out, "only the BOM differs: nothing to back up"
    assert mine.read_text(encoding="utf-8") == text


@pytest.mark.parametrize("damage", ["truncated", "not-a-notebook", "a-list", "binary", "fifo", "folder"])
def test_sync_of_a_notebook_that_cannot_be_read_is_one_sentence(mine, capsys, damage):
    assert cli.main(["notebook", FIRST.slug]) == 0
    capsys.readouterr()
    nb_path = mine.with_suffix(".ipynb")
    before = mine.read_bytes()
    data = nb_path.read_bytes()
    nb_path.unlink()
    if damage == "truncated":  # an editor or a disk that stopped halfway
        nb_path.write_bytes(data[: len(data) // 2])
    elif damage == "not-a-notebook":
        nb_path.write_text('{"cells": "none", "note": "some other JSON file"}', encoding="utf-8")
    elif damage == "a-list":
        nb_path.write_text("[1, 2, 3]", encoding="utf-8")
    elif damage == "binary":
        nb_path.write_bytes(bytes(range(256)))
    elif damage == "fifo":
        if not hasattr(os, "mkfifo"):
            pytest.skip("POSIX only")
        os.mkfifo(nb_path)
    else:
        nb_path.mkdir()
    assert cli.main(["notebook", FIRST.slug, "--sync"]) == 1
    sentence = _one_sentence(capsys)
    assert nb_path.name in sentence and f"notebook {FIRST.number:02d} --force" in sentence, sentence
    assert mine.read_bytes() == before, "the learner's file is left as it was"


# ------------------------------------------------------------------ --sync never overwrites an edit of the file
def _edit_a_cell(nb_path, line: str) -> None:
    nb = nbformat.read(str(nb_path), as_version=4)
    cell = next(c for c in nb.cells if notebooks.FILE_TAG in c.metadata.get("tags", []))
    cell.source += f"\n{line}"
    nbformat.write(nb, str(nb_path))


def test_sync_refuses_a_file_changed_since_the_notebook_was_written_and_names_force(mine, capsys):
    assert cli.main(["notebook", FIRST.slug]) == 0
    nb_path = mine.with_suffix(".ipynb")
    _edit_a_cell(nb_path, "# from the notebook")
    edited = mine.read_text(encoding="utf-8") + "\n# written in an editor after the notebook was made\n"
    mine.write_text(edited, encoding="utf-8")
    capsys.readouterr()
    assert cli.main(["notebook", FIRST.slug, "--sync"]) == 1
    said = _one_sentence(capsys)
    assert "changed since the notebook was written or last synced" in said and "--sync --force" in said, said
    assert mine.read_text(encoding="utf-8") == edited, "a refused sync leaves the file alone"
    assert not (mine.parent.parent.parent / ".grader" / "backups").exists()
    assert cli.main(["notebook", FIRST.slug, "--sync", "--force"]) == 0
    assert "Saved your file to" in capsys.readouterr().out
    assert "# from the notebook" in mine.read_text(encoding="utf-8")


def test_sync_after_sync_goes_through_and_the_record_follows_the_notebook(mine, capsys):
    assert cli.main(["notebook", FIRST.slug]) == 0
    nb_path = mine.with_suffix(".ipynb")
    for n in range(3):  # the usual loop: edit in the notebook, run the last cell, again
        _edit_a_cell(nb_path, f"# edit {n}")
        assert cli.main(["notebook", FIRST.slug, "--sync"]) == 0, capsys.readouterr().err
        assert f"# edit {n}" in mine.read_text(encoding="utf-8")
    # The file edited to what the notebook already holds loses nothing: no refusal.
    mine.write_text(notebooks.to_source(nb_path)[0], encoding="utf-8")
    assert cli.main(["notebook", FIRST.slug, "--sync"]) == 0
    # A notebook made again (--force) from an edited file starts a new record: its own.
    mine.write_text(mine.read_text(encoding="utf-8") + "\n# edited\n", encoding="utf-8")
    assert cli.main(["notebook", FIRST.slug, "--force"]) == 0
    _edit_a_cell(nb_path, "# after the new notebook")
    assert cli.main(["notebook", FIRST.slug, "--sync"]) == 0
    mine.write_text(mine.read_text(encoding="utf-8") + "\n# edited again\n", encoding="utf-8")
    _edit_a_cell(nb_path, "# and in the notebook")
    assert cli.main(["notebook", FIRST.slug, "--sync"]) == 1
    assert "--force" in _one_sentence(capsys)


def test_the_notebook_holds_no_absolute_path(mine):
    notebooks.write(FIRST, mine, mine.with_suffix(".ipynb"))
    text = mine.with_suffix(".ipynb").read_text(encoding="utf-8")
    assert str(roadmap.ROOT) not in text and str(mine.parent.parent.parent) not in text


FAKE_PYTHON = """#!{python}
import json, os, sys
with open(os.environ["KATA_LOG"], "a") as log:
    log.write(json.dumps([os.getcwd(), sys.argv[1:]]) + "\\n")
print("ran", *sys.argv[1:])
raise SystemExit(int(os.environ.get("KATA_EXIT", "0")))
"""


@pytest.mark.skipif(os.name != "posix", reason="the fake interpreter is a script with a #! line")
@pytest.mark.parametrize("exit_code", [0, 1], ids=["synced", "sync-refused"])
def test_the_last_cell_finds_the_moved_project_and_runs_the_kernels_python(tmp_path, monkeypatch, capsys, exit_code):
    import sys

    # A project cloned into a folder whose name has spaces (and a quote), the notebook in its topic folder.
    project = tmp_path / "my 'projects' folder" / "pytorch katas"
    (project / "grader").mkdir(parents=True)
    (project / "grader" / "roadmap.toml").write_text("", encoding="utf-8")
    mine = FIRST.file_in(project / "exercises")
    mine.parent.mkdir(parents=True)
    mine.write_text(FIRST.exercise().read_text(encoding="utf-8"), encoding="utf-8")
    monkeypatch.setattr(state, "STATE_DIR", tmp_path / ".grader")
    notebooks.write(FIRST, mine, mine.with_suffix(".ipynb"))
    nb = nbformat.read(str(mine.with_suffix(".ipynb")), as_version=4)
    (cell,) = [c for c in nb.cells if notebooks.RUN_CELL_TAG in c.metadata.get("tags", [])]
    assert "uv run" not in cell.source and "!" not in cell.source.replace("!=", ""), (
        "no shell command: uv run inside `uv run --with jupyterlab` warns about VIRTUAL_ENV, and a shell needs quoting")
    fake = tmp_path / "python"
    fake.write_text(FAKE_PYTHON.format(python=sys.executable), encoding="utf-8")
    fake.chmod(0o755)
    log = tmp_path / "log.jsonl"
    monkeypatch.setenv("KATA_LOG", str(log))
    monkeypatch.setenv("KATA_EXIT", str(exit_code))
    monkeypatch.setenv("VIRTUAL_ENV", str(tmp_path / "uv-ephemeral-overlay"))  # as under uv run --with jupyterlab
    monkeypatch.setattr(sys, "executable", str(fake))
    monkeypatch.chdir(mine.parent)  # a kernel starts in the notebook's folder
    exec(compile(cell.source, "<last cell>", "exec"), {"__name__": "__main__"})  # noqa: S102
    import json

    calls = [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines()]
    sync = [str(project), ["grader", "notebook", f"{FIRST.number:02d}", "--sync"]]
    tests = [str(project), ["-m", "pytest", f"exercises/{FIRST.slug}", "-q"]]
    assert calls == ([sync, tests] if exit_code == 0 else [sync]), "the suite runs only after a sync that succeeded"
    assert f"ran grader notebook {FIRST.number:02d} --sync" in capsys.readouterr().out, "the output shows in the cell"
