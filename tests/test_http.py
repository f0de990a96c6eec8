"""Serving /metrics: the Rust HTTP server on loopback, the WSGI app and the ASGI app."""

from __future__ import annotations

import asyncio
import gzip
import http.client
import socket
import urllib.error
import urllib.request
from wsgiref.util import setup_testing_defaults
from wsgiref.validate import validator

import ferrotel
import pytest
from prometheus_client.openmetrics.parser import text_string_to_metric_families as parse_openmetrics
from prometheus_client.parser import text_string_to_metric_families as parse_text

OPENMETRICS_ACCEPT = "application/openmetrics-text; version=1.0.0,text/plain;version=0.0.4;q=0.5,*/*;q=0.1"


@pytest.fixture
def registry() -> ferrotel.Registry:
    r = ferrotel.Registry()
    c = ferrotel.Counter("requests_total", "Requests", ["path"], registry=r)
    c.labels("/songs").inc(3)
    c.labels("/users").inc(1, exemplar={"trace_id": "abc"})
    h = ferrotel.Histogram("latency_seconds", "Latency", buckets=(0.1, 1), registry=r)
    h.observe(0.5)
    ferrotel.Gauge("up", "Up", registry=r).set(1)
    return r


@pytest.fixture
def server(registry):
    s = ferrotel.start_http_server(0, registry=registry)
    yield s
    s.shutdown()


def get(url: str, headers: dict[str, str] | None = None, method: str = "GET"):
    request = urllib.request.Request(url, headers=headers or {}, method=method)
    return urllib.request.urlopen(request, timeout=30)


def values(text: str, parse=parse_text) -> dict:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for f in parse(text)
        for s in f.samples
        if not s.name.endswith("_created")
    }


EXPECTED = {
    ("requests_total", (("path", "/songs"),)): 3.0,
    ("requests_total", (("path", "/users"),)): 1.0,
    ("latency_seconds_bucket", (("le", "0.1"),)): 0.0,
    ("latency_seconds_bucket", (("le", "1.0"),)): 1.0,
    ("latency_seconds_bucket", (("le", "+Inf"),)): 1.0,
    ("latency_seconds_count", ()): 1.0,
    ("latency_seconds_sum", ()): 0.5,
    ("up", ()): 1.0,
}


# --- start_http_server ----------------------------------------------------------------------------


def test_server_binds_loopback_and_reports_its_port(server):
    assert server.addr == "127.0.0.1"
    assert 0 < server.port < 65536
    assert str(server.port) in repr(server)


def test_server_answers_metrics_in_text_format(server):
    with get(f"http://127.0.0.1:{server.port}/metrics") as response:
        assert response.status == 200
        assert response.headers["Content-Type"] == ferrotel.CONTENT_TYPE_LATEST
        assert response.headers.get("Content-Encoding") is None
        body = response.read().decode()
    assert values(body) == EXPECTED
    assert "# EOF" not in body


def test_server_name_query_restricts_the_series(server):
    # the whole behaviour, against prometheus_client's: tests/test_server_compat.py
    with get(f"http://127.0.0.1:{server.port}/metrics?name[]=up&name[]=latency_seconds_count") as response:
        assert response.status == 200
        assert values(response.read().decode()) == {
            ("latency_seconds_count", ()): 1.0,
            ("up", ()): 1.0,
        }


@pytest.mark.parametrize("path", ["/nope", "/metrics/extra", "/favicon.ico"])
def test_server_answers_404_elsewhere(server, path):
    with pytest.raises(urllib.error.HTTPError) as info:
        get(f"http://127.0.0.1:{server.port}{path}")
    assert info.value.code == 404
    info.value.close()


def test_server_openmetrics_on_accept(server):
    with get(f"http://127.0.0.1:{server.port}/metrics", {"Accept": OPENMETRICS_ACCEPT}) as response:
        assert response.status == 200
        assert response.headers["Content-Type"] == ferrotel.CONTENT_TYPE_OPENMETRICS
        body = response.read().decode()
    assert body.endswith("# EOF\n")
    assert values(body, parse_openmetrics) == EXPECTED
    families = {f.name: f for f in parse_openmetrics(body)}
    exemplars = [s.exemplar for s in families["requests"].samples if s.exemplar]
    assert exemplars[0].labels == {"trace_id": "abc"}


def test_server_text_format_for_plain_accept(server):
    with get(f"http://127.0.0.1:{server.port}/metrics", {"Accept": "text/plain"}) as response:
        assert response.headers["Content-Type"] == ferrotel.CONTENT_TYPE_LATEST


@pytest.mark.parametrize("accept_encoding", ["gzip", "gzip, deflate", "br;q=1.0, gzip;q=0.8"])
def test_server_gzip_on_accept_encoding(server, accept_encoding):
    headers = {"Accept-Encoding": accept_encoding}
    with get(f"http://127.0.0.1:{server.port}/metrics", headers) as response:
        assert response.headers["Content-Encoding"] == "gzip"
        assert response.headers["Content-Type"] == ferrotel.CONTENT_TYPE_LATEST
        raw = response.read()
    assert values(gzip.decompress(raw).decode()) == EXPECTED


def test_server_gzip_and_openmetrics_together(server):
    headers = {"Accept-Encoding": "gzip", "Accept": OPENMETRICS_ACCEPT}
    with get(f"http://127.0.0.1:{server.port}/metrics", headers) as response:
        assert response.headers["Content-Encoding"] == "gzip"
        assert response.headers["Content-Type"] == ferrotel.CONTENT_TYPE_OPENMETRICS
        body = gzip.decompress(response.read()).decode()
    assert body.endswith("# EOF\n")
    assert values(body, parse_openmetrics) == EXPECTED


def test_server_identity_encoding_is_not_gzipped(server):
    with get(f"http://127.0.0.1:{server.port}/metrics", {"Accept-Encoding": "identity"}) as response:
        assert response.headers.get("Content-Encoding") is None


def test_server_head_request(server):
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    try:
        connection.request("HEAD", "/metrics")
        response = connection.getresponse()
        assert response.status == 200
        assert response.headers["Content-Type"] == ferrotel.CONTENT_TYPE_LATEST
        assert response.read() == b""
    finally:
        connection.close()


def test_server_rejects_other_methods(server):
    with pytest.raises(urllib.error.HTTPError) as info:
        get(f"http://127.0.0.1:{server.port}/metrics", method="POST")
    assert info.value.code == 405
    info.value.close()


def test_server_reflects_new_values(server, registry):
    url = f"http://127.0.0.1:{server.port}/metrics"
    registry.get("up").set(0)
    with get(url) as response:
        assert values(response.read().decode())[("up", ())] == 0.0


def test_server_keep_alive_many_requests(server):
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    try:
        for _ in range(20):
            connection.request("GET", "/metrics")
            response = connection.getresponse()
            assert response.status == 200
            assert values(response.read().decode()) == EXPECTED
    finally:
        connection.close()


def test_server_with_python_collectors_and_function_gauges():
    r = ferrotel.Registry()
    ferrotel.Gauge("from_function", "F", registry=r).set_function(lambda: 17)

    class Collector:
        def collect(self):
            from prometheus_client.core import GaugeMetricFamily

            yield GaugeMetricFamily("from_collector", "C", value=5)

    r.register(Collector())
    with ferrotel.start_http_server(0, registry=r) as s:
        with get(f"http://127.0.0.1:{s.port}/metrics") as response:
            body = response.read().decode()
    assert values(body) == {("from_function", ()): 17.0, ("from_collector", ()): 5.0}


def test_server_answers_500_when_a_collector_fails():
    r = ferrotel.Registry()

    class Broken:
        def describe(self):
            return []

        def collect(self):
            raise RuntimeError("broken collector")

    broken = Broken()
    r.register(broken)
    with ferrotel.start_http_server(0, registry=r) as s:
        with pytest.raises(urllib.error.HTTPError) as info:
            get(f"http://127.0.0.1:{s.port}/metrics")
        assert info.value.code == 500
        assert "broken collector" in info.value.read().decode()
        info.value.close()
        # the server keeps serving once the collector is gone
        r.unregister(broken)
        with get(f"http://127.0.0.1:{s.port}/metrics") as response:
            assert response.status == 200


def test_server_default_registry():
    with ferrotel.start_http_server(0) as s:
        with get(f"http://127.0.0.1:{s.port}/metrics") as response:
            assert response.status == 200
            body = response.read().decode()
    # the default registry always holds ferrotel's own dropped counter
    assert "# TYPE ferrotel_dropped_total counter" in body


@pytest.mark.skipif(not socket.has_ipv6, reason="no IPv6")
def test_server_on_ipv6_loopback(registry):
    try:
        server = ferrotel.start_http_server(0, addr="::1", registry=registry)
    except OSError as exc:  # a host without an IPv6 loopback address
        pytest.skip(f"cannot bind ::1: {exc}")
    with server:
        assert repr(server) == f"<MetricsServer http://::1:{server.port}/metrics>"
        with get(f"http://[::1]:{server.port}/metrics") as response:
            assert values(response.read().decode()) == EXPECTED


def test_two_servers_cannot_share_a_port(server, registry):
    with pytest.raises(OSError) as info:
        ferrotel.start_http_server(server.port, registry=registry)
    assert str(server.port) in str(info.value)


def test_shutdown_is_idempotent(registry):
    s = ferrotel.start_http_server(0, registry=registry)
    s.shutdown()
    s.shutdown()


def test_shutdown_stops_listening(registry):
    """After shutdown() the port must refuse (or at least close) connections, not leave them hanging."""
    s = ferrotel.start_http_server(0, registry=registry)
    port = s.port
    with get(f"http://127.0.0.1:{port}/metrics") as response:
        assert response.status == 200
    s.shutdown()
    try:
        sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    except (ConnectionRefusedError, ConnectionResetError):
        return  # refused, or closed while the listener thread winds down: not hanging
    with sock:
        sock.settimeout(5)
        try:
            sock.sendall(b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
            data = sock.recv(1024)
        except ConnectionResetError:
            return  # closed by the peer: not hanging
        except TimeoutError:
            pytest.fail(f"port {port} still accepts connections after shutdown() and never answers them")
        assert data == b"", f"server still answering after shutdown(): {data[:80]!r}"


# --- WSGI ----------------------------------------------------------------------------------------


def call_wsgi(app, **environ_extra):
    environ: dict = {}
    setup_testing_defaults(environ)
    environ["PATH_INFO"] = "/metrics"
    environ["QUERY_STRING"] = ""
    environ.update(environ_extra)
    captured: dict = {}

    def start_response(status, headers, exc_info=None):
        captured["status"] = status
        captured["headers"] = dict(headers)
        return lambda data: None

    result = validator(app)(environ, start_response)
    try:
        body = b"".join(result)
    finally:
        result.close()
    return captured["status"], captured["headers"], body


def test_wsgi_app_text(registry):
    status, headers, body = call_wsgi(ferrotel.make_wsgi_app(registry))
    assert status == "200 OK"
    assert headers["Content-Type"] == ferrotel.CONTENT_TYPE_LATEST
    assert headers["Content-Length"] == str(len(body))
    assert "Content-Encoding" not in headers
    assert values(body.decode()) == EXPECTED


def test_wsgi_app_openmetrics(registry):
    status, headers, body = call_wsgi(ferrotel.make_wsgi_app(registry), HTTP_ACCEPT=OPENMETRICS_ACCEPT)
    assert headers["Content-Type"] == ferrotel.CONTENT_TYPE_OPENMETRICS
    assert body.endswith(b"# EOF\n")
    assert values(body.decode(), parse_openmetrics) == EXPECTED


def test_wsgi_app_gzip(registry):
    status, headers, body = call_wsgi(ferrotel.make_wsgi_app(registry), HTTP_ACCEPT_ENCODING="gzip, deflate")
    assert headers["Content-Encoding"] == "gzip"
    assert headers["Content-Length"] == str(len(body))
    assert values(gzip.decompress(body).decode()) == EXPECTED


def test_wsgi_app_head(registry):
    environ: dict = {}
    setup_testing_defaults(environ)
    environ["REQUEST_METHOD"] = "HEAD"
    captured = {}

    def start_response(status, headers, exc_info=None):
        captured["status"] = status
        return lambda data: None

    body = b"".join(ferrotel.make_wsgi_app(registry)(environ, start_response))
    assert captured["status"] == "200 OK"
    assert body == b""


def test_wsgi_app_served_by_wsgiref_on_loopback(registry):
    import threading
    from wsgiref.simple_server import WSGIRequestHandler, make_server

    class Quiet(WSGIRequestHandler):
        def log_message(self, *args):
            pass

    httpd = make_server("127.0.0.1", 0, ferrotel.make_wsgi_app(registry), handler_class=Quiet)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        port = httpd.server_address[1]
        with get(f"http://127.0.0.1:{port}/metrics", {"Accept-Encoding": "gzip"}) as response:
            assert response.headers["Content-Encoding"] == "gzip"
            assert values(gzip.decompress(response.read()).decode()) == EXPECTED
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=30)


# --- ASGI ----------------------------------------------------------------------------------------


def call_asgi(app, headers=(), method="GET", scope_type="http"):
    sent: list[dict] = []

    async def receive():
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message):
        sent.append(message)

    scope = {
        "type": scope_type,
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": "/metrics",
        "raw_path": b"/metrics",
        "query_string": b"",
        "root_path": "",
        "headers": [(k.encode("latin-1"), v.encode("latin-1")) for k, v in headers],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 80),
    }
    asyncio.run(app(scope, receive, send))
    return sent


def asgi_response(sent):
    assert [m["type"] for m in sent] == ["http.response.start", "http.response.body"]
    start, body = sent
    headers = {k.decode(): v.decode() for k, v in start["headers"]}
    return start["status"], headers, body["body"]


def test_asgi_app_text(registry):
    status, headers, body = asgi_response(call_asgi(ferrotel.make_asgi_app(registry)))
    assert status == 200
    assert headers["content-type"] == ferrotel.CONTENT_TYPE_LATEST
    assert headers["content-length"] == str(len(body))
    assert "content-encoding" not in headers
    assert values(body.decode()) == EXPECTED


def test_asgi_app_openmetrics_with_mixed_case_header(registry):
    sent = call_asgi(ferrotel.make_asgi_app(registry), headers=[("Accept", OPENMETRICS_ACCEPT)])
    status, headers, body = asgi_response(sent)
    assert headers["content-type"] == ferrotel.CONTENT_TYPE_OPENMETRICS
    assert values(body.decode(), parse_openmetrics) == EXPECTED


def test_asgi_app_gzip(registry):
    sent = call_asgi(ferrotel.make_asgi_app(registry), headers=[("accept-encoding", "gzip")])
    status, headers, body = asgi_response(sent)
    assert headers["content-encoding"] == "gzip"
    assert headers["content-length"] == str(len(body))
    assert values(gzip.decompress(body).decode()) == EXPECTED


def test_asgi_app_head(registry):
    status, headers, body = asgi_response(call_asgi(ferrotel.make_asgi_app(registry), method="HEAD"))
    assert status == 200
    assert body == b""


def test_asgi_app_ignores_lifespan(registry):
    assert call_asgi(ferrotel.make_asgi_app(registry), scope_type="lifespan") == []


def test_asgi_app_concurrent_requests(registry):
    app = ferrotel.make_asgi_app(registry)

    async def one():
        sent = []

        async def receive():
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message):
            sent.append(message)

        await app({"type": "http", "method": "GET", "headers": []}, receive, send)
        return sent

    async def main():
        return await asyncio.gather(*(one() for _ in range(10)))

    for sent in asyncio.run(main()):
        status, _, body = asgi_response(sent)
        assert status == 200
        assert values(body.decode()) == EXPECTED
