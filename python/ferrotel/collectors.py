"""prometheus_client's process, platform and GC collectors, for ferrotel's registries.

ferrotel's default REGISTRY already holds all three, read in Rust at scrape time; the handles
``PROCESS_COLLECTOR``, ``PLATFORM_COLLECTOR`` and ``GC_COLLECTOR`` name them, so the usual

    REGISTRY.unregister(GC_COLLECTOR)

works as with prometheus_client. The classes are prometheus_client's (pure Python), registering
into ferrotel's REGISTRY by default: ``ProcessCollector(namespace="worker", pid=lambda: 42)``
reads another process.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import prometheus_client

from ._core import GC_COLLECTOR, PLATFORM_COLLECTOR, PROCESS_COLLECTOR, REGISTRY

__all__ = [
    "GCCollector",
    "GC_COLLECTOR",
    "PLATFORM_COLLECTOR",
    "PROCESS_COLLECTOR",
    "PlatformCollector",
    "ProcessCollector",
]


class ProcessCollector(prometheus_client.ProcessCollector):
    """prometheus_client's ProcessCollector, registered in ferrotel's REGISTRY by default."""

    def __init__(
        self,
        namespace: str = "",
        pid: Callable[[], int | str] = lambda: "self",
        proc: str = "/proc",
        registry: Any = REGISTRY,
    ) -> None:
        super().__init__(namespace, pid, proc, registry)


class PlatformCollector(prometheus_client.PlatformCollector):
    """prometheus_client's PlatformCollector, registered in ferrotel's REGISTRY by default."""

    def __init__(self, registry: Any = REGISTRY, platform: Any = None) -> None:
        super().__init__(registry, platform)


class GCCollector(prometheus_client.GCCollector):
    """prometheus_client's GCCollector, registered in ferrotel's REGISTRY by default."""

    def __init__(self, registry: Any = REGISTRY) -> None:
        super().__init__(registry)
