"""Generate the learner's stubs from the reference solutions.

A solution marks each answer inside the real function (as nbgrader does):

    def sigmoid(z: Tensor) -> Tensor:
        \"\"\"Docstring and signature stay in the stub.\"\"\"
        # BEGIN SOLUTION: compute 1 / (1 + exp(-z)) without overflow for large |z|
        e = torch.exp(-z.abs())
        return torch.where(z >= 0, 1 / (1 + e), e / (1 + e))
        # END SOLUTION

and the stub keeps everything outside the region, writing in its place

        # TODO: compute 1 / (1 + exp(-z)) without overflow for large |z|
        raise NotImplementedError("sigmoid(): compute 1 / (1 + exp(-z)) without ...")

Unclosed, nested or stray markers, a region without a TODO text and a region
outside any function are refused with the line number.
"""

from __future__ import annotations

import ast
import functools
import re
import subprocess
from pathlib import Path

from grader.roadmap import ROOT, Topic

BEGIN = re.compile(r"^(?P<indent>\s*)# BEGIN SOLUTION(?P<rest>.*)$")
END = re.compile(r"^\s*# END SOLUTION\s*$")


class MarkerError(ValueError):
    """A solution file whose markers cannot be turned into a stub."""


@functools.lru_cache(maxsize=64)  # a solution is parsed once per process while it is unchanged
def _enclosing_functions(source: str) -> dict[int, str]:
    """Map each line number (1-based) inside a function to its qualified name (callers
    only read the result: it is shared between calls)."""
    owners: dict[int, str] = {}

    def visit(node: ast.AST, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                name = f"{prefix}{child.name}"
                for line in range(child.lineno, child.end_lineno + 1):
                    owners[line] = name  # inner definitions overwrite outer ones
                visit(child, f"{name}.")
            elif isinstance(child, ast.ClassDef):
                visit(child, f"{prefix}{child.name}.")
            else:
                visit(child, prefix)

    visit(ast.parse(source), "")
    return owners


def header(topic: Topic) -> str:
    return (
        f"# Your file: fill in each TODO, then run `uv run pytest exercises/{topic.slug}`.\n"
        f"# Maintainers: generated from {topic.solution().relative_to(ROOT).as_posix()} by\n"
        f"# `python grader stubs`; edit the solution, never this file.\n"
    )


def make_stub(source: str, topic: Topic, name: str = "<solution>") -> str:
    """Return the stub text for one solution file's text."""
    owners = _enclosing_functions(source)
    out: list[str] = []
    begin_line = 0  # line number of the open region's BEGIN, 0 when none is open
    regions = 0
    for number, line in enumerate(source.splitlines(keepends=True), start=1):
        begin = BEGIN.match(line)
        if begin:
            if begin_line:
                raise MarkerError(f"{name}:{number}: BEGIN SOLUTION inside the region opened at line {begin_line}")
            todo = begin["rest"].strip().removeprefix(":").strip()
            if not todo:
                raise MarkerError(f"{name}:{number}: write the TODO after the marker: '# BEGIN SOLUTION: <what to do>'")
            owner = owners.get(number)
            if owner is None:
                raise MarkerError(f"{name}:{number}: a solution region must sit inside a function")
            indent = begin["indent"]
            message = f"{owner}(): {todo}".replace("\\", "\\\\").replace('"', '\\"')
            out.append(f"{indent}# TODO: {todo}\n")
            out.append(f'{indent}raise NotImplementedError("{message}")\n')
            begin_line = number
            regions += 1
        elif END.match(line):
            if not begin_line:
                raise MarkerError(f"{name}:{number}: END SOLUTION without a BEGIN SOLUTION")
            begin_line = 0
        elif "# BEGIN SOLUTION" in line or "# END SOLUTION" in line:
            raise MarkerError(f"{name}:{number}: a marker must stand alone on its line")
        elif not begin_line:
            out.append(line)
    if begin_line:
        raise MarkerError(f"{name}:{begin_line}: BEGIN SOLUTION is never closed by END SOLUTION")
    if not regions:
        raise MarkerError(f"{name}: no '# BEGIN SOLUTION' region, so the stub would equal the solution")
    return header(topic) + "".join(out)


def answer_view(source: str, topic: Topic) -> str:
    """The solution as a learner compares it with their file: the stub's header and
    TODO lines kept, the answers in place of the `raise NotImplementedError`."""
    out = []
    for line in source.splitlines(keepends=True):
        begin = BEGIN.match(line)
        if begin:
            out.append(f"{begin['indent']}# TODO: {begin['rest'].strip().removeprefix(':').strip()}\n")
        elif not END.match(line):
            out.append(line)
    return header(topic) + "".join(out)


def committed(path: Path, root: Path = ROOT) -> str | None:
    """A file's text as committed at HEAD (None outside git or when it is not committed)."""
    rel = path.relative_to(root).as_posix()
    shown = subprocess.run(["git", "show", f"HEAD:{rel}"], cwd=root, capture_output=True, text=True)
    return shown.stdout if shown.returncode == 0 else None


def stub_for(topic: Topic, root: Path = ROOT) -> str:
    """The stub that the generator makes for a built topic (in a learner's copy made by
    `python grader release`, which has no solutions/, the copy it keeps in grader/pristine/)."""
    path = topic.solution(root)
    pristine = topic.file_in(root / "grader" / "pristine")
    if not path.exists() and pristine.is_file():
        return pristine.read_text(encoding="utf-8")
    return make_stub(path.read_text(encoding="utf-8"), topic, name=str(path.relative_to(root)))
