"""A ferrotel span behind the OpenTelemetry API's ``Span`` interface, and the conversions of
span contexts between the two: what both ``ferrotel.otel`` (the tracer provider) and
``ferrotel.otel_context`` (the runtime context) use, so neither imports the other.

This module imports ``opentelemetry.trace``: ``ferrotel.otel_context`` imports it only when
first called, once the API's context has finished initialising.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import TracebackType
from typing import Any

from opentelemetry import trace as otel_trace
from opentelemetry.util import types as otel_types

from ._core import Span, SpanContext

__all__ = ["OtelSpan", "to_ferrotel", "to_otel"]


def to_ferrotel(context: otel_trace.SpanContext) -> SpanContext | None:
    """The API's span context as ferrotel's; None when it is not valid."""
    if not context.is_valid:
        return None
    return SpanContext(
        f"{context.trace_id:032x}",
        f"{context.span_id:016x}",
        int(context.trace_flags),
        context.trace_state.to_header() if context.trace_state else "",
        context.is_remote,
    )


def to_otel(context: SpanContext) -> otel_trace.SpanContext:
    """ferrotel's span context as the API's."""
    return otel_trace.SpanContext(
        trace_id=int(context.trace_id, 16),
        span_id=int(context.span_id, 16),
        is_remote=context.is_remote,
        trace_flags=otel_trace.TraceFlags(context.trace_flags),
        trace_state=otel_trace.TraceState.from_header([context.trace_state]) if context.trace_state else None,
    )


class OtelSpan(otel_trace.Span):
    """A ferrotel span behind the OpenTelemetry API's ``Span`` interface."""

    __slots__ = ("span",)

    def __init__(self, span: Span) -> None:
        self.span = span

    def __eq__(self, other: object) -> bool:
        return isinstance(other, OtelSpan) and other.span.context == self.span.context

    def __hash__(self) -> int:
        return hash(self.span.context)

    def get_span_context(self) -> otel_trace.SpanContext:
        return to_otel(self.span.context)

    def is_recording(self) -> bool:
        return self.span.is_recording()

    def set_attributes(self, attributes: Mapping[str, otel_types.AttributeValue]) -> None:
        self.span.set_attributes(dict(attributes))

    def set_attribute(self, key: str, value: otel_types.AttributeValue) -> None:
        self.span.set_attribute(key, value)

    def add_event(
        self, name: str, attributes: otel_types.Attributes = None, timestamp: int | None = None
    ) -> None:
        self.span.add_event(name, dict(attributes) if attributes else None, timestamp)

    def add_link(self, context: otel_trace.SpanContext, attributes: otel_types.Attributes = None) -> None:
        linked = to_ferrotel(context)
        if linked is not None:
            self.span.add_link(linked, dict(attributes) if attributes else None)

    def update_name(self, name: str) -> None:
        self.span.update_name(name)

    def set_status(self, status: Any, description: str | None = None) -> None:
        self.span.set_status(status, description)

    def record_exception(
        self,
        exception: BaseException,
        attributes: otel_types.Attributes = None,
        timestamp: int | None = None,
        escaped: bool = False,
    ) -> None:
        self.span.record_exception(exception, dict(attributes) if attributes else None, timestamp, escaped)

    def end(self, end_time: int | None = None) -> None:
        self.span.end(end_time)

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc_val: BaseException | None,
        exc_tb: TracebackType | None,
    ) -> None:
        self.span.end()
