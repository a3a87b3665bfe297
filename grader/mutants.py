"""Mutants: plausible learner bugs, kept as edits of the solution, that a suite must reject.

tests/<slug>/mutants.py defines MUTANTS = {"bug_name": [(old, new), ...]}. `apply`
makes the mutated source (each `old` must occur exactly once, so a mutant cannot
silently stop applying when the solution changes) and `write_target` lays it out
as a target folder the plugin can load (`--kata-target`).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from grader import roadmap


def load(topic: roadmap.Topic) -> dict[str, list[tuple[str, str]]]:
    path = topic.tests() / "mutants.py"
    if not path.exists():
        return {}
    spec = importlib.util.spec_from_file_location(f"mutants_{topic.slug}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.MUTANTS


def apply(source: str, edits: list[tuple[str, str]], name: str) -> str:
    for old, new in edits:
        count = source.count(old)
        if count != 1:
            raise ValueError(f"mutant {name}: the text to replace occurs {count} times in the solution "
                             f"(it must occur exactly once): {old[:80]!r}")
        source = source.replace(old, new)
    return source


def write_target(topic: roadmap.Topic, source: str, folder: Path) -> Path:
    """Write `source` as <folder>/<slug>/<file> and return <folder>, ready for --kata-target."""
    path = topic.file_in(folder)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(source, encoding="utf-8")
    return folder
