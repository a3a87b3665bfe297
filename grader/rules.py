"""Off limits: a task that asks the learner to build something may not call the built-in.

`grader/roadmap.toml` says, for every task of a topic, which callables the learner's
file may not use while that task's tests run (an empty list: none):

    [topics.off_limits]
    sigmoid = ["torch.sigmoid", "torch.Tensor.sigmoid", "torch.special.expit"]
    LogisticRegression = []

During each test marked `@task("sigmoid")`, every listed callable is swapped for a
guard, and swapped back afterwards. The guard fails the test when the learner's
file is on the call stack (their code called it, directly or through another
library function), and passes the call through otherwise: the test's own reference
calls and PyTorch's internals keep working. Names the learner's module bound at
import (`from torch import sigmoid`) are swapped too. A call the learner's code
catches and hides still fails the test when it ends.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType

import pytest

from grader import roadmap

_MISSING = object()


class OffLimits(AssertionError):
    """Raised when the learner's code calls a callable its task re-implements."""


def resolve(dotted: str) -> tuple[object, str, object]:
    """'torch.nn.functional.conv2d' -> (the owner object, the attribute name, the callable).

    The owner is the longest importable module prefix followed by attributes, so
    class attributes such as 'torch.Tensor.sigmoid' resolve too.
    """
    parts = dotted.split(".")
    for cut in range(len(parts) - 1, 0, -1):
        try:
            owner: object = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        for name in parts[cut:-1]:
            owner = getattr(owner, name)
        return owner, parts[-1], getattr(owner, parts[-1])
    raise ValueError(f"{dotted!r} does not name an importable callable")


@dataclass
class _Guards:
    task: str
    lesson: str
    learner_files: set[str]  # the module's __file__, as given and resolved
    calls: list[str] = field(default_factory=list)  # the forbidden names that were called
    _undo: list[Callable[[], None]] = field(default_factory=list)

    def message(self, name: str) -> str:
        return (f"{self.task}: your code called {name}, which is off limits in this task: the point is to "
                f"build it yourself. The rules are in {self.lesson}.")

    def _learner_on_stack(self) -> bool:
        frame = sys._getframe(2)
        while frame is not None:
            if frame.f_code.co_filename in self.learner_files:
                return True
            frame = frame.f_back
        return False

    def guard(self, name: str, original: Callable, *, always: bool = False) -> Callable:
        def off_limits(*args, **kwargs):
            __tracebackhide__ = True
            if always or self._learner_on_stack():
                self.calls.append(name)
                raise OffLimits(self.message(name))
            return original(*args, **kwargs)

        off_limits.__name__ = getattr(original, "__name__", name.rsplit(".", 1)[-1])
        off_limits.__qualname__ = off_limits.__name__
        off_limits.__doc__ = f"Off limits in task {self.task}: {name}."
        return off_limits

    def swap(self, owner: object, attr: str, new: object) -> None:
        before = vars(owner).get(attr, _MISSING) if hasattr(owner, "__dict__") else _MISSING
        setattr(owner, attr, new)
        if before is _MISSING:  # inherited (a Tensor method from its C base): remove the shadow again
            self._undo.append(lambda: delattr(owner, attr))
        else:
            self._undo.append(lambda: setattr(owner, attr, before))

    def install(self, names: list[str], module: ModuleType) -> None:
        originals = {}
        for name in names:
            owner, attr, original = resolve(name)
            originals[id(original)] = name
            self.swap(owner, attr, self.guard(name, original))
        # `from torch import sigmoid` (or `sigmoid = torch.sigmoid`) bound the original in the
        # learner's module before the swap: those names are the learner's own calls.
        for attr, value in list(vars(module).items()):
            if id(value) in originals and not attr.startswith("__"):
                self.swap(module, attr, self.guard(originals[id(value)], value, always=True))

    def restore(self) -> None:
        while self._undo:
            self._undo.pop()()


def _task_of(item: pytest.Item) -> str | None:
    marker = item.get_closest_marker("task")
    return marker.args[0] if marker and marker.args else None


@pytest.fixture(autouse=True)
def off_limits(request: pytest.FixtureRequest) -> Iterator[None]:
    """While a hidden-suite test runs, its task's off-limits callables raise from the learner's file."""
    task = _task_of(request.node)
    slug = request.path.parent.name
    if task is None or request.path.parent.parent.name != "tests":
        yield
        return
    try:
        entry = roadmap.load().find(slug)
    except KeyError:
        yield
        return
    names = entry.off_limits.get(task, [])
    if not names:
        yield
        return
    module = request.getfixturevalue("topic")
    lesson = entry.lesson().relative_to(roadmap.ROOT).as_posix()
    guards = _Guards(task, lesson, {module.__file__, str(Path(module.__file__).resolve())})
    guards.install(names, module)
    request.node.stash[_GUARDS] = guards
    try:
        yield
    finally:
        guards.restore()


_GUARDS = pytest.StashKey[_Guards]()


@pytest.hookimpl(wrapper=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function):
    """A test that ran to its end although the learner's code called (and caught) a guard fails."""
    result = yield
    guards = pyfuncitem.stash.get(_GUARDS, None)
    if guards is not None and guards.calls:
        pytest.fail(guards.message(guards.calls[0]), pytrace=False)
    return result
