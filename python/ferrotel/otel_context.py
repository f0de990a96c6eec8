"""The OpenTelemetry API's runtime context, kept in ferrotel's ContextVar (entry point
``opentelemetry_context`` named ``ferrotel``: ``OTEL_PYTHON_CONTEXT=ferrotel``).

The API loads this class while ``opentelemetry.context`` is still initialising, so this module
imports nothing from ``opentelemetry.trace`` (nor ``ferrotel._otel_span``, which does) until the
first call. It never imports ``ferrotel.otel``: what both need is in ``ferrotel._otel_span``.
"""

from __future__ import annotations

from contextvars import ContextVar, Token
from typing import Any

from opentelemetry.context.context import Context, _RuntimeContext

from ._core import _reset_current_span, _set_current_span, current_span, non_recording_span

_EMPTY = Context()


class _Tokens:
    __slots__ = ("span", "values")

    def __init__(self, values: Token[Context], span: Any) -> None:
        self.values = values
        self.span = span


class FerrotelRuntimeContext(_RuntimeContext):
    """The current span is ferrotel's current span; the API's other context values live beside
    it in a second ContextVar. One context, not two kept in sync."""

    def __init__(self) -> None:
        self._values: ContextVar[Context] = ContextVar("ferrotel_otel_values", default=_EMPTY)

    def attach(self, context: Context) -> Token[Context]:
        from opentelemetry import trace
        from opentelemetry.trace.propagation import _SPAN_KEY

        from ._otel_span import OtelSpan, to_ferrotel

        span = context.get(_SPAN_KEY)
        values = (
            Context({k: v for k, v in context.items() if k != _SPAN_KEY}) if span is not None else context
        )
        values_token = self._values.set(values)
        current: Any = None
        if isinstance(span, OtelSpan):
            current = span.span
        elif isinstance(span, trace.Span):
            converted = to_ferrotel(span.get_span_context())
            current = non_recording_span(converted) if converted is not None else None
        return _Tokens(values_token, _set_current_span(current))  # type: ignore[return-value]

    def get_current(self) -> Context:
        values = self._values.get()
        span = current_span()
        if span is None:
            return values
        from opentelemetry.trace.propagation import _SPAN_KEY

        from ._otel_span import OtelSpan

        return Context({**values, _SPAN_KEY: OtelSpan(span)})

    def detach(self, token: Token[Context]) -> None:
        tokens: Any = token
        _reset_current_span(tokens.span)
        try:
            self._values.reset(tokens.values)
        except ValueError:
            # Detached in another context than it was attached in: leave this one as it is.
            pass
