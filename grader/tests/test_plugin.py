"""The pytest plugin, as a learner meets it: which files a command tests, and what a failure says.

Each test builds a small project with pytester (a hidden suite in tests/, a learner's
file in exercises/, a reference in solutions/, laid out as the real one) and runs
pytest on it the way the README tells a learner to.
"""

from __future__ import annotations

import textwrap
import tomllib

import pytest
import torch  # noqa: F401  (imported once here: pytester's in-process runs would import it again)

from grader import checks, roadmap, text  # noqa: F401

pytest_plugins = ["pytester"]

TOPIC = roadmap.load().built[0]  # the fake project reuses a real topic's folder and file names
SECOND = roadmap.load().built[1]
TESTPATHS = tomllib.loads((roadmap.ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["pytest"][
    "ini_options"]["testpaths"]

SUITE = """
    import pytest

    @pytest.mark.shapes
    def test_one(topic):
        assert topic.double(1) == 2, "double(1) should be 2"

    @pytest.mark.gradients
    def test_two(topic):
        assert topic.double(3) == 6, "double(3) should be 6"
"""
RIGHT = "def double(x):\n    return 2 * x\n"
WRONG = "def double(x):\n    return 3 * x\n"


class Project:
    """A throwaway project laid out like the real one, for pytester."""

    def __init__(self, pytester: pytest.Pytester) -> None:
        self.pytester = pytester
        paths = " ".join(TESTPATHS)
        # No memory limit by default here: the in-process runs would set it on this process.
        pytester.makeini(f"[pytest]\naddopts = -p grader.plugin -p no:cacheprovider\ntestpaths = {paths}\n"
                         "kata_memory_limit = 0\n")

    def suite(self, text: str = SUITE, topic: roadmap.Topic = TOPIC, name: str = "test_fake.py") -> None:
        path = topic.tests(self.pytester.path) / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text), encoding="utf-8")

    def exercise(self, text: str, topic: roadmap.Topic = TOPIC) -> None:
        self._write(topic.exercise(self.pytester.path), text)

    def solution(self, text: str, topic: roadmap.Topic = TOPIC) -> None:
        self._write(topic.solution(self.pytester.path), text)

    @staticmethod
    def _write(path, text: str) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text), encoding="utf-8")

    def run(self, *args: str) -> pytest.RunResult:
        return self.pytester.runpytest(*args)

    def run_apart(self, *args: str, timeout: float = 120) -> pytest.RunResult:
        """In a process of its own: for exits, threads and limits that would touch this one."""
        return self.pytester.runpytest_subprocess(*args, timeout=timeout)


@pytest.fixture
def project(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> Project:
    monkeypatch.setenv("PYTHONPATH", str(roadmap.ROOT))  # `-p grader.plugin` in a subprocess
    p = Project(pytester)
    p.suite()
    p.exercise(WRONG)
    p.solution(RIGHT)
    return p


# ------------------------------------------------------------------ which files are under test
def test_a_pasted_failed_line_tests_the_learners_file(project):
    # What a FAILED line says: tests/NN_x/test_file.py::test_name
    result = project.run(f"tests/{TOPIC.slug}/test_fake.py::test_one")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["E   *AssertionError: double(1) should be 2"])  # the learner's 3 * x


def test_pytest_with_no_path_tests_the_learners_files(project):
    result = project.run()
    result.assert_outcomes(failed=2)
    result.stdout.fnmatch_lines(["E   *AssertionError: double(1) should be 2"])
    result = project.run("-m", "shapes")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["E   *AssertionError: double(1) should be 2"])


def test_a_selection_in_exercises_keeps_its_test_name(project):
    result = project.run(f"exercises/{TOPIC.slug}/{TOPIC.file}::test_two")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["E   *AssertionError: double(3) should be 6"])
    project.run(f"exercises/{TOPIC.slug}::test_one").assert_outcomes(failed=1)


def test_an_unknown_test_name_is_a_one_sentence_usage_error(project):
    result = project.run(f"exercises/{TOPIC.slug}/{TOPIC.file}::test_nothing")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["ERROR: *no test named 'test_nothing' in tests/*"])


def test_solutions_are_tested_by_their_path_or_the_switch_only(project):
    project.run("solutions").assert_outcomes(passed=2)
    project.run(f"solutions/{TOPIC.slug}/{TOPIC.file}::test_one").assert_outcomes(passed=1)
    project.run("--kata-target=solutions", f"tests/{TOPIC.slug}").assert_outcomes(passed=2)
    project.run(f"tests/{TOPIC.slug}").assert_outcomes(failed=2)


def test_mixing_exercises_and_solutions_is_an_error(project):
    result = project.run("exercises", "solutions")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["ERROR: run exercises/ and solutions/ separately*"])
    assert project.run("--kata-target=exercises", "solutions").ret == pytest.ExitCode.USAGE_ERROR


def test_the_header_says_whose_files_are_tested(project):
    project.run().stdout.fnmatch_lines(["kata: testing YOUR files in exercises/ (seed 0, device cpu)*"])
    project.run("solutions").stdout.fnmatch_lines(["kata: testing the REFERENCE solutions in solutions/*"])


# ------------------------------------------------------------------ what a failure says
def _errors_section(out: str) -> str:
    """The report's body, without pytest's one-line summary (which repeats each message when the terminal is wide)."""
    return out.split("short test summary info")[0]


def test_a_syntax_error_is_shown_once_with_its_line_and_a_caret(project):
    project.exercise("def double(x):\n    return 2 * * x\n")
    result = project.run()
    result.assert_outcomes(errors=2)
    out = result.stdout.str()
    where = f"exercises/{TOPIC.slug}/{TOPIC.file}, line 2: SyntaxError"
    assert _errors_section(out).count(where) == 1, out
    result.stdout.fnmatch_lines([f"{where}*", "    return 2 * * x", "               ^*"])
    result.stdout.fnmatch_lines(["not run: *could not be imported (the reason is shown once, under test_one)"])


def test_an_exception_at_import_is_shown_once_with_its_line(project):
    project.exercise("import math\n\nvalue = math.sqrt(-1)\n\ndef double(x):\n    return 2 * x\n")
    result = project.run()
    out = result.stdout.str()
    assert _errors_section(out).count("line 3, while importing: ValueError: math domain error") == 1, out
    result.stdout.fnmatch_lines(["    value = math.sqrt(-1)"])


def test_a_failed_comparison_of_big_lists_is_explained_in_a_few_lines(project, monkeypatch):
    # With CI set, pytest does not cut its explanation short, and its diff of two long
    # lists is quadratic: a test of topic 08 ran past its time limit explaining one.
    monkeypatch.setenv("CI", "true")
    project.suite("""
        import pytest

        @pytest.mark.shapes
        def test_one(topic):
            sentences = [[w % 7 for w in range(60)] for _ in range(300)]
            other = [s[:] for s in sentences]
            other[123][4] = topic.double(50)
            assert sentences == other, "the same sentences twice"
    """)
    result = project.run()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*the same sentences twice*", "*first difference at index 123: *"])
    assert len(result.stdout.lines) < 60, result.stdout.str()


def test_an_exception_in_the_learners_code_keeps_its_likely_cause(project):
    project.suite("""
        import torch
        from grader.checks import calling

        def test_matmul(topic):
            x = torch.randn(4, 3)
            with calling("the weight is (out_features, in_features): multiply by its transpose"):
                topic.linear(x, torch.randn(2, 3))
    """)
    project.exercise("""
        def linear(x, weight):
            return x @ weight  # (4, 3) @ (2, 3): a shape error
    """)
    result = project.run()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([
        "RuntimeError: *mat1 and mat2 shapes cannot be multiplied (4x3 and 2x3)",
        f"  raised at exercises/{TOPIC.slug}/{TOPIC.file}:3, in linear(): return x @ weight*",
        f"  called by the test at tests/{TOPIC.slug}/test_fake.py:*, in test_matmul(): topic.linear(*",
        "Likely cause: the weight is (out_features, in_features): multiply by its transpose",
    ])
    assert "torch.randn(4, 3)" not in result.stdout.str(), "no pages of the test's source"


def test_a_renamed_function_is_named_in_the_learners_words(project):
    project.exercise("def doubled(x):\n    return 2 * x\n")
    result = project.run()
    result.stdout.fnmatch_lines([f"*your file exercises/{TOPIC.slug}/{TOPIC.file} has no function or class "
                                 "`double` (did you rename it to `doubled`?)*"])
    assert "kata_" not in result.stdout.str(), "no hashed module name"


def test_a_missing_return_or_a_list_names_what_came(project):
    project.suite("""
        import torch

        def test_scores(topic):
            topic.scores(torch.ones(3)).sum()

        def test_probabilities(topic):
            topic.probabilities(torch.ones(3)).sum()
    """)
    project.exercise("""
        from torch import Tensor

        def scores(x: Tensor) -> Tensor:
            y = 2 * x

        def probabilities(x: Tensor) -> Tensor:
            return [0.5, 0.5, 0.5]
    """)
    result = project.run()
    result.stdout.fnmatch_lines(["ReturnError: scores() returned None (a missing return?): expected a torch.Tensor"])
    result.stdout.fnmatch_lines(["ReturnError: probabilities() returned list: expected a torch.Tensor"])


def test_a_result_of_another_dtype_or_device_names_it(project):
    project.suite("""
        import torch

        def test_dtype(topic):
            topic.halve(torch.ones(3))

        def test_device(topic):
            topic.moved(torch.ones(3))
    """)
    project.exercise("""
        import torch
        from torch import Tensor

        def halve(x: Tensor) -> Tensor:
            return x.double() / 2

        def moved(x: Tensor) -> Tensor:
            return torch.empty(3, device="meta")
    """)
    result = project.run()
    result.stdout.fnmatch_lines(["ReturnError: halve() returned dtype torch.float64 for torch.float32 inputs*"])
    result.stdout.fnmatch_lines(["ReturnError: moved() returned a tensor on meta for inputs on cpu*"])


def test_a_not_implemented_error_from_torch_is_not_a_todo(project):
    project.suite("""
        def test_values(topic):
            topic.values().tolist()
    """)
    project.exercise("""
        import torch

        def values():
            return torch.empty(3, device="meta")  # torch raises NotImplementedError on copying it out
    """)
    result = project.run()
    result.assert_outcomes(failed=1)
    assert "not implemented yet" not in result.stdout.str()
    result.stdout.fnmatch_lines(["*NotImplementedError: Cannot copy out of meta tensor*"])


def test_a_cpu_tensor_on_the_meta_device_is_a_device_failure_not_a_todo(project):
    project.suite("""
        import torch
        from grader.checks import check_on_meta

        def test_pad(topic):
            check_on_meta("pad(x)", topic.pad, torch.empty(3, device="meta"), shape=(5,))
    """)
    project.exercise("""
        import torch

        def pad(x):
            padded = torch.zeros(5)
            padded[1:4] = x  # copies a meta tensor into a CPU one: torch raises NotImplementedError
            return padded
    """)
    result = project.run()
    result.assert_outcomes(failed=1)
    assert "not implemented yet" not in result.stdout.str()
    result.stdout.fnmatch_lines([
        "*pad(x) on the meta device (a stand-in for a GPU: shapes, no data) failed:",
        "*NotImplementedError: Cannot copy out of meta tensor; no data!",
        f"*at exercises/{TOPIC.slug}/{TOPIC.file}:6: padded?1:4? = x*",
        "*Likely cause: a tensor made without device= lands on the CPU*",
    ])


def test_a_todo_names_the_line_of_the_learners_file(project):
    project.exercise("""
        def double(x):
            # TODO: return twice x
            raise NotImplementedError("double(): return twice x")
    """)
    project.run().stdout.fnmatch_lines([f"not implemented yet (exercises/{TOPIC.slug}/{TOPIC.file}:3): "
                                        "double(): return twice x"])


def test_cuda_without_a_gpu_is_one_sentence(project):

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    result = project.run("--kata-device", "cuda")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["ERROR: --kata-device cuda: this machine has no CUDA GPU*"])
    assert "Traceback" not in result.stderr.str()


def test_a_reason_is_never_cut_in_the_middle_of_a_word():
    text_ = "word " * 100
    short = text.shorten(text_, 42)
    assert len(short) <= 42 and short.endswith("word…"), short


# ------------------------------------------------------------------ learner code that misbehaves
def test_a_skip_or_xfail_from_the_learners_file_fails_the_test(project):
    project.exercise("""
        import pytest

        def double(x):
            if x == 1:
                pytest.skip("not today")
            pytest.xfail("maybe")
    """)
    result = project.run()
    result.assert_outcomes(failed=2)
    result.stdout.fnmatch_lines(["*your code called pytest.skip() at *:6, in double(): a test cannot be skipped*"])
    result.stdout.fnmatch_lines(["*your code called pytest.xfail() at *:7, in double()*"])


@pytest.mark.parametrize(("stop", "says"), [
    ("pytest.exit('bye', returncode=0)", "1 of 2 tests did not report a result, so this run fails: pytest.exit() "
                                         "was raised at exercises/*:7, in double()"),
    ("raise KeyboardInterrupt", "1 of 2 tests did not report a result, so this run fails: KeyboardInterrupt "
                                "was raised at exercises/*:7, in double()"),
    ("os._exit(0)", "ExitCalled: your code called os._exit(0), which would end the test run without a result"),
], ids=["pytest.exit", "KeyboardInterrupt", "os._exit"])
def test_a_learner_exit_is_never_a_passing_run(project, stop, says):
    project.exercise(f"""
        import os
        import pytest

        def double(x):
            if x == 3:
                {stop}
            return 2 * x
    """)
    result = project.run_apart()
    assert result.ret not in (0, None), result.stdout.str()
    result.stdout.fnmatch_lines([f"*{says}*"])


def test_a_thread_left_running_does_not_hang_pytest(project):
    project.exercise("""
        import threading
        import time

        threading.Thread(target=time.sleep, args=(3600,), name="forever").start()

        def double(x):
            return 2 * x
    """)
    result = project.run_apart(timeout=60)
    assert result.ret == 0
    result.stderr.fnmatch_lines(["kata: your code left 1 thread(s) running (forever)*"])


def test_torch_global_state_is_restored_before_each_topic(project):
    project.exercise("""
        import torch

        torch.set_default_dtype(torch.float64)
        torch.set_grad_enabled(False)

        def double(x):
            return 2 * x
    """)
    project.exercise(RIGHT, topic=SECOND)
    project.suite("""
        import torch

        def test_state(topic):
            assert torch.get_default_dtype() == torch.float32
            assert torch.is_grad_enabled()
    """, topic=SECOND, name="test_second.py")
    result = project.run()
    result.assert_outcomes(passed=3)


def test_captured_output_is_capped_with_a_note(project):
    project.exercise("""
        def double(x):
            print(("y" * 99 + "\\n") * 50_000, end="")  # 5 MB
            return x + 1
    """)
    result = project.run()
    out = result.stdout.str()
    assert len(out) < 100_000, f"{len(out):,} characters reached the terminal"
    result.stdout.fnmatch_lines(["[... output cut: 5,000,000 characters in all; the first and last 5,000 are shown ...]"])


def test_a_memory_limit_turns_a_runaway_allocation_into_a_clear_failure(project):
    project.suite("""
        def test_grows(topic):
            topic.grow()
    """)
    project.exercise("""
        import torch

        def grow():
            kept = []
            while True:
                kept.append(torch.ones(50_000_000))  # 200 MB at a time
    """)
    result = project.run_apart("--kata-memory-limit=1G")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*can't allocate memory*", "Likely cause: your code needs more memory than a test "
                                 "run may use (1 GiB, --kata-memory-limit)"])


def test_a_file_that_is_not_utf8_is_one_sentence(project):
    path = TOPIC.exercise(project.pytester.path)
    path.write_bytes("# 한국어 주석\ndef double(x):\n    return 2 * x\n".encode("cp949"))
    result = project.run()
    result.stdout.fnmatch_lines([f"exercises/{TOPIC.slug}/{TOPIC.file} is not UTF-8 text (line 1 has the byte 0x*): "
                                 "save it as UTF-8 in your editor"])


# ------------------------------------------------------------------ the real suites
def test_topic_04_shows_the_likely_cause_of_a_shape_error_in_unfold(tmp_path):
    from grader import mutants, runner

    cnn = roadmap.load().find("04")
    source = cnn.solution().read_text(encoding="utf-8")
    forgot = source.replace("F.unfold(x, (kH, kW), dilation=dilation, padding=padding, stride=stride)",
                            "F.unfold(x, (kH, kW))")  # a learner's bug: stride, padding, dilation dropped
    assert forgot != source
    target = mutants.write_target(cnn, forgot, tmp_path)
    records = runner.run_inprocess([cnn.slug], target, extra=["-k", "test_conv2d_output_shapes"])[cnn.slug]
    (record,) = [r for r in records if r.status is not None]
    assert record.message.startswith("RuntimeError: shape '[2, 3, 9, 9]' is invalid for input of size"), record.message
    assert "Likely cause: F.unfold(x, (kH, kW), dilation=dilation, padding=padding, stride=stride)" in record.details
    assert len(record.details.splitlines()) <= 5, record.details


def test_kata_first_runs_a_tasks_tests_first_and_fast_first_the_cheap_ones_first():
    # The self-check's order for a mutant: the tests of the task it changes, then the rest,
    # cheap kinds first within each (grader/plugin/routing.py).
    from grader import suites
    from grader.plugin.routing import KIND_ORDER
    from grader.tests.conftest import run_pytest

    topic = roadmap.load().built[1]
    tests = suites.outline(topic)
    task = tests[-1].task  # the last test's task: not first by default
    result = run_pytest(str(topic.tests()), "--kata-target=solutions", "--co", "-q", "--kata-fast-first",
                        f"--kata-first={task}", timeout=300)
    # (collecting only, the plugin calls the run failed: no test reported)
    order = list(dict.fromkeys(line.split("::")[-1].split("[")[0] for line in result.stdout.splitlines()
                               if line.startswith("tests/") and "::" in line))
    rank = {t.name: (t.task != task, KIND_ORDER.index(t.kind), i) for i, t in enumerate(tests)}
    assert order == sorted(rank, key=rank.get)
    assert order[0] != tests[0].name
