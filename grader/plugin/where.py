"""Where things are, as the learner sees them: paths relative to where they work, the
frame of a traceback that is in their file, an exception's one-line summary.

Used by the other parts of the plugin; it has no hooks of its own.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from grader import roadmap
from grader.text import exception_text as text_of
from grader.text import shorten

MAX_LINE = 300  # characters of an exception's summary line


def display(path: Path) -> str:
    """A path as the learner types it: relative to where they run pytest, or to the repository."""
    path = path.resolve()
    for base in (Path.cwd(), roadmap.ROOT):
        if path.is_relative_to(base):
            return str(path.relative_to(base))
    return str(path)



def learner_frame(excinfo: pytest.ExceptionInfo, target: Path | None, *, folder: bool = False):
    """The innermost traceback entry in the file under test (with folder=True: in any file
    under the target folder `target`)."""
    if target is None:
        return None
    for entry in reversed(excinfo.traceback):
        if not entry.path:
            continue
        path = Path(str(entry.path)).resolve()
        if path == target or (folder and path.is_relative_to(target)):
            return entry
    return None


def first_line(statement) -> str:
    lines = str(statement).strip().splitlines()
    return shorten(lines[0], 160) if lines else ""


def location(entry) -> str:
    return f"{display(Path(str(entry.path)))}:{entry.lineno + 1}, in {entry.name}()"


def summary(exc: BaseException) -> str:
    """An exception's first line, at most MAX_LINE characters, cut between words."""
    lines = [line for line in text_of(exc).strip().splitlines() if line.strip()]
    text = f"{type(exc).__name__}: {lines[0]}" if lines else type(exc).__name__
    return shorten(text, MAX_LINE)
