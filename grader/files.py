"""Reading the learner's files without trusting them.

A learner's file can be anything a file name can name: a FIFO (reading it waits for a
writer that never comes), a link to /dev/zero (it never ends), a file of gigabytes.
`read_bytes` checks that it is a regular file of at most MAX_BYTES before it opens
it, and says what it is otherwise; every place the grader reads the learner's files
goes through it. (Not plain `pytest`: the plugin opens the file under test itself.)
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from grader import roadmap

MAX_BYTES = 4 * 2**20  # 4 MiB: a topic's file is 5-30 KB; nothing the grader reads from the learner comes close

KINDS = {  # what a file that is not a regular file is, in words
    stat.S_IFIFO: "a FIFO (named pipe)",
    stat.S_IFCHR: "a character device",
    stat.S_IFBLK: "a block device",
    stat.S_IFSOCK: "a socket",
    stat.S_IFDIR: "a folder",
}


def _show(path: Path) -> str:
    return str(path.relative_to(roadmap.ROOT)) if path.is_relative_to(roadmap.ROOT) else str(path)


class Refused(OSError):
    """A file the grader will not read: not a regular file, or too big. Its text is one
    clause that starts with the file's name ("exercises/... is a FIFO (named pipe), not a
    regular file"); an OSError, so code that handles unreadable files handles it too."""


def _what(path: Path, mode: int) -> str:
    what = KINDS.get(stat.S_IFMT(mode), "not a regular file")
    if path.is_symlink():
        with_target = os.path.realpath(path)
        return f"a link to {with_target}, which is {what}"
    return what


def read_bytes(path: Path, limit: int = MAX_BYTES) -> bytes:
    """The contents of `path` when it is a regular file (or a link to one) of at most `limit` bytes.

    Raises Refused otherwise, and OSError (FileNotFoundError, PermissionError, ...) when
    it cannot be read. The type and size are checked before the file is opened: opening
    a FIFO would wait for a writer, and reading /dev/zero would never end.
    """
    info = path.stat()
    if not stat.S_ISREG(info.st_mode):
        raise Refused(f"{_show(path)} is {_what(path, info.st_mode)}, not a regular file")
    if info.st_size > limit:
        raise Refused(f"{_show(path)} is {_megabytes(info.st_size)}, more than the {_megabytes(limit)} "
                      "the grader reads from a file")
    data = path.read_bytes()
    if len(data) > limit:  # it grew since
        raise Refused(f"{_show(path)} is more than the {_megabytes(limit)} the grader reads from a file")
    return data


def _megabytes(n: int) -> str:
    return f"{n / 2**20:.1f} MB" if n % 2**20 else f"{n // 2**20} MB"


def not_a_folder(folders: list[Path]) -> Path | None:
    """The first of `folders` that exists and is not a folder (a file where a folder belongs)."""
    for folder in folders:
        try:
            if folder.exists() and not folder.is_dir():
                return folder
        except OSError:
            return None
    return None
