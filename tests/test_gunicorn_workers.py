"""gunicorn with 2 workers, ferrotel configured before the fork (--preload): both workers keep
exporting traces and logs, decoded by a loopback OTLP receiver."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from conftest import find_free_port
from helpers import LoopbackReceiver, Response, wait_until
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest


def span_pids(receiver: LoopbackReceiver) -> list[int]:
    """The ``worker.pid`` attribute of every span received on ``/v1/traces``."""
    return [
        kv.value.int_value
        for r in receiver.snapshot()
        if r.path == "/v1/traces"
        for rs in ExportTraceServiceRequest.FromString(r.body).resource_spans
        for ss in rs.scope_spans
        for span in ss.spans
        for kv in span.attributes
        if kv.key == "worker.pid"
    ]


def log_pids(receiver: LoopbackReceiver) -> list[int]:
    """The ``worker_pid`` attribute of every log record received on ``/v1/logs``."""
    return [
        kv.value.int_value
        for r in receiver.snapshot()
        if r.path == "/v1/logs"
        for rl in ExportLogsServiceRequest.FromString(r.body).resource_logs
        for sl in rl.scope_logs
        for record in sl.log_records
        for kv in record.attributes
        if kv.key == "worker_pid"
    ]


def test_two_gunicorn_workers_export_after_the_fork(receiver: LoopbackReceiver) -> None:
    receiver.default = Response(200, {"Content-Type": "application/x-protobuf"})
    port = find_free_port()
    env = {
        **os.environ,
        "RECEIVER": receiver.base_url,
        "PYTHONPATH": str(Path(__file__).parent) + os.pathsep + os.environ.get("PYTHONPATH", ""),
    }
    server = subprocess.Popen(
        # This interpreter's gunicorn: a `gunicorn` on PATH may run another Python's ferrotel.
        [
            sys.executable,
            "-m",
            "gunicorn",
            "-w",
            "2",
            "--preload",
            "-b",
            f"127.0.0.1:{port}",
            "apps.gunicorn_app:app",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:

        def started() -> bool:
            if server.poll() is not None:
                pytest.fail(
                    f"gunicorn did not start: {server.stderr.read().decode() if server.stderr else ''}"
                )
            urllib.request.urlopen(f"http://127.0.0.1:{port}/work/0", timeout=2).read()
            return True

        wait_until(started, timeout=30, interval=0.2, what="gunicorn to start", ignore=(OSError,))

        def hit(n: int) -> int:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/work/{n}", timeout=5) as response:
                return int(json.loads(response.read())["pid"])

        served_by: set[int] = set()
        with ThreadPoolExecutor(max_workers=8) as pool:
            for batch in range(20):
                served_by |= set(pool.map(hit, range(batch * 20, batch * 20 + 20)))
                if len(served_by) == 2:
                    break
        assert len(served_by) == 2, "the requests all went to one worker"

        def both_workers_exported() -> bool:
            return set(span_pids(receiver)) >= served_by and set(log_pids(receiver)) >= served_by

        wait_until(both_workers_exported, timeout=20, interval=0.2, what="spans and logs from both workers")
        spans, logs = span_pids(receiver), log_pids(receiver)
        assert set(spans) >= served_by, spans
        assert set(logs) >= served_by, logs
        assert os.getpid() not in spans
    finally:
        server.terminate()
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
    assert sys.executable
