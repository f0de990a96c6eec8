"""Zipkin v2 export: every payload validates against tests/schemas/zipkin2-span.schema.json
(written from the Zipkin v2 API, zipkin2-api.yaml) and follows OpenTelemetry's Zipkin mapping
(status tags, events as annotations, microseconds, kind, parentId, service name)."""

from __future__ import annotations

import json
import time

import ferrotel
import pytest
from ferrotel import tracing
from tracing_helpers import by_name, zipkin_span_validator, zipkin_spans

pytestmark = pytest.mark.usefixtures("reset_tracing")

ZIPKIN_PATH = "/api/v2/spans"


@pytest.fixture
def zipkin(receiver):
    tracing.configure(
        service_name="zipkin-tests",
        exporters=[tracing.ZipkinExporter(receiver.url(ZIPKIN_PATH))],
        schedule_delay=60,
        export_timeout=10,
        sampler="parentbased_always_on",
    )
    return receiver


def exported(receiver) -> dict[str, dict]:
    assert ferrotel.flush(10)
    requests = receiver.snapshot()
    assert requests, "nothing arrived"
    for r in requests:
        assert r.method == "POST" and r.path == ZIPKIN_PATH
        assert r.headers["content-type"] == "application/json"
    return by_name(zipkin_spans(requests))


def annotation_payload(value: str) -> dict:
    """An event with attributes, as the mapping writes it: ``"name": {attributes}`` (accepted
    with or without the enclosing braces)."""
    text = value if value.startswith("{") else "{" + value + "}"
    return json.loads(text)


def test_the_schema_rejects_what_it_should():
    """The validator is live: a span without ids, or with upper-case ids, fails."""
    validator = zipkin_span_validator()
    assert not validator.is_valid({"name": "no ids"})
    assert not validator.is_valid({"traceId": "A" * 32, "id": "b" * 16})
    assert not validator.is_valid({"traceId": "a" * 32, "id": "b" * 16, "tags": {"n": 1}})
    assert validator.is_valid({"traceId": "a" * 32, "id": "b" * 16, "tags": {"n": "1"}})


def test_spans_validate_and_map_ids_kind_and_service(zipkin, tracer):
    before_us = time.time_ns() // 1000
    with tracer.span("root", kind="server") as root:
        with tracer.span("client-call", kind="client") as client:
            pass
        for kind in ("producer", "consumer", "internal"):
            with tracer.span(f"{kind}-span", kind=kind):
                pass
    after_us = time.time_ns() // 1000 + 1
    spans = exported(zipkin)

    r, c = spans["root"], spans["client-call"]
    assert r["traceId"] == root.context.trace_id and len(r["traceId"]) == 32
    assert r["id"] == root.context.span_id
    assert "parentId" not in r
    assert c["id"] == client.context.span_id
    assert c["traceId"] == root.context.trace_id
    assert c["parentId"] == root.context.span_id

    assert r["kind"] == "SERVER"
    assert c["kind"] == "CLIENT"
    assert spans["producer-span"]["kind"] == "PRODUCER"
    assert spans["consumer-span"]["kind"] == "CONSUMER"
    assert "kind" not in spans["internal-span"], "INTERNAL must be omitted"

    for s in spans.values():
        assert s["localEndpoint"] == {"serviceName": "zipkin-tests"}
        assert isinstance(s["timestamp"], int) and isinstance(s["duration"], int)
        assert before_us <= s["timestamp"] <= after_us, "timestamp is in epoch microseconds"
        assert 1 <= s["duration"] <= after_us - before_us
        assert s["tags"]["otel.scope.name"] == "tests"
        assert s["tags"]["otel.scope.version"] == "1.2.3"
        assert "annotations" not in s, "absent fields are omitted"


def test_explicit_times_are_whole_microseconds(zipkin, tracer):
    start_ns = 1_700_000_000_123_456_789
    span = tracer.start_span("timed", start_time=start_ns)
    span.add_event("tick", timestamp=start_ns + 1_999)
    span.end(end_time=start_ns + 2_500_000_999)
    short = tracer.start_span("short", start_time=start_ns)
    short.end(end_time=start_ns + 10)
    spans = exported(zipkin)
    timed = spans["timed"]
    assert timed["timestamp"] == 1_700_000_000_123_456
    assert timed["duration"] == 2_500_000
    assert timed["annotations"] == [{"timestamp": 1_700_000_000_123_458, "value": "tick"}]
    # Durations under a microsecond are rounded up to the schema's minimum of 1.
    assert spans["short"]["duration"] == 1


def test_attributes_become_string_tags(zipkin, tracer):
    with tracer.span(
        "tagged",
        attributes={
            "str": "text",
            "bool.t": True,
            "bool.f": False,
            "int": -7,
            "float": 2.5,
            "strs": ["a", "b"],
            "ints": [1, 2],
            "bools": [True, False],
            "floats": [0.5, 1.5],
        },
    ):
        pass
    tags = exported(zipkin)["tagged"]["tags"]
    assert tags["str"] == "text"
    assert tags["bool.t"] == "true" and tags["bool.f"] == "false"
    assert tags["int"] == "-7"
    assert float(tags["float"]) == 2.5
    assert json.loads(tags["strs"]) == ["a", "b"]
    assert json.loads(tags["ints"]) == [1, 2]
    assert json.loads(tags["bools"]) == [True, False]
    assert json.loads(tags["floats"]) == [0.5, 1.5]


def test_status_tags(zipkin, tracer):
    with tracer.span("unset"):
        pass
    with tracer.span("ok") as ok:
        ok.set_status("ok")
    with tracer.span("error") as error:
        error.set_status("error", "upstream timed out")
    with tracer.span("error-without-description") as bare:
        bare.set_status("error")
    with pytest.raises(KeyError), tracer.span("raised"):
        raise KeyError("song 42")
    spans = exported(zipkin)

    assert "otel.status_code" not in spans["unset"]["tags"] and "error" not in spans["unset"]["tags"]
    assert spans["ok"]["tags"]["otel.status_code"] == "OK"
    assert "error" not in spans["ok"]["tags"]
    assert spans["error"]["tags"]["otel.status_code"] == "ERROR"
    assert spans["error"]["tags"]["error"] == "upstream timed out"
    assert spans["error-without-description"]["tags"]["otel.status_code"] == "ERROR"
    assert spans["error-without-description"]["tags"]["error"] == ""
    raised = spans["raised"]
    assert raised["tags"]["otel.status_code"] == "ERROR"
    assert "KeyError" in raised["tags"]["error"]
    (annotation,) = raised["annotations"]
    event = annotation_payload(annotation["value"])
    assert list(event) == ["exception"]
    assert event["exception"]["exception.type"] == "KeyError"
    assert "song 42" in event["exception"]["exception.message"]


def test_events_become_annotations(zipkin, tracer):
    before_us = time.time_ns() // 1000
    with tracer.span("evented") as span:
        span.add_event("cache_miss")
        span.add_event("retry", {"attempt": 2, "backoff": 0.5, "final": False, "peer": "db-1"})
    after_us = time.time_ns() // 1000 + 1
    annotations = exported(zipkin)["evented"]["annotations"]
    assert [a["value"] for a in annotations][0] == "cache_miss"
    assert annotation_payload(annotations[1]["value"]) == {
        "retry": {"attempt": 2, "backoff": 0.5, "final": False, "peer": "db-1"}
    }
    for a in annotations:
        assert before_us <= a["timestamp"] <= after_us


def test_identical_events_still_validate(zipkin, tracer):
    """The schema's annotations are uniqueItems: two events with the same name in the same
    microsecond must not make the payload invalid (Zipkin itself keeps one of them)."""
    with tracer.span("twice") as span:
        span.add_event("tick", timestamp=1_700_000_000_000_000_000)
        span.add_event("tick", timestamp=1_700_000_000_000_000_000)
        span.add_event("tock", timestamp=1_700_000_000_000_000_000)
    annotations = exported(zipkin)["twice"]["annotations"]
    assert {(a["timestamp"], a["value"]) for a in annotations} == {
        (1_700_000_000_000_000, "tick"),
        (1_700_000_000_000_000, "tock"),
    }


def test_service_name_defaults_to_unknown_service(receiver, tracer, monkeypatch):
    for name in ("OTEL_SERVICE_NAME", "SERVICE_NAME", "OTEL_RESOURCE_ATTRIBUTES"):
        monkeypatch.delenv(name, raising=False)
    tracing.configure(exporters=[tracing.ZipkinExporter(receiver.url(ZIPKIN_PATH))], schedule_delay=60)
    with tracer.span("anonymous"):
        pass
    spans = exported(receiver)
    assert spans["anonymous"]["localEndpoint"]["serviceName"] == "unknown_service"


def test_dropped_counts_become_tags(receiver, tracer):
    """The generic non-OTLP mapping: otel.dropped_{attributes,events,links}_count when non-zero."""
    tracing.configure(
        service_name="zipkin-tests",
        exporters=[tracing.ZipkinExporter(receiver.url(ZIPKIN_PATH))],
        schedule_delay=60,
        max_attributes=1,
        max_events=1,
        max_links=1,
    )
    other = tracer.start_span("other")
    other.end()
    with tracer.span("limited", attributes={"a": 1, "b": 2, "c": 3}) as span:
        for name in ("e1", "e2", "e3"):
            span.add_event(name)
        for _ in range(4):
            span.add_link(other.context)
    tags = exported(receiver)["limited"]["tags"]
    assert tags["otel.dropped_attributes_count"] == "2"
    assert tags["otel.dropped_events_count"] == "2"
    # Product bug: the Zipkin exporter writes no otel.dropped_links_count tag.
    assert tags.get("otel.dropped_links_count") == "3", tags


def test_zipkin_and_otlp_together(receiver, tracer):
    """Two exporters: each gets every span, in its own format."""
    tracing.configure(
        service_name="both",
        exporters=[
            tracing.ZipkinExporter(receiver.url(ZIPKIN_PATH)),
            tracing.OTLPSpanExporter(receiver.url("/v1/traces")),
        ],
        schedule_delay=60,
    )
    with tracer.span("everywhere") as span:
        pass
    assert ferrotel.flush(10)
    from tracing_helpers import exported_spans

    requests = receiver.snapshot()
    zipkin_requests = [r for r in requests if r.path == ZIPKIN_PATH]
    otlp_requests = [r for r in requests if r.path == "/v1/traces"]
    assert [s["id"] for s in zipkin_spans(zipkin_requests)] == [span.context.span_id]
    assert [s.span_id for s in exported_spans(otlp_requests)] == [span.context.span_id]
