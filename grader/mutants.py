"""Mutants: plausible learner bugs, kept as edits of the solution, that a suite must reject.

tests/<slug>/mutants.py defines

    MUTANTS = {"bug_name": [(old, new), ...]}      # bugs: each must fail the suite
    MUST_PASS = {"variant_name": [(old, new), ...]}  # correct rewrites: each must pass it
    PATTERNS = {"builtin": ["bug_name", ...], ...}  # which bugs prove which checklist pattern
    NOT_APPLICABLE = {"init": "why the pattern has nothing to check here"}

(the patterns are those of docs/CHECKLIST.md, keyed as in CHECKLIST below). `apply`
makes the mutated source (each `old` must occur exactly once, so a mutant cannot
silently stop applying when the solution changes) and `write_target` lays it out
as a target folder the plugin can load (`--kata-target`).
"""

from __future__ import annotations

import ast
import importlib.util
from pathlib import Path
from types import ModuleType

from grader import roadmap

# The suite author's checklist (docs/CHECKLIST.md): what a suite must prove, by pattern.
CHECKLIST = {
    "builtin": "a task that re-implements a built-in may not call it",
    "arguments": "every argument of a task is exercised with a non-default value",
    "returns": "every documented return value is recomputed independently",
    "device": "device, dtype and randomness follow the inputs",
    "inputs": "numerics are tested on the inputs where a bug shows",
    "init": "initialisation and training-mode state are checked",
    "falsy": "every argument also takes a falsy value (0, 0.0, False, an empty tuple) that the code must not read as "
             "'not given'",
    "method_args": "every method is called with its own arguments, different from those the object was built with",
    "in_place": "a function that promises to work in place changes the caller's tensors, and one that does not "
                "leaves them alone",
    "constants": "documented constants and defaults are tested on inputs where getting them wrong changes the "
                 "result",
}


def load_module(topic: roadmap.Topic) -> ModuleType | None:
    """tests/<slug>/mutants.py as a module, or None when the topic has none."""
    path = topic.tests() / "mutants.py"
    if not path.exists():
        return None
    spec = importlib.util.spec_from_file_location(f"mutants_{topic.slug}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def load(topic: roadmap.Topic) -> dict[str, list[tuple[str, str]]]:
    """The topic's mutants (bugs its suite must catch)."""
    module = load_module(topic)
    return {} if module is None else module.MUTANTS


def must_pass(topic: roadmap.Topic) -> dict[str, list[tuple[str, str]]]:
    """The topic's correct variants (rewrites its suite must accept)."""
    module = load_module(topic)
    return getattr(module, "MUST_PASS", {}) if module is not None else {}


def apply(source: str, edits: list[tuple[str, str]], name: str) -> str:
    for old, new in edits:
        count = source.count(old)
        if count != 1:
            raise ValueError(f"mutant {name}: the text to replace occurs {count} times in the solution "
                             f"(it must occur exactly once): {old[:80]!r}")
        source = source.replace(old, new)
    return source


def tasks_changed(source: str, edits: list[tuple[str, str]]) -> list[str]:
    """The top-level functions and classes (the tasks) whose text the edits change, in the
    order of the edits; an edit outside every task (an import, a constant) adds none."""
    spans = [(node.lineno, node.end_lineno, node.name) for node in ast.parse(source).body
             if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))]
    tasks: list[str] = []
    for old, _ in edits:
        at = source.find(old)
        if at < 0:
            continue
        first = source.count("\n", 0, at) + 1
        last = first + old.count("\n")
        for start, end, name in spans:
            if start <= last and first <= end and name not in tasks:
                tasks.append(name)
    return tasks


def write_target(topic: roadmap.Topic, source: str, folder: Path) -> Path:
    """Write `source` as <folder>/<slug>/<file> and return <folder>, ready for --kata-target."""
    path = topic.file_in(folder)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(source, encoding="utf-8")
    return folder
