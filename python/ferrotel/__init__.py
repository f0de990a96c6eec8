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
from typing import Any

from . import _core, _env, logs, multiprocess, propagation, tracing
from ._core import (
    DEFAULT_BUCKETS,
    GC_COLLECTOR,
    PLATFORM_COLLECTOR,
    PROCESS_COLLECTOR,
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
    disable_created_metrics,
    enable_created_metrics,
    flush,
    generate_latest,
    generate_openmetrics,
    shutdown,
    start_http_server,
)
from .config import configure
from .exposition import (
    CONTENT_TYPE_LATEST,
    CONTENT_TYPE_OPENMETRICS,
    CONTENT_TYPE_PLAIN_0_0_4,
    CONTENT_TYPE_PLAIN_1_0_0,
    MetricsHandler,
    instance_ip_grouping_key,
    make_asgi_app,
    make_wsgi_app,
    start_wsgi_server,
    write_to_textfile,
)
from .logs import get_logger, log_context
from .metrics import DefaultMetrics, MetricsCollector
from .pushgateway import PushGateway, delete_from_gateway, push_to_gateway, pushadd_to_gateway
from .registry import CollectorRegistry, DuplicateTimeseries
from .tracing import Span, SpanContext, Tracer, current_span, get_tracer, traced

# prometheus_client's switches, read as it reads them.
if _env.prometheus_client_flag("PROMETHEUS_DISABLE_CREATED_SERIES"):
    disable_created_metrics()
if _env.prometheus_client_flag("PROMETHEUS_LEGACY_NAME_VALIDATION"):
    _core.enable_legacy_validation()

# Exporter threads do not survive fork(): the child starts its own and leaves the parent's
# buffered telemetry to the parent. Whatever is buffered at exit is flushed. Windows has no fork
# (nor `os.register_at_fork`).
if hasattr(os, "register_at_fork"):
    os.register_at_fork(
        before=multiprocess._before_fork,
        after_in_parent=multiprocess._after_fork_in_parent,
        after_in_child=multiprocess._after_fork_in_child,
    )
atexit.register(_core.shutdown, 5.0)
# prometheus_client's PROMETHEUS_MULTIPROC_DIR, before the application declares any metric.
multiprocess._enable_from_environment()

__version__ = "0.1.0"

# Names whose objects are prometheus_client's classes: imported when first used, so ferrotel
# itself imports without prometheus_client.
_FROM_PROMETHEUS_CLIENT = {
    "Metric": "prometheus_client.metrics_core",
    "GCCollector": "ferrotel.collectors",
    "PlatformCollector": "ferrotel.collectors",
    "ProcessCollector": "ferrotel.collectors",
}


def __getattr__(name: str) -> Any:
    module = _FROM_PROMETHEUS_CLIENT.get(name)
    if module is None:
        raise AttributeError(f"module 'ferrotel' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)


__all__ = [
    "CONTENT_TYPE_LATEST",
    "CONTENT_TYPE_OPENMETRICS",
    "CONTENT_TYPE_PLAIN_0_0_4",
    "CONTENT_TYPE_PLAIN_1_0_0",
    "DEFAULT_BUCKETS",
    "DefaultMetrics",
    "DuplicateTimeseries",
    "GCCollector",
    "GC_COLLECTOR",
    "Metric",
    "MetricsHandler",
    "PLATFORM_COLLECTOR",
    "PROCESS_COLLECTOR",
    "PlatformCollector",
    "ProcessCollector",
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
    "disable_created_metrics",
    "enable_created_metrics",
    "flush",
    "generate_latest",
    "generate_openmetrics",
    "get_tracer",
    "get_logger",
    "instance_ip_grouping_key",
    "log_context",
    "logs",
    "make_asgi_app",
    "make_wsgi_app",
    "multiprocess",
    "push_to_gateway",
    "pushadd_to_gateway",
    "shutdown",
    "start_http_server",
    "start_wsgi_server",
    "traced",
    "propagation",
    "tracing",
    "write_to_textfile",
]
