"""OTLP/HTTP span export, decoded by a loopback receiver with the official protobuf messages."""

from __future__ import annotations

import math
import time

import ferrotel
import pytest
from ferrotel import propagation, tracing
from helpers import wait_until
from opentelemetry.proto.trace.v1 import trace_pb2
from tracing_helpers import (
    SPAN_FLAGS_CONTEXT_HAS_IS_REMOTE,
    SPAN_FLAGS_CONTEXT_IS_REMOTE,
    SPAN_FLAGS_TRACE_FLAGS_MASK,
    by_name,
    exported_spans,
)

pytestmark = pytest.mark.usefixtures("reset_tracing")

Span = trace_pb2.Span
Status = trace_pb2.Status


def configure(exporter, **settings) -> None:
    """Only ``ferrotel.flush()`` exports: the schedule is far longer than any test."""
    settings.setdefault("service_name", "otlp-tests")
    tracing.configure(
        exporters=[exporter],
        schedule_delay=60,
        export_timeout=10,
        sampler="parentbased_always_on",
        **settings,
    )


def flush() -> None:
    assert ferrotel.flush(10), "flush did not finish within 10 s"


def record_scenario(tracer) -> dict:
    """A small trace with every kind of data a span carries; returns what must arrive."""
    before = time.time_ns()
    other = tracer.start_span("other", start_time=1_700_000_000_000_000_000)
    other.end(end_time=1_700_000_000_500_000_000)
    with tracer.span(
        "root",
        kind="server",
        attributes={
            "str": "text",
            "bool": True,
            "int": -42,
            "float": 2.5,
            "strs": ["a", "b"],
            "bools": [True, False],
            "ints": [1, 2, 3],
            "floats": [0.5, 1.5],
        },
    ) as root:
        root.add_event("started", {"step": 1, "ok": True, "who": "me"}, timestamp=1_700_000_000_100_000_000)
        with tracer.span("child", kind="client", links=[other]) as child:
            child.add_link(other.context, {"link.kind": "follows"})
            child.set_status("error", "backend said no")
        producer = tracer.start_span("producer", kind="producer")
        producer.set_status("ok")
        producer.end()
        consumer = tracer.start_span("consumer", kind="consumer", parent=producer)
        consumer.update_name("consumer-renamed")
        consumer.end()
    after = time.time_ns()
    return {
        "before": before,
        "after": after,
        "trace_id": root.context.trace_id,
        "root": root.context.span_id,
        "child": child.context.span_id,
        "producer": producer.context.span_id,
        "consumer": consumer.context.span_id,
        "other_trace": other.context.trace_id,
        "other": other.context.span_id,
    }


def check_scenario(spans, expected: dict) -> None:
    assert len(spans) == 5
    named = by_name(spans)
    assert set(named) == {"other", "root", "child", "producer", "consumer-renamed"}
    root, child = named["root"], named["child"]
    producer, consumer, other = named["producer"], named["consumer-renamed"], named["other"]

    # Ids and parents.
    for s in (root, child, producer, consumer):
        assert s.trace_id == expected["trace_id"]
    assert root.span_id == expected["root"] and root.parent_span_id is None
    assert child.span_id == expected["child"] and child.parent_span_id == expected["root"]
    assert producer.span_id == expected["producer"] and producer.parent_span_id == expected["root"]
    assert consumer.span_id == expected["consumer"] and consumer.parent_span_id == expected["producer"]
    assert other.trace_id == expected["other_trace"] != expected["trace_id"]
    assert other.span_id == expected["other"] and other.parent_span_id is None

    # Kinds.
    assert root.kind == Span.SPAN_KIND_SERVER
    assert child.kind == Span.SPAN_KIND_CLIENT
    assert producer.kind == Span.SPAN_KIND_PRODUCER
    assert consumer.kind == Span.SPAN_KIND_CONSUMER
    assert other.kind == Span.SPAN_KIND_INTERNAL

    # Timestamps: nanoseconds since the epoch, explicit ones exactly as given.
    assert other.start == 1_700_000_000_000_000_000
    assert other.end == 1_700_000_000_500_000_000
    for s in (root, child, producer, consumer):
        assert expected["before"] <= s.start <= s.end <= expected["after"]
    assert root.start <= child.start and child.end <= root.end

    # Attributes of every type.
    assert root.attributes == {
        "str": "text",
        "bool": True,
        "int": -42,
        "float": 2.5,
        "strs": ("a", "b"),
        "bools": (True, False),
        "ints": (1, 2, 3),
        "floats": (0.5, 1.5),
    }
    assert child.attributes == {}

    # Events.
    assert root.events == [
        {
            "name": "started",
            "time": 1_700_000_000_100_000_000,
            "attributes": {"step": 1, "ok": True, "who": "me"},
            "dropped_attributes": 0,
        }
    ]

    # Links: one from links=[span], one from add_link(context, attributes).
    assert [(link["trace_id"], link["span_id"]) for link in child.links] == [
        (expected["other_trace"], expected["other"])
    ] * 2
    assert child.links[0]["attributes"] == {}
    assert child.links[1]["attributes"] == {"link.kind": "follows"}
    # The linked trace was started by ferrotel: sampled, and random (W3C Trace Context Level 2).
    assert all(link["flags"] & SPAN_FLAGS_TRACE_FLAGS_MASK == 0x03 for link in child.links)

    # Status.
    assert child.status_code == Status.STATUS_CODE_ERROR
    assert child.status_message == "backend said no"
    assert producer.status_code == Status.STATUS_CODE_OK
    assert producer.status_message == ""
    assert root.status_code == Status.STATUS_CODE_UNSET

    # Sampled and random, parent known to be local; nothing dropped.
    for s in spans:
        assert s.flags & SPAN_FLAGS_TRACE_FLAGS_MASK == 0x03
        assert s.flags & SPAN_FLAGS_CONTEXT_HAS_IS_REMOTE
        assert not s.flags & SPAN_FLAGS_CONTEXT_IS_REMOTE
        assert (s.dropped_attributes, s.dropped_events, s.dropped_links) == (0, 0, 0)
        assert s.scope_name == "tests" and s.scope_version == "1.2.3"
        assert s.resource["service.name"] == "otlp-tests"


@pytest.mark.parametrize(
    ("protocol", "gzip", "content_type"),
    [
        ("http/protobuf", False, "application/x-protobuf"),
        ("http/protobuf", True, "application/x-protobuf"),
        ("http/json", False, "application/json"),
        ("http/json", True, "application/json"),
    ],
)
def test_payload_carries_every_field(receiver, tracer, protocol, gzip, content_type):
    configure(tracing.OTLPSpanExporter(receiver.url(), protocol=protocol, gzip=gzip))
    expected = record_scenario(tracer)
    flush()

    requests = receiver.snapshot()
    assert requests, "nothing arrived"
    for r in requests:
        assert r.method == "POST" and r.path == "/v1/traces"
        assert r.headers["content-type"] == content_type
        if gzip:
            assert r.headers.get("content-encoding") == "gzip"
            assert r.raw[:2] == b"\x1f\x8b"
        else:
            assert "content-encoding" not in r.headers
    check_scenario(exported_spans(requests), expected)


def test_json_and_protobuf_decode_to_the_same_message(receiver, tracer):
    """The same spans sent both ways decode to equal ExportTraceServiceRequests."""
    from tracing_helpers import decode_otlp

    tracing.configure(
        service_name="otlp-tests",
        exporters=[
            tracing.OTLPSpanExporter(receiver.url("/proto")),
            tracing.OTLPSpanExporter(receiver.url("/json"), protocol="http/json"),
        ],
        schedule_delay=60,
        sampler="parentbased_always_on",
    )
    record_scenario(tracer)
    flush()
    messages = {r.path: decode_otlp(r) for r in receiver.snapshot()}
    assert set(messages) == {"/proto", "/json"}
    assert messages["/proto"] == messages["/json"]


@pytest.mark.parametrize("protocol", ["http/protobuf", "http/json"])
def test_non_finite_doubles(receiver, tracer, protocol):
    """NaN and infinities are doubles like any other; protobuf's JSON mapping writes them as
    "NaN", "Infinity" and "-Infinity"."""
    configure(tracing.OTLPSpanExporter(receiver.url(), protocol=protocol))
    with tracer.span("odd-doubles", attributes={"nan": math.nan, "inf": math.inf, "ninf": -math.inf}):
        pass
    flush()
    (span,) = exported_spans(receiver.snapshot())
    assert isinstance(span.attributes["nan"], float), span.attributes
    assert math.isnan(span.attributes["nan"])
    assert span.attributes["inf"] == math.inf and span.attributes["ninf"] == -math.inf


def test_reconfiguring_does_not_lose_buffered_spans(receiver, tracer):
    """Spans buffered (or still open) in a replaced pipeline are exported by that pipeline."""
    configure(tracing.OTLPSpanExporter(receiver.url("/first")), service_name="first")
    with tracer.span("buffered"):
        pass
    still_open = tracer.start_span("open-across-configure")
    configure(tracing.OTLPSpanExporter(receiver.url("/second")), service_name="second")
    with tracer.span("new"):
        pass
    still_open.end()
    flush()

    def arrived() -> dict[str, tuple[str, str]]:
        return {
            s.name: (r.path, s.resource["service.name"])
            for r in receiver.snapshot()
            for s in exported_spans([r])
        }

    wait_until(lambda: len(arrived()) == 3, what="the three spans, from both pipelines")
    assert arrived() == {
        "buffered": ("/first", "first"),
        "open-across-configure": ("/first", "first"),
        "new": ("/second", "second"),
    }


def test_exporter_headers_arrive(receiver, tracer):
    headers = {"x-api-key": "s3cret", "authorization": "Bearer token-123", "X-Scope-OrgID": "tenant-1"}
    configure(tracing.OTLPSpanExporter(receiver.url(), headers=headers))
    with tracer.span("with-headers"):
        pass
    flush()
    requests = receiver.snapshot()
    assert len(requests) == 1
    for name, value in headers.items():
        assert requests[0].headers[name.lower()] == value
    assert [s.name for s in exported_spans(requests)] == ["with-headers"]


def test_resource_from_arguments(receiver, tracer):
    configure(
        tracing.OTLPSpanExporter(receiver.url()),
        service_name="audotics",
        service_version="2.4.1",
        environment="production",
    )
    with tracer.span("op"):
        pass
    flush()
    (span,) = exported_spans(receiver.snapshot())
    assert span.resource["service.name"] == "audotics"
    assert span.resource["service.version"] == "2.4.1"
    assert span.resource["deployment.environment"] == "production"
    assert span.resource["telemetry.sdk.name"] == "ferrotel"
    assert span.resource["telemetry.sdk.language"] == "python"


def test_resource_from_environment(receiver, tracer, monkeypatch):
    monkeypatch.setenv("OTEL_SERVICE_NAME", "from-env")
    monkeypatch.setenv(
        "OTEL_RESOURCE_ATTRIBUTES",
        "team=audio, deployment.environment=staging,host.note=a%2Cb%20c,service.name=ignored",
    )
    tracing.configure(
        exporters=[tracing.OTLPSpanExporter(receiver.url())], schedule_delay=60, sampler="always_on"
    )
    with tracer.span("op"):
        pass
    flush()
    (span,) = exported_spans(receiver.snapshot())
    # OTEL_SERVICE_NAME wins over service.name in OTEL_RESOURCE_ATTRIBUTES.
    assert span.resource["service.name"] == "from-env"
    assert span.resource["team"] == "audio"
    assert span.resource["deployment.environment"] == "staging"
    assert span.resource["host.note"] == "a,b c"


def test_service_name_from_resource_attributes_and_arguments_win(receiver, tracer, monkeypatch):
    monkeypatch.delenv("OTEL_SERVICE_NAME", raising=False)
    monkeypatch.delenv("SERVICE_NAME", raising=False)
    monkeypatch.setenv("OTEL_RESOURCE_ATTRIBUTES", "service.name=attr-name,deployment.environment=dev")
    tracing.configure(
        exporters=[tracing.OTLPSpanExporter(receiver.url("/a"))], schedule_delay=60, sampler="always_on"
    )
    with tracer.span("a"):
        pass
    flush()
    tracing.configure(
        exporters=[tracing.OTLPSpanExporter(receiver.url("/b"))],
        service_name="argument-name",
        environment="prod",
        schedule_delay=60,
        sampler="always_on",
    )
    with tracer.span("b"):
        pass
    flush()
    spans = by_name(exported_spans(receiver.snapshot()))
    assert spans["a"].resource["service.name"] == "attr-name"
    assert spans["a"].resource["deployment.environment"] == "dev"
    assert spans["b"].resource["service.name"] == "argument-name"
    assert spans["b"].resource["deployment.environment"] == "prod"


def test_exporter_from_environment(receiver, tracer, monkeypatch):
    """OTEL_EXPORTER_OTLP_ENDPOINT (+ /v1/traces), OTEL_EXPORTER_OTLP_HEADERS and _PROTOCOL."""
    for name in ("ENDPOINT", "HEADERS", "PROTOCOL", "COMPRESSION", "TIMEOUT"):
        monkeypatch.delenv(f"OTEL_EXPORTER_OTLP_TRACES_{name}", raising=False)
    monkeypatch.delenv("OTEL_TRACES_EXPORTER", raising=False)
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.url("/base/"))
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_HEADERS", "api-key=k%3Dv,tenant=t1")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_COMPRESSION", "gzip")
    tracing.configure(service_name="env-exporter", schedule_delay=60, sampler="always_on")
    with tracer.span("from-env"):
        pass
    flush()
    (request,) = receiver.snapshot()
    assert request.path == "/base/v1/traces"
    assert request.headers["api-key"] == "k=v" and request.headers["tenant"] == "t1"
    assert request.headers["content-type"] == "application/json"
    assert request.headers["content-encoding"] == "gzip"
    assert [s.name for s in exported_spans([request])] == ["from-env"]


def test_jaeger_exporter_sends_otlp(receiver, tracer):
    configure(tracing.JaegerExporter(receiver.url()))
    with tracer.span("to-jaeger", kind="server"):
        pass
    flush()
    (request,) = receiver.snapshot()
    assert request.headers["content-type"] == "application/x-protobuf"
    (span,) = exported_spans([request])
    assert span.name == "to-jaeger" and span.kind == Span.SPAN_KIND_SERVER


def test_remote_parent_and_tracestate(receiver, tracer):
    configure(tracing.OTLPSpanExporter(receiver.url()))
    headers = {
        "traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
        "tracestate": "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE",
    }
    with propagation.attach(headers):
        with tracer.span("handle", kind="server") as server:
            with tracer.span("inner"):
                pass
    flush()
    spans = by_name(exported_spans(receiver.snapshot()))
    handle, inner = spans["handle"], spans["inner"]
    assert handle.trace_id == inner.trace_id == "0af7651916cd43dd8448eb211c80319c"
    assert handle.parent_span_id == "b7ad6b7169203331"
    assert inner.parent_span_id == server.context.span_id
    assert handle.trace_state == inner.trace_state == "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE"
    assert handle.flags & SPAN_FLAGS_CONTEXT_HAS_IS_REMOTE and handle.flags & SPAN_FLAGS_CONTEXT_IS_REMOTE
    assert inner.flags & SPAN_FLAGS_CONTEXT_HAS_IS_REMOTE and not inner.flags & SPAN_FLAGS_CONTEXT_IS_REMOTE


def test_batches_hold_at_most_max_export_batch_size_and_every_span_once(receiver, tracer):
    configure(tracing.OTLPSpanExporter(receiver.url()), max_export_batch_size=10, max_queue_size=100)
    ids = []
    for i in range(25):
        with tracer.span(f"span-{i}") as span:
            ids.append(span.context.span_id)
    flush()
    requests = receiver.snapshot()
    sizes = [len(exported_spans([r])) for r in requests]
    assert len(requests) >= 3 and all(0 < n <= 10 for n in sizes), sizes
    assert sorted(s.span_id for s in exported_spans(requests)) == sorted(ids)


def test_spans_from_several_tracers_are_grouped_by_scope(receiver):
    from tracing_helpers import decode_otlp

    configure(tracing.OTLPSpanExporter(receiver.url()))
    first, second = ferrotel.get_tracer("first", "1.0"), ferrotel.get_tracer("second")
    for t in (first, second, first):
        with t.span(f"from-{t.name}"):
            pass
    flush()
    (request,) = receiver.snapshot()
    message = decode_otlp(request)
    assert len(message.resource_spans) == 1
    scopes = {
        (ss.scope.name, ss.scope.version): [s.name for s in ss.spans]
        for ss in message.resource_spans[0].scope_spans
    }
    assert scopes == {("first", "1.0"): ["from-first", "from-first"], ("second", ""): ["from-second"]}


def test_unsampled_spans_are_not_exported(receiver, tracer):
    configure(tracing.OTLPSpanExporter(receiver.url()))
    unsampled = tracing.SpanContext("4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7", trace_flags=0)
    sampled = tracing.SpanContext("5bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7", trace_flags=1)
    with tracer.span("dropped", parent=unsampled) as span:
        assert not span.is_recording()
        with tracer.span("dropped-child"):
            pass
    with tracer.span("kept", parent=sampled):
        pass
    flush()
    assert [s.name for s in exported_spans(receiver.snapshot())] == ["kept"]
