"""Serving ``/metrics`` from an existing WSGI or ASGI application.

    app = make_wsgi_app()                     # mount at /metrics in Flask, Django, ...
    app.mount("/metrics", make_asgi_app())    # Starlette / FastAPI

The exposition is rendered in Rust; the format follows the ``Accept`` header (OpenMetrics when
asked for, the 0.0.4 text format otherwise) and is gzipped when ``Accept-Encoding`` allows.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from typing import Any

from ._core import REGISTRY, Registry

CONTENT_TYPE_LATEST = "text/plain; version=0.0.4; charset=utf-8"
CONTENT_TYPE_OPENMETRICS = "application/openmetrics-text; version=1.0.0; charset=utf-8"

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


def make_wsgi_app(registry: Registry = REGISTRY) -> Callable[..., Iterable[bytes]]:
    """A WSGI application answering every request with the registry's exposition."""

    def metrics_app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        body, content_type, encoding = registry.render(
            environ.get("HTTP_ACCEPT"), environ.get("HTTP_ACCEPT_ENCODING")
        )
        headers = [("Content-Type", content_type), ("Content-Length", str(len(body)))]
        if encoding:
            headers.append(("Content-Encoding", encoding))
        start_response("200 OK", headers)
        return [] if environ.get("REQUEST_METHOD") == "HEAD" else [body]

    return metrics_app


def make_asgi_app(registry: Registry = REGISTRY) -> Callable[[Scope, Receive, Send], Awaitable[None]]:
    """An ASGI application answering HTTP requests with the registry's exposition."""

    async def metrics_app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        body, content_type, encoding = registry.render(headers.get("accept"), headers.get("accept-encoding"))
        response_headers = [
            (b"content-type", content_type.encode()),
            (b"content-length", str(len(body)).encode()),
        ]
        if encoding:
            response_headers.append((b"content-encoding", encoding.encode()))
        await send({"type": "http.response.start", "status": 200, "headers": response_headers})
        await send({"type": "http.response.body", "body": b"" if scope.get("method") == "HEAD" else body})

    return metrics_app
