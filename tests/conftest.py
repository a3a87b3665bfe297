"""Shared set-up for the hidden suites.

`import torch` (3-5 s) and the first optimizer a process builds (~4 s: it imports
torch._dynamo) are paid here, once, at collection time: never inside a test's own
time limit, where they would look like a slow learner's solution.

The suites train tiny models, where a second thread buys nothing on a quiet machine
(measured: every suite within 5% either way) but costs 10-25x on a busy one, where
each small op waits for a thread that is not scheduled. So the suites use one.
"""

import pytest
import torch

# A task's off-limits built-ins raise when the learner's file calls them (grader/rules.py).
from grader.rules import off_limits, pytest_pyfunc_call  # noqa: F401

torch.set_num_threads(1)
torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)


@pytest.fixture(scope="session")
def minilm_weights():
    """all-MiniLM-L6-v2's real weights (kata.pretrained.minilm()), for Stage 4's real-model checks.

    Without them the test fails with one sentence saying how to install them: never skipped, so a
    grade never counts a check that did not run.
    """
    from kata.pretrained import WeightsError, minilm

    try:
        return minilm()
    except WeightsError as exc:
        pytest.fail(str(exc), pytrace=False)


@pytest.fixture(autouse=True, scope="session")
def _pictures_in_a_temporary_folder(tmp_path_factory):
    """A test that runs main() writes its pictures to a temporary folder, never the learner's pictures/."""
    # An environment variable, not kata.pictures.FOLDER: the plugin puts kata's attributes back
    # between topics, and the processes a test starts inherit it.
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("KATA_PICTURES", str(tmp_path_factory.mktemp("pictures")))
        yield
