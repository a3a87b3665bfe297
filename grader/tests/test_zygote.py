"""The zygote (grader/zygote.py): test processes forked from one warm process grade exactly
as fresh ones do, nothing a learner's run does reaches the next, and the zygote ends with
the grader."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time

import pytest

from grader import grading, roadmap, zygote
from grader.tests.test_isolation import _alive, _break, _exercises_with_solutions, _in_first_function
from grader.tests.test_truth import WORKERS, _append

ROADMAP = roadmap.load()
FIRST = ROADMAP.built[0]


def _outcomes(grade: grading.Grade) -> dict[str, tuple[str, str]]:
    return {t.name: (t.status, t.message) for t in grade.tests}


@pytest.mark.timeout(600)
def test_a_forked_test_process_grades_as_a_fresh_one(tmp_path, monkeypatch):
    # The file also starts DataLoader workers and a process of its own at import (everyday
    # PyTorch; test_truth.py grades it whole): in a fresh `python -m pytest` as in a forked
    # one, only the tests that reach the unfinished function fail.
    exercises = _exercises_with_solutions(tmp_path, [FIRST])
    _break(FIRST, exercises, _in_first_function("raise ValueError('not yet')"))  # some tests fail, some pass
    _break(FIRST, exercises, _append(WORKERS))
    (warm,) = grading.grade([FIRST], exercises=exercises)
    monkeypatch.setenv("KATA_ZYGOTE", "0")
    (fresh,) = grading.grade([FIRST], exercises=exercises)
    assert warm.status == fresh.status == "in progress"
    assert _outcomes(warm) == _outcomes(fresh)
    failing = [message for status, message in _outcomes(fresh).values() if status != "pass"]
    assert failing and len(failing) < len(fresh.tests)
    assert all("not yet" in message for message in failing), failing


LEAVES_A_MESS = """
    import torch
    torch.set_default_dtype(torch.float64)
    torch.sigmoid = lambda z: z * 0
    import sys
    sys.modules["grader"].__dict__["left_by_the_learner"] = True
"""


@pytest.mark.timeout(600)
def test_what_one_run_does_never_reaches_the_next_run_from_the_same_zygote(tmp_path):
    messy = _exercises_with_solutions(tmp_path / "messy", [FIRST])
    _break(FIRST, messy, lambda src: src + textwrap.dedent(LEAVES_A_MESS))
    grading.grade([FIRST], exercises=messy)
    clean = _exercises_with_solutions(tmp_path / "clean", [FIRST])
    (grade,) = grading.grade([FIRST], exercises=clean)
    assert grade.status == "passed", grade.reason


@pytest.mark.timeout(600)
def test_the_zygote_ends_with_the_grader(tmp_path):
    # The grader ends while its zygote still imports torch (a Ctrl-C as it starts): the zygote
    # ends at once, as it does when ready (one thread watches for the end of its stdin from
    # its first line on), and does not finish the import for nobody.
    script = ("import os; from grader import roadmap, zygote; "
              "z = zygote.Zygote(roadmap.ROOT, dict(os.environ)); print(z.proc.pid, flush=True)")
    proc = subprocess.run([sys.executable, "-c", script], cwd=roadmap.ROOT, capture_output=True, text=True,
                          timeout=500)
    pid = int(proc.stdout.split()[0])
    deadline = time.monotonic() + 30
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _alive(pid), "the zygote outlived the grader that started it"


def test_a_child_gets_the_fresh_process_arguments(monkeypatch, tmp_path):
    from grader import runner

    seen = {}

    class Warm:
        def spawn(self, args, **kwargs):
            seen["args"] = args
            raise OSError("stop here")

    def popen(cmd, **kwargs):
        seen["cmd"] = cmd
        raise KeyboardInterrupt  # the fallback to a fresh process was taken: stop the run there

    monkeypatch.setattr(zygote, "get", lambda root, env: Warm())
    monkeypatch.setattr(subprocess, "Popen", popen)
    with pytest.raises(KeyboardInterrupt):
        runner.run([FIRST.slug], tmp_path)
    assert seen["cmd"][5:] == seen["args"], "the zygote's child must run pytest with the fresh process's arguments"
    assert seen["cmd"][1] == "-P" and "from grader.zygote import serve" not in seen["cmd"][3]
