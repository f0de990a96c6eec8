"""``start_http_server`` and ``start_wsgi_server`` as prometheus_client 0.26 documents them:
``?name[]=...`` restricts a scrape to those samples (``_bake_output`` reads
``parse_qs(query)["name[]"]`` and renders ``registry.restricted_registry(names)``), and
``server, thread = start_http_server(port)`` then ``server.shutdown(); thread.join()`` stops the
server. Each expectation is pinned by running the same calls against prometheus_client."""

from __future__ import annotations

import gzip
import http.client
import os
import signal
import socket
import threading
from collections.abc import Iterator
from types import ModuleType
from typing import Any
from urllib.parse import parse_qs

import ferrotel
import prometheus_client
import pytest
from helpers import reap
from prometheus_client.openmetrics.exposition import generate_latest as pc_openmetrics

LOOPBACK = "127.0.0.1"
WAIT = 10.0
OPENMETRICS = "application/openmetrics-text; version=1.0.0,text/plain;version=0.0.4;q=0.5"


def record(lib: ModuleType, registry: Any) -> None:
    lib.Counter("a", "A", registry=registry).inc()
    lib.Counter("b", "B", ["kind"], registry=registry).labels("x").inc(2)
    lib.Gauge("g", "G", registry=registry).set(3)
    lib.Gauge("my metric", "A UTF-8 name with a space", registry=registry).set(4)
    lib.Gauge("app.up", "A UTF-8 name with a dot", registry=registry).set(1)
    lib.Histogram("h", "H", buckets=(1,), registry=registry).observe(0.5)
    lib.Info("build", "Build", registry=registry).info({"version": "1.2"})


@pytest.fixture(scope="module")
def registries() -> tuple[Any, Any]:
    """(ferrotel's, prometheus_client's), holding the same metrics."""
    ours, theirs = ferrotel.Registry(), prometheus_client.CollectorRegistry()
    record(ferrotel, ours)
    record(prometheus_client, theirs)
    return ours, theirs


@pytest.fixture(scope="module")
def port(registries: tuple[Any, Any]) -> Iterator[int]:
    with ferrotel.start_http_server(0, registry=registries[0]) as server:
        yield server.port


def request(port: int, target: str, headers: dict[str, str] | None = None) -> tuple[int, Any, bytes]:
    """The request target is sent as written (no re-encoding)."""
    conn = http.client.HTTPConnection(LOOPBACK, port, timeout=WAIT)
    try:
        conn.request("GET", target, headers=headers or {})
        response = conn.getresponse()
        return response.status, response.headers, response.read()
    finally:
        conn.close()


def families(body: bytes) -> list[bytes]:
    """The exposition's families, each with its HELP and TYPE lines, sorted: prometheus_client's
    restricted registry yields its collectors in set order, ferrotel in registration order.
    OpenMetrics' ``# EOF`` is a block of its own."""
    blocks: list[bytes] = []
    for line in body.splitlines(keepends=True):
        if line.startswith((b"# HELP ", b"# EOF")) or not blocks:
            blocks.append(b"")
        blocks[-1] += line
    return sorted(blocks)


def wsgi_answer(registry: Any, query: str, headers: dict[str, str]) -> tuple[dict[str, str], bytes]:
    """What ferrotel's WSGI app answers to the same request."""
    captured: dict[str, Any] = {}

    def start_response(status: str, response_headers: list[tuple[str, str]]) -> None:
        captured["headers"] = dict(response_headers)

    environ = {"REQUEST_METHOD": "GET", "PATH_INFO": "/metrics", "QUERY_STRING": query}
    environ.update({"HTTP_" + k.upper().replace("-", "_"): v for k, v in headers.items()})
    body = b"".join(ferrotel.make_wsgi_app(registry)(environ, start_response))
    return captured["headers"], body


# --- ?name[]= on the Rust server ------------------------------------------------------------------

QUERIES = {
    "name[]=a_total&name[]=b_total": {"a_total", "b_total"},
    "name%5B%5D=h_bucket&name%5b%5d=h_count&name[]=g": {"h_bucket", "h_count", "g"},
    "name[]=my+metric&name[]=app%2Eup": {"my metric", "app.up"},
    "other=1&name[]=build_info&name[]=&name[]&name[]=build_info": {"build_info"},
    "name[]=%zz&name[]=g%C3&name[]=a_total": {"%zz", "g\ufffd", "a_total"},
    "name[]=nope": {"nope"},
}


@pytest.mark.parametrize("gzipped", [False, True], ids=["plain", "gzip"])
@pytest.mark.parametrize("accept", [None, OPENMETRICS], ids=["text", "openmetrics"])
@pytest.mark.parametrize("query", list(QUERIES))
def test_name_query_restricts_the_scrape_as_prometheus_client_does(
    registries: tuple[Any, Any], port: int, query: str, accept: str | None, gzipped: bool
) -> None:
    ours, theirs = registries
    names = parse_qs(query)["name[]"]
    assert set(names) == QUERIES[query], "the query decodes as prometheus_client decodes it"
    headers = {"Accept": accept} if accept else {}
    if gzipped:
        headers["Accept-Encoding"] = "gzip"
    status, response_headers, body = request(port, f"/metrics?{query}", headers)
    assert status == 200
    if gzipped:
        assert response_headers["Content-Encoding"] == "gzip"
        body = gzip.decompress(body)
    else:
        assert "Content-Encoding" not in response_headers
    render = pc_openmetrics if accept else prometheus_client.generate_latest
    expected = render(theirs.restricted_registry(names))
    assert families(body) == families(expected)
    # the same code path as the WSGI app: the same bytes, in the same order, and headers
    wsgi_headers, wsgi_body = wsgi_answer(ours, query, headers)
    assert response_headers["Content-Type"] == wsgi_headers["Content-Type"]
    assert body == (gzip.decompress(wsgi_body) if gzipped else wsgi_body)


@pytest.mark.parametrize("accept, empty", [(None, b""), (OPENMETRICS, b"# EOF\n")])
def test_an_unknown_name_gives_an_empty_valid_exposition(
    registries: tuple[Any, Any], port: int, accept: str | None, empty: bytes
) -> None:
    status, _, body = request(port, "/metrics?name[]=nope", {"Accept": accept} if accept else {})
    assert status == 200
    assert body == empty
    render = pc_openmetrics if accept else prometheus_client.generate_latest
    assert render(registries[1].restricted_registry(["nope"])) == empty


@pytest.mark.parametrize("query", ["", "?", "?name[]=", "?name[]", "?names[]=g&name=g", "?%zz=1"])
def test_a_query_without_a_name_leaves_the_scrape_whole(
    registries: tuple[Any, Any], port: int, query: str
) -> None:
    assert parse_qs(query.lstrip("?")).get("name[]") is None
    status, _, body = request(port, f"/metrics{query}")
    assert status == 200
    assert body == ferrotel.generate_latest(registries[0])


def test_a_restricted_scrape_sees_metrics_registered_after_the_server_started() -> None:
    registry = ferrotel.Registry()
    with ferrotel.start_http_server(0, registry=registry) as server:
        assert request(server.port, "/metrics?name[]=late_total")[2] == b""
        ferrotel.Counter("late", "Late", registry=registry).inc()
        ferrotel.Gauge("other", "Other", registry=registry).set(1)
        body = request(server.port, "/metrics?name[]=late_total")[2]
    assert body == b"# HELP late_total Late\n# TYPE late_total counter\nlate_total 1.0\n"


# --- server, thread = start_http_server(port) -----------------------------------------------------


def refused(port: int) -> bool:
    try:
        socket.create_connection((LOOPBACK, port), timeout=WAIT).close()
    except ConnectionRefusedError:
        return True
    return False


@pytest.mark.parametrize("lib", [prometheus_client, ferrotel], ids=["prometheus_client", "ferrotel"])
def test_start_http_server_unpacks_into_server_and_thread(lib: ModuleType) -> None:
    registry = lib.CollectorRegistry()
    lib.Gauge("up", "Up", registry=registry).set(1)
    server, thread = lib.start_http_server(0, addr=LOOPBACK, registry=registry)
    port = server.server_port
    assert server.server_address == (LOOPBACK, port)
    assert thread.daemon
    assert isinstance(thread.name, str)
    assert thread.is_alive()
    thread.join(timeout=0.01)  # serving: the join times out
    assert thread.is_alive()
    status, _, body = request(port, "/metrics")
    assert status == 200
    assert b"up 1.0\n" in body
    server.shutdown()
    thread.join()
    assert not thread.is_alive()
    server.server_close()
    assert refused(port)
    # the port is free again: a new server takes it
    server, thread = lib.start_http_server(port, addr=LOOPBACK, registry=registry)
    try:
        assert request(port, "/metrics")[0] == 200
    finally:
        server.shutdown()
        thread.join(timeout=WAIT)
        server.server_close()


@pytest.mark.parametrize("start", ["start_http_server", "start_wsgi_server"])
def test_shutdown_and_join_free_the_port_without_server_close(start: str) -> None:
    """prometheus_client's documented stop, ``server.shutdown(); thread.join()``, leaves its
    socket open until ``server_close()``; ferrotel's frees the port."""
    registry = ferrotel.Registry()
    server, thread = getattr(ferrotel, start)(0, registry=registry)
    port = server.server_port
    assert request(port, "/metrics?name[]=x")[0] == 200
    server.shutdown()
    thread.join(timeout=WAIT)
    assert not thread.is_alive()
    assert refused(port)
    again, again_thread = getattr(ferrotel, start)(port, registry=registry)
    again.shutdown()
    again_thread.join(timeout=WAIT)
    assert not again_thread.is_alive()


def test_start_wsgi_server_restricts_as_the_rust_server_does(registries: tuple[Any, Any], port: int) -> None:
    target = "/metrics?name[]=a_total&name%5B%5D=my+metric"
    server, thread = ferrotel.start_wsgi_server(0, registry=registries[0])
    try:
        status, _, body = request(server.server_port, target)
        assert (status, body) == (200, request(port, target)[2])
        assert {f.split(b"\n")[0] for f in families(body)} == {
            b"# HELP a_total A",
            b"# HELP my_metric A UTF-8 name with a space",
        }
    finally:
        server.shutdown()
        thread.join(timeout=WAIT)


def test_the_server_is_still_a_server_and_indexes_as_the_pair() -> None:
    registry = ferrotel.Registry()
    server = ferrotel.start_http_server(0, registry=registry)
    try:
        assert server.port == server.server_port and server.addr == LOOPBACK
        assert list(server) == [server, server.thread]
        assert len(server) == 2
        assert server[0] is server and server[-2] is server
        assert server[1] is server.thread and server[-1] is server.thread
        with pytest.raises(IndexError):
            server[2]
        assert repr(server.thread) == "<MetricsServerThread(ferrotel-metrics, started daemon)>"
    finally:
        server.shutdown()
    assert repr(server.thread) == "<MetricsServerThread(ferrotel-metrics, stopped daemon)>"
    server.server_close()  # after shutdown(): nothing left to close, and no error
    server.thread.join()


def test_join_is_interrupted_by_a_signal_handler_that_raises() -> None:
    """As ``threading.Thread.join``: Ctrl-C (or any handler that raises) ends a join."""

    class Interrupted(Exception):
        pass

    armed, done = threading.Event(), threading.Event()
    watchdog_fired = threading.Event()

    def handler(signum: int, frame: Any) -> None:
        if armed.is_set():
            raise Interrupted

    server, thread = ferrotel.start_http_server(0, registry=ferrotel.Registry())

    def interrupt() -> None:
        armed.wait(WAIT)
        for _ in range(300):  # up to about 30 s, then end the join another way
            os.kill(os.getpid(), signal.SIGUSR1)
            if done.wait(0.1):
                return
        watchdog_fired.set()
        server.shutdown()

    previous = signal.signal(signal.SIGUSR1, handler)
    sender = threading.Thread(target=interrupt, daemon=True)
    sender.start()
    try:
        with pytest.raises(Interrupted):
            armed.set()
            thread.join()  # a join without timeout: only a signal (or the watchdog) ends it
        armed.clear()
        done.set()
        sender.join(WAIT)
        assert not watchdog_fired.is_set(), "join() was not interrupted by the signal"
        assert thread.is_alive()
    finally:
        armed.clear()
        done.set()
        signal.signal(signal.SIGUSR1, previous)
        server.shutdown()
    thread.join()
    assert not thread.is_alive()


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_in_a_forked_child_the_thread_is_not_alive() -> None:
    server, thread = ferrotel.start_http_server(0, registry=ferrotel.Registry())
    try:
        pid = os.fork()
        if pid == 0:  # pragma: no cover (runs in the child)
            code = 1
            try:
                thread.join()  # the thread is the parent's: returns at once
                code = 0 if not thread.is_alive() else 2
            finally:
                os._exit(code)
        assert reap(pid) == 0
        assert thread.is_alive()
    finally:
        server.shutdown()
    thread.join()
