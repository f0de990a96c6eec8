"""Tracing cases: ferrotel's pipeline against the OpenTelemetry SDK's, both exporting to an
exporter that discards; and the span cost while the OTLP backend is down."""

from __future__ import annotations

from typing import Any

from .. import _core
from ._common import Case, Namespace, Side, otel_provider


def _traces_side(library: str, stmt: str, sampled: bool = True) -> Side:
    """Spans through the whole pipeline: ferrotel's batch processor with a discarding exporter,
    against the OpenTelemetry SDK's BatchSpanProcessor with a discarding exporter."""

    def setup() -> Namespace:
        attrs = {"http.method": "GET", "http.route": "/songs/{song_id}", "http.status_code": 200}
        if library == "ferrotel":
            import ferrotel
            from ferrotel.tracing import DiscardSpanExporter, configure

            configure(
                service_name="bench",
                exporters=[DiscardSpanExporter()],
                sampler=None if sampled else "always_off",
            )
            tracer: Any = ferrotel.get_tracer("bench")

            def handler() -> None:
                pass

            handler = ferrotel.traced(tracer=tracer)(handler)

            return {"tracer": tracer, "attrs": attrs, "handler": handler}
        tracer = otel_provider(sampled).get_tracer("bench")

        def otel_handler() -> None:
            pass

        otel_handler = tracer.start_as_current_span("handler")(otel_handler)

        return {"tracer": tracer, "attrs": attrs, "handler": otel_handler}

    if library != "ferrotel":
        stmt = stmt.replace("tracer.span(", "tracer.start_as_current_span(")
    return Side(library if library == "ferrotel" else "opentelemetry-sdk", setup, stmt)


def _trace_case(name: str, stmt: str, sampled: bool = True) -> Case:
    return Case(
        "traces",
        name,
        _traces_side("ferrotel", stmt, sampled),
        _traces_side("opentelemetry-sdk", stmt, sampled),
        number=5_000,
    )


def _backend_side(down: bool) -> Side:
    """A span with OTLP export to a backend that refuses connections, against the same span
    with an exporter that always succeeds: the application's cost must not change. Both are
    measured in their steady state: the dead backend's queue already full (later spans are
    dropped and counted), the healthy exporter keeping up."""

    def setup() -> Namespace:
        import ferrotel
        from ferrotel.tracing import DiscardSpanExporter, OTLPSpanExporter, configure

        exporter: Any = OTLPSpanExporter("http://127.0.0.1:9/v1/traces", timeout=1.0)
        configure(service_name="bench", exporters=[exporter if down else DiscardSpanExporter()])
        tracer = ferrotel.get_tracer("bench")
        for _ in range(5_000):
            with tracer.span("warm-up"):
                pass
        return {"tracer": tracer}

    library = "ferrotel, backend down" if down else "ferrotel, healthy exporter"
    return Side(library, setup, "with tracer.span('op'): pass")


CASES: list[Case] = [
    _trace_case("span context manager, 0 attributes", "with tracer.span('op'): pass"),
    _trace_case("span context manager, 3 attributes", "with tracer.span('op', attributes=attrs): pass"),
    _trace_case("two nested spans", "with tracer.span('a'):\n    with tracer.span('b'): pass"),
    _trace_case("@traced plain function", "handler()"),
    _trace_case("unsampled span", "with tracer.span('op'): pass", sampled=False),
    Case(
        "traces",
        "span while the OTLP backend is down",
        _backend_side(True),
        _backend_side(False),
        number=5_000,
    ),
]


def otlp_encode_rate() -> float | None:
    """Spans per second the OTLP exporter thread encodes (protobuf, 512-span requests), best of
    three; None when the extension was built without the bench-only ``_otlp_encode_rate`` hook."""
    encode_rate = getattr(_core, "_otlp_encode_rate", None)
    if encode_rate is None:
        return None
    return max(float(encode_rate()) for _ in range(3))
