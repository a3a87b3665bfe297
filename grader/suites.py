"""Read a hidden suite's outline (test names, what each proves, its task) without running it."""

from __future__ import annotations

import ast

from grader import roadmap


def outline(topic: roadmap.Topic) -> list[dict]:
    """One entry per test function in tests/<slug>/test_*.py: name, kind, task."""
    tests = []
    for path in sorted(topic.tests().glob("test_*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in tree.body:
            if not (isinstance(node, ast.FunctionDef) and node.name.startswith("test_")):
                continue
            names = [ast.unparse(d) for d in node.decorator_list]
            kinds = [k for k in roadmap.KINDS if k in names or f"pytest.mark.{k}" in names]
            task = None
            for d in node.decorator_list:
                if isinstance(d, ast.Call) and ast.unparse(d.func).split(".")[-1] == "task" and d.args:
                    task = ast.literal_eval(d.args[0])
            tests.append({"name": node.name, "file": path.name, "kind": kinds[0] if len(kinds) == 1 else None,
                          "kinds": kinds, "task": task})
    return tests
