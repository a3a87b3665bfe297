"""The learner's state in .grader/: hints shown so far, backups of their files, and the
last results of each file (so `hint` and `compare` need not run the suite again).

Nothing here may stop the grader: a corrupted or unwritable .grader/ is reported in
one line on stderr and the grader carries on without it. Every write is atomic (a
temporary file, then a rename), so a reader never sees half a file.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
from datetime import datetime
from pathlib import Path

from grader import files, roadmap

STATE_DIR = roadmap.ROOT / ".grader"
RESULTS_KEPT = 64  # results of this many (file, suite) versions are kept


def _warn(message: str) -> None:
    print(f"python grader: {message}", file=sys.stderr)


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def write_atomic(path: Path, data: bytes) -> None:
    """Replace `path` by `data` in one step: a concurrent reader sees the old or the new file.

    The file gets the permissions a new file gets (0644 under the usual umask), not the
    0600 of the temporary file it is written as.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _load_json(name: str, what: str) -> dict:
    path = STATE_DIR / name
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:  # unreadable, not UTF-8, not JSON
        _warn(f"ignoring {path.relative_to(STATE_DIR.parent)} ({type(exc).__name__}); {what} starts afresh")
        return {}
    if not isinstance(data, dict):
        _warn(f"ignoring {path.relative_to(STATE_DIR.parent)} (not a JSON object); {what} starts afresh")
        return {}
    return data


def _save_json(name: str, data: dict, what: str, *, indent: int | None = 1) -> None:
    path = STATE_DIR / name
    try:
        # ASCII (\uXXXX escapes): a lone surrogate in a test's message is written too.
        write_atomic(path, json.dumps(data, indent=indent).encode("ascii"))
    except OSError as exc:
        _warn(f"could not save {what} in {path.relative_to(STATE_DIR.parent)}: {exc.strerror or exc}")


def load() -> dict:
    """Hint progress: {slug: {task: hints shown}}."""
    return _load_json("state.json", "the hint progress")


def save(state: dict) -> None:
    _save_json("state.json", state, "the hint progress")


def forget_hints(slug: str) -> None:
    progress = load()
    if progress.pop(slug, None) is not None:
        save(progress)


def load_results() -> dict:
    """The last results: {key: {"dependencies": {...}, "records": [record as JSON, ...]}} (grading._cache_key)."""
    return _load_json("results.json", "the results cache")


def save_results(results: dict) -> None:
    while len(results) > RESULTS_KEPT:  # dicts keep insertion order: drop the oldest
        results.pop(next(iter(results)))
    # On one line: json's C encoder, ~10x faster than the indented (pure Python) one, and
    # the grader saves the cache after every grading.
    _save_json("results.json", results, "the results cache", indent=None)


def backup(topic: roadmap.Topic, path: Path, *, move: bool = False) -> Path:
    """Save the learner's file (or folder) under .grader/backups/<slug>/ and return the copy.

    The copy is complete before it gets its name, so a name that is shown is never a
    half-written file; the process id keeps two graders at once from sharing a name. A
    folder, and what the grader does not read (a FIFO, a device, a link to one, a file
    over files.MAX_BYTES), is moved there as it is instead, as is anything with `move`.
    """
    folder = topic.folder_in(STATE_DIR / "backups")
    folder.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S-%f")
    target = folder / f"{path.name}.{stamp}-{os.getpid()}"
    if path.is_dir() and not path.is_symlink():
        shutil.move(path, target)
        return target
    try:
        data = None if move else files.read_bytes(path)
    except files.Refused:
        data = None  # never copied: copying is reading it
    if data is None:
        os.rename(path, target)
        return target
    write_atomic(target, data)
    shutil.copystat(path, target)  # the learner's file's own permissions and times
    return target
