"""Load grader/roadmap.toml, the one source of truth for the roadmap, into typed records."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ROADMAP_FILE = Path(__file__).resolve().parent / "roadmap.toml"
KINDS = ("shapes", "gradients", "accuracy")  # what a test proves; one marker each


@dataclass(frozen=True)
class Stage:
    number: int
    title: str
    title_ko: str


@dataclass(frozen=True)
class Topic:
    number: int  # position on the roadmap, 1-19
    slug: str  # folder name in exercises/, solutions/ and tests/, e.g. "06_resnet"
    stage: int
    title: str
    title_ko: str
    summary: str
    file: str | None  # the learner's file; None while the topic is not built
    hints: dict[str, list[str]] = field(default_factory=dict)  # task -> hints
    # test -> the hints of its task (numbered from 1) that help pass it, weakest first
    hints_for: dict[str, list[int]] = field(default_factory=dict)
    # task -> callables its tests forbid the learner's file to call (grader/rules.py)
    off_limits: dict[str, list[str]] = field(default_factory=dict)

    @property
    def built(self) -> bool:
        return self.file is not None

    @property
    def display_name(self) -> str:
        if self.title_ko and self.title_ko != self.title:
            return f"{self.title} · {self.title_ko}"
        return self.title

    # A topic's paths, built here only. A "target" is a folder laid out like exercises/:
    # <target>/<slug>/<file> is the file a suite tests.
    def folder_in(self, target: Path) -> Path:
        return target / self.slug

    def file_in(self, target: Path) -> Path:
        return self.folder_in(target) / self.file

    def exercise(self, root: Path = ROOT) -> Path:
        """The learner's file."""
        return self.file_in(root / "exercises")

    def solution(self, root: Path = ROOT) -> Path:
        return self.file_in(root / "solutions")

    def lesson(self, root: Path = ROOT) -> Path:
        return self.folder_in(root / "exercises") / "README.md"

    def lesson_ko(self, root: Path = ROOT) -> Path:
        """The lesson's Korean edition, beside it (grader/tests/test_korean_edition.py keeps the two in step)."""
        return self.folder_in(root / "exercises") / "README.ko.md"

    def tests(self, root: Path = ROOT) -> Path:
        """The hidden suite's folder."""
        return self.folder_in(root / "tests")

    def hints_of_test(self, task: str, test: str | None) -> list[int]:
        """The numbers (from 1) of the hints of `task` that answer `test`, weakest first: those
        `hints_for` names, or every hint of the task for no test or one it does not name."""
        count = len(self.hints.get(task, []))
        named = [n for n in self.hints_for.get(test, []) if 1 <= n <= count] if test else []
        return named or list(range(1, count + 1))


@dataclass(frozen=True)
class Roadmap:
    stages: list[Stage]
    topics: list[Topic]
    scoring: dict[str, int]

    @property
    def built(self) -> list[Topic]:
        return [t for t in self.topics if t.built]

    def find(self, key: str) -> Topic:
        """A topic by number ("6", "06") or slug ("06_resnet") or name ("resnet")."""
        key = key.strip().lower()
        for t in self.topics:
            if key in (t.slug, t.slug.split("_", 1)[1], str(t.number), f"{t.number:02d}"):
                return t
        names = ", ".join(t.slug for t in self.topics)
        raise KeyError(f"no topic {key!r} on the roadmap; topics are: {names}")


@cache
def load(path: Path = ROADMAP_FILE) -> Roadmap:
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    stages = [Stage(**s) for s in data["stages"]]
    topics = []
    for raw in data["topics"]:
        number = int(raw["slug"].split("_", 1)[0])
        topics.append(
            Topic(
                number=number,
                slug=raw["slug"],
                stage=raw["stage"],
                title=raw["title"],
                title_ko=raw["title_ko"],
                summary=raw["summary"],
                file=raw.get("file"),
                hints=raw.get("hints", {}),
                hints_for=raw.get("hints_for", {}),
                off_limits=raw.get("off_limits", {}),
            )
        )
    numbers = [t.number for t in topics]
    if numbers != list(range(1, len(topics) + 1)):
        raise ValueError(f"{path}: topics must be numbered 1..N in order, got {numbers}")
    if set(data["scoring"]) != set(KINDS):
        raise ValueError(f"{path}: [scoring] must give points for exactly {KINDS}")
    return Roadmap(stages=stages, topics=topics, scoring=data["scoring"])
