"""The grader's subcommands: the learner's (report, hint, reset, compare, watch, notebook)
and the maintainer's (stubs, readme, seeds, bench).

Every subcommand lives in COMMANDS (name -> summary, function); that order is the
order of `--help`. `cli` builds the parser from it. Imports run one way:
records -> runner -> grading -> render -> commands -> cli.
"""

from __future__ import annotations

import argparse
import contextlib
import difflib
import json
import re
import shlex
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from grader import files, grading, integrity, render, roadmap, runner, state, stubs, suites
from grader.render import command as run_command
from grader.render import grader_command, here
from grader.text import shorten

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
    """The default command: grade every available topic and show the roadmap.

    With --json it always prints one valid results object (status "error" with a
    message when something went wrong) and exits 0, as exercism's test runners do.
    """
    road = roadmap.load()
    _warn_about_the_project_folder()
    if args.json:
        try:
            grades = grading.grade(road.topics, **_grading_options(args), changes=integrity.changes())
            data = render.results_json([g for g in grades if g.status != "not available"], road.scoring)
        except Exception as exc:  # noqa: BLE001  (the promise: a results object, whatever happens)
            data = render.error_json(f"the grader could not grade: {type(exc).__name__}: {exc}")
        _write_json(data)
        return 0
    changes = integrity.changes()
    progress = render.Progress()
    try:
        grades = grading.grade(road.topics, **_grading_options(args), changes=changes, progress=progress)
    finally:
        progress.done()
    render.print_report(grades, road.scoring)
    if files.compiles_torch_at_every_start():
        print(f"\n{files.BYTECODE_TIP}")
    if changes is None:
        print("\n(This copy is not a git checkout, so the grader cannot check that the hidden suites are the "
              "committed ones.)")
    return 0


def _write_json(data: dict) -> None:
    """One JSON object, written whole: UTF-8 where stdout is UTF-8, else ASCII with
    \\uXXXX escapes (valid in any encoding), never a traceback halfway through."""
    encoding = (getattr(sys.stdout, "encoding", None) or "").lower().replace("-", "").replace("_", "")
    text = json.dumps(data, indent=2, ensure_ascii=encoding not in ("utf8", "utf8sig"))
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def _warn_about_the_project_folder() -> None:
    """Files in the project folder that break plain `pytest` (not the grader), one line each."""
    try:
        sentences = files.shadowing() + files.foreign_configs()
    except OSError:  # a folder that cannot be listed: nothing to say about it
        return
    for sentence in sentences:
        print(f"python grader: {sentence}.", file=sys.stderr)


def _grading_options(args: argparse.Namespace) -> dict:
    return dict(seed=args.seed, device=args.device, time_limit=args.time_limit, memory_limit=args.memory_limit,
                cache=True)


def exercise(topic: roadmap.Topic) -> Path:
    """The learner's file (in grading.EXERCISES, which the tests point elsewhere)."""
    return topic.file_in(grading.EXERCISES)


# ------------------------------------------------------------------ hint
@command("hint", "show the next hint for the first failing test of a topic's first unfinished task (each call "
                 "a stronger one)")
def hint(args: argparse.Namespace) -> int:
    """A hint that answers a test: the first failing test of the first unfinished task, or
    the test or task named. Which hints answer a test is in grader/roadmap.toml
    (`hints_for`); each call shows the weakest of them not shown yet for its task, so a
    hint about something that already passes is never the one shown."""
    topic = find_topic(args.topic)
    tasks = list(topic.hints)
    test = None
    if args.task:
        outline = {t.name: t.task for t in suites.outline(topic)}
        name = args.task.rsplit("::", 1)[-1].split("[", 1)[0]  # a FAILED line's test id works too
        if name in outline and outline[name] in topic.hints:
            task, test = outline[name], name
        elif args.task in tasks:
            task = args.task
        else:
            raise UserError(f"{topic.slug} has no task or test {args.task!r}; its tasks are: {', '.join(tasks)}")
    else:  # the last results of this very file, when it has not changed since: no run
        g = grading.grade([topic], **_grading_options(args), changes=integrity.changes())[0]
        failing = [t for t in g.tests if not t.passed and t.task in topic.hints]
        if not failing:
            if g.status == "error":
                raise UserError(f"{topic.slug} could not be graded: {g.reason}")
            print(f"Every test of {topic.slug} passes: no hint needed. Compare with the reference: "
                  f"`{grader_command('compare', f'{topic.number:02d}')}`.")
            return 0
        task = next(task for task in tasks if any(t.task == task for t in failing))
        test = next(t.name for t in failing if t.task == task)  # in the suite's order
    hints = topic.hints[task]
    answers = topic.hints_of_test(task, test)
    progress = state.load()
    mine = progress.get(topic.slug)
    if not isinstance(mine, dict):
        mine = progress[topic.slug] = {}
    seen = _seen(mine.get(task), len(hints))
    fresh = [n for n in answers if n not in seen]
    number = fresh[0] if fresh else answers[-1]
    # Counted among the hints that answer the test: "hint 2 of 2" is the strongest there is for it.
    print(f"{topic.number:02d} {topic.title} · task {task} · hint {answers.index(number) + 1} of {len(answers)}")
    if test is not None:
        print(f"For {test}{'' if args.task else ', the first failing test of the task'}.")
    print(f"\n  {hints[number - 1]}\n")
    if len(fresh) > 1:
        print(f"Run `{grader_command('hint', *_hint_words(topic, args))}` again for a stronger hint.")
    else:
        reference = (f"The reference is {here(topic.solution())}." if topic.solution().exists() else
                     "The reference solutions are not in this copy: ask your teacher.")
        print(f"That was the last hint{' for this test' if test is not None else ''}. {reference}")
    mine[task] = sorted(seen | {number})
    state.save(progress)
    return 0


def _seen(value, count: int) -> set[int]:
    """The hints of a task shown so far (numbers from 1) as .grader/state.json keeps them: a
    list of numbers, or (as an older grader wrote it) how many, in order; anything else: none."""
    if isinstance(value, bool):
        return set()
    if isinstance(value, int):
        return set(range(1, min(value, count) + 1))
    if isinstance(value, list):
        return {n for n in value if isinstance(n, int) and not isinstance(n, bool) and 1 <= n <= count}
    return set()


def _hint_words(topic: roadmap.Topic, args: argparse.Namespace) -> list[str]:
    return [f"{topic.number:02d}", *([shlex.quote(args.task)] if args.task else [])]


def _configure_hint(p: argparse.ArgumentParser) -> None:
    p.add_argument("topic", help="topic number or name, e.g. 01")
    p.add_argument("task", nargs="?",
                   help="a task (function or class) of the topic, or one of its tests (the name a FAILED line gives); "
                        "default: the first failing test of the first unfinished task")


hint.configure = _configure_hint


# ------------------------------------------------------------------ reset
@command("reset", "restore a topic's stub (and lessons), after saving your file to a backup it names")
def reset(args: argparse.Namespace) -> int:
    topic = find_topic(args.topic)
    path = exercise(topic)
    kind, _ = grading.file_state(topic)
    # A file where the topic's folder (or exercises/) belongs is saved, and the folder made again.
    blocker = files.not_a_folder([grading.EXERCISES, path.parent])
    saved = None
    if blocker is not None or kind in ("edited", "unreadable"):
        mine = blocker or path
        try:
            saved = state.backup(topic, mine, move=blocker is not None)
        except OSError as exc:
            raise UserError(f"could not save {here(mine)} to a backup ({exc.strerror or exc}); move it away "
                            "yourself, then run reset again") from None
        if blocker is not None:
            print(f"Saved your file {here(blocker)}, which stood where a folder belongs, to {here(saved)}")
        else:
            print(f"Saved your file to {here(saved)}")
    if kind == "untouched":
        print(f"{here(path)} is already the untouched stub.")
    else:
        try:
            state.write_atomic(path, stubs.stub_for(topic).encode("utf-8"))
        except OSError as exc:
            raise UserError(f"could not write the stub to {here(path)} ({exc.strerror or exc})") from None
        print(f"Restored the stub: {here(path)}")
    lesson = topic.lesson(grading.EXERCISES.parent)
    if not lesson.exists() and not lesson.is_symlink():
        text = _committed(topic.lesson())
        if text is None:
            print(f"Could not restore {here(lesson)}: this copy is not a git checkout.")
        else:
            state.write_atomic(lesson, text)
            print(f"Restored the lesson: {here(lesson)}")
    korean = topic.lesson_ko(grading.EXERCISES.parent)
    if not korean.exists() and not korean.is_symlink():
        text = _committed(topic.lesson_ko())  # None outside git, or for a topic not yet translated: nothing to say
        if text is not None:
            state.write_atomic(korean, text)
            print(f"Restored the Korean lesson: {here(korean)}")
    if state.load().get(topic.slug):
        state.forget_hints(topic.slug)
        print(f"Hints for {topic.slug} start again from the first.")
    if saved is not None and blocker is None:
        # A regular file was copied; anything else (a FIFO, a link, a folder) was moved as it is.
        verb = "cp" if saved.is_file() and not saved.is_symlink() else "mv"
        print(f"To bring your file back: {verb} {shlex.quote(here(saved))} {shlex.quote(here(path))}")
    return 0


def _committed(path: Path) -> bytes | None:
    """A file's bytes as committed at HEAD (None outside git), whatever the locale's encoding."""
    try:
        shown = subprocess.run(["git", "show", f"HEAD:{path.relative_to(ROOT).as_posix()}"], cwd=ROOT,
                               capture_output=True)
    except OSError:  # no git
        return None
    return shown.stdout if shown.returncode == 0 else None


reset.configure = lambda p: p.add_argument("topic", help="topic number or name, e.g. 01")


# ------------------------------------------------------------------ compare
@command("compare", "show your file beside the reference solution (a diff) and both suites' results")
def compare(args: argparse.Namespace) -> int:
    topic = find_topic(args.topic)
    mine, ref = exercise(topic), topic.solution()
    if not ref.exists():
        raise UserError(f"the reference solution {here(ref)} is not included in this copy (a learner's copy made by "
                        f"`python grader release`), so there is nothing to compare with: ask your teacher")
    kind, why = grading.file_state(topic)
    number = f"{topic.number:02d}"
    if kind == "missing":
        raise UserError(f"{here(mine)} is missing: `{grader_command('reset', number)}` restores it")
    if kind == "unreadable":
        raise UserError(f"{why}: `{grader_command('reset', number)}` saves it and restores the stub")
    try:
        text = files.read_bytes(mine).decode("utf-8", errors="replace")
    except OSError as exc:  # it changed since file_state looked
        raise UserError(f"{here(mine)} cannot be read ({exc.strerror or exc})") from None
    if "\ufffd" in text:
        print("(Your file is not UTF-8 text: its other bytes show as \ufffd. Save it as UTF-8.)")
    todos = {line.strip() for line in stubs.stub_for(topic).splitlines() if line.strip().startswith("# TODO:")}
    diff, left_out = code_diff(text.splitlines(), stubs.answer_view(ref.read_text(encoding="utf-8"), topic).splitlines(),
                               todos, f"yours: {here(mine)}", f"reference: {here(ref)}")
    print("\n".join(diff) or "Your file and the reference are identical.")
    if left_out:
        print("(The diff leaves out the stub's TODO comments: delete them as you go, or keep them.)")
    if args.no_run:
        return 0
    # The last results of each file when it has not changed since: an unchanged file and an
    # unchanged reference cost no run at all (the reference's results are kept like yours).
    options = _grading_options(args)
    yours = grading.grade([topic], **options)[0].tests
    theirs = grading.grade([topic], **options, exercises=ROOT / "solutions")[0].tests
    ref_status = {t.name: t.status for t in theirs}
    width = max(len(t.name) for t in yours) + 2
    print(f"\n{'test':<{width}}{'kind':<11}{'yours':<8}reference")
    for t in yours:
        print(f"{t.name:<{width}}{t.kind or '':<11}{t.status:<8}{ref_status.get(t.name, '?')}")
    return 0


DEFINITION = re.compile(r"^\s*(?:async\s+def|def|class)\s")


def code_diff(mine: list[str], ref: list[str], skip: set[str], fromfile: str, tofile: str) -> tuple[list[str], int]:
    """A unified diff of two files' lines without the lines in `skip` (compared stripped: the
    stub's TODO comments, which a learner deletes as they go), and how many lines it left out.

    Each hunk's header gives the lines' numbers in the files as they are, and the definition
    the hunk is in (as git does), so that the learner finds the place in their file.
    """
    kept_a = [(n, line) for n, line in enumerate(mine, start=1) if line.strip() not in skip]
    kept_b = [(n, line) for n, line in enumerate(ref, start=1) if line.strip() not in skip]
    a, b = [line for _, line in kept_a], [line for _, line in kept_b]
    out: list[str] = []
    for group in difflib.SequenceMatcher(None, a, b, autojunk=False).get_grouped_opcodes(3):
        if not out:
            out += [f"--- {fromfile}", f"+++ {tofile}"]
        i1, i2, j1, j2 = group[0][1], group[-1][2], group[0][3], group[-1][4]
        start_a = kept_a[i1][0] if i1 < len(kept_a) else len(mine) + 1
        start_b = kept_b[j1][0] if j1 < len(kept_b) else len(ref) + 1
        where = next((line.strip() for line in reversed(ref[:start_b - 1]) if DEFINITION.match(line)), "")
        out.append(f"@@ -{start_a},{i2 - i1} +{start_b},{j2 - j1} @@ {where}".rstrip())
        for tag, a1, a2, b1, b2 in group:
            if tag == "equal":
                out += [f" {line}" for line in a[a1:a2]]
                continue
            out += [f"-{line}" for line in a[a1:a2]]
            out += [f"+{line}" for line in b[b1:b2]]
    return out, len(mine) - len(kept_a) + len(ref) - len(kept_b)


def _configure_compare(p: argparse.ArgumentParser) -> None:
    p.add_argument("topic", help="topic number or name, e.g. 01")
    p.add_argument("--no-run", action="store_true", help="only show the diff")


compare.configure = _configure_compare


# ------------------------------------------------------------------ watch
@command("watch", "rerun a topic's suite each time you save its file, from a warm process (Ctrl-C stops)")
def watch(args: argparse.Namespace) -> int:
    from grader import watch as watching

    if args.topic:
        topic = find_topic(args.topic)
    else:
        grades = grading.grade(roadmap.load().built, **_grading_options(args))
        pending = [g.topic for g in grades if g.status != "passed"] or [roadmap.load().built[-1]]
        topic = pending[0]
    target = ROOT / args.target if args.target else grading.EXERCISES
    return watching.watch(topic, target, seed=args.seed, device=args.device, interval=args.interval,
                          once=args.once)


def _configure_watch(p: argparse.ArgumentParser) -> None:
    p.add_argument("topic", nargs="?", help="topic number or name; default: your next unfinished topic")
    p.add_argument("--interval", type=float, default=0.1, help="seconds between checks of the file (default 0.1)")
    p.add_argument("--target", choices=["exercises", "solutions"], help=argparse.SUPPRESS)
    p.add_argument("--once", action="store_true", help=argparse.SUPPRESS)


watch.configure = _configure_watch


# ------------------------------------------------------------------ notebook
@command("notebook", "write a Jupyter notebook of a topic's exercise, or copy the notebook's code back (--sync)")
def notebook(args: argparse.Namespace) -> int:
    from grader import notebooks  # nbformat is imported only here

    topic = find_topic(args.topic)
    path = exercise(topic)
    nb_path = path.with_suffix(".ipynb")
    number = f"{topic.number:02d}"
    kind, why = grading.file_state(topic)
    if args.sync:
        if not nb_path.exists():
            raise UserError(f"{here(nb_path)} does not exist: run `{grader_command('notebook', number)}` first")
        try:
            source, left_out = notebooks.to_source(nb_path)
        except notebooks.NotebookError as exc:
            raise UserError(f"{exc}: fix it in Jupyter, or make a new one from your file with "
                            f"`{grader_command('notebook', number, '--force')}`") from None
        if kind == "edited" and not args.force and notebooks.unsynced_change(topic, path, nb_path, source):
            raise UserError(
                f"{here(path)} changed since the notebook was written or last synced, so syncing would lose that "
                f"change: `{grader_command('notebook', number, '--sync', '--force')}` replaces it with the notebook's "
                f"code after a backup, `{grader_command('notebook', number, '--force')}` makes the notebook again "
                "from it")
        if kind == "unreadable" or (kind == "edited" and _text(path) != source):
            try:
                print(f"Saved your file to {here(state.backup(topic, path))}")
            except OSError as exc:
                raise UserError(f"could not save {here(path)} to a backup ({exc.strerror or exc}); move it away "
                                "yourself, then sync again") from None
        try:
            state.write_atomic(path, source.encode("utf-8"))
        except OSError as exc:
            raise UserError(f"could not write {here(path)} ({exc.strerror or exc})") from None
        notebooks.synced(topic, nb_path, source.encode("utf-8"))
        print(f"Wrote the notebook's code to {here(path)}; now run "
              f"`{run_command('pytest', topic.folder_in(ROOT / 'exercises'))}`.")
        if left_out:
            print(f"Left out: {'; '.join(left_out)}.")
        return 0
    if nb_path.exists() and not args.force:
        raise UserError(f"{here(nb_path)} exists; pass --force to overwrite it")
    if kind == "missing":
        raise UserError(f"{here(path)} is missing: `{grader_command('reset', number)}` restores the stub")
    if kind == "unreadable":
        raise UserError(f"{why}: `{grader_command('reset', number)}` saves it and restores the stub")
    try:
        notebooks.write(topic, path, nb_path)
    except notebooks.NotebookError as exc:
        raise UserError(str(exc)) from None
    except OSError as exc:
        raise UserError(f"could not write {here(nb_path)} ({exc.strerror or exc})") from None
    print(f"Wrote {here(nb_path)} from {here(path)}. Open it with "
          f"`{run_command('--with', 'jupyterlab', 'jupyter', 'lab', nb_path)}`; then "
          f"`{grader_command('notebook', number, '--sync')}` copies your code back for the tests.")
    return 0


def _text(path: Path) -> str | None:
    """The learner's file as text (a BOM dropped), None when it cannot be read."""
    try:
        return files.read_bytes(path).decode("utf-8-sig", "replace")
    except OSError:
        return None


def _configure_notebook(p: argparse.ArgumentParser) -> None:
    p.add_argument("topic", help="topic number or name, e.g. 01")
    p.add_argument("--sync", action="store_true", help="copy the notebook's code cells back into the .py file (backing it up)")
    p.add_argument("--force", action="store_true",
                   help="overwrite an existing notebook; with --sync, a .py file changed since the last sync")


notebook.configure = _configure_notebook


# ------------------------------------------------------------------ maintainer's tools
def _committed_stub(topic: roadmap.Topic) -> str | None:
    """The stub made from the committed solution: a file equal to it holds no one's work."""
    source = stubs.committed(topic.solution())
    try:
        return None if source is None else stubs.make_stub(source, topic)
    except stubs.MarkerError:
        return None


def _needs_solutions(what: str) -> None:
    if not (ROOT / "solutions").is_dir():
        raise UserError(f"{what} needs the reference solutions (solutions/), which this copy does not include: "
                        "it is a maintainers' command")


@command("stubs", "maintainers: regenerate exercises/ from solutions/ (--check: only verify)")
def stubs_command(args: argparse.Namespace) -> int:
    _needs_solutions("`python grader stubs`")
    stale = []
    for topic in roadmap.load().built:
        text = stubs.stub_for(topic)
        path = exercise(topic)
        kind, _ = grading.file_state(topic)
        if kind == "untouched":
            continue
        stale.append(here(path))
        if not args.check:
            if kind != "missing" and (kind == "unreadable"
                                      or files.read_bytes(path) != (_committed_stub(topic) or "").encode()):
                print(f"Saved {here(path)} to {here(state.backup(topic, path))}")
            state.write_atomic(path, text.encode("utf-8"))
            print(f"wrote {here(path)}")
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
    _needs_solutions("`python grader seeds`")
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


@command("bench", "maintainers: time each topic's suite cold (a fresh pytest) and warm (`watch`), against the floor")
def bench(args: argparse.Namespace) -> int:
    _needs_solutions("`python grader bench`")
    def timed(cmd: list[str]) -> float:
        start = time.perf_counter()
        subprocess.run(cmd, cwd=ROOT, capture_output=True)
        return time.perf_counter() - start

    topics = [find_topic(k) for k in args.topics] if args.topics else roadmap.load().built  # before any timing
    floor_cmd = [sys.executable, "-c",
                 "import torch; torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)"]
    timed(floor_cmd)  # warm the file cache once
    floor = min(timed(floor_cmd) for _ in range(args.repeat))
    print(f"floor (python -c 'import torch' + first optimizer): {floor:.2f} s")
    if files.compiles_torch_at_every_start():
        print(f"note: this floor includes compiling torch from source. {files.BYTECODE_TIP}")
    if args.project:
        return _bench_project(floor)
    print("cold: a fresh `pytest solutions/NN`; own: cold minus the floor, the suite's own time, which does not "
          "move with the floor; warm: from saving the file to the verdict in `grader watch NN` (fastest of the runs)")
    print(f"{'topic':<24} {'cold':>8} {'floor':>7} {'own':>7}   {'warm':>7} {'warm/cold':>9}")
    for topic in topics:
        cmd = [sys.executable, "-m", "pytest", str(topic.folder_in(ROOT / "solutions")), "-q", "-p",
               "no:cacheprovider"]
        cold = min(timed(cmd) for _ in range(args.repeat))
        # A process of its own per topic, so that no other topic's imports make it look warmer.
        warm_cmd = [sys.executable, "-m", "grader.watch", topic.slug, str(ROOT / "solutions"), str(args.repeat)]
        proc = subprocess.run(warm_cmd, cwd=ROOT, capture_output=True, text=True)
        if proc.returncode != 0:
            print(f"{topic.slug:<24} {cold:7.2f}s {cold / floor:6.2f}x {cold - floor:6.2f}s   warm run failed: "
                  f"{(proc.stderr.strip().splitlines() or ['?'])[-1]}")
            continue
        warm = min(float(x) for x in proc.stdout.split())
        print(f"{topic.slug:<24} {cold:7.2f}s {cold / floor:6.2f}x {cold - floor:6.2f}s   {warm:6.2f}s "
              f"{warm / cold:8.2f}x")
    return 0


PROJECT_CHECK = ["solutions", "grader/tests"]  # the README's `uv run pytest solutions grader/tests`


def _bench_project(floor: float) -> int:
    """Time the project's own check once, against the floor, with the time spent per test file."""
    cmd = [sys.executable, "-m", "pytest", *PROJECT_CHECK, "-q", "-p", "no:cacheprovider", "--durations=0",
           "--durations-min=0"]
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    total = time.perf_counter() - start
    spent: dict[str, float] = {}
    for line in proc.stdout.splitlines():  # "1.23s call     grader/tests/test_topics.py::test_..."
        parts = line.split()
        if len(parts) >= 3 and parts[0].endswith("s") and parts[1] in ("setup", "call", "teardown"):
            with contextlib.suppress(ValueError):
                spent[parts[2].split("::")[0]] = spent.get(parts[2].split("::")[0], 0.0) + float(parts[0][:-1])
    last = (proc.stdout.strip().splitlines() or ["(no output)"])[-1]
    print(f"project check (`pytest {' '.join(PROJECT_CHECK)}`): {total:.1f} s = {total / floor:.1f}x the floor; "
          f"{last.strip('= ')}")
    for file, seconds in sorted(spent.items(), key=lambda item: -item[1]):
        print(f"  {seconds:7.1f} s  {file}")
    return proc.returncode


def _configure_bench(p: argparse.ArgumentParser) -> None:
    p.add_argument("topics", nargs="*", help="topic numbers or names (default: every built topic)")
    p.add_argument("--repeat", type=int, default=3, help="runs per measurement; the fastest counts (default 3)")
    p.add_argument("--project", action="store_true",
                   help="time the project's own check (`pytest solutions grader/tests`) once instead, with the "
                        "time per test file")


bench.configure = _configure_bench


@command("release", "teachers: write the learner's copy (no solutions, no mutants) to a new folder")
def release_command(args: argparse.Namespace) -> int:
    from grader import release

    _needs_solutions("`python grader release`")
    try:
        written = release.release(Path(args.out), git=not args.no_git)
    except (FileExistsError, ValueError) as exc:
        raise UserError(str(exc)) from None
    except (OSError, subprocess.CalledProcessError) as exc:
        raise UserError(f"could not write the copy to {args.out} ({exc})") from None
    topics = len(roadmap.load().built)
    print(f"Wrote the learner's copy to {args.out}: {len(written)} files, {topics} topics, without solutions/, "
          f"the mutants, the maintainers' notes and the project's own tests"
          + ("" if args.no_git else "; a git repository with one commit") + ".")
    print(f"Learners: cd {shlex.quote(str(args.out))} && uv sync && uv run python grader")
    return 0


def _configure_release(p: argparse.ArgumentParser) -> None:
    p.add_argument("out", help="a new (or empty) folder outside the project")
    p.add_argument("--no-git", action="store_true", help="plain files: no git repository")


release_command.configure = _configure_release


# ------------------------------------------------------------------ classroom
@command("classroom", "teachers: grade a class's submissions (a folder or zip per learner) into a CSV gradebook")
def classroom_command(args: argparse.Namespace) -> int:
    import os

    from grader import classroom

    changes = integrity.changes()
    if changes:
        changed = [path for paths in changes.values() for path in paths]
        raise UserError(f"the hidden suites or the grader differ from the committed version ({changed[0]}"
                        f"{f' and {len(changed) - 1} more' if len(changed) > 1 else ''}): a class is graded with "
                        f"the pristine ones; {integrity.restore_hint(changed)}")
    topics = [find_topic(key) for key in args.topics.split(",")] if args.topics else roadmap.load().built
    if any(not t.built for t in topics):
        raise UserError(f"{', '.join(t.slug for t in topics if not t.built)} has no suite yet")
    options = dict(seed=args.seed, device=args.device, time_limit=args.time_limit, memory_limit=args.memory_limit)
    out = Path(args.out)
    folder = Path(args.submissions)
    try:
        learners = classroom.submissions(folder)
    except FileNotFoundError as exc:
        raise UserError(str(exc)) from None
    jobs = args.jobs or os.cpu_count() or 1
    print(f"Grading {len(learners)} submissions in {folder} on {len(topics)} topics, {jobs} at a time "
          f"(each topic's suite at most {args.time_limit:g} s)")
    scoring = roadmap.load().scoring
    maximum = sum(scoring.get(x.kind, 0) for t in topics for x in suites.outline(t))

    def progress(done: int, total: int, row: classroom.Row) -> None:
        if row.results is None:
            print(f"[{done}/{total}] {row.learner}: not graded: {row.note}", flush=True)
            return
        passed = sum(t["status"] == "passed" for t in row.results["topics"])
        print(f"[{done}/{total}] {row.learner}: {passed} of {len(topics)} topics passed, score "
              f"{row.results['score']}/{maximum} ({row.seconds:.0f} s)", flush=True)

    rows = classroom.classroom(folder, out, topics=topics, options=options, jobs=jobs, progress=progress)
    print(f"\nGradebook: {out} ({len(rows)} learners); each learner's results.json in "
          f"{classroom.results_folder(out)}{os.sep}")
    hardest = classroom.hardest(rows)
    if hardest:
        print("\nThe tests that fail for the most learners (of those who handed the topic in):")
        for name, failing, handed, message in hardest:
            print(f"  {failing}/{handed}  {name}\n        {shorten(message or '(no message)', 160)}")
    return 0


def _configure_classroom(p: argparse.ArgumentParser) -> None:
    p.add_argument("submissions", help="a folder with one folder or zip per learner, named after them")
    p.add_argument("--out", default="gradebook.csv", help="the CSV gradebook to write (default gradebook.csv)")
    p.add_argument("--topics", default=None, help="topics to grade, e.g. 01,02 (default: every available topic)")
    p.add_argument("--jobs", type=int, default=0, help="learners graded at once (default: the number of cores)")


classroom_command.configure = _configure_classroom
