"""gunicorn with 2 workers, ferrotel configured before the fork (--preload): both workers keep
exporting traces and logs, decoded by a loopback OTLP receiver."""

from __future__ import annotations

import http.server
import json
import os
import shutil
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from conftest import find_free_port
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest


class Receiver(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.span_pids: list[int] = []
        self.log_pids: list[int] = []
        self.lock = threading.Lock()


class Handler(http.server.BaseHTTPRequestHandler):
    server: Receiver

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        with self.server.lock:
            if self.path == "/v1/traces":
                request = ExportTraceServiceRequest.FromString(body)
                for rs in request.resource_spans:
                    for ss in rs.scope_spans:
                        for span in ss.spans:
                            for kv in span.attributes:
                                if kv.key == "worker.pid":
                                    self.server.span_pids.append(kv.value.int_value)
            elif self.path == "/v1/logs":
                logs = ExportLogsServiceRequest.FromString(body)
                for rl in logs.resource_logs:
                    for sl in rl.scope_logs:
                        for record in sl.log_records:
                            for kv in record.attributes:
                                if kv.key == "worker_pid":
                                    self.server.log_pids.append(kv.value.int_value)
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def test_two_gunicorn_workers_export_after_the_fork(receiver: Receiver) -> None:
    gunicorn = shutil.which("gunicorn") or pytest.fail("gunicorn is a test dependency")
    port = find_free_port()
    env = {
        **os.environ,
        "RECEIVER": f"http://127.0.0.1:{receiver.server_address[1]}",
        "PYTHONPATH": str(Path(__file__).parent) + os.pathsep + os.environ.get("PYTHONPATH", ""),
    }
    server = subprocess.Popen(
        [gunicorn, "-w", "2", "--preload", "-b", f"127.0.0.1:{port}", "apps.gunicorn_app:app"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/work/0", timeout=2).read()
                break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    pytest.fail(
                        f"gunicorn did not start: {server.stderr.read().decode() if server.stderr else ''}"
                    )
                time.sleep(0.2)

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

        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            with receiver.lock:
                if set(receiver.span_pids) >= served_by and set(receiver.log_pids) >= served_by:
                    break
            time.sleep(0.2)
        with receiver.lock:
            assert set(receiver.span_pids) >= served_by, receiver.span_pids
            assert set(receiver.log_pids) >= served_by, receiver.log_pids
            assert os.getpid() not in receiver.span_pids
    finally:
        server.terminate()
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
    assert sys.executable
