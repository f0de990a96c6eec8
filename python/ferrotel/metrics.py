"""The guide's ``MetricsCollector``: the standard HTTP metrics plus look-up of custom metrics.

collector = MetricsCollector()
collector.record_request("GET", "/songs/{song_id}", 200, 0.042)
collector.register(Counter("recommendations_generated_total", "Recommendations generated"))
collector.counter("recommendations_generated_total").inc()
"""

from __future__ import annotations

from typing import Any

from ._core import REGISTRY, Counter, Gauge, Histogram, Registry, Summary

HTTP_DURATION_BUCKETS = (0.1, 0.5, 1.0, 2.0, 5.0)


class MetricsCollector:
    """Owns ``http_requests_total``, ``http_request_duration_seconds`` and ``active_users``."""

    def __init__(self, registry: Registry = REGISTRY) -> None:
        self.registry = registry
        self._found: dict[tuple[str, str], Any] = {}
        self.requests = self._existing(Counter, "http_requests_total") or Counter(
            "http_requests_total",
            "Total HTTP requests",
            ("method", "path", "status"),
            registry=registry,
        )
        self.latency = self._existing(Histogram, "http_request_duration_seconds") or Histogram(
            "http_request_duration_seconds",
            "HTTP request latency",
            buckets=HTTP_DURATION_BUCKETS,
            registry=registry,
        )
        self.active_users = self._existing(Gauge, "active_users") or Gauge(
            "active_users", "Number of active users", registry=registry
        )

    def _existing(self, kind: type[Any], name: str) -> Any:
        metric = self.registry.get(name)
        if metric is not None and not isinstance(metric, kind):
            raise ValueError(f"metric {name!r} is already registered as {type(metric).__name__}")
        return metric

    def record_request(self, method: str, path: str, status: int, duration: float) -> None:
        """One served request: ``path`` should be the route template, not the raw URL."""
        self.requests.labels(method, path, status).inc()
        self.latency.observe(duration)

    def register(self, metric: Any) -> Any:
        """Registers ``metric`` unless it is already in this collector's registry; returns it."""
        if metric not in self.registry:
            self.registry.register(metric)
        return metric

    def _lookup(self, name: str, kind: str) -> Any:
        # Cached: the guide looks metrics up by name on every event.
        metric = self._found.get((name, kind))
        if metric is None:
            metric = self.registry.get(name, kind)
            if metric is None:
                raise KeyError(f"no {kind} named {name!r} is registered")
            self._found[(name, kind)] = metric
        return metric

    def counter(self, name: str) -> Counter:
        result: Counter = self._lookup(name, "counter")
        return result

    def gauge(self, name: str) -> Gauge:
        result: Gauge = self._lookup(name, "gauge")
        return result

    def histogram(self, name: str) -> Histogram:
        result: Histogram = self._lookup(name, "histogram")
        return result

    def summary(self, name: str) -> Summary:
        result: Summary = self._lookup(name, "summary")
        return result


class DefaultMetrics:
    """The guide's ``DefaultMetrics``: process CPU, memory, file descriptors, threads, start
    time, garbage collections and ``python_info``, read at scrape time (the process figures in
    Rust, from ``/proc``). The default REGISTRY has them already, as prometheus_client's does.

        DefaultMetrics(registry).register()
    """

    def __init__(self, registry: Registry = REGISTRY) -> None:
        self.registry = registry

    def register(self) -> None:
        self.registry.register_process_metrics()
