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

from grader import roadmap

STATE_DIR = roadmap.ROOT / ".grader"
RESULTS_KEPT = 64  # results of this many (file, suite) versions are kept


def _warn(message: str) -> None:
    print(f"python grader: {message}", file=sys.stderr)


def write_atomic(path: Path, data: bytes) -> None:
    """Replace `path` by `data` in one step: a concurrent reader sees the old or the new file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
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


def _save_json(name: str, data: dict, what: str) -> None:
    path = STATE_DIR / name
    try:
        write_atomic(path, json.dumps(data, indent=1, ensure_ascii=False).encode("utf-8"))
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
    _save_json("results.json", results, "the results cache")


def backup(topic: roadmap.Topic, path: Path) -> Path:
    """Save the learner's file (or folder) under .grader/backups/<slug>/ and return the copy.

    The copy is complete before it gets its name, so a name that is shown is never a
    half-written file; the process id keeps two graders at once from sharing a name.
    """
    folder = topic.folder_in(STATE_DIR / "backups")
    folder.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S-%f")
    target = folder / f"{topic.file}.{stamp}-{os.getpid()}"
    if path.is_dir():
        shutil.move(path, target)
        return target
    write_atomic(target, path.read_bytes())
    shutil.copystat(path, target)
    return target
