"""The project's own documents stand on their own and agree with grader/roadmap.toml."""

from __future__ import annotations

import subprocess
import sys

from grader import roadmap

ROADMAP = roadmap.load()
DOCS = roadmap.ROOT / "docs"


def test_roadmap_doc_names_every_topic_as_roadmap_toml_does():
    text = (DOCS / "ROADMAP.md").read_text(encoding="utf-8")
    for stage in ROADMAP.stages:
        assert f"## Stage {stage.number} · {stage.title} · {stage.title_ko}" in text, stage
    for topic in ROADMAP.topics:
        heading = f"### {topic.number:02d} · {topic.title} · {topic.title_ko}"
        assert heading in text, f"docs/ROADMAP.md should have the heading {heading!r}"


def test_curriculum_covers_every_topic():
    text = (DOCS / "CURRICULUM.md").read_text(encoding="utf-8")
    for topic in ROADMAP.topics:
        assert f"**{topic.number:02d} " in text, f"docs/CURRICULUM.md has no paragraph for {topic.slug}"


def test_no_file_refers_outside_the_repository():
    # A clone has only the project: nothing may point at the team's briefing beside it.
    outside = "../" + "shared"  # spelled in two parts so that this file does not match itself
    found = subprocess.run(["git", "grep", "-n", "-I", "-F", "-e", outside], cwd=roadmap.ROOT, capture_output=True,
                           text=True)
    assert found.stdout == "", f"files that refer to {outside}:\n{found.stdout}"


def test_the_readme_says_where_the_output_names_whose_files_are_tested():
    # README, "How you work": the header's third line says whose files are tested.
    readme = (roadmap.ROOT / "README.md").read_text(encoding="utf-8")
    claim = "says whose files are tested, on its third line:\n   `kata: testing YOUR files in exercises/`"
    assert claim in readme
    # A folder without tests: the header is printed, nothing is imported.
    shown = subprocess.run([sys.executable, "-m", "pytest", "--co", "-p", "no:cacheprovider", "docs"],
                           cwd=roadmap.ROOT, capture_output=True, text=True)
    lines = shown.stdout.splitlines()
    assert len(lines) > 2 and lines[2].startswith("kata: testing YOUR files in exercises/"), shown.stdout[:500]
