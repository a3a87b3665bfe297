"""What the grader's own tests share: a learner's checkout in a temporary folder."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from grader import grading, integrity, roadmap, selfcheck, state, stubs, zygote

ROADMAP = roadmap.load()


class Learner:
    """A learner's checkout in tmp: exercises/ with every stub, and .grader/."""

    def __init__(self, root) -> None:
        self.root = root
        self.exercises = root / "exercises"
        for topic in ROADMAP.built:
            self.write(topic, stubs.stub_for(topic))
            topic.lesson(root).write_text(topic.lesson().read_text(encoding="utf-8"), encoding="utf-8")

    def path(self, topic: roadmap.Topic):
        return topic.file_in(self.exercises)

    def write(self, topic: roadmap.Topic, text: str) -> None:
        self.path(topic).parent.mkdir(parents=True, exist_ok=True)
        self.path(topic).write_text(text, encoding="utf-8")

    def solve(self, topic: roadmap.Topic) -> None:
        self.write(topic, topic.solution().read_text(encoding="utf-8"))


@pytest.fixture
def learner(tmp_path, monkeypatch) -> Learner:
    monkeypatch.setattr(grading, "EXERCISES", tmp_path / "exercises")
    monkeypatch.setattr(state, "STATE_DIR", tmp_path / ".grader")
    monkeypatch.setattr(integrity, "changes", lambda root=None: {})  # as committed
    return Learner(tmp_path)


@pytest.fixture(autouse=True, scope="session")
def _pictures_in_a_temporary_folder(tmp_path_factory):
    """A test that runs a topic's main() writes its pictures to a temporary folder, never pictures/."""
    # An environment variable, not kata.pictures.FOLDER: the plugin puts kata's attributes back
    # between topics, and the processes a test starts inherit it.
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("KATA_PICTURES", str(tmp_path_factory.mktemp("pictures")))
        yield


def _reads_selfcheck(item: pytest.Item) -> bool:
    return getattr(getattr(item, "function", None), "kata_selfcheck", False)


def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list[pytest.Item]) -> None:
    """The tests that read the self-check run last (in their order): the workers run it while
    every other test runs here, instead of this process waiting for it halfway through."""
    reading = [item for item in items if _reads_selfcheck(item)]
    items[:] = [item for item in items if not _reads_selfcheck(item)] + reading


def pytest_collection_finish(session: pytest.Session) -> None:
    """Start, in the background, the self-checks of the topics whose collected tests read
    them (`@selfcheck.uses`), in the order those tests come."""
    slugs = []
    for item in session.items:
        if _reads_selfcheck(item):
            topic = getattr(item, "callspec", None) and item.callspec.params.get("topic")
            if isinstance(topic, roadmap.Topic) and topic.slug not in slugs:
                slugs.append(topic.slug)
    if slugs:
        selfcheck.start(slugs)


def run_pytest(*args: str, timeout: float, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """`python -m pytest ARGS` from the project folder, as a test process of its own, forked
    from the grader's warm zygote (the one grading uses: no `import torch` to pay) or,
    where there is none, a fresh process. `env`: variables added to this one's."""
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1", **(env or {})}
    warm = zygote.get(roadmap.ROOT, env)
    if warm is None:
        return subprocess.run([sys.executable, "-m", "pytest", *args], cwd=roadmap.ROOT, env=env,
                              capture_output=True, text=True, timeout=timeout)
    with tempfile.TemporaryDirectory(prefix="kata-test-") as tmp:
        out, err = Path(tmp) / "stdout", Path(tmp) / "stderr"
        child = warm.spawn(list(args), cwd=roadmap.ROOT, env=env, log=out, err=err)
        try:
            code = child.wait(timeout)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
            raise
        text = [p.read_text(encoding="utf-8", errors="replace") if p.exists() else "" for p in (out, err)]
    return subprocess.CompletedProcess(["pytest", *args], code, *text)
