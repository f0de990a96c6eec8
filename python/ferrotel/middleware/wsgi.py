"""WSGI middleware (Flask, Django, any WSGI app): metrics, span, log line and headers.

    app.wsgi_app = WSGIMiddleware(app.wsgi_app)     # Flask
    application = WSGIMiddleware(get_wsgi_application())   # Django

The route template comes from the framework: Flask's matched rule (recorded as Flask's URL
adapter matches it), Django's URL resolver.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from .._core import REGISTRY, Registry
from ..tracing import Tracer
from ._http import DEFAULT_EXCLUDED, UNMATCHED, Request, RequestTelemetry, route_template

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
ROUTE_KEY = "ferrotel.route"


def _hook_flask(app: Any) -> None:
    """Records Flask's matched rule in the environ. Flask matches a request through the URL
    adapter it makes per request; wrapping that adapter's ``match`` costs far less than a
    ``before_request`` hook, which Flask runs through its hook machinery on every request."""
    flask_app = getattr(app, "__self__", app)
    if not (hasattr(flask_app, "create_url_adapter") and hasattr(flask_app, "url_map")):
        return
    create_url_adapter = flask_app.create_url_adapter

    def recording_url_adapter(request: Any) -> Any:
        adapter = create_url_adapter(request)
        if adapter is None or request is None:
            return adapter
        match = adapter.match
        environ = request.environ

        def recording_match(*args: Any, **kwargs: Any) -> Any:
            result = match(*args, **kwargs)
            if kwargs.get("return_rule"):
                environ[ROUTE_KEY] = result[0].rule
            return result

        adapter.match = recording_match
        return adapter

    flask_app.create_url_adapter = recording_url_adapter


def _django_route(path: str) -> str | None:
    if "django.urls" not in sys.modules:
        return None
    from django.urls import Resolver404, resolve

    try:
        match = resolve(path)
    except Resolver404:
        return UNMATCHED
    return str(match.route)


def _route(environ: dict[str, Any]) -> str:
    route = environ.get(ROUTE_KEY) or _django_route(environ.get("PATH_INFO", ""))
    return route_template(route) if route and route != UNMATCHED else UNMATCHED


# The request headers the middleware reads: propagation formats and the request id.
_HEADERS = [
    (f"HTTP_{name.upper().replace('-', '_')}", name)
    for name in (
        "traceparent",
        "tracestate",
        "baggage",
        "b3",
        "x-b3-traceid",
        "x-b3-spanid",
        "x-b3-sampled",
        "x-b3-flags",
        "x-request-id",
    )
]


def _carrier(environ: dict[str, Any]) -> dict[str, str]:
    return {name: environ[key] for key, name in _HEADERS if key in environ}


class _Body:
    """The response body, passed through; the request ends when the server closes it, so a
    streamed body is measured to its last chunk."""

    def __init__(self, body: Iterable[bytes], request: Request, environ: dict[str, Any]) -> None:
        self.body = body
        self.request = request
        self.environ = environ
        self.done = False

    def __iter__(self) -> Iterator[bytes]:
        try:
            yield from self.body
        except BaseException as exc:
            self.request.failed(exc)
            raise

    def close(self) -> None:
        try:
            close = getattr(self.body, "close", None)
            if close is not None:
                close()
        finally:
            if not self.done:
                self.done = True
                self.request.finish(_route(self.environ))


class WSGIMiddleware:
    def __init__(
        self,
        app: WSGIApp,
        registry: Registry = REGISTRY,
        tracer: Tracer | None = None,
        excluded_paths: Iterable[str] = DEFAULT_EXCLUDED,
        log_requests: bool = True,
    ) -> None:
        self.app = app
        self.telemetry = RequestTelemetry(registry, tracer, excluded_paths, log_requests)
        _hook_flask(app)

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path in self.telemetry.excluded:
            return self.app(environ, start_response)
        request = self.telemetry.start(
            environ.get("REQUEST_METHOD", "GET"),
            path,
            _carrier(environ),
            environ.get("wsgi.url_scheme", "http"),
        )
        extra = request.response_headers()

        def start_with_headers(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            request.status = int(status[:3])
            return start_response(status, [*headers, *extra], exc_info)

        try:
            body = self.app(environ, start_with_headers)
        except BaseException as exc:
            request.failed(exc)
            request.finish(_route(environ))
            raise
        return _Body(body, request, environ)


__all__ = ["WSGIMiddleware"]
