"""What both middlewares record per request, set up once when the middleware is built."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from .._core import (
    REGISTRY,
    Gauge,
    Registry,
    Span,
    _reset_current_span,
    _set_current_span,
    extract,
    random_id,
)
from ..metrics import MetricsCollector
from ..tracing import Tracer, get_tracer

UNMATCHED = "unmatched"
DEFAULT_EXCLUDED = ("/metrics", "/health", "/healthz", "/ready", "/readyz", "/livez")

_PARAM = re.compile(r"<(?:[^:<>]+:)?([^<>]+)>|\{([^{}:]+):[^{}]+\}")


def route_template(route: str) -> str:
    """Flask's ``<int:id>``, Django's ``<int:id>`` and Starlette's ``{id:int}`` as ``{id}``."""
    template = _PARAM.sub(lambda m: "{" + (m.group(1) or m.group(2)) + "}", route)
    return template if template.startswith("/") else "/" + template


class RequestTelemetry:
    """Metrics, span and log line for one service's requests."""

    def __init__(
        self,
        registry: Registry = REGISTRY,
        tracer: Tracer | None = None,
        excluded_paths: Iterable[str] = DEFAULT_EXCLUDED,
        log_requests: bool = True,
    ) -> None:
        collector = MetricsCollector(registry)
        self.requests = collector.requests
        self.latency = collector.latency
        in_flight = registry.get("http_requests_in_flight", "gauge")
        self.in_flight = in_flight or Gauge(
            "http_requests_in_flight", "HTTP requests being served", registry=registry
        )
        self.tracer = tracer or get_tracer("ferrotel.middleware")
        self.excluded = frozenset(excluded_paths)
        self.logger: Any = None
        if log_requests:
            from ..logs import get_logger

            self.logger = get_logger("ferrotel.http")

    def start(self, method: str, target: str, headers: Mapping[str, Any], scheme: str) -> Request:
        parent = extract(headers)
        request_id = headers.get("x-request-id") or random_id()
        span = self.tracer.start_span(
            method,
            {"http.request.method": method, "url.path": target, "url.scheme": scheme},
            "server",
            parent,
        )
        return Request(self, method, request_id, span)


class Request:
    """One request in flight: current span, start time, response status."""

    __slots__ = ("method", "request_id", "span", "start", "status", "telemetry", "token", "trace_id")

    def __init__(self, telemetry: RequestTelemetry, method: str, request_id: str, span: Span) -> None:
        self.telemetry = telemetry
        self.method = method
        self.request_id = request_id
        self.span = span
        self.trace_id = span.context.trace_id
        self.status = 500
        self.token = _set_current_span(span)
        telemetry.in_flight.inc()
        self.start = time.perf_counter()

    def response_headers(self) -> list[tuple[str, str]]:
        return [("x-trace-id", self.trace_id), ("x-request-id", self.request_id)]

    def failed(self, exc: BaseException) -> None:
        self.status = 500
        self.span.record_exception(exc, escaped=True)
        self.span.set_status("error", f"{type(exc).__name__}: {exc}")

    def finish(self, route: str) -> None:
        duration = time.perf_counter() - self.start
        t = self.telemetry
        status = str(self.status)
        t.requests.labels(self.method, route, status).inc()
        if self.span.is_recording():
            t.latency.observe(duration, {"trace_id": self.trace_id})
        else:
            t.latency.observe(duration)
        t.in_flight.dec()
        span = self.span
        span.update_name(f"{self.method} {route}")
        span.set_attributes({"http.route": route, "http.response.status_code": self.status})
        if self.status >= 500:
            span.set_status("error")
        if t.logger is not None:
            t.logger.info(
                "request",
                method=self.method,
                path=route,
                status=self.status,
                duration_ms=duration * 1000,
                request_id=self.request_id,
            )
        span.end()
        _reset_current_span(self.token)


def header_map(pairs: Iterable[tuple[bytes, bytes]]) -> dict[str, str]:
    return {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in pairs}


Finish = Callable[[str], None]
