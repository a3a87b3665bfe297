"""The learner's state in .grader/: hints shown so far, and backups of their files."""

from __future__ import annotations

import json
import shutil
from datetime import datetime
from pathlib import Path

from grader import roadmap

STATE_DIR = roadmap.ROOT / ".grader"


def load() -> dict:
    path = STATE_DIR / "state.json"
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}


def save(state: dict) -> None:
    STATE_DIR.mkdir(exist_ok=True)
    (STATE_DIR / "state.json").write_text(json.dumps(state, indent=1), encoding="utf-8")


def backup(topic: roadmap.Topic, path: Path) -> Path:
    """Copy the learner's file to .grader/backups/<slug>/<file>.<timestamp> and return that path."""
    folder = topic.folder_in(STATE_DIR / "backups")
    folder.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S-%f")
    target = folder / f"{topic.file}.{stamp}"
    shutil.copy2(path, target)
    return target
