"""The bridge to prometheus_client, for moving a service over one metric at a time.

    # ferrotel's metrics in prometheus_client's exposition (its REGISTRY, its HTTP server):
    ferrotel.prometheus.register_in_prometheus_client()
    # prometheus_client's metrics in ferrotel's exposition (ferrotel's /metrics server):
    ferrotel.prometheus.include_prometheus_client()

Use one direction per pair of registries: both at once would export each metric twice.
"""

from __future__ import annotations

from collections.abc import Iterable

import prometheus_client
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import CollectorRegistry

from ._core import REGISTRY, Registry


class PrometheusClientCollector:
    """A ferrotel collector that reads a prometheus_client registry at every scrape."""

    def __init__(self, source: CollectorRegistry) -> None:
        self.source = source

    def collect(self) -> Iterable[Metric]:
        return self.source.collect()

    def describe(self) -> Iterable[Metric]:
        # Names are checked by prometheus_client in its own registry; checking them again here
        # would collect the whole source registry at registration.
        return []


def register_in_prometheus_client(
    registry: Registry = REGISTRY, target: CollectorRegistry | None = None
) -> Registry:
    """Registers ferrotel's ``registry`` as a collector in prometheus_client's ``target``."""
    (target or prometheus_client.REGISTRY).register(registry)
    return registry


def include_prometheus_client(
    registry: Registry = REGISTRY, source: CollectorRegistry | None = None
) -> PrometheusClientCollector:
    """Includes prometheus_client's ``source`` registry in ferrotel's ``registry`` exposition."""
    collector = PrometheusClientCollector(source or prometheus_client.REGISTRY)
    registry.register(collector)
    return collector
