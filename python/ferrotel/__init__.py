"""ferrotel: low-overhead telemetry for Python services, with the hot path in Rust.

Metrics keep prometheus_client's API, so moving over is an import change::

    from ferrotel import Counter, Histogram, start_http_server

    requests = Counter("http_requests_total", "Total HTTP requests", ["method", "path", "status"])
    requests.labels("GET", "/songs/{song_id}", 200).inc()
    start_http_server(9464)

Structured logs are built in Rust and written as ECS JSON by background sinks::

    log = ferrotel.get_logger(__name__)
    log.info("Creating new user", email=email, source="signup")
    with ferrotel.log_context(request_id=request_id):
        log.exception("Failed to create user")   # inside `except`: error.type/message/stack_trace

See ``ferrotel.logs`` for ``configure()`` (level, format, console, file, Elasticsearch, OTLP,
redaction) and ``install()`` (the stdlib ``logging`` bridge).
"""

from __future__ import annotations

import atexit
import os

from . import _core, logs, multiprocess, propagation, tracing
from ._core import (
    DEFAULT_BUCKETS,
    REGISTRY,
    Counter,
    Enum,
    Gauge,
    Histogram,
    Info,
    MetricsServer,
    PanicException,
    Registry,
    Summary,
    flush,
    generate_latest,
    generate_openmetrics,
    shutdown,
    start_http_server,
)
from .config import configure
from .exposition import CONTENT_TYPE_LATEST, CONTENT_TYPE_OPENMETRICS, make_asgi_app, make_wsgi_app
from .logs import get_logger, log_context
from .metrics import DefaultMetrics, MetricsCollector
from .pushgateway import PushGateway, delete_from_gateway, push_to_gateway, pushadd_to_gateway
from .tracing import Span, SpanContext, Tracer, current_span, get_tracer, traced

CollectorRegistry = Registry

# Exporter threads do not survive fork(): the child starts its own and leaves the parent's
# buffered telemetry to the parent. Whatever is buffered at exit is flushed.
os.register_at_fork(
    before=_core._before_fork,
    after_in_parent=_core._after_fork_in_parent,
    after_in_child=_core._after_fork_in_child,
)
atexit.register(_core.shutdown, 5.0)
# prometheus_client's PROMETHEUS_MULTIPROC_DIR, before the application declares any metric.
multiprocess._enable_from_environment()

__version__ = "0.1.0"

__all__ = [
    "CONTENT_TYPE_LATEST",
    "CONTENT_TYPE_OPENMETRICS",
    "DEFAULT_BUCKETS",
    "DefaultMetrics",
    "REGISTRY",
    "CollectorRegistry",
    "Counter",
    "Enum",
    "Gauge",
    "Histogram",
    "Info",
    "MetricsCollector",
    "MetricsServer",
    "PanicException",
    "PushGateway",
    "Registry",
    "Span",
    "SpanContext",
    "Summary",
    "Tracer",
    "configure",
    "current_span",
    "delete_from_gateway",
    "flush",
    "generate_latest",
    "generate_openmetrics",
    "get_tracer",
    "get_logger",
    "log_context",
    "logs",
    "make_asgi_app",
    "make_wsgi_app",
    "multiprocess",
    "push_to_gateway",
    "pushadd_to_gateway",
    "shutdown",
    "start_http_server",
    "traced",
    "propagation",
    "tracing",
]
