"""The Korean edition of every built lesson keeps in step with the English one.

Each built topic's lesson, exercises/<slug>/README.md, has a Korean edition, README.ko.md, beside
it. The two are compared on what a translation must not change; prose is free, but:

- **tasks**: the topic's tasks (the keys of its `[topics.hints]` in grader/roadmap.toml) that a
  backticked span names (the span is the name, or starts with it and then `(` or `.`) are the same;
- **off-limits callables**: the topic's `[topics.off_limits]` names that appear as backticked spans
  are the same;
- **figures**: the multiset of numbers standing alone (not inside a word such as Word2Vec), found
  with the regex `NUMBER` below in the text outside
  code blocks and backticked spans (those are compared verbatim instead), is the same: write
  "100 에폭" for "100 epochs", and spell a number out in Korean only where the English does;
- **code**: the code blocks, fenced or indented (the formulas), are the same, in the same order,
  verbatim; the backticked spans are the same multiset (inside a span, a line break counts as a
  space, so lines may reflow);
- **sections**: the same number of headings at each level;
- **links**: the first line after the title links to the other edition: `[한국어](README.ko.md)`
  in the English lesson, `[English](README.md)` in the Korean one.

A failure names the topic, what differs and how to fix it.
"""

from __future__ import annotations

import re
import shutil
from collections import Counter
from pathlib import Path

import pytest

from grader import roadmap

BUILT = roadmap.load().built
KO_NAME = "README.ko.md"
LINK_TO_KO = f"[한국어]({KO_NAME})"
LINK_TO_EN = "[English](README.md)"

FENCE = re.compile(r"^```.*?^```[ \t]*$", re.M | re.S)  # a fenced code block, fences included
INDENTED = re.compile(r"(?:^|\n\n)((?: {4}.*(?:\n|$))+)")  # an indented block (the lessons' formulas)
SPAN = re.compile(r"`([^`]+)`")  # a backticked span (the lessons use single backticks only)
# a number standing alone: "0.95", "1,500", "1e-3", "28×28" (two), "100에폭"; not the 2 of `Word2Vec` or float32
NUMBER = re.compile(r"(?<![A-Za-z_0-9])\d+(?:[.,]\d+)*(?:e-?\d+)?(?![A-Za-z_0-9])")
HEADING = re.compile(r"^(#{1,6}) ", re.M)


def korean_lesson(topic: roadmap.Topic, root: Path = roadmap.ROOT) -> Path:
    path = topic.lesson_ko(root)
    assert path == topic.lesson(root).with_name(KO_NAME), "the Korean edition lies beside the lesson"
    return path


def _blocks(text: str) -> list[str]:
    """The fenced blocks, then the indented ones (a paragraph whose every line is indented 4 spaces)."""
    return FENCE.findall(text) + INDENTED.findall(FENCE.sub("\n", text))


def _prose(text: str) -> str:
    """The text without its code blocks, fenced or indented."""
    return INDENTED.sub("\n\n", FENCE.sub("\n", text))


def _spans(text: str) -> Counter[str]:
    return Counter(" ".join(span.split()) for span in SPAN.findall(_prose(text)))


def _numbers(text: str) -> Counter[str]:
    return Counter(NUMBER.findall(SPAN.sub(" ", _prose(text))))


def _tasks(topic: roadmap.Topic, spans: Counter[str]) -> set[str]:
    return {t for t in topic.hints for s in spans if s == t or re.match(re.escape(t) + r"[(.]", s)}


def _off_limits(topic: roadmap.Topic, spans: Counter[str]) -> set[str]:
    return {name for names in topic.off_limits.values() for name in names if name in spans}


def _headings(text: str) -> Counter[str]:
    return Counter(HEADING.findall(_prose(text)))


def _first_line_after_title(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[1] if len(lines) > 1 and lines[0].startswith("# ") else ""


def _diff(what: Counter | set) -> str:
    return ", ".join(repr(x) for x in sorted(what))


def differences(topic: roadmap.Topic, english: Path, korean: Path) -> list[str]:
    """What the two editions of `topic`'s lesson disagree on, one line each; [] when in step."""
    where = f"{topic.slug}: {korean.name} vs README.md"
    if not korean.is_file():
        return [f"{topic.slug}: no Korean edition {korean}; translate README.md into it (docs/GLOSSARY.md)"]
    en, ko = english.read_text(encoding="utf-8"), korean.read_text(encoding="utf-8")
    found = []

    def compare(name: str, a, b, fix: str) -> None:
        if a != b:
            only_en, only_ko = (a - b, b - a)
            found.append(f"{where}: {name} differ (only in English: {_diff(only_en) or '-'}; "
                         f"only in Korean: {_diff(only_ko) or '-'}); {fix}")

    en_spans, ko_spans = _spans(en), _spans(ko)
    compare("the task names", _tasks(topic, en_spans), _tasks(topic, ko_spans),
            "name every task in backticks as the other edition does")
    compare("the off-limits callables", _off_limits(topic, en_spans), _off_limits(topic, ko_spans),
            "list the same off-limits callables in backticks in both")
    compare("the figures", _numbers(en), _numbers(ko),
            "give the same numbers, as digits, outside code in both")
    compare("the backticked spans", en_spans, ko_spans, "copy every backticked span verbatim")
    if _blocks(en) != _blocks(ko):
        found.append(f"{where}: the code blocks differ; copy README.md's fenced blocks verbatim, in order")
    compare("the headings (by level)", _headings(en), _headings(ko), "keep the same sections in the same order")
    if _first_line_after_title(en) != LINK_TO_KO:
        found.append(f"{topic.slug}: README.md does not link to the Korean edition; make its line after the title "
                     f"{LINK_TO_KO}")
    if _first_line_after_title(ko) != LINK_TO_EN:
        found.append(f"{topic.slug}: {korean.name} does not link to the English edition; make its line after the "
                     f"title {LINK_TO_EN}")
    return found


@pytest.mark.parametrize("topic", BUILT, ids=lambda t: t.slug)
def test_the_korean_edition_keeps_in_step_with_the_english_lesson(topic):
    found = differences(topic, topic.lesson(), korean_lesson(topic))
    assert not found, "\n".join(found)


def test_the_korean_edition_is_titled_with_the_korean_name_first():
    for topic in BUILT:
        path = korean_lesson(topic)
        if not path.is_file():
            continue  # the step check above reports it
        title = path.read_text(encoding="utf-8").splitlines()[0]
        english = topic.lesson().read_text(encoding="utf-8").splitlines()[0]
        assert title.startswith(f"# {topic.number:02d} ") and title != english, (
            f"{topic.slug}: {KO_NAME} should start with '# {topic.number:02d} ' and the topic's Korean name"
        )


# ------------------------------------------------------------------ the check can fail
def _copies(tmp_path: Path, topic: roadmap.Topic) -> tuple[Path, Path]:
    english = shutil.copy(topic.lesson(), tmp_path / "README.md")
    korean = shutil.copy(korean_lesson(topic), tmp_path / KO_NAME)
    return Path(english), Path(korean)


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, f"the edit's {old!r} is not in {path.name}"  # every occurrence is replaced
    path.write_text(text.replace(old, new), encoding="utf-8")


TOPIC = roadmap.load().find("01")


@pytest.mark.skipif(not korean_lesson(TOPIC).is_file(), reason="topic 01 has no Korean edition yet")
@pytest.mark.parametrize(
    ("which", "old", "new", "reported"),
    [
        ("ko", "`bce_gradients", "`bce_grads", "the task names differ"),  # every mention renamed
        ("ko", "`torch.logaddexp`", "torch.logaddexp", "the off-limits callables differ"),
        ("ko", "0.95", "0.9", "the figures differ"),
        ("en", "100 epochs", "200 epochs", "the figures differ"),
        ("ko", "uv run python grader hint 01", "uv run python grader hint 1", "the code blocks differ"),
        ("ko", "`nn.Linear`", "`nn.Linear()`", "the backticked spans differ"),
        ("ko", "## ", "### ", "the headings (by level) differ"),
        ("ko", LINK_TO_EN, "", "does not link to the English edition"),
        ("en", LINK_TO_KO, "", "does not link to the Korean edition"),
    ],
)
def test_the_step_check_reports_an_edit_to_one_edition(tmp_path, which, old, new, reported):
    english, korean = _copies(tmp_path, TOPIC)
    assert differences(TOPIC, english, korean) == []
    _edit(korean if which == "ko" else english, old, new)
    found = differences(TOPIC, english, korean)
    assert found and any(reported in line for line in found), found
    assert all(line.startswith(TOPIC.slug) for line in found), found


def test_the_step_check_reports_a_missing_korean_edition(tmp_path):
    english = shutil.copy(TOPIC.lesson(), tmp_path / "README.md")
    (found,) = differences(TOPIC, Path(english), tmp_path / KO_NAME)
    assert TOPIC.slug in found and "no Korean edition" in found


# ------------------------------------------------------------------ reset restores both editions
def test_reset_brings_back_both_editions_of_a_deleted_lesson(learner, capsys):
    from grader import cli, stubs

    folder = learner.path(TOPIC).parent
    shutil.rmtree(folder)
    assert cli.main(["reset", TOPIC.slug]) == 0
    out = capsys.readouterr().out
    assert TOPIC.lesson(learner.root).read_text(encoding="utf-8") == stubs.committed(TOPIC.lesson())
    assert "Restored the lesson" in out
    committed = stubs.committed(korean_lesson(TOPIC))
    if committed is None:
        pytest.skip("topic 01's Korean edition is not committed yet: reset restores what HEAD has")
    assert korean_lesson(TOPIC, learner.root).read_text(encoding="utf-8") == committed
    assert "Restored the Korean lesson" in out
