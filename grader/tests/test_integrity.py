"""The grader notices a changed suite or grader: editing or deleting a test never reads as a pass."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from grader import integrity

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="needs git")


def _git(root, *args: str) -> None:
    subprocess.run(["git", "-c", "user.name=kata", "-c", "user.email=kata@example.invalid", *args], cwd=root,
                   check=True, capture_output=True)


@pytest.fixture
def checkout(tmp_path):
    for path in ("tests/01_topic/test_a.py", "tests/02_other/test_b.py", "grader/checks.py", "kata/data.py",
                 "tests/conftest.py", "pyproject.toml", "exercises/01_topic/topic.py"):
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text("# committed\n", encoding="utf-8")
    _git(tmp_path, "init", "-q")
    _git(tmp_path, "add", ".")
    _git(tmp_path, "commit", "-q", "-m", "committed")
    return tmp_path


def test_a_clean_checkout_has_no_changes_and_the_learners_files_do_not_count(checkout):
    (checkout / "exercises/01_topic/topic.py").write_text("# my work\n", encoding="utf-8")
    assert integrity.changes(checkout) == {}


def test_an_edited_deleted_or_added_test_file_is_named_for_its_topic(checkout):
    (checkout / "tests/01_topic/test_a.py").write_text("def test_a(): pass\n", encoding="utf-8")
    (checkout / "tests/02_other/test_b.py").unlink()
    (checkout / "tests/02_other/conftest.py").write_text("# forges results\n", encoding="utf-8")
    found = {slug: sorted(paths) for slug, paths in integrity.changes(checkout).items()}
    assert found == {"01_topic": ["tests/01_topic/test_a.py (changed)"],
                     "02_other": ["tests/02_other/conftest.py (added)", "tests/02_other/test_b.py (deleted)"]}
    hint = integrity.restore_hint(found["02_other"])
    assert hint == "`git checkout HEAD -- tests/02_other` restores them and delete tests/02_other/conftest.py"


def test_a_change_to_the_grader_concerns_every_topic(checkout):
    (checkout / "grader/checks.py").write_text("def check_tensor(*a, **k): pass\n", encoding="utf-8")
    (checkout / "tests/conftest.py").unlink()
    found = {key: sorted(paths) for key, paths in integrity.changes(checkout).items()}
    assert found == {integrity.EVERY_TOPIC: ["grader/checks.py (changed)", "tests/conftest.py (deleted)"]}


def test_without_git_nothing_can_be_checked(tmp_path):
    (tmp_path / "tests").mkdir()
    assert integrity.changes(tmp_path) is None
