"""The OTLP logs sink: what a loopback `/v1/logs` receiver gets, decoded with the official
opentelemetry-proto classes."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import ferrotel
import pytest
from ferrotel.logs import OtlpLogSink
from helpers import LoopbackReceiver, Recorded, Response, wait_until

logs_service = pytest.importorskip("opentelemetry.proto.collector.logs.v1.logs_service_pb2")


def otlp_logs_answer(request: Recorded) -> Response:
    """What an OTLP/HTTP collector answers to a valid `/v1/logs` export (full success)."""
    logs_service.ExportLogsServiceRequest.FromString(request.body)  # a 500 if it does not parse
    body = logs_service.ExportLogsServiceResponse().SerializeToString()
    return Response(200, {"Content-Type": "application/x-protobuf"}, body)


def decoded(collector: LoopbackReceiver) -> list[Any]:
    return [logs_service.ExportLogsServiceRequest.FromString(r.body) for r in collector.accepted()]


def wait_for_records(collector: LoopbackReceiver, count: int) -> list[Any]:
    """(resource_logs, scope_logs, record) for every record received, once there are ``count``."""

    def records() -> list[Any]:
        found = [
            (resource_logs, scope_logs, record)
            for request in decoded(collector)
            for resource_logs in request.resource_logs
            for scope_logs in resource_logs.scope_logs
            for record in scope_logs.log_records
        ]
        return found if len(found) >= count else []

    return wait_until(records, timeout=30, what=f"{count} OTLP log records")


@pytest.fixture
def collector(receiver: LoopbackReceiver) -> Iterator[LoopbackReceiver]:
    receiver.default = otlp_logs_answer
    yield receiver
    ferrotel.logs.configure(console=False)


def attributes(kvs: Any) -> dict[str, Any]:
    def value(v: Any) -> Any:
        kind = v.WhichOneof("value")
        if kind == "kvlist_value":
            return attributes(v.kvlist_value.values)
        if kind == "array_value":
            return [value(x) for x in v.array_value.values]
        return getattr(v, kind) if kind else None

    return {kv.key: value(kv.value) for kv in kvs}


def test_records_arrive_as_otlp_logs(collector):
    url = collector.url("/v1/logs")
    sink = OtlpLogSink(url, headers={"x-team": "music"}, flush_interval=0.1)
    ferrotel.logs.configure(otlp=sink, service="music-api", environment="prod", version="3", hostname="web-1")
    log = ferrotel.get_logger("users")
    log.warning("Creating new user", user_id=42, tags=["a", "b"], meta={"ok": True}, password="x")
    try:
        raise ValueError("bad")
    except ValueError:
        ferrotel.get_logger("billing").exception("failed")
    (resource_logs, scope_logs, warning), (_, billing_scope, error) = wait_for_records(collector, 2)
    first = collector.snapshot()[0]
    assert first.path == "/v1/logs" and first.headers["content-type"] == "application/x-protobuf"
    assert first.headers["x-team"] == "music"
    assert attributes(resource_logs.resource.attributes) == {
        "service.name": "music-api",
        "service.version": "3",
        "deployment.environment": "prod",
        "host.name": "web-1",
    }
    assert (scope_logs.scope.name, billing_scope.scope.name) == ("users", "billing")
    assert warning.body.string_value == "Creating new user"
    assert (warning.severity_number, warning.severity_text) == (13, "WARNING")
    assert attributes(warning.attributes) == {
        "user_id": 42,
        "tags": ["a", "b"],
        "meta": {"ok": True},
        "password": "[REDACTED]",
    }
    assert warning.time_unix_nano > 0 and not warning.trace_id
    error_attributes = attributes(error.attributes)
    assert error.severity_number == 17
    assert error_attributes["exception.type"] == "ValueError"
    assert error_attributes["exception.message"] == "bad"
    assert "Traceback" in error_attributes["exception.stacktrace"]


@pytest.mark.skipif(not hasattr(ferrotel, "get_tracer"), reason="tracing not merged yet")
def test_otlp_records_carry_the_span_ids(collector):
    url = collector.url("/v1/logs")
    ferrotel.logs.configure(otlp=OtlpLogSink(url, flush_interval=0.1))
    with ferrotel.get_tracer("t").span("op") as span:
        ferrotel.get_logger("x").info("in a span")
    ((_, _, record),) = wait_for_records(collector, 1)
    assert record.trace_id.hex() == span.context.trace_id
    assert record.span_id.hex() == span.context.span_id


def test_endpoint_and_headers_default_from_the_environment(monkeypatch):
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_LOGS_ENDPOINT", raising=False)
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318/")
    assert OtlpLogSink().endpoint == "http://collector:4318/v1/logs"
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_LOGS_ENDPOINT", "http://logs:4318/custom")
    assert OtlpLogSink().endpoint == "http://logs:4318/custom"
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_HEADERS", "broken")
    with pytest.raises(ValueError, match="broken"):
        OtlpLogSink()
