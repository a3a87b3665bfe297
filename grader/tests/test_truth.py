"""A grade is the truth about the code that was tested, whatever that code does: one topic's
code never reaches another's grade, the results cache never turns wrong code into a pass,
correct code that uses worker processes passes everywhere, and odd exceptions never break
the report.

Like test_isolation, these grade real topics in child processes, as `python grader` does,
and no test depends on how fast healthy code runs.
"""

from __future__ import annotations

import json
import subprocess
import textwrap

import pytest

from grader import grading, roadmap, state
from grader.records import Record
from grader.tests.conftest import run_pytest
from grader.tests.test_isolation import _break, _exercises_with_solutions, _in_first_function

ROADMAP = roadmap.load()
FIRST, SECOND = ROADMAP.built[0], ROADMAP.built[1]  # 01 logistic regression, 02 MLP
# 02 with a relu that lets negative values through: a few of its tests must fail.
BROKEN_RELU = ("    return torch.where(x > 0, x, torch.zeros_like(x))\n", "    return x\n")


def _append(code: str):
    return lambda src: src + "\n" + textwrap.dedent(code)


def _grades(exercises, topics=(FIRST, SECOND), **options) -> dict[str, grading.Grade]:
    return {g.topic.slug: g for g in grading.grade(list(topics), exercises=exercises, **options)}


# ------------------------------------------------------------------ one topic never reaches another
# What a learner's file may leave behind in the process, at import, each a thing PyTorch keeps
# for the whole process. Every one of them took a correct topic graded later down.
DAMAGE = """
    import os, random, warnings
    import torch
    from torch.overrides import TorchFunctionMode

    # A debug hook, left in: every module's output is multiplied by zero.
    torch.nn.modules.module.register_module_forward_hook(lambda module, args, output: output * 0)
    torch.nn.modules.module.register_module_forward_pre_hook(lambda module, args: None)
    # Every optimizer step is skipped (the gradients are thrown away first).
    torch.optim.optimizer.register_optimizer_step_pre_hook(
        lambda opt, args, kwargs: [p.grad.zero_() for g in opt.param_groups for p in g["params"] if p.grad is not None])


    class _Negate(TorchFunctionMode):  # a mode entered and never left: every result negated
        def __torch_function__(self, func, types, args=(), kwargs=None):
            out = func(*args, **(kwargs or {}))
            return -out if isinstance(out, torch.Tensor) and out.is_floating_point() else out


    _Negate().__enter__()
    torch.autograd.graph.saved_tensors_hooks(lambda t: t * 0, lambda t: t).__enter__()
    _lib = torch.library.Library("aten", "IMPL")
    _lib.impl("relu", lambda x: x * 0 + 7, "CPU")
    torch.manual_seed(12345)
    random.seed(12345)
    warnings.simplefilter("error")
    torch.set_printoptions(precision=1)
    os.chdir("/")
"""


@pytest.mark.timeout(600)
def test_what_one_topic_leaves_in_the_process_never_reaches_another(tmp_path):
    exercises = _exercises_with_solutions(tmp_path, [FIRST, SECOND])
    # At the end of 01's file: it is imported (and does its damage) before 02's tests run.
    _break(FIRST, exercises, _append(DAMAGE))
    grades = _grades(exercises)
    assert grades[SECOND.slug].status == "passed", grades[SECOND.slug].reason


FORGERY = """
    import sys
    import grader.checks as _checks
    import torch.nn.functional as _F

    def _fine(*args, **kwargs):
        return args[0] if args else None

    # Every name bound to the checks shares their code: the suites imported them long ago.
    for _name in ("assert_close", "check_tensor", "check_on_meta", "assert_at_least", "assert_at_most"):
        getattr(_checks, _name).__code__ = _fine.__code__
    # ... and the suites' own globals, and the reference a suite compares with.
    for _module in list(sys.modules.values()):
        if "/tests/" in (getattr(_module, "__file__", None) or ""):
            for _name in ("assert_close", "check_tensor", "check_on_meta"):
                if hasattr(_module, _name):
                    setattr(_module, _name, _fine)
    _F.relu = lambda x, inplace=False: x
"""


@pytest.mark.timeout(600)
def test_patching_the_checks_from_one_topic_never_forges_another_topics_result(tmp_path):
    exercises = _exercises_with_solutions(tmp_path, [FIRST, SECOND])
    _break(SECOND, exercises, lambda src: src.replace(*BROKEN_RELU, 1))
    alone = _grades(exercises, [SECOND])[SECOND.slug]
    failing = {t.name for t in alone.tests if not t.passed}
    assert alone.status == "in progress" and failing, "a relu that lets negatives through must fail some tests"
    _break(FIRST, exercises, _append(FORGERY))
    after = _grades(exercises)[SECOND.slug]
    assert {t.name for t in after.tests if not t.passed} == failing, (
        "01's patches changed 02's results: " + ", ".join(f"{t.name} {t.status}" for t in after.tests))


# ------------------------------------------------------------------ the cache never lies
@pytest.fixture
def state_dir(tmp_path, monkeypatch):
    folder = tmp_path / "state"
    monkeypatch.setattr(state, "STATE_DIR", folder)
    return folder


@pytest.mark.timeout(600)
def test_a_save_during_grading_never_turns_the_old_file_into_a_pass(tmp_path, state_dir):
    exercises = _exercises_with_solutions(tmp_path / "exercises", [FIRST, SECOND])
    second = SECOND.file_in(exercises)
    fixed = second.read_text(encoding="utf-8")
    wrong = fixed.replace(*BROKEN_RELU, 1)
    second.write_text(wrong, encoding="utf-8")
    # The learner saves the fixed file while the grader runs (01 is imported first: it does it).
    _break(FIRST, exercises, _append(f"open({str(second)!r}, 'w', encoding='utf-8').write({fixed!r})\n"))
    first_run = _grades(exercises, cache=True)
    assert first_run[SECOND.slug].status == "passed", "the fixed file was the one tested"
    second.write_text(wrong, encoding="utf-8")  # ... then goes back to the wrong one
    again = _grades(exercises, [SECOND], cache=True)
    assert again[SECOND.slug].status == "in progress", "the wrong file was reported with the fixed file's pass"


@pytest.mark.timeout(600)
def test_a_topic_that_imports_another_is_graded_again_when_that_one_changes(tmp_path, state_dir):
    exercises = _exercises_with_solutions(tmp_path / "exercises", [FIRST, SECOND])
    first = FIRST.file_in(exercises)
    # 02's relu reuses the learner's own 01, imported the usual way.
    _break(SECOND, exercises, lambda src: src.replace(*BROKEN_RELU[:1], textwrap.indent(textwrap.dedent(f"""\
        import importlib, sys
        if {str(first.parent)!r} not in sys.path:
            sys.path.insert(0, {str(first.parent)!r})
        mine = importlib.import_module({first.stem!r})
        return x * (mine.relu_mask(x) if hasattr(mine, "relu_mask") else 0)
        """), "    "), 1))
    # 01 without relu_mask: 02's relu gives zeros everywhere, its tests fail.
    assert _grades(exercises, [SECOND], cache=True)[SECOND.slug].status == "in progress"
    first.write_text(first.read_text(encoding="utf-8") + "\n\ndef relu_mask(x):\n    return (x > 0).to(x.dtype)\n",
                     encoding="utf-8")
    grade = _grades(exercises, [SECOND], cache=True)[SECOND.slug]
    assert grade.status == "passed", f"02's result stayed frozen after the file it imports changed: {grade.reason}"


@pytest.mark.timeout(600)
def test_a_result_the_machine_caused_is_never_kept(tmp_path, state_dir):
    exercises = _exercises_with_solutions(tmp_path / "exercises", [FIRST])
    runs = tmp_path / "runs.txt"
    # A full disk, as the learner's code would meet it, in one test; each import is counted.
    count = f"open({str(runs)!r}, 'a').write('x')\n"
    _break(FIRST, exercises, lambda src: _in_first_function('raise OSError(28, "No space left on device")')(src)
           .replace("import torch\n", "import torch\n" + count, 1))
    for _ in range(2):
        grade = _grades(exercises, [FIRST], cache=True)[FIRST.slug]
        assert grade.status == "in progress" and "No space left on device" in grade.reason, grade.reason
    assert runs.read_text() == "xx", "the second grading reused a result that a full disk caused"


@pytest.mark.parametrize("message", ["Failed: Timeout >60.0s", "MemoryError: ", "OSError: [Errno 28] No space left",
                                     "the test process was killed by the system (SIGKILL): most likely memory"])
def test_results_the_environment_may_have_caused_are_not_cacheable(message):
    records = [Record(FIRST.slug, "test_a", status="pass"),
               Record(FIRST.slug, "test_b", status="fail", message=message)]
    assert not grading._cacheable(records)
    assert grading._cacheable([Record(FIRST.slug, "test_a", status="fail", message="AssertionError: 2 != 3")])


# ------------------------------------------------------------------ worker processes
WORKERS = """
    import multiprocessing
    import torch
    from torch.utils.data import DataLoader, TensorDataset

    def _square(n):
        return n * n

    # Everyday PyTorch: a DataLoader with worker processes, and a process of one's own.
    _batches = list(DataLoader(TensorDataset(torch.arange(8.0)), batch_size=4, num_workers=2))
    assert len(_batches) == 2
    _process = multiprocessing.get_context("fork").Process(target=_square, args=(3,))
    _process.start()
    _process.join()
    assert _process.exitcode == 0
"""


def test_correct_code_with_worker_processes_passes_under_the_grader(tmp_path):
    # In a fresh `python -m pytest` too: test_zygote.py's forked-against-fresh test grades
    # this same code both ways.
    exercises = _exercises_with_solutions(tmp_path / "exercises", [FIRST])
    _break(FIRST, exercises, _append(WORKERS))
    grade = _grades(exercises, [FIRST])[FIRST.slug]
    assert grade.status == "passed", grade.reason


# ------------------------------------------------------------------ no false pass, no traceback
def _run_suite(tmp_path, learner: str, *args: str, timeout: float = 300,
               env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """The first topic's suite in a process of its own, against a learner file of `learner` code."""
    exercises = _exercises_with_solutions(tmp_path / "exercises", [FIRST])
    _break(FIRST, exercises, _in_first_function(textwrap.dedent(learner)))
    results = tmp_path / "results.jsonl"
    return run_pytest(str(FIRST.tests()), f"--kata-target={exercises}", f"--kata-results={results}",
                      "-p", "no:cacheprovider", "-q", *args, timeout=timeout, env=env)


def test_unittest_skiptest_from_the_learners_code_fails_the_test(tmp_path):
    result = _run_suite(tmp_path, "import unittest\nraise unittest.SkipTest('later')\n", "-k", "sigmoid")
    assert result.returncode == 1, result.stdout[-2000:]
    assert " skipped" not in result.stdout.splitlines()[-1], result.stdout[-2000:]
    assert "raise unittest.SkipTest at" in result.stdout, result.stdout[-3000:]


def test_an_exception_whose_str_fails_is_reported_not_an_internal_error(tmp_path):
    learner = """
        class Weird(Exception):
            def __str__(self):
                raise RuntimeError("no words")
        raise Weird()
    """
    result = _run_suite(tmp_path, learner, "-k", "sigmoid")
    assert "INTERNALERROR" not in result.stdout + result.stderr, (result.stdout + result.stderr)[-3000:]
    assert result.returncode == 1 and " failed" in result.stdout.splitlines()[-1], result.stdout[-2000:]
    assert "Weird: <exception str() failed>" in result.stdout, result.stdout[-3000:]


def test_reasons_are_the_message_without_the_plugins_class_names(tmp_path):
    from grader.plugin import read_results

    exercises = _exercises_with_solutions(tmp_path / "exercises", [FIRST])
    _break(FIRST, exercises, lambda src: src.replace("def ", "def def ", 1))
    results = tmp_path / "results.jsonl"
    run_pytest(str(FIRST.tests()), f"--kata-target={exercises}", f"--kata-results={results}",
               "-p", "no:cacheprovider", "-q", timeout=300)
    records, _ = read_results(results)
    messages = {r.message for r in records.values()}
    assert all("grader.plugin" not in m and "ImportFailed" not in m for m in messages), messages
    assert any("SyntaxError" in m for m in messages), messages


def test_a_skip_reason_reads_as_words(tmp_path):
    from grader.plugin import short_message

    class Report:
        longrepr = ("tests/x.py", 3, "Skipped: needs a GPU")

    assert short_message(Report()) == "needs a GPU"


@pytest.mark.timeout(120)
def test_a_test_that_ignores_its_time_limit_ends_the_run_with_a_message(tmp_path):
    learner = """
        import signal
        signal.signal(signal.SIGALRM, signal.SIG_IGN)
        while True:
            pass
    """
    # The watchdog waits 2 s past the limit here (15 s by default): the message is the same.
    result = _run_suite(tmp_path, learner, "-k", "sigmoid", "--timeout=1", timeout=100,
                        env={"KATA_WATCHDOG_GRACE": "2"})
    assert result.returncode == 1, (result.stdout + result.stderr)[-2000:]
    assert "did not stop at its 1 s time limit" in result.stderr, result.stderr[-2000:]
    events = [json.loads(line) for line in (tmp_path / "results.jsonl").read_text().splitlines()]
    assert events[-1]["event"] == "finished" and "did not stop" in events[-1]["stopped"]


def test_a_lone_surrogate_in_a_message_comes_back_printable():
    record = Record.from_json({"topic": FIRST.slug, "name": "test_a", "status": "fail", "message": "bad \udcff"})
    assert record.message == "bad \\udcff"
    record.message.encode("utf-8")  # no UnicodeEncodeError anywhere it is printed or saved
