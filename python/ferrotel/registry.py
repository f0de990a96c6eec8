"""prometheus_client's ``registry`` module, for ferrotel's registries.

    from ferrotel.registry import REGISTRY, CollectorRegistry, DuplicateTimeseries

A duplicate name is a ``DuplicateTimeseries``: a ``ValueError``, and prometheus_client's
``DuplicateTimeseries`` when prometheus_client is installed, so code that catches either works.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Protocol

from ._core import REGISTRY, Registry, RestrictedRegistry

try:
    from prometheus_client.registry import DuplicateTimeseries as _Base
except ImportError:  # pragma: no cover - prometheus_client is a dependency; kept optional here

    class _Base(ValueError):  # type: ignore[no-redef]
        def __init__(self, duplicates: set[str]) -> None:
            super().__init__(f"Duplicated timeseries in CollectorRegistry: {duplicates}")
            self.duplicates: set[str] = duplicates


__all__ = [
    "REGISTRY",
    "Collector",
    "CollectorRegistry",
    "DuplicateTimeseries",
    "NotRegistered",
    "RestrictedRegistry",
]

CollectorRegistry = Registry


class Collector(Protocol):
    """What a registry can hold: anything with ``collect()``."""

    def collect(self) -> Iterable[Any]: ...


class DuplicateTimeseries(_Base):
    """Registering a collector whose series names are already taken in the registry.

    ``duplicates`` holds the names; the message adds which metric or collector holds them."""

    def __init__(self, duplicates: set[str], detail: str = "") -> None:
        super().__init__(duplicates)
        if detail:
            self.args = (f"{self.args[0]} ({detail})",)


class NotRegistered(KeyError, ValueError):
    """``unregister()`` of a collector the registry does not hold: a ``KeyError`` as
    prometheus_client raises, and a ``ValueError``."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""
