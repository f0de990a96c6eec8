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
        root_path = scope.get("root_path", "")
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
            if "route" not in scope and "endpoint" in scope:
                _note_starlette_route(scope, root_path)
            request.finish_asgi(scope)


def _note_starlette_route(scope: Scope, root_path: str) -> None:
    """Older Starlette (0.49, the last release for Python 3.9, among them) records the matched endpoint in the
    scope but not the route. The route is found again as its router found it: the request's
    scope, with the root_path it came in with, matched route by route, into Mounts. Never raises:
    without a route the request stays unmatched."""
    try:
        from starlette.routing import Match

        probe = {**scope, "root_path": root_path, "path_params": {}}
        routes = scope["app"].router.routes
        while routes:
            for route in routes:
                match, child = route.matches(probe)
                if match is Match.FULL:
                    probe.update(child)
                    inner = getattr(route, "routes", None)
                    if inner is None:
                        if isinstance(getattr(route, "path", None), str):
                            scope["route"] = route
                        return
                    routes = inner
                    break
            else:
                return
    except Exception:
        return


__all__ = ["ASGIMiddleware", "HttpRequest"]
