"""The rest of prometheus_client's exposition module on ferrotel: write_to_textfile,
start_wsgi_server, make_wsgi_app / make_asgi_app options, MetricsHandler,
instance_ip_grouping_key, the push functions' handler= and timeout=, and output that
prometheus_client's parsers read back into the same families prometheus_client's own gives."""

from __future__ import annotations

import asyncio
import gzip
import http.client
import os
import threading
from collections.abc import Callable
from http.server import HTTPServer
from pathlib import Path
from typing import Any

import ferrotel
import ferrotel.exposition
import prometheus_client
import prometheus_client.exposition
import pytest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.openmetrics.exposition import generate_latest as pc_openmetrics
from prometheus_client.openmetrics.parser import text_string_to_metric_families as parse_openmetrics
from prometheus_client.parser import text_string_to_metric_families as parse_text


def record(lib: Any, registry: Any) -> None:
    c = lib.Counter("requests", "Requests", ["method", "path"], registry=registry)
    c.labels("GET", "/").inc(3)
    c.labels("POST", 'odd "path"\n').inc()
    lib.Gauge("in_flight", "In flight", registry=registry).set(2.5)
    h = lib.Histogram("latency_seconds", "Latency", buckets=(0.1, 1), registry=registry)
    for v in (0.05, 0.5, 5):
        h.observe(v)
    lib.Summary("payload_bytes", "Payload", registry=registry).observe(512)
    lib.Info("build", "Build", registry=registry).info({"version": "1.2.3"})
    lib.Enum("state", "State", states=["a", "b"], registry=registry).state("b")


@pytest.fixture
def registry() -> ferrotel.Registry:
    r = ferrotel.Registry()
    record(ferrotel, r)
    return r


# --- parsed back into the same families ------------------------------------------------------------


def test_parsers_read_back_the_families_prometheus_client_writes(registry: Any, no_created: None) -> None:
    theirs = prometheus_client.CollectorRegistry()
    record(prometheus_client, theirs)
    ours_text = list(parse_text(ferrotel.generate_latest(registry).decode()))
    their_text = list(parse_text(prometheus_client.generate_latest(theirs).decode()))
    assert ours_text == their_text
    ours_om = list(parse_openmetrics(ferrotel.generate_openmetrics(registry).decode()))
    their_om = list(parse_openmetrics(pc_openmetrics(theirs).decode()))
    assert ours_om == their_om


# --- write_to_textfile -----------------------------------------------------------------------------


class Failing:
    def collect(self) -> list[Any]:
        raise RuntimeError("collector broke")


def test_write_to_textfile_writes_the_exposition(registry: Any, tmp_path: Path) -> None:
    path = tmp_path / "job.prom"
    ferrotel.write_to_textfile(str(path), registry)
    assert path.read_bytes() == ferrotel.generate_latest(registry, "allow-utf-8")
    assert os.listdir(tmp_path) == ["job.prom"]


def test_write_to_textfile_replaces_atomically(registry: Any, tmp_path: Path) -> None:
    path = tmp_path / "job.prom"
    path.write_text("old contents\n")
    broken = ferrotel.Registry()
    broken.register(Failing())
    with pytest.raises(RuntimeError, match="collector broke"):
        ferrotel.write_to_textfile(str(path), broken)
    assert path.read_text() == "old contents\n"
    assert os.listdir(tmp_path) == ["job.prom"], "the temporary file is removed"
    tmpdir = tmp_path / "staging"
    tmpdir.mkdir()
    ferrotel.write_to_textfile(str(path), registry, tmpdir=str(tmpdir))
    assert b"requests_total" in path.read_bytes()
    assert os.listdir(tmpdir) == []


# --- WSGI and ASGI apps ----------------------------------------------------------------------------


def call_wsgi(app: Callable[..., Any], method: str = "GET", path: str = "/metrics", **environ: str) -> Any:
    captured: dict[str, Any] = {}

    def start_response(status: str, headers: list[tuple[str, str]]) -> None:
        captured["status"], captured["headers"] = status, dict(headers)

    body = b"".join(app({"REQUEST_METHOD": method, "PATH_INFO": path, **environ}, start_response))
    return captured["status"], captured["headers"], body


def test_wsgi_app_answers_as_prometheus_clients_does(registry: Any) -> None:
    ours = ferrotel.make_wsgi_app(registry)
    theirs = prometheus_client.make_wsgi_app(prometheus_client.CollectorRegistry())
    for method, path in (("OPTIONS", "/metrics"), ("POST", "/metrics"), ("GET", "/favicon.ico")):
        our_status, our_headers, our_body = call_wsgi(ours, method, path)
        their_status, their_headers, their_body = call_wsgi(theirs, method, path)
        assert (our_status, our_headers.get("Allow"), our_body) == (
            their_status,
            their_headers.get("Allow"),
            their_body,
        ), method


def test_wsgi_app_disable_compression(registry: Any) -> None:
    _, headers, body = call_wsgi(ferrotel.make_wsgi_app(registry), HTTP_ACCEPT_ENCODING="gzip")
    assert headers["Content-Encoding"] == "gzip"
    assert gzip.decompress(body) == ferrotel.generate_latest(registry)
    _, headers, body = call_wsgi(
        ferrotel.make_wsgi_app(registry, disable_compression=True), HTTP_ACCEPT_ENCODING="gzip"
    )
    assert "Content-Encoding" not in headers
    assert body == ferrotel.generate_latest(registry)


def test_wsgi_app_name_query_restricts_the_series(registry: Any) -> None:
    _, _, body = call_wsgi(
        ferrotel.make_wsgi_app(registry), QUERY_STRING="name[]=in_flight&name[]=build_info"
    )
    assert {f.name for f in parse_text(body.decode())} == {"in_flight", "build_info"}


def test_wsgi_app_serves_any_collector() -> None:
    class Custom:
        def collect(self) -> list[GaugeMetricFamily]:
            return [GaugeMetricFamily("custom", "Custom", value=4)]

    _, _, body = call_wsgi(ferrotel.make_wsgi_app(Custom()))
    assert body == b"# HELP custom Custom\n# TYPE custom gauge\ncustom 4.0\n"


def call_asgi(app: Any, query: bytes = b"", headers: list[tuple[bytes, bytes]] | None = None) -> Any:
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "method": "GET",
        "path": "/metrics",
        "query_string": query,
        "headers": headers or [],
    }
    asyncio.run(app(scope, receive, send))
    return dict(sent[0]["headers"]), sent[1]["body"]


def test_asgi_app_options(registry: Any) -> None:
    headers, body = call_asgi(ferrotel.make_asgi_app(registry), headers=[(b"accept-encoding", b"gzip")])
    assert headers[b"content-encoding"] == b"gzip"
    headers, body = call_asgi(
        ferrotel.make_asgi_app(registry, disable_compression=True),
        query=b"name[]=in_flight",
        headers=[(b"accept-encoding", b"gzip")],
    )
    assert b"content-encoding" not in headers
    assert body == b"# HELP in_flight In flight\n# TYPE in_flight gauge\nin_flight 2.5\n"


# --- servers ---------------------------------------------------------------------------------------


def get(port: int, path: str = "/metrics") -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def test_start_wsgi_server(registry: Any) -> None:
    httpd, thread = ferrotel.start_wsgi_server(0, registry=registry)
    try:
        assert thread.daemon and thread.is_alive()
        assert get(httpd.server_port) == (200, ferrotel.generate_latest(registry))
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=10)


def test_metrics_handler(registry: Any) -> None:
    server = HTTPServer(("127.0.0.1", 0), ferrotel.MetricsHandler.factory(registry))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        assert get(server.server_port) == (200, ferrotel.generate_latest(registry))
        status, body = get(server.server_port, "/metrics?name[]=in_flight")
        assert body == b"# HELP in_flight In flight\n# TYPE in_flight gauge\nin_flight 2.5\n"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
    assert ferrotel.MetricsHandler.registry is ferrotel.REGISTRY


# --- push: grouping key, handler=, timeout= --------------------------------------------------------


def test_instance_ip_grouping_key() -> None:
    assert ferrotel.instance_ip_grouping_key() == prometheus_client.instance_ip_grouping_key()


class Recorder:
    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []

    def __call__(self, url: str, method: str, timeout: float | None, headers: Any, data: bytes) -> Any:
        self.calls.append(
            {"url": url, "method": method, "timeout": timeout, "headers": list(headers), "data": data}
        )
        return lambda: None


@pytest.mark.parametrize(
    ("function", "kwargs"),
    [
        ("push_to_gateway", {}),
        ("pushadd_to_gateway", {"timeout": None, "grouping_key": {"zone": "eu 1", "b": "x/y", "a": ""}}),
        ("push_to_gateway", {"timeout": 5, "compression": "gzip"}),
        ("delete_from_gateway", {"grouping_key": {"instance": "10.0.0.1:80"}}),
    ],
)
def test_push_handler_is_called_as_prometheus_client_calls_it(
    registry: Any, function: str, kwargs: dict[str, Any], no_created: None
) -> None:
    ours, theirs = Recorder(), Recorder()
    their_registry = prometheus_client.CollectorRegistry()
    record(prometheus_client, their_registry)
    if function != "delete_from_gateway":
        kwargs = {**kwargs, "registry": None}
    for lib, handler, reg in ((ferrotel, ours, registry), (prometheus_client, theirs, their_registry)):
        args = {**kwargs, "handler": handler}
        if "registry" in args:
            args["registry"] = reg
        getattr(lib, function)("gw.example:9091", "batch job", **args)
    (mine,), (reference,) = ours.calls, theirs.calls
    for key in ("url", "method", "timeout", "headers"):
        assert mine[key] == reference[key], key
    decode = gzip.decompress if kwargs.get("compression") else (lambda b: b)
    assert list(parse_text(decode(mine["data"]).decode())) == list(
        parse_text(decode(reference["data"]).decode())
    )
