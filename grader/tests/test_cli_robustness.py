"""`python grader` survives what a learner's machine and files can be (project issue 12):
odd text in messages, an output that is not UTF-8, files that are not files, scratch
modules in the project folder, signals, daemons, and options it cannot use.

Most tests call `cli.main` on a learner's checkout in tmp (as test_grader.py does); the
ones about sys.path, signals and encodings run `python grader` itself, in a copy of the
project. As in test_isolation.py, no test depends on how fast healthy code runs: a time
limit is only set where the defect is a hang.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from grader import cli, commands, files, grading, processes, render, roadmap, runner, stubs
from grader.records import Record
from grader.tests.test_isolation import _alive

ROADMAP = roadmap.load()
FIRST, SECOND = ROADMAP.built[0], ROADMAP.built[1]
SURROGATE = "\udcff"  # what the byte 0xff decodes to under "surrogateescape"; `ValueError("\udcff")` holds one


class FakeRunner:
    """runner.run without processes: every test of a topic fails with `message`."""

    def __init__(self, message: str = "AssertionError: wrong") -> None:
        self.message = message
        self.calls: list[list[str]] = []

    def __call__(self, slugs, target, *, progress=None, **options):
        if slugs:
            self.calls.append(list(slugs))
        return {slug: [Record(slug, t.name, t.kind, t.task, "fail", self.message, f"details: {self.message}")
                       for t in grading.suites.outline(ROADMAP.find(slug))] for slug in slugs}


@pytest.fixture
def fake_runner(monkeypatch) -> FakeRunner:
    fake = FakeRunner()
    monkeypatch.setattr(runner, "run", fake)
    return fake


def _no_traceback(captured) -> None:
    assert "Traceback" not in captured.out + captured.err, captured.err


# ------------------------------------------------------------------ a copy of the project, for `python grader`
@pytest.fixture
def project(tmp_path):
    """A copy of the project (grader, suites, solutions; every exercise an untouched stub),
    for runs of `python grader` that must not touch this checkout."""
    copy = tmp_path / "project"
    copy.mkdir()
    for name in ("grader", "kata", "tests", "solutions"):
        shutil.copytree(roadmap.ROOT / name, copy / name,
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc", ".pytest_cache"))
    shutil.copy(roadmap.ROOT / "pyproject.toml", copy / "pyproject.toml")
    for topic in ROADMAP.built:
        (copy / "exercises" / topic.slug).mkdir(parents=True)
        topic.file_in(copy / "exercises").write_text(stubs.stub_for(topic), encoding="utf-8")
        shutil.copy(topic.lesson(), topic.lesson(copy))
    return copy


def _grader(project, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    """`python grader ARGS` in the copy; `env` replaces the output's encoding settings."""
    base = {k: v for k, v in os.environ.items() if k not in ("PYTHONIOENCODING", "PYTHONUTF8", "LC_ALL")}
    return subprocess.run([sys.executable, str(project / "grader"), *args], cwd=project, capture_output=True,
                          env={**base, **(env or {})})


def _solve(project, topic: roadmap.Topic, extra: str = "") -> None:
    topic.file_in(project / "exercises").write_text(topic.solution().read_text(encoding="utf-8") + extra,
                                                    encoding="utf-8")


# ------------------------------------------------------------------ 1. a lone surrogate in a message
@pytest.mark.parametrize("argv", [[], ["--json"], ["hint", FIRST.slug], ["compare", FIRST.slug]],
                         ids=["report", "json", "hint", "compare"])
def test_a_lone_surrogate_in_a_message_is_escaped_by_every_output(learner, monkeypatch, capsys, argv):
    # What `raise ValueError("\udcff")` in the learner's code gives: the message holds a lone
    # surrogate, which no encoding can write (the results cache, the report, the JSON).
    monkeypatch.setattr(runner, "run", FakeRunner(f"ValueError: {SURROGATE}"))
    learner.write(FIRST, stubs.stub_for(FIRST) + "\n# started\n")
    for _ in range(2):  # the first run fills the results cache, the second reads it back
        assert cli.main(argv) == 0
        captured = capsys.readouterr()
        _no_traceback(captured)
    if argv == ["--json"]:
        data = json.loads(captured.out)
        assert {t["slug"] for t in data["topics"]} == {t.slug for t in ROADMAP.built}, "no topic is lost"
        first = next(t for t in data["topics"] if t["slug"] == FIRST.slug)
        assert first["message"].endswith("ValueError: \\udcff"), first["message"]
        json.dumps(data, ensure_ascii=False).encode("utf-8")  # no surrogate left in it
    elif argv == []:
        assert "ValueError: \\udcff" in captured.out


# ------------------------------------------------------------------ 2. stdout that is not UTF-8
@pytest.mark.parametrize("env", [{"PYTHONIOENCODING": "cp1252"}, {"LC_ALL": "C", "PYTHONUTF8": "0"}],
                         ids=["cp1252", "C-locale"])
def test_report_and_json_on_an_output_that_is_not_utf8(project, env):
    encoding = "cp1252" if "PYTHONIOENCODING" in env else "ascii"
    report = _grader(project, env=env)
    assert report.returncode == 0, report.stderr.decode(encoding, "replace")
    out = report.stdout.decode(encoding)
    assert "Overall: 0 of" in out and "Traceback" not in report.stderr.decode(encoding, "replace")
    # What the encoding lacks (Korean; ✔ and · in ASCII) shows as '?'.
    assert FIRST.display_name.encode(encoding, "replace").decode(encoding) in out, out
    result = _grader(project, "--json", env=env)
    assert result.returncode == 0
    data = json.loads(result.stdout.decode("ascii"))  # ASCII with \uXXXX escapes: valid whatever the encoding
    assert {t["title_ko"] for t in data["topics"]} == {t.title_ko for t in ROADMAP.built}


# ------------------------------------------------------------------ 4. files that are not files
def _damage(learner, kind: str, topic=FIRST):
    path = learner.path(topic)
    path.unlink()
    if kind == "fifo":
        os.mkfifo(path)
        return "is a FIFO (named pipe), not a regular file"
    if kind == "dev_zero":
        path.symlink_to("/dev/zero")
        return "is a link to /dev/zero, which is a character device, not a regular file"
    with open(path, "wb") as f:  # a sparse file: no disk space, and more than the grader reads
        f.truncate(files.MAX_BYTES + 1)
    return "more than the 4 MB the grader reads from a file"


needs_fifo = pytest.mark.skipif(not hasattr(os, "mkfifo") or not os.path.exists("/dev/zero"), reason="POSIX only")


@needs_fifo
@pytest.mark.timeout(120)  # the defect was a hang: the FIFO's open() waited for a writer forever
@pytest.mark.parametrize("kind", ["fifo", "dev_zero", "huge"])
def test_a_file_that_is_not_a_regular_file_is_one_sentence_and_the_other_topics_go_on(learner, fake_runner,
                                                                                     capsys, kind):
    said = _damage(learner, kind)
    learner.write(SECOND, stubs.stub_for(SECOND) + "\n# started\n")
    assert cli.main([]) == 0
    out = capsys.readouterr().out
    grades = {g.topic.slug: g for g in grading.grade(ROADMAP.topics)}
    assert grades[FIRST.slug].status == "error" and said in grades[FIRST.slug].reason, grades[FIRST.slug].reason
    assert f"python grader reset {FIRST.number:02d}" in grades[FIRST.slug].reason
    assert grades[SECOND.slug].status == "in progress", "the other topics are graded"
    assert said in out
    for argv in (["--json"], ["hint", FIRST.slug], ["compare", FIRST.slug, "--no-run"], ["notebook", FIRST.slug]):
        code = cli.main(argv)
        captured = capsys.readouterr()
        _no_traceback(captured)
        assert code in (0, 1), (argv, code)
    assert fake_runner.calls and all(FIRST.slug not in call for call in fake_runner.calls), "never run"


@needs_fifo
@pytest.mark.timeout(120)  # the defect was a hang: reset read the FIFO to back it up
@pytest.mark.parametrize("kind", ["fifo", "dev_zero", "huge"])
def test_reset_moves_a_file_it_does_not_read_to_the_backup_and_restores_the_stub(learner, capsys, kind):
    _damage(learner, kind)
    assert cli.main(["reset", FIRST.slug]) == 0
    out = capsys.readouterr().out
    (backup,) = (learner.root / ".grader" / "backups" / FIRST.slug).iterdir()
    assert backup.name in out, out
    if kind != "huge":
        assert "mv " in out, out  # moved as it is, not copied (which reads it)
    assert learner.path(FIRST).read_text(encoding="utf-8") == stubs.stub_for(FIRST)
    if kind == "dev_zero":
        assert backup.is_symlink() and os.readlink(backup) == "/dev/zero"


# ------------------------------------------------------------------ 5. the project folder
def test_a_scratch_random_py_in_the_project_folder_does_not_break_the_grader(project):
    (project / "random.py").write_text("raise ImportError('my scratch file, not the random module')\n",
                                       encoding="utf-8")
    result = _grader(project)
    assert result.returncode == 0, result.stderr.decode()
    assert "Overall: 0 of" in result.stdout.decode()
    err = result.stderr.decode()
    assert "random.py in the project folder has the name of Python's standard module random" in err, err
    assert "rename it" in err


@pytest.mark.timeout(600)
def test_a_real_run_with_a_root_torch_py_pytest_ini_and_a_surrogate_on_a_cp1252_output(project):
    # Two defects, one `python grader` run (each starts a zygote, which imports torch):
    # - a root torch.py and pytest.ini made the child pytest fail before any test ran ("did
    #   your code call sys.exit()?"): FIRST, solved, must pass;
    # - the learner's code raising ValueError("\udcff") in a child pytest: the report, hint
    #   and --json must print it on a cp1252 output (SECOND).
    (project / "torch.py").write_text("raise ImportError('my scratch file, not torch')\n", encoding="utf-8")
    (project / "pytest.ini").write_text("[pytest]\n", encoding="utf-8")
    _solve(project, FIRST)
    source = SECOND.solution().read_text(encoding="utf-8")
    raising = source.replace('    """\n', '    """\n    raise ValueError("\\udcff")\n', 1)
    SECOND.file_in(project / "exercises").write_text(raising, encoding="utf-8")
    env = {"PYTHONIOENCODING": "cp1252"}
    result = _grader(project, "--json", env=env)
    data = json.loads(result.stdout.decode("ascii"))
    topics = {t["slug"]: t for t in data["topics"]}
    assert len(topics) == len(ROADMAP.built)
    assert topics[FIRST.slug]["status"] == "passed", topics[FIRST.slug]["message"]
    assert topics[SECOND.slug]["status"] == "in progress" and "\\udcff" in topics[SECOND.slug]["message"], (
        topics[SECOND.slug])
    err = result.stderr.decode("cp1252", "replace")
    assert "torch.py in the project folder has the name of the installed module torch" in err, err
    assert "pytest.ini in the project folder replaces the project's pytest settings" in err, err
    for args in ([], ["hint", SECOND.slug]):  # from the results kept by the first run
        shown = _grader(project, *args, env=env)
        assert shown.returncode == 0 and b"Traceback" not in shown.stderr, shown.stderr.decode("cp1252", "replace")


def test_the_project_folder_check_names_shadowing_modules_and_foreign_settings(tmp_path):
    (tmp_path / "json.py").write_text("", encoding="utf-8")
    (tmp_path / "torch").mkdir()
    (tmp_path / "torch" / "__init__.py").write_text("", encoding="utf-8")
    (tmp_path / "my_notes.py").write_text("", encoding="utf-8")
    (tmp_path / "grader").mkdir()  # the project's own
    shadows = files.shadowing(tmp_path)
    assert len(shadows) == 2 and "json.py" in shadows[0] and "torch in the project folder" in shadows[1], shadows
    assert files.foreign_configs(tmp_path) == []
    (tmp_path / "pyproject.toml").write_text("[tool.pytest.ini_options]\n", encoding="utf-8")
    (tmp_path / "tox.ini").write_text("[pytest]\n", encoding="utf-8")  # after pyproject.toml: never read
    assert files.foreign_configs(tmp_path) == []
    (tmp_path / "exercises" / "01_x").mkdir(parents=True)
    (tmp_path / "exercises" / "01_x" / "setup.cfg").write_text("[tool:pytest]\n", encoding="utf-8")
    (tmp_path / ".pytest.ini").write_text("", encoding="utf-8")
    found = files.foreign_configs(tmp_path)
    assert len(found) == 2 and "01_x/setup.cfg" in found[0] and ".pytest.ini in the project folder" in found[1]


def test_the_bytecode_tip_only_where_a_module_would_be_compiled_at_every_start(monkeypatch, tmp_path):
    import importlib.util

    package = tmp_path / "fake_torch_kata"
    package.mkdir()
    (package / "__init__.py").write_text("", encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("PYTHONDONTWRITEBYTECODE", "1")
    assert files.compiles_torch_at_every_start("fake_torch_kata"), "no bytecode and none may be written: the tip"
    cached = Path(importlib.util.cache_from_source(str(package / "__init__.py")))
    cached.parent.mkdir()
    cached.write_bytes(b"")
    assert not files.compiles_torch_at_every_start("fake_torch_kata"), "compiled at install: no tip"
    cached.unlink()
    monkeypatch.delenv("PYTHONDONTWRITEBYTECODE")
    assert not files.compiles_torch_at_every_start("fake_torch_kata"), "Python saves bytecode itself: no tip"
    monkeypatch.setenv("PYTHONDONTWRITEBYTECODE", "1")
    assert not files.compiles_torch_at_every_start("no_such_module_kata"), "a missing module: no tip, no error"
    assert "uv sync --compile-bytecode" in files.BYTECODE_TIP


def test_the_child_pytest_uses_the_projects_settings_and_keeps_the_project_folder_last(monkeypatch, tmp_path):
    # The fresh process's command line (the zygote is started the same way, and its children
    # get the same pytest arguments: test_zygote checks that).
    monkeypatch.setenv("KATA_ZYGOTE", "0")
    seen = {}

    class Stop(Exception):
        pass

    def popen(cmd, **kwargs):
        seen["cmd"] = cmd
        raise Stop

    monkeypatch.setattr(subprocess, "Popen", popen)
    with pytest.raises(Stop):
        runner.run([FIRST.slug], tmp_path)
    cmd = seen["cmd"]
    assert cmd[1] == "-P", "the working folder is not put first on sys.path"
    assert "-c" in cmd[3:] and cmd[cmd.index("-c", 3) + 1] == str(roadmap.ROOT / "pyproject.toml")
    assert f"--rootdir={roadmap.ROOT}" in cmd and "pythonpath=" in cmd


# ------------------------------------------------------------------ 6. a folder that became a file
def test_reset_saves_a_file_that_took_the_topics_folders_place_and_restores_the_folder(learner, capsys):
    folder = learner.path(FIRST).parent
    shutil.rmtree(folder)
    folder.write_text("notes I saved over the folder\n", encoding="utf-8")
    grades = {g.topic.slug: g for g in grading.grade(ROADMAP.topics)}
    assert grades[FIRST.slug].status == "error", grades[FIRST.slug].reason
    assert "is a file, not a folder" in grades[FIRST.slug].reason
    assert f"python grader reset {FIRST.number:02d}" in grades[FIRST.slug].reason
    assert cli.main(["compare", FIRST.slug, "--no-run"]) == 1
    assert "reset" in capsys.readouterr().err
    assert cli.main(["reset", FIRST.slug]) == 0
    out = capsys.readouterr().out
    (backup,) = (learner.root / ".grader" / "backups" / FIRST.slug).iterdir()
    assert backup.read_text(encoding="utf-8") == "notes I saved over the folder\n"
    assert backup.name in out and "which stood where a folder belongs" in out, out
    assert learner.path(FIRST).read_text(encoding="utf-8") == stubs.stub_for(FIRST)
    assert FIRST.lesson(learner.root).read_bytes() == FIRST.lesson().read_bytes()


# ------------------------------------------------------------------ 7. SIGTERM and SIGHUP
@pytest.mark.skipif(os.name != "posix", reason="POSIX signals")
@pytest.mark.timeout(600)
def test_a_signal_ends_the_grader_with_its_test_process_and_temporary_folder(project, tmp_path):
    # SIGTERM the whole way (a real grader and its test process); SIGHUP takes the same handler,
    # as the in-process test below proves for both.
    signum = signal.SIGTERM
    pid_file = tmp_path / "pid"
    temp = tmp_path / "temp"
    temp.mkdir()
    # The learner's file, imported by the child pytest, says it is there and waits.
    _solve(project, FIRST, f"\nimport os, time\nopen({str(pid_file)!r}, 'w').write(str(os.getpid()))\n"
                           "time.sleep(3600)\n")
    grader = subprocess.Popen([sys.executable, str(project / "grader")], cwd=project, env={**os.environ,
                              "TMPDIR": str(temp)}, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 500
        while not (pid_file.exists() and pid_file.read_text()) and grader.poll() is None:
            assert time.monotonic() < deadline, "the child pytest never imported the learner's file"
            time.sleep(0.1)
        assert grader.poll() is None, grader.communicate()[1].decode()
        child = int(pid_file.read_text())
        assert _alive(child)
        grader.send_signal(signum)
        _, err = grader.communicate(timeout=60)
        assert grader.returncode == 128 + signum, err.decode()
        assert b"Traceback" not in err, err.decode()
        assert not _alive(child), "the child pytest outlived the grader"
        assert [p.name for p in temp.iterdir() if p.name.startswith("kata-")] == [], "its temporary folder is left"
    finally:
        if grader.poll() is None:
            grader.kill()
            grader.wait()
        if pid_file.exists() and pid_file.read_text() and _alive(int(pid_file.read_text())):
            os.killpg(int(pid_file.read_text()), signal.SIGKILL)  # its own group: what the grader should have ended


class NotHandled(Exception):
    pass


def _not_handled(signum, frame):
    raise NotHandled(signum)  # instead of ending the test run, when the grader does not handle the signal


@pytest.mark.skipif(os.name != "posix", reason="POSIX signals")
@pytest.mark.parametrize("signum", [signal.SIGTERM, getattr(signal, "SIGHUP", None)], ids=["SIGTERM", "SIGHUP"])
def test_terminated_unwinds_like_ctrl_c_and_exits_with_128_plus_the_signal(monkeypatch, capsys, signum):
    cleaned = []

    def grading_interrupted(args):
        try:
            os.kill(os.getpid(), signum)
            time.sleep(60)  # the handler raises here
        finally:
            cleaned.append(True)  # the finally blocks that kill the child and remove temp folders
        return 0

    monkeypatch.setattr(cli, "report", grading_interrupted)
    before = signal.signal(signum, _not_handled)
    try:
        assert cli.main([]) == 128 + signum
        assert signal.getsignal(signum) is _not_handled, "the handler is the grader's only while it runs"
    finally:
        signal.signal(signum, before)
    assert cleaned == [True]


# ------------------------------------------------------------------ 8. a daemonised child
DAEMON = """
import os as _os, posix as _posix, time as _time


def _daemonise(pid_file):
    read, write = _os.pipe()
    first = _os.fork()
    if first == 0:
        _os.setsid()  # a session and group of its own: out of the test process's group
        if _os.fork() == 0:
            with open(pid_file, "w") as f:
                f.write(str(_os.getpid()))
            _os.write(write, b"x")
            _time.sleep(600)
        _posix._exit(0)
    _os.read(read, 1)  # the daemon has written its pid
    _os.waitpid(first, 0)


_daemonise({pid_file!r})
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="contained on Linux only (README)")
@pytest.mark.timeout(300)
def test_a_daemonised_process_of_the_learners_code_does_not_outlive_grading(tmp_path):
    pid_file = tmp_path / "daemon.pid"
    exercises = tmp_path / "exercises"
    path = FIRST.file_in(exercises)
    path.parent.mkdir(parents=True)
    path.write_text(FIRST.solution().read_text(encoding="utf-8") + DAEMON.format(pid_file=str(pid_file)),
                    encoding="utf-8")
    (grade,) = grading.grade([FIRST], exercises=exercises)
    assert grade.status == "passed", grade.reason
    daemon = int(pid_file.read_text())
    try:
        deadline = time.monotonic() + 10
        while _alive(daemon) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not _alive(daemon), "the daemonised process outlived the grading run"
    finally:
        if _alive(daemon):
            os.kill(daemon, signal.SIGKILL)


def test_only_processes_that_appeared_during_the_run_are_ended(tmp_path):
    if not os.path.isdir("/proc"):
        pytest.skip("needs /proc")
    processes.contain()
    older = subprocess.Popen(["sleep", "60"])
    try:
        before = processes.descendants()
        assert older.pid in before
        newer = subprocess.Popen(["sleep", "60"])
        processes.end_new_descendants(before)  # killed and reaped (so Popen.wait sees no status)
        newer.wait(timeout=10)
        assert not _alive(newer.pid)
        assert older.poll() is None, "a process from before the run is not touched"
    finally:
        older.kill()
        older.wait()


# ------------------------------------------------------------------ 9. minor cases
def test_bench_names_an_unknown_topic_before_timing_anything(monkeypatch, capsys):
    def timed(*args, **kwargs):
        raise AssertionError("bench timed something before it checked its topics")

    monkeypatch.setattr(commands.subprocess, "run", timed)
    assert cli.main(["bench", "99"]) == 1
    assert capsys.readouterr().err.startswith("python grader: no topic '99'")


@pytest.mark.parametrize(("option", "said"), [
    (["--memory-limit", "lots"], "memory limit 'lots': write a size such as 4G"),
    (["--seed", str(2**64)], "out of range"),
    (["--device", "gpu0"], "not a device PyTorch knows"),
], ids=["memory", "huge-seed", "device"])
def test_an_option_the_grader_cannot_use_is_one_sentence_before_anything_runs(learner, fake_runner, capsys,
                                                                            option, said):
    learner.write(FIRST, stubs.stub_for(FIRST) + "\n# started\n")
    with pytest.raises(SystemExit) as stopped:
        cli.main(option)
    assert stopped.value.code == 2
    err = capsys.readouterr().err
    assert said in err and "Traceback" not in err and "sys.exit" not in err, err
    assert len(err.strip().splitlines()[-1]) < 300
    assert fake_runner.calls == [], "nothing ran"


@pytest.mark.skipif(os.name != "posix", reason="POSIX permissions")
def test_reset_restores_with_normal_permissions_and_backs_up_with_the_files_own(learner, capsys):
    mask = os.umask(0o022)
    try:
        learner.write(FIRST, "# my work\n")
        learner.path(FIRST).chmod(0o640)
        assert cli.main(["reset", FIRST.slug]) == 0
    finally:
        os.umask(mask)
    (backup,) = (learner.root / ".grader" / "backups" / FIRST.slug).iterdir()
    assert stat.S_IMODE(learner.path(FIRST).stat().st_mode) == 0o644
    assert stat.S_IMODE(backup.stat().st_mode) == 0o640


def _line(out: str, start: str) -> str:
    return next(line for line in out.splitlines() if line.strip().startswith(start)).strip()


def test_the_commands_in_the_report_work_from_a_subfolder(learner, fake_runner, capsys, monkeypatch):
    where = roadmap.ROOT / "exercises" / FIRST.slug
    monkeypatch.chdir(where)
    assert cli.main([]) == 0
    out = capsys.readouterr().out
    run = _line(out, "Run:").split("uv run pytest ", 1)[1]
    assert (where / run).resolve() == roadmap.ROOT / "exercises" / FIRST.slug, out
    stuck = _line(out, "Stuck?").split("uv run python ", 1)[1]
    grader, rest = stuck.split(" ", 1)
    assert (where / grader).resolve() == roadmap.ROOT / "grader" and rest == f"hint {FIRST.number:02d}", stuck


def test_the_commands_in_the_report_say_cd_from_outside_the_project(learner, fake_runner, capsys, monkeypatch,
                                                                    tmp_path):
    monkeypatch.chdir(tmp_path)
    assert cli.main([]) == 0
    out = capsys.readouterr().out
    assert _line(out, "Run:") == f"Run: cd {roadmap.ROOT} && uv run pytest exercises/{FIRST.slug}"
    assert render.here(roadmap.ROOT / "README.md") == str(roadmap.ROOT / "README.md")
