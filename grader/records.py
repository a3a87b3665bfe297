"""One test's result: the one shape the plugin writes and the runner, the grading
and the self-checks read.

The plugin writes records as JSON lines (`to_json`); everything else reads them back
with `Record.from_json`, so a field is added in one place.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from grader.text import escape_surrogates

STATUSES = ("pass", "fail", "error", "skip")


@dataclass
class Metric:
    """A figure an accuracy test measured against its bar (`assert_at_least`/`_at_most`)."""

    name: str  # what was measured, as the test names it
    value: float
    bar: float
    direction: str  # ">=" or "<=": which side of the bar passes
    seed: int | None = None  # the run's --kata-seed, set by the plugin


@dataclass
class Record:
    """A test's outcome. `name` is pytest's (with parameters, if any); `status` is
    None only while the test has not reported."""

    topic: str  # the topic's slug, e.g. "01_logistic_regression"
    name: str
    kind: str | None = None  # "shapes", "gradients" or "accuracy" (roadmap.KINDS); None for a suite error
    task: str | None = None  # the learner's function or class the test checks
    status: str | None = None  # one of STATUSES
    message: str = ""  # one line, for the report
    details: str = ""  # the longer text: a traceback, captured output
    duration: float = 0.0
    metrics: list[Metric] = field(default_factory=list)

    @property
    def function(self) -> str:
        """The test function's name, without pytest's parameter suffix."""
        return self.name.split("[", 1)[0]

    @property
    def passed(self) -> bool:
        return self.status == "pass"

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict) -> Record:
        text = {key: escape_surrogates(data[key]) for key in ("name", "message", "details")
                if isinstance(data.get(key), str)}
        return cls(**{**data, **text, "metrics": [Metric(**m) for m in data.get("metrics", [])]})


def by_topic(slugs: list[str], records: list[Record]) -> dict[str, list[Record]]:
    """Group records by topic, with an entry (maybe empty) for each of `slugs`."""
    grouped: dict[str, list[Record]] = {slug: [] for slug in slugs}
    for record in records:
        grouped.setdefault(record.topic, []).append(record)
    return grouped
