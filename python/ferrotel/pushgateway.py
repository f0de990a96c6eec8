"""Pushing metrics to a Prometheus Pushgateway, for batch jobs and short-lived processes.

    push_to_gateway("127.0.0.1:9091", job="nightly_import", registry=registry)     # once
    PushGateway("http://127.0.0.1:9091", "audotics", interval=15).start()        # periodically

The periodic push runs on a Rust thread and pushes once more at ``ferrotel.shutdown()`` (and
so at exit). Failures there are counted in ``ferrotel_export_failures_total{exporter="pushgateway"}``.
"""

from __future__ import annotations

from collections.abc import Mapping

from ._core import REGISTRY, PushGateway, Registry, _push_to_gateway

__all__ = ["PushGateway", "delete_from_gateway", "push_to_gateway", "pushadd_to_gateway"]


def _key(grouping_key: Mapping[str, str] | None) -> list[tuple[str, str]] | None:
    return [(str(k), str(v)) for k, v in grouping_key.items()] if grouping_key else None


def push_to_gateway(
    gateway: str,
    job: str,
    registry: Registry = REGISTRY,
    grouping_key: Mapping[str, str] | None = None,
    timeout: float = 30.0,
) -> None:
    """Replaces the metrics of the group (``job`` plus ``grouping_key``) with the registry's (PUT)."""
    _push_to_gateway(gateway, job, registry, _key(grouping_key), "PUT", timeout)


def pushadd_to_gateway(
    gateway: str,
    job: str,
    registry: Registry = REGISTRY,
    grouping_key: Mapping[str, str] | None = None,
    timeout: float = 30.0,
) -> None:
    """Replaces only the metrics of the same names in the group (POST)."""
    _push_to_gateway(gateway, job, registry, _key(grouping_key), "POST", timeout)


def delete_from_gateway(
    gateway: str, job: str, grouping_key: Mapping[str, str] | None = None, timeout: float = 30.0
) -> None:
    """Deletes the group's metrics from the gateway."""
    _push_to_gateway(gateway, job, None, _key(grouping_key), "DELETE", timeout)
