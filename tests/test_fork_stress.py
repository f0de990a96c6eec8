"""Fork safety under load (issue #16): 200 forks while the /metrics server and another thread
render a large registry, spans are exported (file and stderr) and logs written (rotating file and
stdout). No child may hang: every lock a background thread can hold at the fork is either taken
by the before-fork hook (the render gate, the recorder, the worker registry, Rust's stdout and
stderr) or left with the parent (the workers' queues). Each child's span and log line arrive."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")

APP = Path(__file__).parent / "apps" / "fork_stress.py"
FORKS = 200


def test_200_forks_during_scrapes_span_export_and_log_writes_leave_no_child_stuck(tmp_path):
    run = subprocess.run(
        [sys.executable, str(APP), str(tmp_path), str(FORKS)],
        capture_output=True,
        text=True,
        errors="replace",
        timeout=600,
        check=False,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    results = [line for line in run.stdout.splitlines() if line.startswith("RESULT ")]
    assert len(results) == 1, run.stdout[-2000:]
    result = json.loads(results[0].removeprefix("RESULT "))
    assert result["stuck"] == 0, run.stderr[-3000:]
    assert result["failed"] == 0
    assert result["forks"] == FORKS
    # The load was really there while the forks happened.
    assert result["scrapes"] > 0 and result["renders"] > 0
    # Every child's log line (stdout) and span (stderr) was written by its own writer threads.
    child_logs = [
        line
        for line in run.stdout.splitlines()
        if line.startswith("{") and json.loads(line)["message"] == "child"
    ]
    child_spans = [
        line
        for line in run.stderr.splitlines()
        if line.startswith("{") and json.loads(line)["name"] == "child"
    ]
    assert len(child_logs) == FORKS
    assert len(child_spans) == FORKS
    assert len({json.loads(line)["pid"] for line in child_logs}) == FORKS
