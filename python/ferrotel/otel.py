"""ferrotel as the OpenTelemetry API's implementation, sharing one context with ferrotel's API.

Libraries instrumented with the OpenTelemetry API (and ``opentelemetry-instrumentation-*``
packages) record into ferrotel's pipeline once either

- the environment says so before the first import of ``opentelemetry``:
  ``OTEL_PYTHON_CONTEXT=ferrotel OTEL_PYTHON_TRACER_PROVIDER=ferrotel`` (entry points), or
- the application calls ``ferrotel.otel.install()`` at start-up.

Either way there is one current span: the one in ferrotel's ContextVar. The OpenTelemetry API
reads and sets it through :class:`FerrotelRuntimeContext`, so ``opentelemetry.trace
.get_current_span()`` sees spans started with ``ferrotel.get_tracer(...).span(...)`` and the
other way round.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace as otel_trace
from opentelemetry.context.context import Context
from opentelemetry.util import types as otel_types

from . import tracing
from ._core import SpanContext
from ._otel_span import OtelSpan
from ._otel_span import to_ferrotel as _to_ferrotel
from .otel_context import FerrotelRuntimeContext

try:  # works as a decorator of sync and async functions, as the API's own
    from opentelemetry.util._decorator import _agnosticcontextmanager as _span_manager
except ImportError:  # pragma: no cover - older API versions
    _span_manager = contextmanager  # type: ignore[assignment]

__all__ = ["FerrotelRuntimeContext", "TracerProvider", "install"]


class _Link:
    __slots__ = ("attributes", "context")

    def __init__(self, context: SpanContext, attributes: Mapping[str, Any] | None) -> None:
        self.context = context
        self.attributes = attributes


def _parent(context: Context | None) -> Any:
    """ferrotel's ``parent=``: None for the current span, False for a new trace."""
    if context is None:
        return None
    span = otel_trace.get_current_span(context)
    if isinstance(span, OtelSpan):
        return span.span
    converted = _to_ferrotel(span.get_span_context())
    return converted if converted is not None else False


class Tracer(otel_trace.Tracer):
    def __init__(self, tracer: tracing.Tracer) -> None:
        self._tracer = tracer

    def start_span(
        self,
        name: str,
        context: Context | None = None,
        kind: otel_trace.SpanKind = otel_trace.SpanKind.INTERNAL,
        attributes: otel_types.Attributes = None,
        links: Sequence[otel_trace.Link] | None = None,
        start_time: int | None = None,
        record_exception: bool = True,
        set_status_on_exception: bool = True,
    ) -> otel_trace.Span:
        ferrotel_links = None
        if links:
            ferrotel_links = [
                _Link(ctx, dict(link.attributes) if link.attributes else None)
                for link in links
                if (ctx := _to_ferrotel(link.context)) is not None
            ]
        span = self._tracer.start_span(
            name,
            attributes=dict(attributes) if attributes else None,
            kind=kind,
            parent=_parent(context),
            links=ferrotel_links,
            start_time=start_time,
        )
        return OtelSpan(span)

    @_span_manager
    def start_as_current_span(
        self,
        name: str,
        context: Context | None = None,
        kind: otel_trace.SpanKind = otel_trace.SpanKind.INTERNAL,
        attributes: otel_types.Attributes = None,
        links: Sequence[otel_trace.Link] | None = None,
        start_time: int | None = None,
        record_exception: bool = True,
        set_status_on_exception: bool = True,
        end_on_exit: bool = True,
    ) -> Iterator[otel_trace.Span]:
        span = self.start_span(name, context, kind, attributes, links, start_time)
        with otel_trace.use_span(
            span,
            end_on_exit=end_on_exit,
            record_exception=record_exception,
            set_status_on_exception=set_status_on_exception,
        ) as current:
            yield current


class _Resource:
    """The resource as the SDK's ``Resource`` shows it to instrumentations, without the SDK."""

    __slots__ = ("attributes", "schema_url")

    def __init__(self, attributes: Mapping[str, Any]) -> None:
        self.attributes = attributes
        self.schema_url = ""


class TracerProvider(otel_trace.TracerProvider):
    """The OpenTelemetry API's tracer provider, recording into ferrotel's pipeline (configured
    with ``ferrotel.tracing.configure``)."""

    @property
    def resource(self) -> Any:
        """The resource spans are recorded with (service name, version, environment,
        OTEL_RESOURCE_ATTRIBUTES), as the SDK's provider has it: an
        ``opentelemetry.sdk.resources.Resource`` when the SDK is installed, else an object with
        the same ``attributes``. Instrumentations read it (``otelServiceName`` in log records)."""
        attributes = tracing.current_resource()
        try:
            from opentelemetry.sdk.resources import Resource
        except ImportError:
            return _Resource(attributes)
        return Resource(dict(attributes))

    def get_tracer(
        self,
        instrumenting_module_name: str,
        instrumenting_library_version: str | None = None,
        schema_url: str | None = None,
        attributes: otel_types.Attributes | None = None,
    ) -> otel_trace.Tracer:
        return Tracer(tracing.get_tracer(instrumenting_module_name, instrumenting_library_version or ""))


def install() -> TracerProvider:
    """Makes ferrotel the OpenTelemetry API's tracer provider and runtime context, for an
    application that did not set ``OTEL_PYTHON_CONTEXT=ferrotel``. Call it at start-up, before
    spans are started; returns the provider."""
    if not isinstance(otel_context._RUNTIME_CONTEXT, FerrotelRuntimeContext):
        otel_context._RUNTIME_CONTEXT = FerrotelRuntimeContext()
    provider = TracerProvider()
    current = otel_trace.get_tracer_provider()
    if not isinstance(current, TracerProvider):
        otel_trace.set_tracer_provider(provider)
        return provider
    return current
