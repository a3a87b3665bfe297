"""The grader's subcommands: the learner's (report, hint, reset, compare, watch, notebook)
and the maintainer's (stubs, readme, seeds, bench).

Every subcommand lives in COMMANDS (name -> summary, function); that order is the
order of `--help`. `cli` builds the parser from it. Imports run one way:
records -> runner -> grading -> render -> commands -> cli.
"""

from __future__ import annotations

import argparse
import difflib
import json
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import datetime

from grader import grading, render, roadmap, runner, state, stubs
from grader.grading import show
from grader.render import RUN

ROOT = roadmap.ROOT

COMMANDS: dict[str, tuple[str, Callable[[argparse.Namespace], int]]] = {}


def command(name: str, summary: str):
    def register(fn):
        COMMANDS[name] = (summary, fn)
        return fn
    return register


class UserError(Exception):
    """An expected error: shown as one sentence, no traceback."""


def find_topic(key: str) -> roadmap.Topic:
    try:
        topic = roadmap.load().find(key)
    except KeyError as exc:
        raise UserError(exc.args[0]) from None
    if not topic.built:
        raise UserError(f"topic {topic.slug} ({topic.display_name}) is not available yet")
    return topic


def report(args: argparse.Namespace) -> int:
    """The default command: grade every available topic and show the roadmap."""
    road = roadmap.load()
    grades = grading.grade(road.topics, seed=args.seed, device=args.device)
    if args.json:
        json.dump(render.results_json([g for g in grades if g.status != "not available"], road.scoring),
                  sys.stdout, indent=2, ensure_ascii=False)
        print()
    else:
        render.print_report(grades, road.scoring)
    return 0


# ------------------------------------------------------------------ hint
@command("hint", "show the next hint for a topic's first unfinished task (progressive: 2-3 per task)")
def hint(args: argparse.Namespace) -> int:
    topic = find_topic(args.topic)
    tasks = list(topic.hints)
    if args.task:
        if args.task not in tasks:
            raise UserError(f"{topic.slug} has no task {args.task!r}; its tasks are: {', '.join(tasks)}")
        task = args.task
    else:
        g = grading.grade([topic], seed=args.seed, device=args.device)[0]
        failing = [t.task for t in g.tests if not t.passed]
        pending = [task for task in tasks if task in failing]
        if not pending:
            print(f"Every test of {topic.slug} passes: no hint needed. Compare with the reference: "
                  f"`{RUN} python grader compare {topic.number:02d}`.")
            return 0
        task = pending[0]
    progress = state.load()
    shown = progress.setdefault(topic.slug, {}).get(task, 0)
    hints = topic.hints[task]
    index = min(shown, len(hints) - 1)
    print(f"{topic.number:02d} {topic.title} · task {task} · hint {index + 1} of {len(hints)}\n")
    print(f"  {hints[index]}\n")
    if index + 1 < len(hints):
        print(f"Run `{RUN} python grader hint {topic.number:02d}` again for a stronger hint.")
    else:
        print(f"That was the last hint. The reference is {show(topic.solution())}.")
    progress[topic.slug][task] = index + 1
    state.save(progress)
    return 0


def _configure_hint(p: argparse.ArgumentParser) -> None:
    p.add_argument("topic", help="topic number or name, e.g. 01")
    p.add_argument("task", nargs="?", help="a task (function or class) of the topic; default: the first unfinished")


hint.configure = _configure_hint


# ------------------------------------------------------------------ reset
def exercise(topic: roadmap.Topic):
    """The learner's file (in grading.EXERCISES, which the tests point elsewhere)."""
    return topic.file_in(grading.EXERCISES)


@command("reset", "restore a topic's stub, after saving your file to a backup it names")
def reset(args: argparse.Namespace) -> int:
    topic = find_topic(args.topic)
    path = exercise(topic)
    status = grading.file_state(topic)
    if status == "untouched":
        print(f"{show(path)} is already the untouched stub: nothing to do.")
        return 0
    if status == "edited":
        saved = state.backup(topic, path)
        print(f"Saved your file to {show(saved)}")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(stubs.stub_for(topic), encoding="utf-8")
    print(f"Restored the stub: {show(path)}")
    return 0


reset.configure = lambda p: p.add_argument("topic", help="topic number or name, e.g. 01")


# ------------------------------------------------------------------ compare
@command("compare", "show your file beside the reference solution (a diff) and both suites' results")
def compare(args: argparse.Namespace) -> int:
    topic = find_topic(args.topic)
    mine, ref = exercise(topic), topic.solution()
    if not mine.exists():
        raise UserError(f"{show(mine)} is missing: `python grader reset {topic.number:02d}` restores it")
    diff = difflib.unified_diff(
        mine.read_text(encoding="utf-8").splitlines(),
        stubs.answer_view(ref.read_text(encoding="utf-8"), topic).splitlines(),
        fromfile=f"yours: {show(mine)}", tofile=f"reference: {show(ref)}", lineterm="",
    )
    print("\n".join(diff) or "Your file and the reference are identical.")
    if args.no_run:
        return 0
    yours = grading.aggregate(topic, runner.run([topic.slug], ROOT / "exercises", seed=args.seed)[topic.slug])
    theirs = grading.aggregate(topic, runner.run([topic.slug], ROOT / "solutions", seed=args.seed)[topic.slug])
    ref_status = {t.name: t.status for t in theirs}
    width = max(len(t.name) for t in yours) + 2
    print(f"\n{'test':<{width}}{'kind':<11}{'yours':<8}reference")
    for t in yours:
        print(f"{t.name:<{width}}{t.kind or '':<11}{t.status:<8}{ref_status.get(t.name, '?')}")
    return 0


def _configure_compare(p: argparse.ArgumentParser) -> None:
    p.add_argument("topic", help="topic number or name, e.g. 01")
    p.add_argument("--no-run", action="store_true", help="only show the diff")


compare.configure = _configure_compare


# ------------------------------------------------------------------ watch
@command("watch", "rerun a topic's suite each time you save its file (Ctrl-C stops)")
def watch(args: argparse.Namespace) -> int:
    if args.topic:
        topic = find_topic(args.topic)
    else:
        grades = grading.grade(roadmap.load().built, seed=args.seed)
        pending = [g.topic for g in grades if g.status != "passed"] or [roadmap.load().built[-1]]
        topic = pending[0]
    path = exercise(topic)
    print(f"Watching {show(path)}: save it to rerun `pytest exercises/{topic.slug}`. Ctrl-C stops.")
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

    topic = find_topic(args.topic)
    nb_path = exercise(topic).with_suffix(".ipynb")
    if args.sync:
        if not nb_path.exists():
            raise UserError(f"{show(nb_path)} does not exist: run `python grader notebook {topic.number:02d}` first")
        if grading.file_state(topic) == "edited":
            print(f"Saved your file to {show(state.backup(topic, exercise(topic)))}")
        exercise(topic).write_text(notebooks.to_source(nb_path), encoding="utf-8")
        print(f"Wrote the notebook's code to {show(exercise(topic))}; now run "
              f"`{RUN} pytest exercises/{topic.slug}`.")
        return 0
    if nb_path.exists() and not args.force:
        raise UserError(f"{show(nb_path)} exists; pass --force to overwrite it")
    notebooks.write(topic, nb_path)
    print(f"Wrote {show(nb_path)} from {show(exercise(topic))}. Work in it, then "
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
        stale.append(show(path))
        if not args.check:
            if path.exists() and path.read_text(encoding="utf-8") != _committed_stub(topic):
                print(f"Saved {show(path)} to {show(state.backup(topic, path))}")
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
            print(f"wrote {show(path)}")
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
    topics = [find_topic(k) for k in args.topics] if args.topics else roadmap.load().built
    failed = 0
    for topic in topics:
        print(f"{topic.slug}: accuracy tests against the solution, seeds 0-{args.seeds - 1}")
        values: dict[tuple[str, int], list[float]] = {}
        names: dict[tuple[str, int], str] = {}  # the name as seed 0 gave it
        for seed in range(args.seeds):
            # In this process: torch is imported once for every seed.
            records = runner.run_inprocess([topic.slug], ROOT / "solutions", seed=seed, device=args.device,
                                           extra=["-m", "accuracy"])[topic.slug]
            for r in records:
                # A test measures its metrics in the same order on every seed: the position
                # names a metric across seeds, whatever its text says.
                for i, m in enumerate(r.metrics):
                    names.setdefault((r.name, i), f"{r.name}: {m.name} ({m.direction} {m.bar})")
                    values.setdefault((r.name, i), []).append(m.value)
                if not r.passed:
                    failed += 1
                    print(f"  seed {seed}: {r.name} {r.status}: {r.message}")
        for key, vals in values.items():
            print(f"  {names[key]}: min {min(vals):.4f}  mean {sum(vals) / len(vals):.4f}  max {max(vals):.4f}  (n={len(vals)})")
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
    topics = [find_topic(k) for k in args.topics] if args.topics else roadmap.load().built
    for topic in topics:
        cmd = [sys.executable, "-m", "pytest", f"solutions/{topic.slug}", "-q", "-p", "no:cacheprovider"]
        seconds = min(timed(cmd) for _ in range(args.repeat))
        print(f"{topic.slug:<24} {seconds:6.2f} s  {seconds / floor:4.2f}x the floor")
    return 0


def _configure_bench(p: argparse.ArgumentParser) -> None:
    p.add_argument("topics", nargs="*", help="topic numbers or names (default: every built topic)")
    p.add_argument("--repeat", type=int, default=3, help="runs per measurement; the fastest counts (default 3)")


bench.configure = _configure_bench
