"""Pushing metrics to a Prometheus Pushgateway, for batch jobs and short-lived processes.

    push_to_gateway("127.0.0.1:9091", job="nightly_import", registry=registry)     # once
    PushGateway("http://127.0.0.1:9091", "audotics", interval=15).start()        # periodically

A push with prometheus_client's default handler is sent from Rust (with retries); a custom
``handler=`` (``basic_auth_handler``, ``tls_auth_handler``, your own) is called as
prometheus_client calls it, with the URL, method, timeout, headers and body ferrotel made.
The periodic push runs on a Rust thread and pushes once more at ``ferrotel.shutdown()`` (and so
at exit). Failures there are counted in ``ferrotel_export_failures_total{exporter="pushgateway"}``.
"""

from __future__ import annotations

import gzip
from collections.abc import Callable, Mapping
from typing import Any, Literal, Optional

from ._core import REGISTRY, PushGateway, Registry, _gateway_url, _push_to_gateway, generate_latest

__all__ = ["PushGateway", "default_handler", "delete_from_gateway", "push_to_gateway", "pushadd_to_gateway"]

# Optional, not `| None`: the alias is evaluated at import (3.9 has no `|` between types).
CompressionType = Optional[Literal["gzip", "snappy"]]
_TEXT_0_0_4 = "text/plain; version=0.0.4; charset=utf-8"


def default_handler(
    url: str, method: str, timeout: float | None, headers: list[tuple[str, str]], data: bytes
) -> Callable[[], None]:
    """prometheus_client's default handler (urllib). The push functions do not call it: given
    this handler (or prometheus_client's), they push from Rust instead, with retries."""
    from prometheus_client.exposition import default_handler as urllib_handler

    return urllib_handler(url, method, timeout, headers, data)


def _is_default(handler: Callable[..., Any]) -> bool:
    return handler is default_handler or (
        getattr(handler, "__module__", None) == "prometheus_client.exposition"
        and getattr(handler, "__name__", None) == "default_handler"
    )


def _key(grouping_key: Mapping[str, Any] | None) -> list[tuple[str, str]] | None:
    return [(str(k), str(v)) for k, v in grouping_key.items()] if grouping_key else None


def _compress(data: bytes, compression: CompressionType) -> tuple[bytes, list[tuple[str, str]]]:
    headers = [("Content-Type", _TEXT_0_0_4)]
    if compression is None:
        return data, headers
    if compression.lower() == "gzip":
        return gzip.compress(data), [*headers, ("Content-Encoding", "gzip")]
    if compression.lower() == "snappy":
        try:
            import snappy  # type: ignore[import-not-found]
        except ImportError:
            raise RuntimeError(
                "Snappy compression requires the python-snappy package to be installed."
            ) from None
        compressor = snappy.StreamCompressor()
        body = compressor.compress(data)
        flush = getattr(compressor, "flush", None)
        return (body + flush() if callable(flush) else body), [*headers, ("Content-Encoding", "snappy")]
    raise ValueError(f"Unsupported compression type: {compression}")


def _use_gateway(
    method: str,
    gateway: str,
    job: str,
    registry: Any,
    grouping_key: Mapping[str, Any] | None,
    timeout: float | None,
    handler: Callable[..., Callable[[], None]],
    compression: CompressionType = None,
) -> None:
    registry = REGISTRY if registry is None else registry
    native = _is_default(handler) and isinstance(registry, Registry)
    if native and compression in (None, "gzip"):
        _push_to_gateway(gateway, job, registry, _key(grouping_key), method, timeout, compression)
        return
    if method == "DELETE":
        if compression is not None:
            raise ValueError("Compression is not supported for DELETE requests.")
        data, headers = b"", [("Content-Type", _TEXT_0_0_4)]
    else:
        data, headers = _compress(generate_latest(registry), compression)
    url = _gateway_url(gateway, job, _key(grouping_key))
    handler(url=url, method=method, timeout=timeout, headers=headers, data=data)()


def push_to_gateway(
    gateway: str,
    job: str,
    registry: Any = REGISTRY,
    grouping_key: Mapping[str, Any] | None = None,
    timeout: float | None = 30,
    handler: Callable[..., Callable[[], None]] = default_handler,
    compression: CompressionType = None,
) -> None:
    """Replaces the metrics of the group (``job`` plus ``grouping_key``) with the registry's (PUT)."""
    _use_gateway("PUT", gateway, job, registry, grouping_key, timeout, handler, compression)


def pushadd_to_gateway(
    gateway: str,
    job: str,
    registry: Any = REGISTRY,
    grouping_key: Mapping[str, Any] | None = None,
    timeout: float | None = 30,
    handler: Callable[..., Callable[[], None]] = default_handler,
    compression: CompressionType = None,
) -> None:
    """Replaces only the metrics of the same names in the group (POST)."""
    _use_gateway("POST", gateway, job, registry, grouping_key, timeout, handler, compression)


def delete_from_gateway(
    gateway: str,
    job: str,
    grouping_key: Mapping[str, Any] | None = None,
    timeout: float | None = 30,
    handler: Callable[..., Callable[[], None]] = default_handler,
) -> None:
    """Deletes the group's metrics from the gateway."""
    _use_gateway("DELETE", gateway, job, None, grouping_key, timeout, handler)
