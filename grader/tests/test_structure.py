"""The grader's own structure: imports run one way, records have one type, paths one home."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from grader import records, roadmap

GRADER = Path(records.__file__).resolve().parent
MODULES = {path.stem: path for path in GRADER.glob("*.py") if path.stem not in ("__init__", "__main__")}


def _imports(path: Path) -> set[str]:
    """The grader modules a file imports, anywhere in it (a function-level import counts)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module == "grader":
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("grader."):
            found.add(node.module.split(".")[1])
        elif isinstance(node, ast.Import):
            found |= {a.name.split(".")[1] for a in node.names if a.name.startswith("grader.")}
    return found & set(MODULES)


def test_no_grader_module_imports_one_that_imports_it_back():
    graph = {name: _imports(path) - {name} for name, path in MODULES.items()}

    def cycle_from(start: str, node: str, seen: tuple[str, ...]) -> tuple[str, ...] | None:
        for nxt in sorted(graph[node]):
            if nxt == start:
                return (*seen, nxt)
            if nxt not in seen:
                found = cycle_from(start, nxt, (*seen, nxt))
                if found:
                    return found
        return None

    for name in sorted(graph):
        cycle = cycle_from(name, name, (name,))
        assert cycle is None, "an import cycle: " + " -> ".join(cycle)


def test_topic_paths_are_built_only_in_the_roadmap():
    # <folder>/<slug>/<file> is built by roadmap.Topic (folder_in, file_in, exercise, ...).
    joins = re.compile(r"[\w.]*\bslug\s*/|/\s*[\w.]*\bslug\b|\{[\w.]*\bslug\}/")
    for name, path in MODULES.items():
        if name == "roadmap":
            continue
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            assert not joins.search(line), f"grader/{path.name}:{number} builds a topic path itself: {line.strip()}"


def test_a_metric_carries_its_seed_as_a_field(tmp_path):
    from grader import mutants, runner

    topic = roadmap.load().find("01")
    target = mutants.write_target(topic, topic.solution().read_text(encoding="utf-8"), tmp_path)
    results = runner.run_inprocess([topic.slug], target, seed=3, extra=["-m", "accuracy"])[topic.slug]
    metrics = [m for r in results for m in r.metrics]
    assert metrics and all(isinstance(m, records.Metric) and m.seed == 3 for m in metrics), metrics


def test_records_round_trip_through_json():
    record = records.Record("01_logistic_regression", "test_x[2]", "accuracy", "train", "fail", "why", "trace", 1.5,
                            [records.Metric("accuracy", 0.5, 0.9, ">=", seed=4)])
    assert records.Record.from_json(record.to_json()) == record
    assert record.function == "test_x"
