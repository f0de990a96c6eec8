"""ASGI middleware (FastAPI, Starlette, any ASGI app): metrics, span, log line and headers.

app.add_middleware(ASGIMiddleware)              # Starlette / FastAPI
app = ASGIMiddleware(app)                       # any ASGI application
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from typing import Any

from .._core import REGISTRY, Registry
from ..tracing import Tracer
from ._http import DEFAULT_EXCLUDED, UNMATCHED, Request, RequestTelemetry, header_map, route_template

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


def _route(scope: Scope, root_path: str) -> str:
    """The route template the framework matched: FastAPI and Starlette leave it in the scope."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    if not isinstance(path, str):
        return UNMATCHED
    # Under a Mount, the router records the inner route; the mount's prefix is in root_path.
    mounted = scope.get("root_path", "")[len(root_path) :]
    return route_template(mounted + path)


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

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in self.telemetry.excluded:
            await self.app(scope, receive, send)
            return
        request = self.telemetry.start(
            scope["method"], scope["path"], header_map(scope.get("headers", ())), scope.get("scheme", "http")
        )
        extra = [(b"x-trace-id", request.trace_id.encode()), (b"x-request-id", request.request_id.encode())]
        root_path = scope.get("root_path", "")

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                request.status = message["status"]
                message["headers"] = [*message.get("headers", ()), *extra]
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        except BaseException as exc:
            request.failed(exc)
            raise
        finally:
            request.finish(_route(scope, root_path))


__all__ = ["ASGIMiddleware", "Request"]
