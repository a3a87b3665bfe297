"""Reading the learner's files without trusting them, and what in the project folder
would change how `pytest` runs.

A learner's file can be anything a file name can name: a FIFO (reading it waits for a
writer that never comes), a link to /dev/zero (it never ends), a file of gigabytes.
`read_bytes` checks that it is a regular file of at most MAX_BYTES before it opens
it, and says what it is otherwise; every place the grader reads the learner's files
goes through it. (Not plain `pytest`: the plugin opens the file under test itself.)
"""

from __future__ import annotations

import configparser
import os
import stat
import sys
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


# ------------------------------------------------------------------ the project folder
# Names the project's own packages and folders have: never a learner's shadowing file.
OWN = {"grader", "kata", "tests", "exercises", "solutions", "docs"}


def installed_modules() -> set[str]:
    """Top-level names of the installed distributions' modules."""
    from importlib import metadata

    try:
        return set(metadata.packages_distributions())
    except Exception:  # noqa: BLE001  (a broken distribution's metadata must not stop the grader)
        return set()


def compiles_torch_at_every_start(module: str = "torch") -> bool:
    """True where Python may not save bytecode (PYTHONDONTWRITEBYTECODE) and `module` was
    installed without it: every fresh process then compiles its sources again (torch: ~6 s
    on a 2-core machine). `uv sync --compile-bytecode` once fixes it."""
    import importlib.util

    if not os.environ.get("PYTHONDONTWRITEBYTECODE"):
        return False
    try:
        spec = importlib.util.find_spec(module)  # finds the package without importing it
    except (ImportError, ValueError):
        return False
    if spec is None or not spec.origin or not spec.origin.endswith(".py"):
        return False
    return not Path(importlib.util.cache_from_source(spec.origin)).exists()


BYTECODE_TIP = ("Python here may not save compiled modules (PYTHONDONTWRITEBYTECODE is set), so every test run "
                "compiles PyTorch again, about 6 s. Run `uv sync --compile-bytecode` once to skip that.")


def shadowing(root: Path = roadmap.ROOT) -> list[str]:
    """What in the project folder has the name of a standard or installed module, one sentence each.

    `pytest` (the project adds its folder in front of sys.path) and `python -m` started
    there import such a file instead of the module; the grader puts the folder last.
    """
    try:
        entries = sorted(root.iterdir())
    except OSError:
        return []
    candidates = {}
    for entry in entries:
        name = entry.stem if entry.suffix == ".py" else entry.name
        if name in OWN or not name.isidentifier():
            continue
        if entry.suffix == ".py" or (entry.is_dir() and (entry / "__init__.py").exists()):
            candidates[name] = entry
    if not candidates:
        return []
    installed = installed_modules() - OWN
    sentences = []
    for name, entry in candidates.items():
        if name in sys.stdlib_module_names:
            kind = "Python's standard module"
        elif name in installed:
            kind = "the installed module"
        else:
            continue
        sentences.append(f"{entry.name} in the project folder has the name of {kind} {name}, so `pytest` imports it "
                         f"in its place (the grader does not); rename it, e.g. to my_{entry.name}")
    return sentences


def _pytest_section(path: Path) -> bool:
    """Whether pytest would take its settings from `path` (pytest's own rule, by file name)."""
    if path.name in ("pytest.ini", ".pytest.ini"):
        return path.is_file()  # used even when empty
    try:
        text = read_bytes(path).decode("utf-8", "replace")
    except OSError:
        return False
    if path.name == "pyproject.toml":
        import tomllib

        try:
            return "ini_options" in tomllib.loads(text).get("tool", {}).get("pytest", {})
        except tomllib.TOMLDecodeError:
            return False
    parser = configparser.ConfigParser(interpolation=None)
    try:
        parser.read_string(text)
    except configparser.Error:
        return False
    return parser.has_section("pytest" if path.name == "tox.ini" else "tool:pytest")


CONFIG_NAMES = ("pytest.ini", ".pytest.ini", "pyproject.toml", "tox.ini", "setup.cfg")  # pytest's order


def foreign_configs(root: Path = roadmap.ROOT) -> list[str]:
    """Configuration files that `pytest` would take instead of the project's pyproject.toml,
    one sentence each: in the project folder (a pytest.ini comes before pyproject.toml) and
    in the folders under exercises/ that `pytest exercises/NN_x` looks in first."""
    sentences = []
    folders = [root]
    exercises = root / "exercises"
    if exercises.is_dir():
        folders = [*sorted(p for p in exercises.iterdir() if p.is_dir()), exercises, root]
    for folder in folders:
        for name in CONFIG_NAMES:
            path = folder / name
            if folder == root and name == "pyproject.toml":
                break  # the project's own: the files after it are never read
            if path.exists() and _pytest_section(path):
                if folder == root:
                    name, runs = f"{path.name} in the project folder", "every `pytest` run"
                else:
                    name, runs = path.relative_to(root).as_posix(), f"`pytest {folder.relative_to(root).as_posix()}`"
                sentences.append(f"{name} replaces the project's pytest settings (pyproject.toml) for {runs}, "
                                 "which then does not test your files with the hidden suites (the grader always "
                                 "uses pyproject.toml); remove or rename it")
                break
    return sentences
