"""A WSGI and an ASGI app behind ferrotel's middleware, for the multiprocess tests: ``/work``
answers with the worker's pid, ``/hold`` writes the pid to ``$HOLD_FILE`` and answers after a
few seconds (so a test can kill a worker that is busy), ``/metrics`` is ferrotel's exposition."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable, Iterable
from typing import Any

import ferrotel
from ferrotel.middleware import ASGIMiddleware, WSGIMiddleware

HOLD_SECONDS = 5.0

metrics_wsgi = ferrotel.make_wsgi_app()
metrics_asgi = ferrotel.make_asgi_app()


def hold() -> None:
    with open(os.environ["HOLD_FILE"], "w") as f:
        f.write(str(os.getpid()))


def wsgi_app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    path = environ["PATH_INFO"]
    if path == "/metrics":
        return metrics_wsgi(environ, start_response)
    environ["ferrotel.route"] = path
    if path == "/hold":
        hold()
        time.sleep(HOLD_SECONDS)
    body = str(os.getpid()).encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]


async def asgi_inner(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    if scope["path"] == "/metrics":
        return await metrics_asgi(scope, receive, send)
    if scope["path"] == "/hold":
        hold()
        await asyncio.sleep(HOLD_SECONDS)
    body = str(os.getpid()).encode()
    headers = [(b"content-type", b"text/plain"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})


wsgi = WSGIMiddleware(wsgi_app, log_requests=False)
asgi = ASGIMiddleware(asgi_inner, log_requests=False)
