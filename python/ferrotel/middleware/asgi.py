"""ASGI middleware (FastAPI, Starlette, any ASGI app): metrics, span, log line and headers.

app.add_middleware(ASGIMiddleware)              # Starlette / FastAPI
app = ASGIMiddleware(app)                       # any ASGI application

The route template is the one Starlette's router (and so FastAPI's) leaves in the scope.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from typing import Any

from .._core import REGISTRY, HttpRequest, Registry
from ..tracing import Tracer
from ._http import DEFAULT_EXCLUDED, RequestTelemetry

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class ASGIMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        registry: Registry = REGISTRY,
        tracer: Tracer | None = None,
        excluded_paths: Iterable[str] = DEFAULT_EXCLUDED,
        log_requests: bool = True,
    ) -> None:
        self.app = app
        self.telemetry = RequestTelemetry(registry, tracer, excluded_paths, log_requests)
        self._native = self.telemetry.native
        self._excluded = self.telemetry.excluded

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in self._excluded:
            await self.app(scope, receive, send)
            return
        request = self._native.start_asgi(scope)
        if request is None:
            await self.app(scope, receive, send)
            return
        try:
            await self.app(scope, receive, request.wrap_send(send))
        except BaseException as exc:
            request.failed(exc)
            raise
        finally:
            request.finish_asgi(scope)


__all__ = ["ASGIMiddleware", "HttpRequest"]
