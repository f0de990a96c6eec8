"""Helpers for the tracing tests: decoders for what the loopback receiver (tests/helpers.py)
records, OTLP (protobuf and JSON) and Zipkin v2 payloads, and ferrotel's own counters."""

from __future__ import annotations

import base64
import functools
import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import ferrotel
from helpers import Recorded, schema_validator

# tests/schemas/zipkin2-span.schema.json: the Zipkin v2 ListOfSpans, written from zipkin2-api.yaml.
ZIPKIN_SCHEMA = "zipkin2-span.schema.json"

# OTLP span flags (trace.proto): the W3C trace flags in the low byte, then whether the parent
# is known to be remote.
SPAN_FLAGS_TRACE_FLAGS_MASK = 0xFF
SPAN_FLAGS_CONTEXT_HAS_IS_REMOTE = 0x100
SPAN_FLAGS_CONTEXT_IS_REMOTE = 0x200


# --- OTLP ------------------------------------------------------------------------------------------


def _hex_ids_to_base64(message: Any) -> None:
    """OTLP/JSON writes trace and span ids as hex (not protobuf JSON's base64): convert them so
    ``json_format.Parse`` reads the ids into the same bytes as the protobuf encoding."""
    lengths = {"traceId": 16, "spanId": 8, "parentSpanId": 8}
    if isinstance(message, dict):
        for key, value in message.items():
            if key in lengths and isinstance(value, str):
                if value == "" and key == "parentSpanId":
                    continue
                assert len(value) == 2 * lengths[key] and value == value.lower(), (key, value)
                message[key] = base64.b64encode(bytes.fromhex(value)).decode()
            else:
                _hex_ids_to_base64(value)
    elif isinstance(message, list):
        for item in message:
            _hex_ids_to_base64(item)


def decode_otlp(received: Recorded) -> Any:
    """The ``ExportTraceServiceRequest`` in one request, protobuf or JSON."""
    from google.protobuf import json_format
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    content_type = received.headers.get("content-type", "").split(";")[0].strip()
    if content_type == "application/x-protobuf":
        return ExportTraceServiceRequest.FromString(received.body)
    if content_type == "application/json":
        data = json.loads(received.body)
        _hex_ids_to_base64(data)
        return json_format.Parse(json.dumps(data), ExportTraceServiceRequest())
    raise AssertionError(f"unexpected Content-Type {content_type!r}")


def any_value(value: Any) -> Any:
    """An OTLP AnyValue as a Python value (arrays as tuples)."""
    which = value.WhichOneof("value")
    if which == "array_value":
        return tuple(any_value(v) for v in value.array_value.values)
    if which == "kvlist_value":
        return {kv.key: any_value(kv.value) for kv in value.kvlist_value.values}
    if which is None:
        return None
    return getattr(value, which)


def key_values(kvs: Iterable[Any]) -> dict[str, Any]:
    return {kv.key: any_value(kv.value) for kv in kvs}


@dataclass
class ExportedSpan:
    """One span from an OTLP request, with its resource and scope, ids as hex."""

    trace_id: str
    span_id: str
    parent_span_id: str | None
    name: str
    kind: int
    start: int
    end: int
    flags: int
    trace_state: str
    attributes: dict[str, Any]
    events: list[dict[str, Any]]
    links: list[dict[str, Any]]
    status_code: int
    status_message: str
    dropped_attributes: int
    dropped_events: int
    dropped_links: int
    resource: dict[str, Any]
    scope_name: str
    scope_version: str


def spans_of(message: Any) -> list[ExportedSpan]:
    spans = []
    for rs in message.resource_spans:
        resource = key_values(rs.resource.attributes)
        for ss in rs.scope_spans:
            for s in ss.spans:
                spans.append(
                    ExportedSpan(
                        trace_id=s.trace_id.hex(),
                        span_id=s.span_id.hex(),
                        parent_span_id=s.parent_span_id.hex() or None,
                        name=s.name,
                        kind=s.kind,
                        start=s.start_time_unix_nano,
                        end=s.end_time_unix_nano,
                        flags=s.flags,
                        trace_state=s.trace_state,
                        attributes=key_values(s.attributes),
                        events=[
                            {
                                "name": e.name,
                                "time": e.time_unix_nano,
                                "attributes": key_values(e.attributes),
                                "dropped_attributes": e.dropped_attributes_count,
                            }
                            for e in s.events
                        ],
                        links=[
                            {
                                "trace_id": link.trace_id.hex(),
                                "span_id": link.span_id.hex(),
                                "trace_state": link.trace_state,
                                "flags": link.flags,
                                "attributes": key_values(link.attributes),
                            }
                            for link in s.links
                        ],
                        status_code=s.status.code,
                        status_message=s.status.message,
                        dropped_attributes=s.dropped_attributes_count,
                        dropped_events=s.dropped_events_count,
                        dropped_links=s.dropped_links_count,
                        resource=resource,
                        scope_name=ss.scope.name,
                        scope_version=ss.scope.version,
                    )
                )
    return spans


def exported_spans(requests: Iterable[Recorded]) -> list[ExportedSpan]:
    """Every span in the accepted (2xx) requests, in arrival order."""
    return [s for r in requests if r.accepted for s in spans_of(decode_otlp(r))]


def by_name(spans: Iterable[Any], key: str = "name") -> dict[str, Any]:
    """Spans by name (each name must be unique)."""
    result: dict[str, Any] = {}
    for s in spans:
        name = s[key] if isinstance(s, dict) else getattr(s, key)
        assert name not in result, f"span name {name!r} exported more than once"
        result[name] = s
    return result


# --- Zipkin ----------------------------------------------------------------------------------------


@functools.cache
def zipkin_span_validator() -> Any:
    """A validator for one Zipkin v2 span: ``$defs/Span`` of tests/schemas/zipkin2-span.schema.json."""
    return schema_validator(ZIPKIN_SCHEMA, "Span")


@functools.cache
def zipkin_payload_validator() -> Any:
    """A validator for the body of ``POST /api/v2/spans``: a ListOfSpans."""
    return schema_validator(ZIPKIN_SCHEMA)


def zipkin_spans(requests: Iterable[Recorded]) -> list[dict[str, Any]]:
    """Every span in the accepted requests, each validated against the Zipkin v2 schema."""
    validator = zipkin_payload_validator()
    spans = []
    for r in requests:
        if not r.accepted:
            continue
        payload = json.loads(r.body)
        assert isinstance(payload, list), "a Zipkin v2 POST carries a ListOfSpans"
        errors = sorted(validator.iter_errors(payload), key=lambda e: list(e.path))
        assert not errors, "\n".join(f"{list(e.path)}: {e.message}" for e in errors)
        spans.extend(payload)
    return spans


# --- ferrotel's own counters -----------------------------------------------------------------------


def sample(name: str, **labels: str) -> float:
    value = ferrotel.REGISTRY.get_sample_value(name, labels)
    return 0.0 if value is None else value


def dropped(reason: str) -> float:
    """``ferrotel_dropped_total{signal="traces",reason=...}``."""
    return sample("ferrotel_dropped_total", signal="traces", reason=reason)


def export_failures(exporter: str) -> float:
    """``ferrotel_export_failures_total{exporter=...}``."""
    return sample("ferrotel_export_failures_total", exporter=exporter)


class Counters:
    """Deltas of ferrotel's self-metrics since construction (they are process-wide)."""

    REASONS = (
        "queue_full",
        "export_failed",
        "attribute_limit",
        "event_limit",
        "link_limit",
        "invalid_attribute",
        "shutdown",
    )

    def __init__(self) -> None:
        self._dropped = {r: dropped(r) for r in self.REASONS}
        self._failures = {e: export_failures(e) for e in ("otlp_traces", "zipkin", "span_file")}

    def dropped(self, reason: str) -> float:
        return dropped(reason) - self._dropped[reason]

    def failures(self, exporter: str) -> float:
        return export_failures(exporter) - self._failures[exporter]
