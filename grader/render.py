"""What the grader shows: the roadmap report for a terminal, results.json for a machine."""

from __future__ import annotations

import os
import shlex
import sys
import unicodedata
from pathlib import Path

from grader import roadmap
from grader.grading import Grade
from grader.text import escape_surrogates, shorten

RUN = "uv run"  # how the README tells learners to run commands
GRADER = roadmap.ROOT / "grader"  # `python grader`, wherever the learner is
PICTURES = roadmap.ROOT / "pictures"  # where each topic's main() saves its pictures (kata/pictures.py)


def _where() -> tuple[str, Path]:
    """How a command shown to the learner starts, and the folder its paths are relative to:
    the working folder when it is in the project, else the project after a `cd`."""
    root = roadmap.ROOT
    try:
        cwd = Path.cwd().resolve()
    except OSError:  # the working folder was deleted
        cwd = None
    if cwd is not None and cwd.is_relative_to(root):
        return "", cwd
    return f"cd {shlex.quote(str(root))} && ", root


def here(path: Path) -> str:
    """A path as the learner types it where they are: relative to the working folder in
    the project (exercises/01_x at its top, ../01_x from beside it), absolute elsewhere."""
    prefix, base = _where()
    path = Path(path)
    if prefix or not path.is_relative_to(roadmap.ROOT):
        return str(path)
    return os.path.relpath(path, base)


def command(*words: str | Path) -> str:
    """`uv run <words>` as the learner can paste it where they are; a Path is written
    relative to where it runs (from a subfolder: `uv run pytest ../exercises/01_x`)."""
    prefix, base = _where()
    shown = [shlex.quote(os.path.relpath(w, base) if Path(w).is_relative_to(roadmap.ROOT) else str(w))
             if isinstance(w, Path) else w for w in words]
    return prefix + " ".join([RUN, *shown])


def grader_command(*words: str) -> str:
    """`uv run python grader <words>`, runnable where the learner is."""
    return command("python", GRADER, *words)
MARKS = {"passed": "✔", "in progress": "…", "error": "✘", "not started": "·", "not available": " "}


def _width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _pad(text: str, width: int) -> str:
    return text + " " * max(0, width - _width(text))


def print_report(grades: list[Grade], scoring: dict[str, int]) -> None:
    road = roadmap.load()
    name_width = max(_width(f"{g.topic.number:02d} {g.topic.display_name}") for g in grades) + 2
    print("PyTorch katas: your progress along the roadmap\n")
    for stage in road.stages:
        print(f"Stage {stage.number} · {stage.title} · {stage.title_ko}")
        for g in (g for g in grades if g.topic.stage == stage.number):
            name = _pad(f"{g.topic.number:02d} {g.topic.display_name}", name_width)
            if g.status == "not available":
                print(f"  {MARKS[g.status]} {name}not available yet")
                continue
            kinds = "  ".join(f"{k} {p}/{n}" for k, (p, n) in g.by_kind().items() if n)
            got, total = g.points(scoring)
            print(f"  {MARKS[g.status]} {name}{g.status:<12} {kinds}   score {got}/{total}")
            if g.status in ("in progress", "error") and g.reason:
                print(f"      {shorten(g.reason, 150)}")
        print()
    built = [g for g in grades if g.status != "not available"]
    passed = sum(g.status == "passed" for g in built)
    got = sum(g.points(scoring)[0] for g in built)
    total = sum(g.points(scoring)[1] for g in built)
    percent = f" ({100 * got / total:.0f}%)" if total else ""
    print(f"Overall: {passed} of {len(built)} available topics passed · score {got}/{total}{percent}")
    done = [g.topic for g in built if g.status == "passed"]
    if done:  # the script of the last topic passed: it trains for real and draws what it learned
        print(f"See {done[-1].number:02d} at work: {command('python', done[-1].exercise())} "
              f"(its pictures go to {here(PICTURES)}{os.sep})")
    # The topic at work comes first: one in progress (or that cannot be graded), then an untouched one.
    upcoming = ([g for g in built if g.status in ("in progress", "error")]
                + [g for g in built if g.status == "not started"])
    if not upcoming:
        print("\nEvery available topic passes. Well done! Compare your work with the reference: "
              f"`{grader_command('compare', 'NN')}`.")
        return
    nxt = upcoming[0]
    t = nxt.topic
    print(f"\nNext: {t.number:02d} {t.display_name} ({t.summary})")
    if nxt.status == "in progress":
        failing = sum(not x.passed for x in nxt.tests)
        print(f"  {failing} of {len(nxt.tests)} tests still failing. First: {shorten(nxt.reason, 200)}")
    elif nxt.status == "error":
        print(f"  {shorten(nxt.reason, 300)}")
    else:
        print(f"  Read {here(t.lesson())}, then fill in the TODOs in {here(t.exercise())}.")
    print(f"  Run: {command('pytest', t.folder_in(roadmap.ROOT / 'exercises'))}")
    print(f"  Stuck? {grader_command('hint', f'{t.number:02d}')}")


def results_json(grades: list[Grade], scoring: dict[str, int]) -> dict:
    """exercism's results.json (version 3) for all available topics, plus score/max_score."""
    tests, topics, errors = [], [], []
    for g in grades:
        got, total = g.points(scoring)
        topics.append({
            "slug": g.topic.slug, "title": g.topic.title, "title_ko": g.topic.title_ko, "stage": g.topic.stage,
            "status": g.status, "message": g.reason or None, "score": got, "max_score": total,
            "by_kind": {k: {"passed": p, "total": n} for k, (p, n) in g.by_kind().items()},
        })
        task_ids = {task: i for i, task in enumerate(g.topic.hints, start=1)}
        if g.status == "error":
            errors.append((g.topic.slug, g.reason))
        for t in g.tests:
            if t.kind is None and g.status != "error":
                errors.append((g.topic.slug, t.message))
            tests.append({
                "name": f"{g.topic.slug}::{t.name}", "status": t.status,
                "message": t.message or None, "output": t.details or None,
                "task_id": task_ids.get(t.task), "kind": t.kind,
            })
    failing = [t for t in tests if t["status"] != "pass"]
    status = "error" if errors else ("fail" if failing else "pass")
    return _encodable({
        "version": 3,
        "status": status,
        "message": _errors_message(errors),
        "score": sum(t["score"] for t in topics),
        "max_score": sum(t["max_score"] for t in topics),
        "tests": tests,
        "topics": topics,
    })


def _encodable(data):
    """`data` with every string's lone surrogates escaped: JSON that any parser reads."""
    if isinstance(data, str):
        return escape_surrogates(data)
    if isinstance(data, dict):
        return {_encodable(k): _encodable(v) for k, v in data.items()}
    if isinstance(data, list):
        return [_encodable(v) for v in data]
    return data


def _errors_message(errors: list[tuple[str, str]]) -> str | None:
    """'slug, slug: reason; ...': topics that share a reason (a changed grader) are named once."""
    by_reason: dict[str, list[str]] = {}
    for slug, reason in errors:
        by_reason.setdefault(reason, []).append(slug)
    return "; ".join(f"{', '.join(slugs)}: {reason}" for reason, slugs in by_reason.items()) or None


def error_json(message: str) -> dict:
    """results.json when the grader itself could not grade: still one valid object."""
    return {"version": 3, "status": "error", "message": escape_surrogates(message), "score": 0, "max_score": 0,
            "tests": [], "topics": []}


class Progress:
    """'grading 02_mlp (2 of 5)...' on a terminal's stderr while topics run; nothing when piped."""

    def __init__(self, stream=None) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.active = self.stream.isatty()
        self.shown = 0

    def __call__(self, slug: str, index: int, total: int) -> None:
        if self.active:
            line = f"grading {slug} ({index} of {total})..."
            self.stream.write("\r" + line.ljust(self.shown))
            self.stream.flush()
            self.shown = len(line)

    def done(self) -> None:
        if self.active and self.shown:
            self.stream.write("\r" + " " * self.shown + "\r")
            self.stream.flush()
