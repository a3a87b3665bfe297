"""The pytest plugin that runs a topic's hidden suite against the learner's file.

Whose files a run tests (its target):
- the learner's, in exercises/: `pytest`, `pytest -m shapes`, `pytest tests/NN_x`
  (or a FAILED line pasted: `pytest tests/NN_x/test_file.py::test_name`) and
  `pytest exercises/NN_x[/any_file.py][::test_name]`;
- the reference solutions: `pytest solutions[/NN_x...]` or `--kata-target=solutions`;
- a folder laid out like exercises/ (`--kata-target=<folder>`: the grader's mutants).
A path into exercises/ or solutions/ becomes the topic's suite in tests/, and a
`::test_name` selection is kept. The suites reach the file under test through the
`topic` fixture, so a file that does not import fails its tests with one readable
block (shown once) instead of stopping collection.

One concern per module (imports run one way, top to bottom; none imports this package's
`__init__`):
- `where`: paths and traceback frames as the learner sees them;
- `memory`: the memory limit;
- `routing`: which files a run tests, and the header that says so;
- `loading`: the `topic` fixture, which imports the file under test;
- `run`: one run's state, and the rule that every collected test must report;
- `isolation`: PyTorch's and the shared modules' global state, put back between tests and topics;
- `exits`: os._exit(), forked children and hangs;
- `reports`: what a learner reads when a test fails;
- `diffs`: short explanations of failed comparisons of big containers;
- `results`: the results file the grader reads.
This module holds the options and wires the parts together.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from grader.plugin.loading import ImportFailed, MissingName, ReturnError, load_file
from grader.plugin.memory import DEFAULT_MEMORY_LIMIT, limit_memory, parse_size
from grader.plugin.reports import short_message
from grader.plugin.results import ResultsWriter, read_dependencies, read_results
from grader.plugin.routing import check_device, redirect
from grader.plugin.run import RUN, Run

pytest_plugins = [
    "grader.plugin.loading",
    "grader.plugin.run",
    "grader.plugin.isolation",
    "grader.plugin.exits",
    "grader.plugin.reports",
    "grader.plugin.diffs",
    "grader.plugin.routing",
]

__all__ = ["DEFAULT_MEMORY_LIMIT", "ImportFailed", "MissingName", "ResultsWriter", "ReturnError", "load_file",
           "parse_size", "read_dependencies", "read_results", "redirect", "short_message"]

TARGET_HELP = ("whose files the hidden suites test: 'exercises' (yours, the default), 'solutions' "
               "(the reference) or a folder laid out like them")
SEED_HELP = "seed for the data and the training runs of accuracy tests (default 0)"
DEVICE_HELP = "device for training runs: 'cpu' (default) or 'cuda'"
RESULTS_HELP = "write one JSON line per event (collected, started, finished test) to this file (the grader reads it)"
MEMORY_HELP = ("most memory a run testing your files may use, e.g. '4G' (default), '512M', or '0' for no limit; "
               "enforced on Linux (RLIMIT_DATA)")
NO_EXIT_HELP = "never end the process early (for runs inside another program)"
FAST_FIRST_HELP = ("run the cheap tests first: shapes, then gradients, then accuracy (with -x, a bug caught early "
                   "costs no training run; the maintainer's mutants)")
FIRST_HELP = ("run the tests of this task first (repeatable; with -x, a mutant is caught by the tests of the task "
              "it changes before the others run)")


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("kata", "PyTorch katas")
    group.addoption("--kata-target", default=None, help=TARGET_HELP)
    group.addoption("--kata-seed", type=int, default=0, help=SEED_HELP)
    group.addoption("--kata-device", default="cpu", help=DEVICE_HELP)
    group.addoption("--kata-results", default=None, help=RESULTS_HELP)
    group.addoption("--kata-memory-limit", default=None, help=MEMORY_HELP)
    group.addoption("--kata-no-exit", action="store_true", help=NO_EXIT_HELP)
    group.addoption("--kata-fast-first", action="store_true", help=FAST_FIRST_HELP)
    group.addoption("--kata-first", action="append", default=[], metavar="TASK", help=FIRST_HELP)
    parser.addini("kata_memory_limit", MEMORY_HELP, default=DEFAULT_MEMORY_LIMIT)


def pytest_configure(config: pytest.Config) -> None:
    root = Path(config.rootpath)
    args, named = redirect(list(config.args), root)
    config.args[:] = args
    option = config.getoption("--kata-target")
    if option in ("exercises", "solutions") and named and option != named:
        raise pytest.UsageError(f"--kata-target={option} and a path into {named}/: one target per pytest run")
    target = option or named or "exercises"
    config.kata_root = root
    config.kata_target = (root / target) if target in ("exercises", "solutions") else Path(target).resolve()
    check_device(config.getoption("--kata-device"))
    limit_memory(config)
    config.stash[RUN] = Run(config)
    config.pluginmanager.register(config.stash[RUN], "kata-run")
    if config.getoption("--kata-results"):
        writer = ResultsWriter(config.getoption("--kata-results"), config.getoption("--kata-seed"), config.kata_target)
        config.pluginmanager.register(writer, "kata-results")

