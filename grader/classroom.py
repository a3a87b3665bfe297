"""`python grader classroom SUBMISSIONS/ --out gradebook.csv`: a class's work, graded by the teacher's grader.

SUBMISSIONS/ holds one entry per learner, named after them: a folder (a clone of the
project, a folder holding one, or just its `exercises/`) or a zip of any of these. For
each learner, only the topics' own files are taken from the submission (exercises/NN_name/
<file>.py, regular files of at most files.MAX_BYTES, read without following links or
unpacking anything else), staged in a fresh folder, and graded against THIS project's
hidden suites and grader: a test file, a conftest.py or a grader inside a submission is
never read, so it changes nothing.

Each learner is graded by a fresh `python -m grader.classroom` process in its own process
group, with the grader's time and memory limits on every topic's test process and a limit
on the whole; a submission that crashes, hangs, eats memory or kills its parent costs its
own row only. Learners are graded in parallel (--jobs, default: the cores), and the
results do not depend on the order: each row comes from its own process, and the
gradebook is sorted by name.

Written: gradebook.csv (one row per learner: each topic's score, the topics passed, the
total and a note), and beside it <gradebook>-results/<learner>/results.json (what
`python grader --json` writes). Printed: progress as each learner finishes, then the
teacher's view: the tests that fail for the most learners, with the first failure message.
"""

from __future__ import annotations

import csv
import json
import os
import signal
import stat
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

from grader import files, roadmap

WORKER_SLACK = 120.0  # seconds for a learner's process beyond its topics' time limits (imports, start-up)


@dataclass
class Submission:
    learner: str
    path: Path  # a folder or a zip


@dataclass
class Row:
    learner: str
    results: dict | None = None  # results.json, or None when the learner could not be graded
    note: str = ""  # why not, or what was odd about the submission
    seconds: float = 0.0
    found: list[str] = field(default_factory=list)  # the topics whose file was in the submission


def submissions(folder: Path) -> list[Submission]:
    """The learners in SUBMISSIONS/: each folder or zip, named after it (hidden entries skipped)."""
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder} is not a folder of submissions (one folder or zip per learner)")
    found, names = [], set()
    for entry in sorted(folder.iterdir()):
        if entry.name.startswith((".", "__")):  # .DS_Store, __MACOSX
            continue
        if entry.is_symlink() or not (entry.is_dir() or (entry.is_file() and entry.suffix.lower() == ".zip")):
            continue
        learner = entry.stem if entry.is_file() else entry.name
        if learner in names:  # alice/ and alice.zip: the zip keeps its full name
            learner = entry.name
        names.add(learner)
        found.append(Submission(learner, entry))
    return found


def _candidates(topic: roadmap.Topic) -> list[tuple[str, ...]]:
    """Where a topic's file may sit in a submission, as path parts, most likely first."""
    inner = (topic.slug, topic.file)
    return [("exercises", *inner), inner]


def _read_folder(root: Path, topic: roadmap.Topic) -> bytes | None:
    """The topic's file from a submission folder: root/exercises/..., root/<one folder>/exercises/...,
    or root/NN_name/... (a bare exercises/); never through a link."""
    bases = [root] + sorted(p for p in root.iterdir() if p.is_dir() and not p.is_symlink()
                            and not p.name.startswith("."))
    for base in bases:
        for parts in _candidates(topic):
            path = base.joinpath(*parts)
            try:
                mode = path.lstat().st_mode
            except OSError:
                continue
            if stat.S_ISREG(mode) and not any(p.is_symlink() for p in path.parents if p.is_relative_to(root)):
                return files.read_bytes(path)
    return None


def _read_zip(archive: zipfile.ZipFile, topic: roadmap.Topic) -> bytes | None:
    """The topic's file from a zip: the shortest member path ending with exercises/NN_name/<file>
    (or NN_name/<file>); its size is checked before a byte is read."""
    members = [m for m in archive.infolist() if not m.is_dir()]
    for parts in _candidates(topic):
        tail = "/".join(parts)
        hits = sorted((m for m in members if m.filename == tail or m.filename.endswith("/" + tail)),
                      key=lambda m: (m.filename.count("/"), m.filename))
        if hits:
            member = hits[0]
            if member.file_size > files.MAX_BYTES:
                raise files.Refused(f"{member.filename} is {member.file_size:,} bytes, more than a topic's file can be")
            return archive.read(member)
    return None


def stage(submission: Submission, topics: list[roadmap.Topic], into: Path) -> list[str]:
    """Copy the topics' files of a submission into `into`/exercises/; return the slugs found."""
    exercises = into / "exercises"
    exercises.mkdir(parents=True)
    found = []
    archive = zipfile.ZipFile(submission.path) if submission.path.is_file() else None
    try:
        for topic in topics:
            data = _read_zip(archive, topic) if archive else _read_folder(submission.path, topic)
            if data is None:
                continue
            target = topic.file_in(exercises)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
            found.append(topic.slug)
    finally:
        if archive is not None:
            archive.close()
    return found


def grade_learner(submission: Submission, topics: list[roadmap.Topic], options: dict, work: Path) -> Row:
    """Stage one learner's files and grade them in a fresh process group; never raises."""
    start = time.monotonic()
    row = Row(submission.learner)
    folder = Path(tempfile.mkdtemp(prefix="learner-", dir=work))
    try:
        row.found = stage(submission, topics, folder)
    except (OSError, zipfile.BadZipFile, files.Refused, ValueError, RuntimeError) as exc:
        row.note = f"the submission could not be read: {exc}"
        return row
    if not row.found:
        row.note = "no topic's file found (looked for exercises/NN_name/<file>.py)"
    out = folder / "results.json"
    cmd = [sys.executable, "-m", "grader.classroom", "--worker", str(folder / "exercises"), str(out),
           json.dumps({**options, "topics": [t.slug for t in topics]})]
    limit = options["time_limit"] * len(topics) + WORKER_SLACK
    proc = subprocess.Popen(cmd, cwd=roadmap.ROOT, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, start_new_session=True)
    try:
        _, err = proc.communicate(timeout=limit)
    except subprocess.TimeoutExpired:
        _kill(proc)
        row.note = f"grading took longer than {limit:.0f} s and was stopped"
        return row
    finally:
        _kill(proc)  # whatever the learner's code left running in the group
        row.seconds = time.monotonic() - start
    try:
        # The staged folder means nothing to the teacher: messages name exercises/... as the learner does.
        text = out.read_text(encoding="utf-8").replace(json.dumps(str(folder / "exercises"))[1:-1], "exercises")
        row.results = json.loads(text)
    except (OSError, ValueError):
        last = (err or b"").decode("utf-8", "replace").strip().splitlines()[-1:] or [f"exit status {proc.returncode}"]
        row.note = f"the grading process ended without results ({last[0][:200]})"
    return row


def _kill(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    proc.wait()


def worker(exercises: Path, out: Path, options: dict) -> None:
    """In the learner's own process: grade the staged files and write results.json."""
    from grader import grading, render

    road = roadmap.load()
    chosen = [road.find(slug) for slug in options["topics"]]
    grades = grading.grade(chosen, exercises=exercises, seed=options["seed"], device=options["device"],
                           time_limit=options["time_limit"], memory_limit=options["memory_limit"])
    out.write_text(json.dumps(render.results_json(grades, road.scoring)), encoding="utf-8")


def classroom(folder: Path, out: Path, *, topics: list[roadmap.Topic], options: dict, jobs: int,
              progress: Callable[[int, int, Row], None] | None = None) -> list[Row]:
    """Grade every submission in `folder`; write the gradebook `out` and the results beside it."""
    learners = submissions(folder)
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="classroom-") as work, ThreadPoolExecutor(max_workers=jobs) as pool:
        futures = [pool.submit(grade_learner, s, topics, options, Path(work)) for s in learners]
        for future in as_completed(futures):
            rows.append(future.result())
            if progress is not None:
                progress(len(rows), len(learners), rows[-1])
    rows.sort(key=lambda r: r.learner)
    write(rows, topics, out)
    return rows


def _safe(text: str) -> str:
    """A cell a spreadsheet shows as text: never a formula (=, +, -, @ first)."""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def results_folder(out: Path) -> Path:
    return out.with_name(out.stem + "-results")


def write(rows: list[Row], topics: list[roadmap.Topic], out: Path) -> None:
    """gradebook.csv, and each learner's results.json in <gradebook>-results/<learner>/."""
    maxima = {t.slug: sum(roadmap.load().scoring.get(x.kind, 0) for x in _outline(t)) for t in topics}
    header = ["learner", *[f"{t.slug} (of {maxima[t.slug]})" for t in topics], "topics passed", "score",
              "max score", "note"]
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", encoding="utf-8", newline="") as f:
        table = csv.writer(f)
        table.writerow(header)
        for row in rows:
            by_slug = {t["slug"]: t for t in (row.results or {}).get("topics", [])}
            scores = [by_slug.get(t.slug, {}).get("score", 0) for t in topics]
            passed = sum(by_slug.get(t.slug, {}).get("status") == "passed" for t in topics)
            # Why a topic handed in did not pass: its first failure (or why it could not be graded).
            note = row.note or "; ".join(f"{slug}: {t['message']}" for slug, t in by_slug.items()
                                         if t["status"] in ("error", "in progress") and t.get("message"))[:300]
            table.writerow([_safe(row.learner), *scores, passed, sum(scores), sum(maxima.values()), _safe(note)])
    results = results_folder(out)
    for row in rows:
        if row.results is not None:
            target = results / row.learner / "results.json"
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(json.dumps(row.results, indent=2), encoding="utf-8")


def _outline(topic: roadmap.Topic):
    from grader import suites

    return suites.outline(topic)


def hardest(rows: list[Row], top: int = 10) -> list[tuple[str, int, int, str]]:
    """The tests that fail for the most learners among those who handed the topic in:
    (test, learners failing, learners who handed it in, the first failure message by name)."""
    counts: dict[str, list[str]] = {}
    handed: dict[str, int] = {}
    for row in rows:  # sorted by name: the message shown is the same whatever the order of grading
        for topic in (row.results or {}).get("topics", []):
            if topic["status"] in ("passed", "in progress", "error"):
                handed[topic["slug"]] = handed.get(topic["slug"], 0) + 1
        for test in (row.results or {}).get("tests", []):
            slug = test["name"].split("::")[0]
            if test["status"] != "pass" and slug in row.found and test.get("message") != "not started":
                counts.setdefault(test["name"], []).append(test.get("message") or "")
    ranked = sorted(counts.items(), key=lambda kv: (-len(kv[1]), kv[0]))[:top]
    return [(name, len(messages), handed.get(name.split("::")[0], 0), messages[0]) for name, messages in ranked]


if __name__ == "__main__" and sys.argv[1:2] == ["--worker"]:
    worker(Path(sys.argv[2]), Path(sys.argv[3]), json.loads(sys.argv[4]))
