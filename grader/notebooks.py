"""Notebook versions of the exercises (nbformat is imported here only).

A notebook holds the lesson, then the learner's file cut into cells at its top-level
definitions, then a cell that runs the hidden suite. `to_source` gives the file back:
- only the cells that came from the file are copied (tagged "kata-file"); cells the
  learner adds are scratch, for trying things out, and stay in the notebook;
- IPython's magics (`%timeit`, `%%time`) and shell escapes (`!ls`, `x = !ls`) are left
  out: they are not Python, and the file must import;
- the file's `if __name__ == "__main__":` block is kept in the notebook's metadata,
  not in a cell, so that running the notebook in a kernel (where __name__ is
  "__main__" too) does not start a training run; `to_source` puts it back;
- the blank lines between cells are kept, so an unchanged notebook gives back the
  file byte for byte;
- `--sync` never overwrites work silently: the notebook records the digest of the file
  it was made from, and each sync records the digest of what it wrote (in .grader/,
  not in the notebook, which Jupyter holds open: a notebook rewritten under it makes
  the next save ask about a file changed on disk); a file that differs from the last
  of the two is refused unless `--force` (see `unsynced_change`);
- the last cell runs the grader from the project folder it finds above the notebook,
  with the kernel's own Python: no absolute path (the folder can move), and no
  `uv run` inside `uv run --with jupyterlab` (whose VIRTUAL_ENV makes uv warn).

Why not jupytext's py:percent format: it would write `# %%` markers into the graded
file (the stubs are generated, and the suites import it), and it copies every cell,
scratch included, into the .py file. What the grader needs is the rules above, in
this module, without a dependency.
"""

from __future__ import annotations

import ast
import hashlib
import re
import uuid
from pathlib import Path

from grader import files, roadmap, state
from grader.grading import show
from grader.text import shorten

FILE_TAG = "kata-file"  # a code cell that holds part of the learner's file
RUN_CELL_TAG = "kata-run-tests"
MAIN_GUARD = 'if __name__ == "__main__"'
KERNELSPEC = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}
SYNCED = "notebooks.json"  # in .grader/: per topic, the notebook's id and the digest of the file it last wrote
MAGIC = re.compile(r"^\s*(?:[\w.]+\s*=\s*)?[%!]|^\s*[\w.]+\?{1,2}\s*$")  # %magic, !shell, x = !ls, name?

HOW_IT_WORKS = """\
**How this notebook works.** The code cells below are your file, `{file}`, cut at its definitions:
fill in the `TODO`s here. Save the notebook, then run the last cell: it copies them back into the
file (`uv run python grader notebook {number:02d} --sync`) and the hidden suite tests it. Cells you add
are scratch: try things out there, they are not copied. IPython magics (`%timeit`) and shell commands
(`!ls`) are not copied either. The file's `if __name__ == "__main__":` block stays out of the notebook, so running every
cell does not start a training run: call `main([])` in a scratch cell when you want one.
"""


# The last cell. It must run wherever the project is (moved, cloned, a path with spaces) and in
# the kernel's environment, so it finds the project above the notebook and runs this Python.
RUN_CELL = """\
# Save the notebook first (Ctrl-S, or Cmd-S). This cell copies its code into {file} and runs the hidden suite on it,
# from the project folder above this notebook, with this kernel's Python.
import os, subprocess, sys
from pathlib import Path

project = next((p for p in (Path.cwd(), *Path.cwd().parents) if (p / "grader" / "roadmap.toml").is_file()), None)
if project is None:
    raise RuntimeError("open this notebook from its folder in the project, {folder}/")


def run_here(*args):
    \"\"\"`python <args>` in the project folder, its output shown below; True when it succeeded.\"\"\"
    env = {{**os.environ, "PYTHONIOENCODING": "utf-8"}}
    with subprocess.Popen([sys.executable, *args], cwd=project, env=env, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, encoding="utf-8", errors="replace") as proc:
        for line in proc.stdout:
            print(line, end="")
    return proc.returncode == 0


if run_here("grader", "notebook", "{number:02d}", "--sync"):
    run_here("-m", "pytest", "{folder}", "-q")"""


class NotebookError(ValueError):
    """A file or notebook that cannot be converted, in one sentence that names it."""


def _read_file(path: Path) -> tuple[str, bytes]:
    """The learner's file as text and as bytes, or NotebookError saying why it cannot be cut into
    cells. A UTF-8 BOM (which some Windows editors write) is dropped: Python and pytest accept it."""
    try:
        data = files.read_bytes(path)
    except files.Refused as exc:
        raise NotebookError(str(exc)) from None
    except OSError as exc:
        raise NotebookError(f"{show(path)} cannot be read ({exc.strerror or exc})") from None
    nul = data.find(b"\0")
    if nul >= 0:
        raise NotebookError(f"{show(path)} holds a NUL byte (at offset {nul}), which Python source cannot hold: "
                            "remove it")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise NotebookError(f"{show(path)} is not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start}): "
                            "save it as UTF-8") from None
    try:
        ast.parse(text)
    except SyntaxError as exc:
        raise NotebookError(f"{show(path)} is not valid Python (line {exc.lineno}: {exc.msg}), so it cannot be cut "
                            "into cells: fix it first (its tests show where)") from None
    return text, data


def _chunks(source: str) -> list[tuple[str, str]]:
    """Split a module at its top-level statements' boundaries, keeping comments with what follows.

    Returns (code, separator) pairs: `code` without leading or trailing newlines, and the
    newlines around it, so that joining code + separator gives back `source` exactly.
    """
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
            if ranges:
                ranges[-1][1] = end
            continue
        if ranges and not text.lstrip().startswith(("def ", "class ", "@", "#", "if __name__")):
            ranges[-1][1] = end
        else:
            ranges.append([begin, end])
    chunks = []
    for i, (begin, end) in enumerate(ranges):
        if i == 0:
            begin = 0  # leading blank lines belong to the first cell's separator
        text = "".join(lines[begin:end])
        code = text.strip("\n")
        head = text[: len(text) - len(text.lstrip("\n"))]
        chunks.append((head + code, text[len(head) + len(code):]))
    return chunks


def write(topic: roadmap.Topic, path: Path, nb_path: Path) -> None:
    """Write the notebook of the learner's file `path`."""
    import nbformat

    source, data = _read_file(path)
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = dict(KERNELSPEC)
    nb.metadata["language_info"] = {"name": "python"}
    lesson = path.parent / "README.md"
    try:
        nb.cells.append(nbformat.v4.new_markdown_cell(files.read_bytes(lesson).decode("utf-8", "replace")))
    except OSError:  # no lesson (or not one the grader reads): the notebook goes without it
        pass
    shown = topic.exercise(Path()).as_posix()  # from the project's folder, wherever it is
    nb.cells.append(nbformat.v4.new_markdown_cell(HOW_IT_WORKS.format(file=shown, number=topic.number)))
    main_guard = ""
    for code, separator in _chunks(source):
        if code.lstrip("\n").startswith(MAIN_GUARD):
            main_guard = code + separator
            continue
        lead = len(code) - len(code.lstrip("\n"))
        cell = nbformat.v4.new_code_cell(code.strip("\n"))
        cell.metadata["tags"] = [FILE_TAG]
        cell.metadata["kata"] = {"before": lead, "after": separator}
        nb.cells.append(cell)
    notebook_id = uuid.uuid4().hex
    nb.metadata["kata"] = {"topic": topic.slug, "main_guard": main_guard, "id": notebook_id,
                           "file_sha256": digest(data)}
    folder = topic.folder_in(Path("exercises")).as_posix()  # relative to the project, which the cell finds
    run = nbformat.v4.new_code_cell(RUN_CELL.format(file=topic.file, folder=folder, number=topic.number))
    run.metadata["tags"] = [RUN_CELL_TAG]
    nb.cells.append(run)
    # In one step, replacing whatever is there (writing into a FIFO would wait for a reader).
    text = nbformat.writes(nb)
    state.write_atomic(nb_path, (text if text.endswith("\n") else text + "\n").encode("utf-8"))


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _record(topic: roadmap.Topic, notebook_id: str, data: bytes) -> None:
    """Remember that the file now holds `data`, which a sync wrote from the notebook `notebook_id`."""
    synced = state._load_json(SYNCED, "the notebooks' sync record")
    synced[topic.slug] = {"notebook": notebook_id, "file_sha256": digest(data)}
    state._save_json(SYNCED, synced, "the notebooks' sync record")


def _identity(nb_path: Path) -> tuple[str | None, str | None]:
    """The notebook's id and the digest of the file it was made from (None, None for a notebook
    made by an older grader, or one that cannot be read)."""
    import json

    try:
        kata = json.loads(files.read_bytes(nb_path).decode("utf-8-sig")).get("metadata", {}).get("kata", {})
    except (OSError, ValueError, AttributeError):
        return None, None
    if not isinstance(kata, dict):
        return None, None
    return kata.get("id"), kata.get("file_sha256")


def unsynced_change(topic: roadmap.Topic, path: Path, nb_path: Path, source: str) -> bool:
    """Whether writing the notebook's code `source` into `path` would lose something: the file
    changed since the notebook was made or last synced, and it is not that code already."""
    try:
        data = files.read_bytes(path)
    except FileNotFoundError:
        return False
    except OSError:  # unreadable: the caller backs it up (moves it away) before writing
        return False
    if data.decode("utf-8-sig", "replace") == source:
        return False
    notebook_id, made_from = _identity(nb_path)
    last = state._load_json(SYNCED, "the notebooks' sync record").get(topic.slug)
    if isinstance(last, dict) and notebook_id is not None and last.get("notebook") == notebook_id:
        made_from = last.get("file_sha256")  # synced since it was made: what the last sync wrote
    return digest(data) != made_from


def synced(topic: roadmap.Topic, nb_path: Path, data: bytes) -> None:
    """After `--sync` wrote `data` into the learner's file from the notebook at nb_path."""
    notebook_id, _ = _identity(nb_path)
    if notebook_id is not None:
        _record(topic, notebook_id, data)


def _python_only(code: str) -> tuple[str, int]:
    """`code` without IPython's magics and shell escapes; how many lines went."""
    lines = code.split("\n")
    if lines and lines[0].lstrip().startswith("%%"):  # a cell magic: %%time keeps its Python body
        body, dropped = _python_only("\n".join(lines[1:]))
        try:
            ast.parse(body)
        except SyntaxError:  # %%bash, %%html, ...: not Python at all
            return "", len(lines)
        return body, dropped + 1
    kept = [line for line in lines if not MAGIC.match(line)]
    return "\n".join(kept), len(lines) - len(kept)


def to_source(nb_path: Path) -> tuple[str, list[str]]:
    """The learner's file from the notebook, and what was left out, in words."""
    try:
        data = files.read_bytes(nb_path)
    except files.Refused as exc:
        raise NotebookError(str(exc)) from None
    except OSError as exc:
        raise NotebookError(f"{show(nb_path)} cannot be read ({exc.strerror or exc})") from None
    try:
        return _source(data)
    except Exception as exc:  # noqa: BLE001  (whatever a damaged notebook makes nbformat or the cells raise)
        why = shorten(f"{type(exc).__name__}: {exc}", 120)
        raise NotebookError(f"{show(nb_path)} is not a notebook the grader can read ({why})") from None


def _source(data: bytes) -> tuple[str, list[str]]:
    import nbformat

    nb = nbformat.reads(data.decode("utf-8-sig"), as_version=4)
    parts, scratch, magics = [], 0, 0
    for cell in nb.cells:
        if cell.cell_type != "code" or RUN_CELL_TAG in cell.metadata.get("tags", []):
            continue
        if FILE_TAG not in cell.metadata.get("tags", []):
            scratch += bool(cell.source.strip())
            continue
        code, dropped = _python_only(cell.source)
        magics += dropped
        layout = cell.metadata.get("kata", {})
        parts.append("\n" * layout.get("before", 0) + code.strip("\n") + layout.get("after", "\n\n\n"))
    text = "".join(parts) + nb.metadata.get("kata", {}).get("main_guard", "")
    left_out = []
    if scratch:
        left_out.append(f"{scratch} scratch cell{'s' * (scratch > 1)} (cells you added)")
    if magics:
        left_out.append(f"{magics} line{'s' * (magics > 1)} of IPython magics or shell commands")
    return text, left_out
