"""A finished request is recorded off the application's thread (metrics, log line, span), and
whatever reads that telemetry first sees every request: a collect, a scrape render, the
in-memory span exporter, ``ferrotel.flush()``. No request is lost when the queue is full, and a
forked child starts from its parent's counts and records its own."""

from __future__ import annotations

import io
import json
import os
from pathlib import Path
from typing import Any

import ferrotel
import pytest
from conftest import LogFile
from ferrotel.middleware import WSGIMiddleware
from ferrotel.tracing import InMemorySpanExporter, configure
from helpers import reap, wait_until


def hello(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    start_response("200 OK", [("content-type", "text/plain")])
    return [b"hi"]


def serve(app: Any, count: int, path: str = "/x", method: str = "GET", scheme: str = "http") -> None:
    def start_response(status: str, headers: Any, exc_info: Any = None) -> None:
        return None

    for _ in range(count):
        environ = {
            "REQUEST_METHOD": method,
            "PATH_INFO": path,
            "ferrotel.route": path,
            "wsgi.url_scheme": scheme,
            "wsgi.input": io.BytesIO(b""),
            "wsgi.errors": io.StringIO(),
        }
        body = app(environ, start_response)
        for _chunk in body:
            pass
        body.close()


def total(registry: ferrotel.Registry, path: str = "/x") -> float | None:
    return registry.get_sample_value("http_requests_total", {"method": "GET", "path": path, "status": "200"})


def http_drops() -> float:
    return sum(
        s.value
        for m in ferrotel.REGISTRY.collect()
        if m.name == "ferrotel_dropped"
        for s in m.samples
        if s.name.endswith("_total") and s.labels.get("signal") in ("http", "logs", "traces")
    )


def thread_names() -> set[str]:
    names = set()
    for task in os.listdir("/proc/self/task"):
        try:
            names.add(Path(f"/proc/self/task/{task}/comm").read_text().strip())
        except FileNotFoundError:  # a thread that ended meanwhile
            pass
    return names


def test_every_read_sees_every_ended_request(
    memory_exporter: InMemorySpanExporter, log_file: LogFile
) -> None:
    spans = memory_exporter
    registry = ferrotel.Registry()
    app = WSGIMiddleware(hello, registry=registry)
    serve(app, 3)
    # Read at once, without waiting for the recording thread: each read takes what is queued.
    assert total(registry) == 3
    assert len([s for s in spans.get_finished_spans() if s["name"] == "GET /x"]) == 3
    serve(app, 2)
    text = registry.render()[0].decode()
    assert 'http_requests_total{method="GET",path="/x",status="200"} 5.0' in text
    assert registry.get_sample_value("http_requests_in_flight") == 0
    assert len([line for line in log_file.lines() if line["message"] == "request"]) == 5
    if os.path.isdir("/proc/self/task"):
        # A new thread names itself once it runs.
        wait_until(lambda: "ferrotel-http" in thread_names(), what="the ferrotel-http thread's name")
        assert "ferrotel-http" in thread_names()


def test_no_request_is_lost_past_the_queue(memory_exporter: InMemorySpanExporter) -> None:
    # No log sink: a log writer that falls behind 20,000 lines on a slow machine drops (and
    # counts) lines, which is not what this test is about.
    ferrotel.logs.configure(console=False)
    registry = ferrotel.Registry()
    app = WSGIMiddleware(hello, registry=registry)
    drops = http_drops()
    # Ten times what the queue holds (2,048), faster than the thread's 10 ms turns take them.
    count = 20_000
    serve(app, count)
    assert total(registry) == count
    assert registry.get_sample_value("http_request_duration_seconds_count") == count
    assert len(memory_exporter.get_finished_spans()) == count
    assert http_drops() == drops


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
@pytest.mark.usefixtures("memory_exporter")
def test_a_forked_child_starts_from_its_parents_counts() -> None:
    registry = ferrotel.Registry()
    app = WSGIMiddleware(hello, registry=registry)
    serve(app, 5)  # still queued, most likely, when the fork happens
    pid = os.fork()
    if pid == 0:  # pragma: no cover (runs in the child)
        code = 1
        try:
            serve(app, 3)
            code = 0 if total(registry) == 8 else 2
        finally:
            os._exit(code)
    assert reap(pid, timeout=30) == 0
    assert total(registry) == 5
    serve(app, 1)
    assert total(registry) == 6


@pytest.mark.usefixtures("reset_tracing")
def test_reconfiguring_sends_ended_requests_to_the_pipelines_of_their_time(tmp_path: Path) -> None:
    first, second = tmp_path / "first.log", tmp_path / "second.log"
    memory = InMemorySpanExporter()
    ferrotel.logs.configure(console=False, file=str(first))
    configure(service_name="ends-test", exporters=[memory])
    try:
        app = WSGIMiddleware(hello, registry=ferrotel.Registry())
        serve(app, 4)
        configure(service_name="ends-test", exporters=[])
        ferrotel.logs.configure(console=False, file=str(second))
        assert ferrotel.flush(10)
        assert len(memory.get_finished_spans()) == 4
        requests = [json.loads(line) for line in first.read_text().splitlines()]
        assert len([line for line in requests if line["message"] == "request"]) == 4
        assert not second.exists() or "request" not in second.read_text()
    finally:
        ferrotel.logs.configure(console=False)


def test_long_paths_and_other_methods_and_schemes_are_recorded_whole(
    memory_exporter: InMemorySpanExporter,
) -> None:
    spans = memory_exporter
    registry = ferrotel.Registry()
    app = WSGIMiddleware(hello, registry=registry)
    long_path = "/" + "é/" * 40 + "end"  # past what is held inline, and not ASCII
    serve(app, 1, path=long_path, method="PROPFIND", scheme="wss")
    serve(app, 1, path="/short", method="GET", scheme="https")
    first, second = spans.get_finished_spans()
    assert first["name"] == f"PROPFIND {long_path}"
    assert first["attributes"]["url.path"] == long_path
    assert first["attributes"]["http.request.method"] == "PROPFIND"
    assert first["attributes"]["url.scheme"] == "wss"
    assert second["attributes"]["url.scheme"] == "https"
    assert second["attributes"]["url.path"] == "/short"
    labels = {"method": "PROPFIND", "path": long_path, "status": "200"}
    assert registry.get_sample_value("http_requests_total", labels) == 1
