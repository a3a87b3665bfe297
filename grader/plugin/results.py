"""The results file the grader reads: one JSON line per event, flushed at once."""

from __future__ import annotations

import functools
import hashlib
import json
import os
import sys
from pathlib import Path

import pytest

from grader import roadmap
from grader.plugin.reports import short_message
from grader.plugin.run import run_of
from grader.records import Metric, Record


# Each look at the imported modules resolves the files of a few thousand (torch's): a
# module's file resolves the same way all process long, and a process that runs many
# suites (the self-check's workers, a zygote's children) resolves each once.
_realpath = functools.lru_cache(maxsize=None)(os.path.realpath)


class ResultsWriter:
    """Writes one JSON line per event, flushed at once, so a run killed half-way still tells
    which tests finished and which one was running:

        {"event": "collected", "records": [...]}   every test, status null
        {"event": "started", "nodeid": ..., "topic": ...}
        {"event": "loaded", "files": {path: sha256}}   files under test imported since the last one
        {"event": "record", "nodeid": ..., "record": {...}}   after a test's teardown
        {"event": "finished", "exitstatus": 0, "stopped": "..."}

    A topic's results depend on every file under test that was imported before its last
    record (its own, one it imports, and those of the topics run before it in the same
    process): `read_dependencies` gives them, and the grader's cache keys on them.
    """

    def __init__(self, path: str, seed: int, target: Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.file = self.path.open("a", encoding="utf-8")
        self.seed = seed
        self.target = os.path.realpath(target) + os.sep
        self.pid = os.getpid()
        self.records: dict[str, Record] = {}
        self.loaded: set[str] = set()  # module names already looked at

    def _emit(self, event: dict) -> None:
        if os.getpid() != self.pid or self.file.closed:  # a process the learner's code forked: not its to say
            return
        self.file.write(json.dumps(event) + "\n")  # ASCII: a lone surrogate is escaped, not an error
        self.file.flush()

    def abort(self, reason: str) -> None:
        """The run ends now (the watchdog): say why, as a finished run would."""
        self._emit({"event": "finished", "exitstatus": 1, "stopped": reason})

    def _new_files_under_test(self) -> dict[str, str]:
        """Files under the target imported since the last look, with the digest of what ran."""
        files = {}
        new = sys.modules.keys() - self.loaded  # after every test: a set difference, not a loop over thousands
        self.loaded |= new
        for name in new:
            module = sys.modules.get(name)
            file = getattr(module, "__file__", None)
            if not isinstance(file, str) or not _realpath(file).startswith(self.target):
                continue
            digest = getattr(module, "__kata_sha256__", None)
            if digest is None:  # imported the usual way (a topic importing another): as it is now
                try:
                    digest = hashlib.sha256(Path(file).read_bytes()).hexdigest()
                except OSError:
                    digest = "unreadable"
            files[_realpath(file)] = digest
        return files

    def pytest_runtest_logstart(self, nodeid: str, location) -> None:
        record = self.records.get(nodeid)
        self._emit({"event": "started", "nodeid": nodeid, "topic": record.topic if record else None})

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        record = self.records.get(report.nodeid)
        if record is None:
            return
        if report.failed:
            if record.status == "pass" or report.when != "teardown":
                record.status = "fail" if report.when == "call" else "error"
                record.message = short_message(report)
                record.details = report.longreprtext[-4000:]
        elif report.when == "call" and report.passed and record.status is None:
            record.status = "pass"
        elif report.skipped and record.status is None:
            record.status = "skip"
            record.message = short_message(report)
        record.duration += report.duration
        for key, value in report.user_properties:
            if key == "metrics":
                record.metrics = [Metric(**m, seed=self.seed) for m in value]

    def pytest_runtest_logfinish(self, nodeid: str, location) -> None:
        files = self._new_files_under_test()
        if files:
            self._emit({"event": "loaded", "files": files})
        record = self.records.get(nodeid)
        if record is not None:
            self._emit({"event": "record", "nodeid": nodeid, "record": record.to_json()})

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        for item in session.items:
            kinds = [k for k in roadmap.KINDS if item.get_closest_marker(k)]
            task = item.get_closest_marker("task")
            self.records[item.nodeid] = Record(item.path.parent.name, item.name,
                                               kind=kinds[0] if len(kinds) == 1 else None,
                                               task=task.args[0] if task else None)
        self._emit({"event": "collected", "records": {k: r.to_json() for k, r in self.records.items()}})

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        if report.failed:  # a broken test file: report it rather than lose it
            record = Record(Path(report.fspath).parent.name, report.nodeid, status="error",
                            message=short_message(report), details=report.longreprtext[-4000:])
            self.records[report.nodeid] = record
            self._emit({"event": "record", "nodeid": report.nodeid, "record": record.to_json()})

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        # A test that never reported keeps status null: the reader decides what that means
        # (the grader runs its topic again, alone; after -x it simply did not run).
        stopped = run_of(session.config).stopped
        self._emit({"event": "finished", "exitstatus": int(session.exitstatus), "stopped": stopped})
        self.file.close()


def read_results(path: Path) -> tuple[dict[str, Record], dict]:
    """A ResultsWriter's file: the records by node id (null status: never reported), and the
    last 'started' and 'finished' events ({} when absent)."""
    records: dict[str, Record] = {}
    events: dict = {}
    if not path.exists():
        return records, events
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            event = json.loads(line)
        except json.JSONDecodeError:  # a line cut by a kill
            continue
        if event["event"] == "collected":
            records.update({k: Record.from_json(r) for k, r in event["records"].items()})
        elif event["event"] == "record":
            records[event["nodeid"]] = Record.from_json(event["record"])
        else:
            events[event["event"]] = event
    return records, events


def read_dependencies(path: Path) -> dict[str, dict[str, str]]:
    """{topic: {file: sha256}}: the files under test imported before each topic's last record."""
    seen: dict[str, str] = {}
    dependencies: dict[str, dict[str, str]] = {}
    if not path.exists():
        return dependencies
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            event = json.loads(line)
        except json.JSONDecodeError:
            continue
        if event["event"] == "loaded":
            seen.update(event["files"])
        elif event["event"] == "record" and event["record"].get("topic"):
            dependencies[event["record"]["topic"]] = dict(seen)
    return dependencies
