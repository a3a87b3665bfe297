"""`python grader release OUT/`: the learner's copy, without the answers, in which the
learner's loop works (issue 17): pytest on a stub fails with its TODO, the grader grades,
hint and reset work, compare says the reference is not there, watch runs the suite."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from grader import release, roadmap

ROADMAP = roadmap.load()
FIRST = ROADMAP.built[0]


def _run(root, *args, timeout=300):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "KATA_"))}
    return subprocess.run([sys.executable, *args], cwd=root, capture_output=True, text=True, timeout=timeout, env=env)


def test_what_a_learners_copy_leaves_out():
    assert not release.kept("solutions/01_logistic_regression/logistic_regression.py")
    assert not release.kept("tests/06_resnet/mutants.py") and not release.kept("tests/06_resnet/NOTES.md")
    assert not release.kept("grader/tests/test_release.py") and not release.kept("benchmarks/minilm_reference.py")
    assert release.kept("benchmarks/word2vec_vs_gensim.py") and release.kept("CONTRIBUTING.md")  # lesson 08, README
    assert release.kept("tests/06_resnet/test_resnet.py") and release.kept("tests/conftest.py")
    assert release.kept("exercises/06_resnet/README.md") and release.kept("kata/pretrained.py")
    assert release.kept("grader/mutants.py")  # the grader's module, not a suite's mutants


@pytest.mark.timeout(600)
def test_a_release_is_built_and_the_learners_loop_works_in_it(tmp_path):
    out = tmp_path / "course"
    written = release.release(out)
    assert not (out / "solutions").exists() and not list(out.glob("tests/*/mutants.py"))
    assert (out / "tests" / "conftest.py").is_file() and (out / "kata" / "minilm_reference.json").is_file()
    assert release.is_release(out) and f"grader/pristine/{FIRST.slug}/{FIRST.file}" in written
    assert "A learner's copy" in (out / "README.md").read_text(encoding="utf-8")
    status = subprocess.run(["git", "status", "--porcelain"], cwd=out, capture_output=True, text=True)
    assert status.returncode == 0 and status.stdout == ""  # one commit holds everything
    with pytest.raises(FileExistsError, match="not an empty folder"):
        release.release(out)

    mine = FIRST.exercise(out)
    # 1. pytest on the untouched stub: it fails, pointing at the TODO.
    tested = _run(out, "-m", "pytest", str(mine.parent.relative_to(out)), "-q", "-x")
    assert tested.returncode == 1 and "not implemented yet" in tested.stdout, tested.stdout[-2000:]
    # 2. A hint, then the grader on a solved topic: passed, and the rest not started.
    hint = _run(out, "grader", "hint", f"{FIRST.number:02d}")
    assert hint.returncode == 0 and "hint 1 of" in hint.stdout, hint.stdout + hint.stderr
    mine.write_text(FIRST.solution().read_text(encoding="utf-8"), encoding="utf-8")
    graded = _run(out, "grader", "--json")
    results = json.loads(graded.stdout)
    assert results["status"] == "fail" and results["score"] > 0, graded.stdout[-2000:]
    ours = [t for t in results["tests"] if t["name"].startswith(FIRST.slug)]
    assert ours and all(t["status"] == "pass" for t in ours), ours
    # 3. watch runs the suite once against the file; compare says the reference is not there.
    watched = _run(out, "grader", "watch", f"{FIRST.number:02d}", "--once")
    assert watched.returncode == 0 and "passed" in watched.stdout, watched.stdout[-2000:] + watched.stderr[-2000:]
    compared = _run(out, "grader", "compare", f"{FIRST.number:02d}")
    assert compared.returncode == 1 and "not included in this copy" in compared.stderr, compared.stderr
    assert "maintainers' command" in _run(out, "grader", "stubs").stderr
    # 4. reset saves the work and restores the stub kept in grader/pristine/.
    reset = _run(out, "grader", "reset", f"{FIRST.number:02d}")
    assert reset.returncode == 0 and "Saved your file" in reset.stdout, reset.stdout + reset.stderr
    assert mine.read_text(encoding="utf-8") == release.pristine_stub(FIRST, out).read_text(encoding="utf-8")


def _workflow() -> str:
    """The GitHub Classroom workflow in the README's `For teachers` section."""
    text = (roadmap.ROOT / "README.md").read_text(encoding="utf-8")
    start = text.index("```yaml\n", text.index("## For teachers")) + len("```yaml\n")
    return text[start:text.index("```", start)]


def _commands(workflow: str) -> list[str]:
    """Each step's `run:` command: one line, or the indented lines of a `run: |` block."""
    lines, commands = workflow.splitlines(), []
    for i, line in enumerate(lines):
        key, _, value = line.strip().partition("run:")
        if key not in ("", "- "):
            continue
        if value.strip() == "|":
            indent = len(lines[i + 1]) - len(lines[i + 1].lstrip())
            block = []
            for x in lines[i + 1:]:
                if not x.startswith(" " * indent):
                    break
                block.append(x[indent:])
            commands.append("\n".join(block))
        elif value.strip():
            commands.append(value.strip())
    return commands


@pytest.mark.timeout(300)
def test_the_readmes_github_classroom_workflow_grades_a_learners_copy(tmp_path):
    workflow = _workflow()
    assert "on: [push" in workflow and "actions/checkout@" in workflow and "setup-uv@" in workflow
    commands = _commands(workflow)
    assert commands[0] == "uv sync" and commands[1] == "uv run python grader --json > results.json", commands
    out = tmp_path / "learner"
    release.release(out, git=False)
    for command in commands[1:]:  # what the workflow runs after `uv sync`, with this environment's python
        shell = command.replace("uv run python", f'"{sys.executable}"', 1)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "KATA_"))}
        done = subprocess.run(shell, shell=True, cwd=out, capture_output=True, text=True, timeout=240, env=env)
        assert done.returncode == 0, (command, done.stdout[-2000:], done.stderr[-2000:])
    results = json.loads((out / "results.json").read_text(encoding="utf-8"))
    assert results["version"] == 3 and results["score"] == 0 and results["max_score"] > 0
    assert f"score 0 of {results['max_score']} - {results['status']}" in done.stdout, done.stdout
