"""prometheus_client's ``exposition`` module, for ferrotel's registries.

    app = make_wsgi_app()                     # mount at /metrics in Flask, Django, ...
    app.mount("/metrics", make_asgi_app())    # Starlette / FastAPI
    write_to_textfile("/var/lib/node_exporter/job.prom", registry)

The exposition is rendered in Rust; the format follows the ``Accept`` header (OpenMetrics or the
text format 1.0.0 when asked for, with their ``escaping=``; text 0.0.4 otherwise), it is gzipped
when ``Accept-Encoding`` allows, and ``?name[]=...`` restricts it to those series, as in
prometheus_client.
"""

from __future__ import annotations

import functools
import os
import socket
import ssl
import sys
import threading
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from contextlib import closing
from http.server import BaseHTTPRequestHandler
from socketserver import ThreadingMixIn
from typing import Any
from urllib.parse import parse_qs, urlparse
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from ._core import REGISTRY, _negotiate, generate_latest, generate_openmetrics, start_http_server
from .pushgateway import default_handler, delete_from_gateway, push_to_gateway, pushadd_to_gateway

__all__ = [
    "CONTENT_TYPE_LATEST",
    "CONTENT_TYPE_OPENMETRICS",
    "CONTENT_TYPE_PLAIN_0_0_4",
    "CONTENT_TYPE_PLAIN_1_0_0",
    "MetricsHandler",
    "ThreadingWSGIServer",
    "basic_auth_handler",
    "choose_encoder",
    "default_handler",
    "delete_from_gateway",
    "generate_latest",
    "generate_openmetrics",
    "gzip_accepted",
    "instance_ip_grouping_key",
    "make_asgi_app",
    "make_wsgi_app",
    "passthrough_redirect_handler",
    "push_to_gateway",
    "pushadd_to_gateway",
    "start_http_server",
    "start_wsgi_server",
    "tls_auth_handler",
    "write_to_textfile",
]

CONTENT_TYPE_PLAIN_0_0_4 = "text/plain; version=0.0.4; charset=utf-8"
CONTENT_TYPE_PLAIN_1_0_0 = "text/plain; version=1.0.0; charset=utf-8"
#: What ``generate_latest()`` renders by default and a scrape that asks for nothing gets.
#: (prometheus_client 0.26 names the 1.0.0 format here, though it serves 0.0.4 by default too.)
CONTENT_TYPE_LATEST = CONTENT_TYPE_PLAIN_0_0_4
CONTENT_TYPE_OPENMETRICS = "application/openmetrics-text; version=1.0.0; charset=utf-8"

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
Headers = list[tuple[str, str]]


def basic_auth_handler(
    url: str,
    method: str,
    timeout: float | None,
    headers: list[tuple[str, str]],
    data: bytes,
    username: str | None = None,
    password: str | None = None,
) -> Callable[[], None]:
    """prometheus_client's push handler with HTTP basic auth (use with ``functools.partial``)."""
    from prometheus_client.exposition import basic_auth_handler as handler

    return handler(url, method, timeout, headers, data, username, password)


def tls_auth_handler(
    url: str,
    method: str,
    timeout: float | None,
    headers: list[tuple[str, str]],
    data: bytes,
    certfile: str,
    keyfile: str,
    cafile: str | None = None,
    protocol: int = ssl.PROTOCOL_TLS_CLIENT,
    insecure_skip_verify: bool = False,
) -> Callable[[], None]:
    """prometheus_client's push handler with a TLS client certificate."""
    from prometheus_client.exposition import tls_auth_handler as handler

    return handler(
        url, method, timeout, headers, data, certfile, keyfile, cafile, protocol, insecure_skip_verify
    )


def passthrough_redirect_handler(
    url: str, method: str, timeout: float | None, headers: list[tuple[str, str]], data: bytes
) -> Callable[[], None]:
    """prometheus_client's push handler that follows redirects with the same method and body."""
    from prometheus_client.exposition import passthrough_redirect_handler as handler

    return handler(url, method, timeout, headers, data)


def choose_encoder(accept_header: str | None) -> tuple[Callable[[Any], bytes], str]:
    """The renderer and content type a scrape with this ``Accept`` header gets."""
    fmt, escaping, content_type = _negotiate(accept_header)
    render = generate_openmetrics if fmt == "openmetrics" else generate_latest
    return functools.partial(render, escaping=escaping), content_type


def gzip_accepted(accept_encoding_header: str | None) -> bool:
    return any(
        part.split(";")[0].strip().lower() == "gzip" for part in (accept_encoding_header or "").split(",")
    )


def _answer(
    registry: Any,
    method: str,
    path: str,
    query: str,
    accept: str | None,
    accept_encoding: str | None,
    disable_compression: bool,
) -> tuple[str, Headers, bytes]:
    """prometheus_client's answers: OPTIONS lists the methods, other methods than GET (and
    HEAD, which gets the headers) are refused, the favicon is empty, any other path is the
    exposition."""
    allow: Headers = [("Allow", "OPTIONS,GET")]
    if method == "OPTIONS":
        return "200 OK", allow, b""
    if method not in ("GET", "HEAD"):
        return (
            "405 Method Not Allowed",
            allow,
            f"# HTTP 405 Method Not Allowed: {method}; use OPTIONS or GET\n".encode(),
        )
    if path == "/favicon.ico":
        return "200 OK", [], b""
    names = parse_qs(query).get("name[]")
    encoding = None if disable_compression else accept_encoding
    body, content_type, content_encoding = registry.render(accept, encoding, names)
    headers = [("Content-Type", content_type), ("Content-Length", str(len(body)))]
    if content_encoding:
        headers.append(("Content-Encoding", content_encoding))
    return "200 OK", headers, b"" if method == "HEAD" else body


def _renderable(registry: Any) -> Any:
    """A registry with ``render()``: ferrotel's as they are, any other collector wrapped."""
    if hasattr(registry, "render"):
        return registry
    from ._core import Registry

    wrapped = Registry()
    wrapped.register(registry)
    return wrapped


def make_wsgi_app(
    registry: Any = REGISTRY, disable_compression: bool = False
) -> Callable[..., Iterable[bytes]]:
    """A WSGI application answering every request with the registry's exposition."""
    source = _renderable(registry)

    def metrics_app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        status, headers, body = _answer(
            source,
            environ.get("REQUEST_METHOD", "GET"),
            environ.get("PATH_INFO", "/"),
            environ.get("QUERY_STRING", ""),
            environ.get("HTTP_ACCEPT"),
            environ.get("HTTP_ACCEPT_ENCODING"),
            disable_compression,
        )
        start_response(status, headers)
        return [body]

    return metrics_app


def make_asgi_app(
    registry: Any = REGISTRY, disable_compression: bool = False
) -> Callable[[Scope, Receive, Send], Awaitable[None]]:
    """An ASGI application answering HTTP requests with the registry's exposition."""
    source = _renderable(registry)

    async def metrics_app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        status, response_headers, body = _answer(
            source,
            scope.get("method", "GET"),
            scope.get("path", "/"),
            scope.get("query_string", b"").decode("latin-1"),
            headers.get("accept"),
            headers.get("accept-encoding"),
            disable_compression,
        )
        await send(
            {
                "type": "http.response.start",
                "status": int(status.split(" ")[0]),
                "headers": [(k.lower().encode(), v.encode()) for k, v in response_headers],
            }
        )
        await send({"type": "http.response.body", "body": body})

    return metrics_app


class MetricsHandler(BaseHTTPRequestHandler):
    """An ``http.server`` handler serving the exposition of ``registry`` (the default REGISTRY;
    ``MetricsHandler.factory(registry)`` makes one for another)."""

    registry: Any = REGISTRY

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        self._serve()

    def do_HEAD(self) -> None:  # noqa: N802 - http.server's name
        self._serve()

    def _serve(self) -> None:
        url = urlparse(self.path)
        status, headers, body = _answer(
            _renderable(self.registry),
            self.command,
            url.path,
            url.query,
            self.headers.get("Accept"),
            self.headers.get("Accept-Encoding"),
            False,
        )
        self.send_response(int(status.split(" ")[0]))
        for name, value in headers:
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base signature
        """Log nothing."""

    @classmethod
    def factory(cls, registry: Any) -> type[MetricsHandler]:
        """A MetricsHandler class serving ``registry``."""
        return type(cls.__name__, (cls, object), {"registry": registry})


class _SilentHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base signature
        """Log nothing."""


class ThreadingWSGIServer(ThreadingMixIn, WSGIServer):
    """A thread per request; threads do not keep the process alive."""

    daemon_threads = True


def start_wsgi_server(
    port: int,
    addr: str = "127.0.0.1",
    registry: Any = REGISTRY,
    certfile: str | None = None,
    keyfile: str | None = None,
    client_cafile: str | None = None,
    client_capath: str | None = None,
    protocol: int = ssl.PROTOCOL_TLS_SERVER,
    client_auth_required: bool = False,
    tls_min_version: ssl.TLSVersion | None = None,
    tls_max_version: ssl.TLSVersion | None = None,
) -> tuple[WSGIServer, threading.Thread]:
    """Serves the exposition from a Python WSGI server on a daemon thread, with TLS when
    ``certfile`` and ``keyfile`` are given, as prometheus_client's does; returns the server and
    its thread (``server.shutdown(); thread.join()`` stops it and frees the port). Binds
    127.0.0.1 unless told otherwise (prometheus_client binds 0.0.0.0)."""
    family = socket.getaddrinfo(addr, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)[0]

    class Server(ThreadingWSGIServer):
        address_family = family[0]

    host = str(family[4][0])
    httpd = make_server(host, port, make_wsgi_app(registry), Server, handler_class=_SilentHandler)
    if certfile and keyfile:
        context = ssl.SSLContext(protocol=protocol)
        if client_cafile is not None or client_capath is not None:
            context.load_verify_locations(client_cafile, client_capath)
        else:
            context.load_default_certs(purpose=ssl.Purpose.CLIENT_AUTH)
        if client_auth_required:
            context.verify_mode = ssl.CERT_REQUIRED
        context.load_cert_chain(certfile=certfile, keyfile=keyfile)
        if tls_min_version is not None:
            context.minimum_version = tls_min_version
        if tls_max_version is not None:
            context.maximum_version = tls_max_version
        httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
    thread = threading.Thread(target=_serve, args=(httpd,), name="ferrotel-wsgi-metrics", daemon=True)
    thread.start()
    return httpd, thread


def _serve(httpd: WSGIServer) -> None:
    """Serves until ``httpd.shutdown()``, then closes the listening socket, so that
    ``server.shutdown(); thread.join()`` frees the port without ``server_close()``."""
    try:
        httpd.serve_forever()
    finally:
        httpd.server_close()


def write_to_textfile(
    path: str, registry: Any, escaping: str = "allow-utf-8", tmpdir: str | None = None
) -> None:
    """Writes the text exposition to ``path`` for the node exporter's textfile collector: to a
    temporary file first (in ``tmpdir``, which must be on the same filesystem), then renamed,
    so the collector never reads a half-written file."""
    suffix = f".{os.getpid()}.{threading.get_ident()}"
    if tmpdir is not None:
        tmppath = os.path.join(tmpdir, os.path.basename(path)) + suffix
    else:
        tmppath = path + suffix
    try:
        with open(tmppath, "wb") as f:
            f.write(generate_latest(registry, escaping))
        os.replace(tmppath, path)
    except BaseException:
        if os.path.exists(tmppath):
            os.remove(tmppath)
        raise


def instance_ip_grouping_key() -> dict[str, Any]:
    """A Pushgateway grouping key with ``instance`` set to this host's IP address."""
    with closing(socket.socket(socket.AF_INET, socket.SOCK_DGRAM)) as s:
        if sys.platform == "darwin":
            s.connect(("10.255.255.255", 1))
        else:
            s.connect(("localhost", 0))
        return {"instance": s.getsockname()[0]}
