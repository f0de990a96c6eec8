"""Telemetry never raises into the application or leaves state behind (issue #16).

Text that Python holds but UTF-8 cannot (lone surrogates, as ``os.fsdecode`` makes from
undecodable bytes) is recorded with U+FFFD in its place. Whatever is recorded, the
application's own exception propagates unchanged, the span stops being current and is
exported."""

from __future__ import annotations

import asyncio

import ferrotel
import pytest

SURROGATE = "caf\udce9"  # os.fsdecode(b"caf\xe9")
VALID = "caf\ufffd"


def only_span(memory_exporter) -> dict:
    spans = memory_exporter.get_finished_spans()
    assert len(spans) == 1, spans
    return spans[0]


def test_surrogate_in_the_application_exception_keeps_the_exception(tracer, memory_exporter):
    error = ValueError(SURROGATE)
    with pytest.raises(ValueError) as raised:
        with tracer.span("work"):
            raise error
    assert raised.value is error, "the application's own exception, unchanged"
    assert ferrotel.current_span() is None, "the span is no longer current"
    span = only_span(memory_exporter)
    assert span["status"] == "ERROR" and span["status_description"] == f"ValueError: {VALID}"
    event = span["events"][0]
    assert event["name"] == "exception"
    assert event["attributes"]["exception.message"] == VALID
    assert VALID in event["attributes"]["exception.stacktrace"]


def test_traced_function_raising_with_a_surrogate(tracer, memory_exporter):
    @ferrotel.traced(tracer=tracer)
    def handler() -> None:
        raise OSError(2, "no such file", SURROGATE)

    with tracer.span("outer") as outer:
        with pytest.raises(OSError) as raised:
            handler()
        assert raised.value.filename == SURROGATE
        assert ferrotel.current_span() is outer
    assert ferrotel.current_span() is None
    spans = {s["name"]: s for s in memory_exporter.get_finished_spans()}
    assert spans["test_traced_function_raising_with_a_surrogate.<locals>.handler"]["status"] == "ERROR"


def test_surrogates_everywhere_a_span_takes_text(tracer, memory_exporter):
    @ferrotel.traced(SURROGATE, tracer=tracer)
    def named() -> str:
        return "ok"

    assert named() == "ok"
    with tracer.span(SURROGATE, attributes={SURROGATE: SURROGATE, "list": [SURROGATE, "x"]}) as span:
        span.set_attribute(SURROGATE + "!", SURROGATE)
        span.add_event(SURROGATE, {"k": SURROGATE})
        span.record_exception(ValueError(SURROGATE), attributes={SURROGATE: 1})
        span.set_status("error", SURROGATE)
        span.update_name(SURROGATE + "?")
    assert ferrotel.current_span() is None
    traced_span, span_data = memory_exporter.get_finished_spans()
    assert traced_span["name"] == VALID
    assert span_data["name"] == VALID + "?"
    assert span_data["attributes"] == {VALID: VALID, "list": (VALID, "x"), VALID + "!": VALID}
    assert span_data["status_description"] == VALID
    event, exception = span_data["events"]
    assert (event["name"], event["attributes"]) == (VALID, {"k": VALID})
    assert exception["attributes"]["exception.message"] == VALID
    assert exception["attributes"][VALID] == 1


def test_status_objects_and_exceptions_that_cannot_be_printed(tracer, memory_exporter):
    class Unprintable(Exception):
        def __str__(self) -> str:
            raise RuntimeError("no")

    from opentelemetry.trace import Status, StatusCode

    with pytest.raises(Unprintable):
        with tracer.span("work") as span:
            span.set_status(Status(StatusCode.ERROR, SURROGATE))
            raise Unprintable()
    assert ferrotel.current_span() is None
    span = only_span(memory_exporter)
    assert span["status"] == "ERROR"
    assert span["status_description"] == "Unprintable: <unprintable Unprintable object>"
    assert span["events"][0]["attributes"]["exception.type"].endswith("Unprintable")


def test_async_with_and_exit_stack(tracer, memory_exporter):
    async def main() -> None:
        with pytest.raises(ValueError):
            async with tracer.span("async"):
                raise ValueError(SURROGATE)
        assert ferrotel.current_span() is None

    asyncio.run(main())
    span_type = ferrotel.tracing.Span
    manual = tracer.span("manual")
    span_type.__enter__(manual)
    assert span_type.__exit__(manual, ValueError, ValueError(SURROGATE), None) is False
    assert ferrotel.current_span() is None
    assert [s["status"] for s in memory_exporter.get_finished_spans()] == ["ERROR", "ERROR"]
