"""Run hidden suites and collect one record per test.

`run` starts one pytest process for any number of topics (so `import torch` is paid
once) and falls back to one process per topic if that process dies. `run_inprocess`
runs a suite inside the current process, for the maintainer's checks, which run
many suites (stubs, mutants, seeds) back to back.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from grader import roadmap
from grader.records import Record, by_topic

SUITE_TIMEOUT = 600  # seconds for a whole pytest process; each test has its own 60 s limit


def _args(slugs: list[str], target: Path, results: Path, seed: int, device: str, extra: list[str]) -> list[str]:
    return [
        *(str(roadmap.load().find(slug).tests()) for slug in slugs),
        f"--kata-target={target}",
        f"--kata-results={results}",
        f"--kata-seed={seed}",
        f"--kata-device={device}",
        "-p", "no:cacheprovider",
        "-q", "--no-header", "-rN",
        *extra,
    ]


def _crash_records(slugs: list[str], reason: str) -> list[Record]:
    return [Record(slug, "(suite)", status="error", message=reason) for slug in slugs]


def _read(results: Path) -> list[Record]:
    return [Record.from_json(r) for r in json.loads(results.read_text(encoding="utf-8"))]


def run(slugs: list[str], target: Path, *, seed: int = 0, device: str = "cpu", extra: list[str] = (),
        timeout: float = SUITE_TIMEOUT) -> dict[str, list[Record]]:
    """Run the suites of `slugs` against `target` in a child process: {slug: records}."""
    if not slugs:
        return {}
    with tempfile.TemporaryDirectory(prefix="kata-") as tmp:
        results = Path(tmp) / "results.json"
        cmd = [sys.executable, "-m", "pytest", *_args(slugs, target, results, seed, device, list(extra))]
        env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
        try:
            proc = subprocess.run(cmd, cwd=roadmap.ROOT, capture_output=True, text=True, timeout=timeout, env=env)
            output = proc.stdout + proc.stderr
        except subprocess.TimeoutExpired:
            proc, output = None, f"the test run took longer than {timeout:.0f} s and was stopped"
        if results.exists():
            records = _read(results)
        elif proc is not None and len(slugs) > 1:  # the process died: grade each topic alone, so one cannot sink the rest
            alone = {}
            for slug in slugs:
                alone.update(run([slug], target, seed=seed, device=device, extra=extra, timeout=timeout))
            return alone
        else:
            tail = [line for line in output.strip().splitlines() if line.strip()][-1:] or ["no output"]
            code = f"exit code {proc.returncode}" if proc else "time-out"
            records = _crash_records(slugs, f"the test process died ({code}): {tail[0][:200]}")
    return by_topic(slugs, records)


def run_inprocess(slugs: list[str], target: Path, *, seed: int = 0, device: str = "cpu",
                  extra: list[str] = ()) -> dict[str, list[Record]]:
    """Run the suites in this process (torch already imported): {slug: records}."""
    import pytest

    with tempfile.TemporaryDirectory(prefix="kata-") as tmp:
        results = Path(tmp) / "results.json"
        before = set(sys.modules)
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            pytest.main(_args(slugs, target, results, seed, device, ["--capture=sys", *extra]))
        for name in set(sys.modules) - before:
            if name.startswith("kata_"):  # the loaded topic files, one per content
                del sys.modules[name]
        if not results.exists():
            return {slug: _crash_records([slug], "pytest wrote no results") for slug in slugs}
        records = _read(results)
    return by_topic(slugs, records)
