"""ferrotel: low-overhead telemetry for Python services, with the hot path in Rust.

Metrics keep prometheus_client's API, so moving over is an import change::

    from ferrotel import Counter, Histogram, start_http_server

    requests = Counter("http_requests_total", "Total HTTP requests", ["method", "path", "status"])
    requests.labels("GET", "/songs/{song_id}", 200).inc()
    start_http_server(9464)
"""

from __future__ import annotations

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
    generate_latest,
    generate_openmetrics,
    start_http_server,
)
from .exposition import CONTENT_TYPE_LATEST, CONTENT_TYPE_OPENMETRICS, make_asgi_app, make_wsgi_app
from .metrics import MetricsCollector

CollectorRegistry = Registry

__version__ = "0.1.0"

__all__ = [
    "CONTENT_TYPE_LATEST",
    "CONTENT_TYPE_OPENMETRICS",
    "DEFAULT_BUCKETS",
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
    "Registry",
    "Summary",
    "generate_latest",
    "generate_openmetrics",
    "make_asgi_app",
    "make_wsgi_app",
    "start_http_server",
]
