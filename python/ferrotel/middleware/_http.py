"""What both middlewares record per request, set up once when the middleware is built.

The work per request is native: one call when a request starts (the server span continuing the
caller's trace, made current; the request id; the in-flight gauge) and one when it ends
(``http_requests_total``, the latency histogram with a trace-id exemplar, the log line, the
span's end)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from .._core import REGISTRY, Gauge, HttpRequest, HttpTelemetry, Registry
from ..metrics import MetricsCollector
from ..tracing import Tracer, get_tracer

DEFAULT_EXCLUDED = ("/metrics", "/health", "/healthz", "/ready", "/readyz", "/livez")
LOGGER_NAME = "ferrotel.http"


class RequestTelemetry:
    """Metrics, span and log line for one service's requests."""

    def __init__(
        self,
        registry: Registry = REGISTRY,
        tracer: Tracer | None = None,
        excluded_paths: Iterable[str] = DEFAULT_EXCLUDED,
        log_requests: bool = True,
        route_fallback: Callable[[dict[str, Any]], str | None] | None = None,
    ) -> None:
        collector = MetricsCollector(registry)
        self.requests = collector.requests
        self.latency = collector.latency
        in_flight = registry.get("http_requests_in_flight", "gauge")
        # Summed over the live workers in the multiprocess mode.
        self.in_flight = in_flight or Gauge(
            "http_requests_in_flight",
            "HTTP requests being served",
            registry=registry,
            multiprocess_mode="livesum",
        )
        self.tracer = tracer or get_tracer("ferrotel.middleware")
        self.excluded = frozenset(excluded_paths)
        self.native = HttpTelemetry(
            self.requests,
            self.latency,
            self.in_flight,
            self.tracer,
            LOGGER_NAME if log_requests else None,
            sorted(self.excluded),
            route_fallback,
        )


__all__ = ["DEFAULT_EXCLUDED", "HttpRequest", "RequestTelemetry"]
