"""Notebook versions of the exercises (nbformat is imported here only).

A notebook holds the learner's file split into cells at top-level definitions, a
first markdown cell from the lesson, and a last cell that runs the hidden suite.
`to_source` joins the code cells back into the .py file the suite tests.
"""

from __future__ import annotations

import ast
from pathlib import Path

from grader import roadmap

RUN_CELL_TAG = "kata-run-tests"


def _chunks(source: str) -> list[str]:
    """Split a module at its top-level statements' boundaries, keeping comments with what follows."""
    lines = source.splitlines(keepends=True)
    starts = []
    for node in ast.parse(source).body:
        first = min([node.lineno] + [d.lineno for d in getattr(node, "decorator_list", [])]) - 1
        while first > 0 and lines[first - 1].lstrip().startswith("#"):
            first -= 1
        starts.append(first)
    cuts = [0] + [s for s in starts if s > 0]
    # One cell per definition: imports and short statements join the cell before them.
    ranges: list[list[int]] = []
    for begin, end in zip(cuts, cuts[1:] + [len(lines)], strict=True):
        text = "".join(lines[begin:end]).strip("\n")
        if not text:
            continue
        if ranges and not text.lstrip().startswith(("def ", "class ", "@", "#", "if __name__")):
            ranges[-1][1] = end
        else:
            ranges.append([begin, end])
    return ["".join(lines[begin:end]).strip("\n") for begin, end in ranges]


def write(topic: roadmap.Topic, path: Path) -> None:
    import nbformat

    lesson = topic.exercise().parent / "README.md"
    nb = nbformat.v4.new_notebook()
    if lesson.exists():
        nb.cells.append(nbformat.v4.new_markdown_cell(lesson.read_text(encoding="utf-8")))
    for chunk in _chunks(topic.exercise().read_text(encoding="utf-8")):
        nb.cells.append(nbformat.v4.new_code_cell(chunk))
    run = nbformat.v4.new_code_cell(
        f"# Copy this notebook's code into {topic.file} and run the hidden suite on it.\n"
        f"!cd {roadmap.ROOT} && uv run python grader notebook {topic.number:02d} --sync "
        f"&& uv run pytest exercises/{topic.slug} -q"
    )
    run.metadata["tags"] = [RUN_CELL_TAG]
    nb.cells.append(run)
    nbformat.write(nb, str(path))


def to_source(path: Path) -> str:
    import nbformat

    nb = nbformat.read(str(path), as_version=4)
    cells = [c.source for c in nb.cells
             if c.cell_type == "code" and RUN_CELL_TAG not in c.metadata.get("tags", [])]
    return "\n\n\n".join(cell.strip("\n") for cell in cells) + "\n"
