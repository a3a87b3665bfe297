"""`python grader release OUT/`: the learner's copy of the project (nbgrader's `generate_assignment`).

A teacher hands learners the exercises, the lessons, the hidden suites, the grader and the
data generators, without the answers: no `solutions/`, no mutants (each is a reference
solution with one bug), no suite authors' notes (NOTES.md) and not the project's own tests.
In the copy, `pytest exercises/NN`, `python grader`, `hint`, `reset` and `watch` work as in
the project; `compare` says the reference is not included.

What the project makes from the solutions is written into the copy instead: the
untouched stubs, in `grader/pristine/` (how the grader tells an untouched file from a
learner's work, and what `reset` restores). The copy is a git repository
with one commit (unless `git=False`), so the grader can check that the hidden suites are the
ones handed out, as it does in the project.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from grader import roadmap, stubs

PRISTINE = Path("grader") / "pristine"  # the untouched stubs, in a release only: <slug>/<file>
# What a learner's copy leaves out, as paths relative to the project (a folder ends with "/").
# CONTRIBUTING.md stays (the README links to it); lesson 08 runs benchmarks/word2vec_vs_gensim.py on the learner's file.
LEFT_OUT = ("solutions/", "benchmarks/minilm_reference.py", "grader/tests/", ".ci/")
LEFT_OUT_NAMES = ("mutants.py", "NOTES.md")  # in tests/NN_name/: the suites' bugs and their authors' notes
NEVER = {".git", ".venv", ".grader", "__pycache__", ".pytest_cache", "data", "pictures", ".ipynb_checkpoints"}
NOTE = ("> **A learner's copy**, made by `python grader release`: the reference solutions, the suites' "
        "mutants and the project's own tests are not included, so `python grader compare` and the "
        "maintainers' commands are not available here. Everything else works as described below.\n\n")


def project_files(root: Path = roadmap.ROOT) -> list[str]:
    """The project's files, relative to `root`: git's tracked files, or every file outside NEVER."""
    try:
        listed = subprocess.run(["git", "ls-files", "-z"], cwd=root, capture_output=True, check=True).stdout
        return sorted(name for name in listed.decode("utf-8").split("\0") if name and (root / name).is_file())
    except (OSError, subprocess.CalledProcessError):
        found = []
        for folder, dirs, names in os.walk(root):
            dirs[:] = sorted(d for d in dirs if d not in NEVER)
            found += [Path(folder, name).relative_to(root).as_posix() for name in names]
        return sorted(found)


def kept(name: str) -> bool:
    """Whether a project file (relative path, '/'-separated) goes into a learner's copy."""
    if any(name == out or (out.endswith("/") and name.startswith(out)) for out in LEFT_OUT):
        return False
    return not (name.startswith("tests/") and name.count("/") == 2 and name.rsplit("/", 1)[1] in LEFT_OUT_NAMES)


def is_release(root: Path = roadmap.ROOT) -> bool:
    """True in a learner's copy: the stubs come from grader/pristine/, there is no solutions/."""
    return (root / PRISTINE).is_dir() and not (root / "solutions").exists()


def pristine_stub(topic: roadmap.Topic, root: Path = roadmap.ROOT) -> Path:
    return topic.file_in(root / PRISTINE)


def release(out: Path, *, git: bool = True, root: Path = roadmap.ROOT) -> list[str]:
    """Write the learner's copy to `out` (absent or empty); return the files written, relative to it."""
    out = Path(out).resolve()
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise FileExistsError(f"{out} is not an empty folder: give a new one, so nothing there is overwritten")
    if out.is_relative_to(root) and not out.is_relative_to(root / "data"):
        raise ValueError(f"{out} is inside the project: give a folder outside it")
    written = []
    for name in project_files(root):
        if not kept(name):
            continue
        target = out / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(root / name, target)
        written.append(name)
    for topic in roadmap.load().built:
        target = pristine_stub(topic, out)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(stubs.stub_for(topic, root), encoding="utf-8")
        written.append(target.relative_to(out).as_posix())
    readme = out / "README.md"
    if readme.exists():
        readme.write_text(_with_note(readme.read_text(encoding="utf-8")), encoding="utf-8")
    if git:
        _commit(out)
    return sorted(written)


def _with_note(text: str) -> str:
    """The README with the release note after its title."""
    title, _, rest = text.partition("\n")
    return f"{title}\n\n{NOTE}{rest.lstrip(chr(10))}" if title.startswith("# ") else NOTE + text


def _commit(out: Path) -> None:
    who = ["-c", "user.name=pytorch-katas release", "-c", "user.email=release@pytorch-katas.invalid",
           "-c", "commit.gpgsign=false", "-c", "init.defaultBranch=main"]
    for args in (["init", "-q"], ["add", "-A"], ["commit", "-q", "-m", "The exercises, made by python grader release"]):
        subprocess.run(["git", *who, *args], cwd=out, check=True, capture_output=True)
