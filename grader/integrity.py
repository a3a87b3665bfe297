"""Whether the hidden suites and the grader are the committed ones.

A learner who edits or deletes a test file (or grader/checks.py) would otherwise see
a pass that proves nothing. `changes` asks git which of those files differ from
HEAD; the grader reports each changed topic as an error instead of a grade.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from grader import roadmap

# Everything a grade depends on besides the learner's file and the topic's own suite.
GRADER_PATHS = ("grader", "kata", "tests/conftest.py", "pyproject.toml")
EVERY_TOPIC = ""  # the key of changes that touch every topic


def changes(root: Path = roadmap.ROOT) -> dict[str, list[str]] | None:
    """{slug: changed paths} for the suites in tests/<slug>/, {EVERY_TOPIC: [...]} for the
    grader's own files; None when `root` is not a git checkout (nothing can be checked)."""
    try:
        top = subprocess.run(["git", "rev-parse", "--show-toplevel"], cwd=root, capture_output=True, text=True)
        if top.returncode != 0 or Path(top.stdout.strip()).resolve() != root.resolve():
            return None  # not a checkout of this project (maybe a folder inside another repository)
        proc = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=all", "--no-renames", "--", "tests", *GRADER_PATHS],
            cwd=root, capture_output=True, text=True, encoding="utf-8", errors="replace",
        )
    except OSError:  # no git at all
        return None
    if proc.returncode != 0:
        return None
    found: dict[str, list[str]] = {}
    for line in proc.stdout.splitlines():
        if len(line) < 4:
            continue
        xy, path = line[:2], line[3:].strip('"')
        how = "added" if xy == "??" or "A" in xy else "deleted" if "D" in xy else "changed"
        parts = Path(path).parts
        key = parts[1] if len(parts) > 2 and parts[0] == "tests" else EVERY_TOPIC
        found.setdefault(key, []).append(f"{path} ({how})")
    return found


def topic_changes(found: dict[str, list[str]], topic: roadmap.Topic) -> list[str]:
    """The changes that make a topic's grade meaningless."""
    return found.get(topic.slug, []) + found.get(EVERY_TOPIC, [])


def restore_hint(paths: list[str]) -> str:
    """How to bring the committed files back, in words."""
    added = [p.split(" (")[0] for p in paths if p.endswith("(added)")]
    others = sorted({_folder(p.split(" (")[0]) for p in paths if not p.endswith("(added)")})
    steps = [f"`git checkout HEAD -- {' '.join(others)}` restores them"] if others else []
    if added:
        steps.append(f"delete {', '.join(added)}")
    return " and ".join(steps)


def _folder(path: str) -> str:
    """What `git checkout` restores for a changed path: the topic's suite, or the top folder."""
    parts = Path(path).parts
    return "/".join(parts[:2] if parts[0] == "tests" and len(parts) > 2 else parts[:1])
