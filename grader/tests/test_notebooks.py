"""`grader notebook`: what a learner does in Jupyter comes back into the graded file, and
nothing else does."""

from __future__ import annotations

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
    assert cli.main(["notebook", FIRST.slug, "--sync"]) == 0
    out = capsys.readouterr().out
    assert "Saved your file to" in out and "Left out: 1 scratch cell (cells you added)." in out
    assert mine.read_text(encoding="utf-8") == FIRST.exercise().read_text(encoding="utf-8")
