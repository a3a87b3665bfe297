"""`grader watch`: every save runs in a fresh child of a warm watcher, so whatever the
learner's code does (crash, hang, change torch's global state) ends with that run.

Speed is measured by `python grader bench`, not here: no test may depend on how fast
the machine is.
"""

from __future__ import annotations

import os
import sys

import pytest
import torch

from grader import mutants, roadmap, watch

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="the warm watcher forks (Linux, macOS)")

FIRST = roadmap.load().built[0]


@pytest.fixture(scope="module", autouse=True)
def warm():
    watch.warm_up(FIRST, freeze=False)  # as the watcher does once: the runs below are its children


def _target(tmp_path, edit=lambda src: src):
    return mutants.write_target(FIRST, edit(FIRST.solution().read_text(encoding="utf-8")), tmp_path)


def _args(target):
    return watch.pytest_args(FIRST, target, seed=0, device="cpu")


@pytest.mark.timeout(120)
def test_a_crash_or_a_hang_ends_the_run_not_the_watcher(tmp_path):
    crash = _target(tmp_path / "crash", lambda src: src + "\nimport os, signal\nos.kill(os.getpid(), signal.SIGSEGV)\n")
    assert watch.run_once(_args(crash), quiet=True) == -11
    hang = _target(tmp_path / "hang", lambda src: src + (
        "\nimport signal\nsignal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGALRM})\nwhile True:\n    pass\n"))
    assert watch.run_once(_args(hang), time_limit=5, quiet=True) is None, "a hang is stopped at the time limit"
    assert watch.run_once(_args(_target(tmp_path / "fine")), quiet=True) == 0, "the watcher runs on"


@pytest.mark.timeout(120)
def test_no_global_state_leaks_from_one_run_into_the_next(tmp_path):
    leaky = _target(tmp_path / "leaky", lambda src: src + (
        "\nimport random\ntorch.set_default_dtype(torch.float64)\ntorch.manual_seed(1234)\n"
        "random.seed(99)\ntorch.exp = lambda x: x\n"))
    exp, before, modules = torch.exp, torch.random.get_rng_state(), set(sys.modules)
    watch.run_once(_args(leaky), quiet=True)
    assert torch.get_default_dtype() == torch.float32 and torch.exp is exp
    assert torch.equal(torch.random.get_rng_state(), before)
    assert not {name for name in set(sys.modules) - modules if name.startswith("kata_")}, (
        "the learner's module stays in the child")


@pytest.mark.timeout(120)
def test_watch_gives_a_verdict_per_save(tmp_path, capfd):
    assert watch.watch(FIRST, _target(tmp_path / "ok"), once=True) == 0
    stub = mutants.write_target(FIRST, FIRST.exercise().read_text(encoding="utf-8"), tmp_path / "stub")
    assert watch.watch(FIRST, stub, once=True) == 1
    out = capfd.readouterr().out
    assert "--- every test passed" in out and "--- some tests failed" in out
