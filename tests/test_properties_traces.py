"""Property-based tests (issue #16) over spans (names, attributes, events, OTLP payloads) and
propagation headers. See tests/strategies.py."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import ferrotel
import pytest
from hypothesis import given
from hypothesis import strategies as st
from strategies import any_text, clean_text, once_per_test, surrogate_text

attribute_values = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | clean_text
    | st.binary(max_size=8)
    | st.lists(st.integers(-(2**63), 2**63 - 1), max_size=3)
    | st.lists(clean_text, max_size=3)
    | st.lists(st.one_of(st.integers(), clean_text, st.none()), max_size=3)
    | st.dictionaries(clean_text, st.integers(), max_size=2)
)
attributes = st.dictionaries(clean_text, attribute_values, max_size=4)


@pytest.fixture
def spans(memory_exporter) -> Iterator[Any]:
    memory_exporter.clear()
    yield memory_exporter


@once_per_test
@given(clean_text, attributes, clean_text, attributes, clean_text, attribute_values)
def test_spans_record_any_attributes_and_events(spans, name, attrs, event, event_attrs, key, value):
    spans.clear()
    tracer = ferrotel.get_tracer("properties")
    with tracer.span(name, attributes=attrs) as span:
        span.add_event(event, event_attrs)
        span.set_attribute(key, value)
        span.set_status("error", event)
    (finished,) = spans.get_finished_spans()
    assert finished["name"] == name


@once_per_test
@given(surrogate_text, surrogate_text)
def test_spans_record_surrogate_names_and_keys(spans, name, text):
    tracer = ferrotel.get_tracer("properties")
    with tracer.span(name) as span:
        span.add_event(text)
        span.set_attribute(text, 1)
        span.update_name(text)


@pytest.fixture
def otlp_spans(receiver, reset_tracing) -> Iterator[Any]:
    """Tracing to a loopback OTLP/HTTP collector; only ``ferrotel.flush()`` exports."""
    ferrotel.tracing.configure(
        service_name="properties",
        exporters=[ferrotel.tracing.OTLPSpanExporter(receiver.url("/v1/traces"))],
        schedule_delay=60,
        sampler="parentbased_always_on",
    )
    yield receiver


@once_per_test
@given(clean_text, attributes, clean_text, attributes)
def test_otlp_span_payloads_parse_with_opentelemetry_proto(otlp_spans, name, attrs, event, event_attrs):
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    before = len(otlp_spans.snapshot())
    with ferrotel.get_tracer("properties").span(name, attributes=attrs) as span:
        span.add_event(event, event_attrs)
    assert ferrotel.flush(10.0)
    (request,) = otlp_spans.snapshot()[before:]
    payload = ExportTraceServiceRequest.FromString(request.body)
    (exported,) = [s for r in payload.resource_spans for sc in r.scope_spans for s in sc.spans]
    assert exported.name == name
    assert [e.name for e in exported.events] == [event]


# --- propagation -----------------------------------------------------------------------------------

TRACEPARENT = re.compile(r"00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})")
HEADER_NAMES = ["traceparent", "tracestate", "baggage", "b3", "x-b3-traceid", "x-b3-spanid", "x-b3-sampled"]
hex_digits = st.text("0123456789abcdef", min_size=1, max_size=34)
traceparent_like = st.tuples(
    st.sampled_from(["00", "01", "ff", "0"]), hex_digits, hex_digits, st.sampled_from(["00", "01", "03", "x"])
).map("-".join)
header_values = any_text | traceparent_like | st.lists(any_text, max_size=3).map(",".join)
carriers = st.dictionaries(st.sampled_from(HEADER_NAMES) | any_text, header_values, max_size=5)


@given(carriers)
def test_extract_never_raises_and_what_it_extracts_injects_back(carrier):
    context = ferrotel.propagation.extract(carrier)
    ferrotel.propagation.extract_baggage(carrier)
    if context is None:
        return
    out: dict[str, str] = {}
    ferrotel.propagation.inject(out, context)
    match = TRACEPARENT.fullmatch(out["traceparent"])
    assert match, out
    assert (match[1], match[2]) == (context.trace_id, context.span_id)
    assert ferrotel.propagation.extract(out) == context


def round_trips(trace_id: int, span_id: int, flags: int) -> None:
    header = f"00-{trace_id:032x}-{span_id:016x}-{flags:02x}"
    context = ferrotel.propagation.extract({"traceparent": header})
    assert context is not None
    assert (context.trace_id, context.span_id, context.trace_flags) == (
        f"{trace_id:032x}",
        f"{span_id:016x}",
        flags,
    )
    out: dict[str, str] = {}
    ferrotel.propagation.inject(out, context)
    assert out["traceparent"] == header


@given(st.integers(1, 2**128 - 1), st.integers(1, 2**64 - 1), st.sampled_from([0, 1]))
def test_a_valid_traceparent_round_trips(trace_id, span_id, flags):
    round_trips(trace_id, span_id, flags)


@given(st.integers(1, 2**128 - 1), st.integers(1, 2**64 - 1), st.sampled_from([2, 3]))
def test_a_traceparent_with_the_random_flag_round_trips(trace_id, span_id, flags):
    round_trips(trace_id, span_id, flags)
