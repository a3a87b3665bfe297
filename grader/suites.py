"""Read a hidden suite's outline (test names, what each proves, its task) without running it."""

from __future__ import annotations

import ast
import functools
from dataclasses import dataclass

from grader import roadmap


@dataclass(frozen=True)
class SuiteTest:
    """A test function as its file declares it."""

    name: str
    file: str  # the test file's name, e.g. "test_cnn.py"
    kinds: tuple[str, ...]  # its markers among roadmap.KINDS (a correct suite has exactly one)
    task: str | None  # the argument of @task(...)

    @property
    def kind(self) -> str | None:
        return self.kinds[0] if len(self.kinds) == 1 else None


def outline(topic: roadmap.Topic) -> list[SuiteTest]:
    """One entry per test function in tests/<slug>/test_*.py."""
    tests = []
    for path in sorted(topic.tests().glob("test_*.py")):
        tests += _outline_of(path.read_text(encoding="utf-8"), path.name)
    return tests


@functools.lru_cache(maxsize=64)  # the grader asks at every command: a file is parsed once while it is unchanged
def _outline_of(source: str, file: str) -> tuple[SuiteTest, ...]:
    tests = []
    for node in ast.parse(source).body:
        if not (isinstance(node, ast.FunctionDef) and node.name.startswith("test_")):
            continue
        names = [ast.unparse(d) for d in node.decorator_list]
        kinds = tuple(k for k in roadmap.KINDS if k in names or f"pytest.mark.{k}" in names)
        task = None
        for d in node.decorator_list:
            if isinstance(d, ast.Call) and ast.unparse(d.func).split(".")[-1] == "task" and d.args:
                task = ast.literal_eval(d.args[0])
        tests.append(SuiteTest(node.name, file, kinds, task))
    return tuple(tests)
