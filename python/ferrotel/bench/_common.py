"""What the signal modules share: a case and its two sides, the OpenTelemetry SDK provider the
anchor sides use, and the temporary folder the log files go to."""

from __future__ import annotations

import atexit
import importlib.util
import itertools
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

Namespace = dict[str, Any]


@dataclass(frozen=True)
class Side:
    """One library's side of a case: ``setup()`` builds the objects ``stmt`` uses."""

    library: str
    setup: Callable[[], Namespace]
    stmt: str


@dataclass(frozen=True)
class Case:
    signal: str
    name: str
    ferrotel: Side
    anchor: Side
    #: how many times one timing runs ``stmt``; slow operations use fewer
    number: int = 20_000
    #: modules the anchor needs; the case is left out when one is not installed
    requires: tuple[str, ...] = ()

    @property
    def key(self) -> str:
        """Unique across CASES: one operation can be measured against several anchors."""
        return f"{self.name} vs {self.anchor.library}"

    @property
    def available(self) -> bool:
        return all(importlib.util.find_spec(module) is not None for module in self.requires)

    #: for costs added to something else (a middleware on an app): that something alone; the
    #: table then shows, and the ratio compares, what each side adds to it
    baseline: Side | None = None
    #: operations one run of ``stmt`` performs (requests served in a batch)
    per_stmt: int = 1


# --- the OpenTelemetry SDK: the anchor side of every tracing and middleware case ------------

#: providers made by the current side's setup: shut down once it is timed, so their export
#: threads (which take the GIL) finish before the next side is timed
_OTEL_PROVIDERS: list[Any] = []


def otel_provider(sampled: bool = True) -> Any:
    """The OpenTelemetry SDK's TracerProvider with a BatchSpanProcessor and an exporter that
    discards: the anchor side of every tracing and middleware case."""
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult
    from opentelemetry.sdk.trace.sampling import ALWAYS_OFF, ParentBased

    class Discard(SpanExporter):
        def export(self, spans: Any) -> SpanExportResult:
            return SpanExportResult.SUCCESS

    provider = TracerProvider(sampler=None if sampled else ParentBased(ALWAYS_OFF))
    provider.add_span_processor(BatchSpanProcessor(Discard()))
    _OTEL_PROVIDERS.append(provider)
    return provider


def shutdown_anchors() -> None:
    """Shuts down the OpenTelemetry providers the last setup made (their export threads)."""
    while _OTEL_PROVIDERS:
        _OTEL_PROVIDERS.pop().shutdown()


# --- logs: every side writes to a file of its own in one temporary folder -------------------

_LOG_DIR: str | None = None
_LOG_FILES: dict[str, str] = {}
_LOG_SEQ = itertools.count()


def _remove_log_dir() -> None:
    """At exit: the log writers finish (they may still hold a file open) before their
    directory goes."""
    import ferrotel

    ferrotel.shutdown(5.0)
    if _LOG_DIR is not None:
        shutil.rmtree(_LOG_DIR, ignore_errors=True)


def log_file(side: str) -> str:
    """A new file for ``side``; the one its previous setup used is removed."""
    global _LOG_DIR
    if _LOG_DIR is None:
        # mkdtemp and rmtree(ignore_errors=True) at exit: TemporaryDirectory's
        # ignore_cleanup_errors is new in 3.10
        _LOG_DIR = tempfile.mkdtemp(prefix="ferrotel-bench-")
        atexit.register(_remove_log_dir)
    old = _LOG_FILES.get(side)
    if old is not None and os.path.exists(old):
        os.remove(old)
    _LOG_FILES[side] = path = os.path.join(_LOG_DIR, f"{side}-{next(_LOG_SEQ)}.log")
    return path
