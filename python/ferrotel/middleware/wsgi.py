"""WSGI middleware (Flask, Django, any WSGI app): metrics, span, log line and headers.

    app.wsgi_app = WSGIMiddleware(app.wsgi_app)     # Flask
    application = WSGIMiddleware(get_wsgi_application())   # Django

The route template comes from the framework: Flask's matched rule (werkzeug leaves the request,
and so its ``url_rule``, in the environ), Django's URL resolver. Any other app can put its route
in ``environ["ferrotel.route"]``; without one the path is ``unmatched``.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable
from typing import Any

from .._core import REGISTRY, Registry, WsgiMiddlewareBase
from ..tracing import Tracer
from ._http import DEFAULT_EXCLUDED, RequestTelemetry

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
ROUTE_KEY = "ferrotel.route"


def _django_route(environ: dict[str, Any]) -> str | None:
    """The route Django's resolver matches for the request, when Django is in use."""
    if "django.urls" not in sys.modules:
        return None
    from django.urls import Resolver404, resolve

    try:
        match = resolve(environ.get("PATH_INFO", ""))
    except Resolver404:
        return None
    return str(match.route)


_flask_hooked = False


def _hook_flask_errors() -> None:
    """When a Flask view raises and the exception propagates, Flask has dropped its request by
    the time the middleware sees the exception; its ``got_request_exception`` signal comes while
    the request is still there, and notes the rule. Requests that succeed pay nothing for it."""
    global _flask_hooked
    if _flask_hooked or "flask" not in sys.modules:
        return
    from flask import got_request_exception, request

    def note_route(sender: Any, **extra: Any) -> None:
        rule = request.url_rule
        if rule is not None:
            request.environ[ROUTE_KEY] = rule.rule

    got_request_exception.connect(note_route, weak=False)
    _flask_hooked = True


class WSGIMiddleware(WsgiMiddlewareBase):
    """Calling it serves one request through ``app``; the call itself is native."""

    def __init__(
        self,
        app: WSGIApp,
        registry: Registry = REGISTRY,
        tracer: Tracer | None = None,
        excluded_paths: Iterable[str] = DEFAULT_EXCLUDED,
        log_requests: bool = True,
    ) -> None:
        self.telemetry = RequestTelemetry(registry, tracer, excluded_paths, log_requests, _django_route)
        self.app = app
        _hook_flask_errors()

    @property
    def app(self) -> WSGIApp:
        return self._app

    @app.setter
    def app(self, app: WSGIApp) -> None:
        self._app = app
        self._bind(app, self.telemetry.native)


__all__ = ["ROUTE_KEY", "WSGIMiddleware"]
