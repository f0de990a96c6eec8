"""Carrying trace context across process boundaries: W3C Trace Context and Baggage, B3.

    headers: dict[str, str] = {}
    ferrotel.propagation.inject(headers)               # outgoing request
    with ferrotel.propagation.attach(request_headers):  # incoming request
        with tracer.span("handle", kind="server"): ...

The formats follow ``OTEL_PROPAGATORS`` (default ``tracecontext,baggage``); malformed headers
are ignored as the specifications say.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, MutableMapping
from contextlib import contextmanager
from contextvars import ContextVar
from types import MappingProxyType
from typing import Any

from ._core import (
    SpanContext,
    _reset_current_span,
    _set_current_span,
    current_span,
    extract,
    extract_baggage,
    non_recording_span,
    set_propagators,
)
from ._core import inject as _inject

__all__ = ["SpanContext", "attach", "extract", "extract_baggage", "get_baggage", "inject", "set_propagators"]

_NO_BAGGAGE: Mapping[str, str] = MappingProxyType({})
_BAGGAGE: ContextVar[Mapping[str, str]] = ContextVar("ferrotel_baggage", default=_NO_BAGGAGE)


def get_baggage() -> Mapping[str, str]:
    """The baggage of the current context."""
    return _BAGGAGE.get()


@contextmanager
def baggage(**entries: str) -> Iterator[None]:
    """Adds baggage entries for the duration of a ``with`` block."""
    token = _BAGGAGE.set({**_BAGGAGE.get(), **entries})
    try:
        yield
    finally:
        _BAGGAGE.reset(token)


def inject(carrier: MutableMapping[str, str], span: Any = None) -> None:
    """Writes the current span's context (or ``span``'s) and the baggage into ``carrier``."""
    _inject(carrier, span if span is not None else current_span(), dict(_BAGGAGE.get()))


@contextmanager
def attach(carrier: Mapping[str, Any]) -> Iterator[SpanContext | None]:
    """Makes the context in ``carrier`` (incoming headers) current for a ``with`` block, so
    spans started inside continue the caller's trace; yields the extracted context."""
    context = extract(carrier)
    baggage_token = _BAGGAGE.set(extract_baggage(carrier))
    span_token = _set_current_span(non_recording_span(context)) if context is not None else None
    try:
        yield context
    finally:
        if span_token is not None:
            _reset_current_span(span_token)
        _BAGGAGE.reset(baggage_token)
