"""The grader's subcommands: the learner's (report, hint, reset, compare, watch, notebook)
and the maintainer's (stubs, readme, seeds, bench)."""

from __future__ import annotations

import argparse
import difflib
import json
import shutil
import subprocess
import sys
import time
import unicodedata
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from grader import roadmap, runner, stubs, suites
from grader.cli import UserError, _topic, command

ROOT = roadmap.ROOT
STATE_DIR = ROOT / ".grader"
EXERCISES = ROOT / "exercises"
RUN = "uv run"  # how the README tells learners to run commands


# ------------------------------------------------------------------ grading
@dataclass
class Grade:
    topic: roadmap.Topic
    status: str  # "passed", "in progress", "not started", "not available"
    tests: list[dict] = field(default_factory=list)  # one per test function, aggregated over parameters
    reason: str = ""  # why nothing ran, or the first failure

    def points(self, scoring: dict[str, int]) -> tuple[int, int]:
        got = sum(scoring.get(t["kind"], 0) for t in self.tests if t["status"] == "pass")
        return got, sum(scoring.get(t["kind"], 0) for t in self.tests)

    def by_kind(self) -> dict[str, tuple[int, int]]:
        return {
            kind: (sum(1 for t in self.tests if t["kind"] == kind and t["status"] == "pass"),
                   sum(1 for t in self.tests if t["kind"] == kind))
            for kind in roadmap.KINDS
        }


def _show(path: Path) -> str:
    """A path as the learner types it: relative to the repository when inside it."""
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def exercise(topic: roadmap.Topic, exercises: Path | None = None) -> Path:
    """The learner's file of a topic."""
    return (exercises or EXERCISES) / topic.slug / topic.file


def file_state(topic: roadmap.Topic, exercises: Path | None = None) -> str:
    """'missing', 'untouched' (still the generated stub) or 'edited'."""
    path = exercise(topic, exercises)
    if not path.exists():
        return "missing"
    return "untouched" if path.read_text(encoding="utf-8") == stubs.stub_for(topic) else "edited"


def _aggregate(topic: roadmap.Topic, records: list[dict]) -> list[dict]:
    """One entry per test function of the suite's outline, from the run's records."""
    outline = suites.outline(topic)
    by_name: dict[str, list[dict]] = {}
    for record in records:
        by_name.setdefault(record["name"].split("[", 1)[0], []).append(record)
    tests = []
    for test in outline:
        runs = by_name.pop(test["name"], [])
        failed = [r for r in runs if r["status"] != "pass"]
        status = "pass" if runs and not failed else ("error" if failed and failed[0]["status"] == "error" else "fail")
        message = failed[0]["message"] if failed else ("" if runs else "did not run")
        tests.append({**test, "status": status, "message": message, "details": failed[0]["details"] if failed else ""})
    # A suite-level error (a broken test file, a crashed process) has no outline entry:
    # it goes first, since it explains why the outline's tests did not run.
    suite_errors = [{"name": name, "kind": None, "task": None, "status": "error",
                     "message": runs[0]["message"], "details": runs[0].get("details", "")}
                    for name, runs in by_name.items()]
    return suite_errors + tests


def grade(topics: list[roadmap.Topic], *, seed: int = 0, device: str = "cpu", exercises: Path | None = None,
          test_timeout: float | None = None) -> list[Grade]:
    """Grade the learner's files: untouched stubs are not run (they fail by construction)."""
    states = {t.slug: file_state(t, exercises) for t in topics if t.built}
    to_run = [t.slug for t in topics if states.get(t.slug) == "edited"]
    extra = [f"--timeout={test_timeout}"] if test_timeout else []
    results = runner.run(to_run, exercises or EXERCISES, seed=seed, device=device, extra=extra)
    grades = []
    for topic in topics:
        if not topic.built:
            grades.append(Grade(topic, "not available"))
            continue
        state = states[topic.slug]
        if state != "edited":
            tests = [{**t, "status": "fail", "message": "not started", "details": ""} for t in suites.outline(topic)]
            reason = ("the file is missing: `python grader reset` brings the stub back" if state == "missing"
                      else "not started: the file is still the untouched stub")
            grades.append(Grade(topic, "not started", tests, reason))
            continue
        tests = _aggregate(topic, results.get(topic.slug, []))
        failing = [t for t in tests if t["status"] != "pass"]
        reason = f"{failing[0]['name']}: {failing[0]['message']}" if failing else ""
        grades.append(Grade(topic, "in progress" if failing else "passed", tests, reason))
    return grades


def _width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _pad(text: str, width: int) -> str:
    return text + " " * max(0, width - _width(text))


MARKS = {"passed": "✔", "in progress": "…", "not started": "·", "not available": " "}


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
            if g.status == "in progress" and g.reason:
                print(f"      {g.reason[:150]}")
        print()
    built = [g for g in grades if g.status != "not available"]
    passed = sum(g.status == "passed" for g in built)
    got = sum(g.points(scoring)[0] for g in built)
    total = sum(g.points(scoring)[1] for g in built)
    percent = f" ({100 * got / total:.0f}%)" if total else ""
    print(f"Overall: {passed} of {len(built)} available topics passed · score {got}/{total}{percent}")
    upcoming = [g for g in built if g.status != "passed"]
    if not upcoming:
        print("\nEvery available topic passes. Well done! Compare your work with the reference: "
              f"`{RUN} python grader compare NN`.")
        return
    nxt = upcoming[0]
    t = nxt.topic
    print(f"\nNext: {t.number:02d} {t.display_name} ({t.summary})")
    if nxt.status == "in progress":
        failing = sum(x["status"] != "pass" for x in nxt.tests)
        print(f"  {failing} of {len(nxt.tests)} tests still failing. First: {nxt.reason[:200]}")
    else:
        print(f"  Read exercises/{t.slug}/README.md, then fill in the TODOs in exercises/{t.slug}/{t.file}.")
    print(f"  Run: {RUN} pytest exercises/{t.slug}")
    print(f"  Stuck? {RUN} python grader hint {t.number:02d}")


def results_json(grades: list[Grade], scoring: dict[str, int]) -> dict:
    """exercism's results.json (version 3) for all available topics, plus score/max_score."""
    tests, topics, errors = [], [], []
    for g in grades:
        got, total = g.points(scoring)
        topics.append({
            "slug": g.topic.slug, "title": g.topic.title, "title_ko": g.topic.title_ko, "stage": g.topic.stage,
            "status": g.status, "score": got, "max_score": total,
            "by_kind": {k: {"passed": p, "total": n} for k, (p, n) in g.by_kind().items()},
        })
        task_ids = {task: i for i, task in enumerate(g.topic.hints, start=1)}
        for t in g.tests:
            if t["kind"] is None:
                errors.append(f"{g.topic.slug}: {t['message']}")
            tests.append({
                "name": f"{g.topic.slug}::{t['name']}", "status": t["status"],
                "message": t["message"] or None, "output": t.get("details") or None,
                "task_id": task_ids.get(t["task"]), "kind": t["kind"],
            })
    failing = [t for t in tests if t["status"] != "pass"]
    status = "error" if errors else ("fail" if failing else "pass")
    return {
        "version": 3,
        "status": status,
        "message": "; ".join(errors) or None,
        "score": sum(t["score"] for t in topics),
        "max_score": sum(t["max_score"] for t in topics),
        "tests": tests,
        "topics": topics,
    }


def report(args: argparse.Namespace) -> int:
    """The default command: grade every available topic and show the roadmap."""
    road = roadmap.load()
    grades = grade(road.topics, seed=args.seed, device=args.device)
    if args.json:
        json.dump(results_json([g for g in grades if g.status != "not available"], road.scoring),
                  sys.stdout, indent=2, ensure_ascii=False)
        print()
    else:
        print_report(grades, road.scoring)
    return 0


# ------------------------------------------------------------------ hint
def _state() -> dict:
    path = STATE_DIR / "state.json"
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}


def _save_state(state: dict) -> None:
    STATE_DIR.mkdir(exist_ok=True)
    (STATE_DIR / "state.json").write_text(json.dumps(state, indent=1), encoding="utf-8")


@command("hint", "show the next hint for a topic's first unfinished task (progressive: 2-3 per task)")
def hint(args: argparse.Namespace) -> int:
    topic = _topic(args.topic)
    tasks = list(topic.hints)
    if args.task:
        if args.task not in tasks:
            raise UserError(f"{topic.slug} has no task {args.task!r}; its tasks are: {', '.join(tasks)}")
        task = args.task
    else:
        g = grade([topic], seed=args.seed, device=args.device)[0]
        failing = [t["task"] for t in g.tests if t["status"] != "pass"]
        pending = [task for task in tasks if task in failing]
        if not pending:
            print(f"Every test of {topic.slug} passes: no hint needed. Compare with the reference: "
                  f"`{RUN} python grader compare {topic.number:02d}`.")
            return 0
        task = pending[0]
    state = _state()
    shown = state.setdefault(topic.slug, {}).get(task, 0)
    hints = topic.hints[task]
    index = min(shown, len(hints) - 1)
    print(f"{topic.number:02d} {topic.title} · task {task} · hint {index + 1} of {len(hints)}\n")
    print(f"  {hints[index]}\n")
    if index + 1 < len(hints):
        print(f"Run `{RUN} python grader hint {topic.number:02d}` again for a stronger hint.")
    else:
        print(f"That was the last hint. The reference is solutions/{topic.slug}/{topic.file}.")
    state[topic.slug][task] = index + 1
    _save_state(state)
    return 0


def _configure_hint(p: argparse.ArgumentParser) -> None:
    p.add_argument("topic", help="topic number or name, e.g. 01")
    p.add_argument("task", nargs="?", help="a task (function or class) of the topic; default: the first unfinished")


hint.configure = _configure_hint


# ------------------------------------------------------------------ reset
def backup(topic: roadmap.Topic) -> Path:
    """Copy the learner's file to .grader/backups/<slug>/<file>.<timestamp> and return that path."""
    folder = STATE_DIR / "backups" / topic.slug
    folder.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S-%f")
    target = folder / f"{topic.file}.{stamp}"
    shutil.copy2(exercise(topic), target)
    return target


@command("reset", "restore a topic's stub, after saving your file to a backup it names")
def reset(args: argparse.Namespace) -> int:
    topic = _topic(args.topic)
    path = exercise(topic)
    state = file_state(topic)
    if state == "untouched":
        print(f"{_show(path)} is already the untouched stub: nothing to do.")
        return 0
    if state == "edited":
        saved = backup(topic)
        print(f"Saved your file to {_show(saved)}")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(stubs.stub_for(topic), encoding="utf-8")
    print(f"Restored the stub: {_show(path)}")
    return 0


reset.configure = lambda p: p.add_argument("topic", help="topic number or name, e.g. 01")


# ------------------------------------------------------------------ compare
@command("compare", "show your file beside the reference solution (a diff) and both suites' results")
def compare(args: argparse.Namespace) -> int:
    topic = _topic(args.topic)
    mine, ref = exercise(topic), topic.solution()
    if not mine.exists():
        raise UserError(f"{_show(mine)} is missing: `python grader reset {topic.number:02d}` restores it")
    diff = difflib.unified_diff(
        mine.read_text(encoding="utf-8").splitlines(),
        stubs.answer_view(ref.read_text(encoding="utf-8"), topic).splitlines(),
        fromfile=f"yours: {_show(mine)}", tofile=f"reference: {_show(ref)}", lineterm="",
    )
    print("\n".join(diff) or "Your file and the reference are identical.")
    if args.no_run:
        return 0
    yours = _aggregate(topic, runner.run([topic.slug], ROOT / "exercises", seed=args.seed)[topic.slug])
    theirs = _aggregate(topic, runner.run([topic.slug], ROOT / "solutions", seed=args.seed)[topic.slug])
    ref_status = {t["name"]: t["status"] for t in theirs}
    width = max(len(t["name"]) for t in yours) + 2
    print(f"\n{'test':<{width}}{'kind':<11}{'yours':<8}reference")
    for t in yours:
        print(f"{t['name']:<{width}}{t['kind'] or '':<11}{t['status']:<8}{ref_status.get(t['name'], '?')}")
    return 0


def _configure_compare(p: argparse.ArgumentParser) -> None:
    p.add_argument("topic", help="topic number or name, e.g. 01")
    p.add_argument("--no-run", action="store_true", help="only show the diff")


compare.configure = _configure_compare


# ------------------------------------------------------------------ watch
@command("watch", "rerun a topic's suite each time you save its file (Ctrl-C stops)")
def watch(args: argparse.Namespace) -> int:
    if args.topic:
        topic = _topic(args.topic)
    else:
        grades = grade(roadmap.load().built, seed=args.seed)
        pending = [g.topic for g in grades if g.status != "passed"] or [roadmap.load().built[-1]]
        topic = pending[0]
    path = exercise(topic)
    print(f"Watching {_show(path)}: save it to rerun `pytest exercises/{topic.slug}`. Ctrl-C stops.")
    last = None
    while True:
        stamp = path.stat().st_mtime if path.exists() else None
        if stamp != last:
            last = stamp
            print(f"\n--- {datetime.now():%H:%M:%S} ---", flush=True)
            subprocess.run([sys.executable, "-m", "pytest", f"exercises/{topic.slug}", "-q", "--no-header",
                            f"--kata-seed={args.seed}"], cwd=ROOT)
            if args.once:
                return 0
        time.sleep(args.interval)


def _configure_watch(p: argparse.ArgumentParser) -> None:
    p.add_argument("topic", nargs="?", help="topic number or name; default: your next unfinished topic")
    p.add_argument("--interval", type=float, default=1.0, help="seconds between checks (default 1)")
    p.add_argument("--once", action="store_true", help=argparse.SUPPRESS)


watch.configure = _configure_watch


# ------------------------------------------------------------------ notebook
@command("notebook", "write a Jupyter notebook of a topic's exercise, or copy the notebook's code back (--sync)")
def notebook(args: argparse.Namespace) -> int:
    from grader import notebooks  # nbformat is imported only here

    topic = _topic(args.topic)
    nb_path = exercise(topic).with_suffix(".ipynb")
    if args.sync:
        if not nb_path.exists():
            raise UserError(f"{_show(nb_path)} does not exist: run `python grader notebook {topic.number:02d}` first")
        if file_state(topic) == "edited":
            print(f"Saved your file to {_show(backup(topic))}")
        exercise(topic).write_text(notebooks.to_source(nb_path), encoding="utf-8")
        print(f"Wrote the notebook's code to {_show(exercise(topic))}; now run "
              f"`{RUN} pytest exercises/{topic.slug}`.")
        return 0
    if nb_path.exists() and not args.force:
        raise UserError(f"{_show(nb_path)} exists; pass --force to overwrite it")
    notebooks.write(topic, nb_path)
    print(f"Wrote {_show(nb_path)} from {_show(exercise(topic))}. Work in it, then "
          f"`{RUN} python grader notebook {topic.number:02d} --sync` copies your code back for the tests.")
    return 0


def _configure_notebook(p: argparse.ArgumentParser) -> None:
    p.add_argument("topic", help="topic number or name, e.g. 01")
    p.add_argument("--sync", action="store_true", help="copy the notebook's code cells back into the .py file (backing it up)")
    p.add_argument("--force", action="store_true", help="overwrite an existing notebook")


notebook.configure = _configure_notebook


# ------------------------------------------------------------------ maintainer's tools
def _committed_stub(topic: roadmap.Topic) -> str | None:
    """The stub made from the committed solution: a file equal to it holds no one's work."""
    source = stubs.committed(topic.solution())
    try:
        return None if source is None else stubs.make_stub(source, topic)
    except stubs.MarkerError:
        return None


@command("stubs", "maintainers: regenerate exercises/ from solutions/ (--check: only verify)")
def stubs_command(args: argparse.Namespace) -> int:
    stale = []
    for topic in roadmap.load().built:
        text = stubs.stub_for(topic)
        path = exercise(topic)
        if path.exists() and path.read_text(encoding="utf-8") == text:
            continue
        stale.append(_show(path))
        if not args.check:
            if path.exists() and path.read_text(encoding="utf-8") != _committed_stub(topic):
                print(f"Saved {_show(path)} to {_show(backup(topic))}")
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
            print(f"wrote {_show(path)}")
    if args.check and stale:
        print("stale stubs (run `python grader stubs`): " + ", ".join(map(str, stale)), file=sys.stderr)
        return 1
    if not stale:
        print("every stub is what the generator makes")
    return 0


stubs_command.configure = lambda p: p.add_argument("--check", action="store_true", help="exit 1 if a stub is stale")


@command("readme", "maintainers: rewrite the roadmap table in README.md from grader/roadmap.toml (--check: only verify)")
def readme(args: argparse.Namespace) -> int:
    from grader import readme as readme_module

    path = ROOT / "README.md"
    text = path.read_text(encoding="utf-8")
    new = readme_module.with_table(text)
    if new == text:
        print("README.md's roadmap table is current")
        return 0
    if args.check:
        print("README.md's roadmap table is stale: run `python grader readme`", file=sys.stderr)
        return 1
    path.write_text(new, encoding="utf-8")
    print("rewrote the roadmap table in README.md")
    return 0


readme.configure = lambda p: p.add_argument("--check", action="store_true", help="exit 1 if the table is stale")


@command("seeds", "maintainers: run topics' accuracy tests against the solutions on many seeds")
def seeds(args: argparse.Namespace) -> int:
    topics = [_topic(k) for k in args.topics] if args.topics else roadmap.load().built
    failed = 0
    for topic in topics:
        print(f"{topic.slug}: accuracy tests against the solution, seeds 0-{args.seeds - 1}")
        values: dict[str, list[float]] = {}
        for seed in range(args.seeds):
            # In this process: torch is imported once for every seed.
            records = runner.run_inprocess([topic.slug], ROOT / "solutions", seed=seed, device=args.device,
                                           extra=["-m", "accuracy"])[topic.slug]
            for r in records:
                for m in r.get("metrics", []):
                    values.setdefault(f"{r['name']}: {m['name'].split(' (seed')[0]} ({m['direction']} {m['bar']})", []).append(m["value"])
                if r["status"] != "pass":
                    failed += 1
                    print(f"  seed {seed}: {r['name']} {r['status']}: {r['message']}")
        for name, vals in values.items():
            print(f"  {name}: min {min(vals):.4f}  mean {sum(vals) / len(vals):.4f}  max {max(vals):.4f}  (n={len(vals)})")
    return 1 if failed else 0


def _configure_seeds(p: argparse.ArgumentParser) -> None:
    p.add_argument("topics", nargs="*", help="topic numbers or names (default: every built topic)")
    p.add_argument("--seeds", type=int, default=10, help="how many seeds, from 0 (default 10)")


seeds.configure = _configure_seeds


@command("bench", "maintainers: time each topic's whole suite against the floor (import torch + first optimizer)")
def bench(args: argparse.Namespace) -> int:
    def timed(cmd: list[str]) -> float:
        start = time.perf_counter()
        subprocess.run(cmd, cwd=ROOT, capture_output=True)
        return time.perf_counter() - start

    floor_cmd = [sys.executable, "-c",
                 "import torch; torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)"]
    timed(floor_cmd)  # warm the file cache once
    floor = min(timed(floor_cmd) for _ in range(args.repeat))
    print(f"floor (python -c 'import torch' + first optimizer): {floor:.2f} s")
    topics = [_topic(k) for k in args.topics] if args.topics else roadmap.load().built
    for topic in topics:
        cmd = [sys.executable, "-m", "pytest", f"solutions/{topic.slug}", "-q", "-p", "no:cacheprovider"]
        seconds = min(timed(cmd) for _ in range(args.repeat))
        print(f"{topic.slug:<24} {seconds:6.2f} s  {seconds / floor:4.2f}x the floor")
    return 0


def _configure_bench(p: argparse.ArgumentParser) -> None:
    p.add_argument("topics", nargs="*", help="topic numbers or names (default: every built topic)")
    p.add_argument("--repeat", type=int, default=3, help="runs per measurement; the fastest counts (default 3)")


bench.configure = _configure_bench
