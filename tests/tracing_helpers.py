"""Helpers for the tracing tests: a loopback HTTP receiver that records what exporters send,
decoders for OTLP (protobuf and JSON) and Zipkin v2 payloads, and ferrotel's own counters."""

from __future__ import annotations

import base64
import functools
import gzip
import json
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import ferrotel

LOOPBACK = "127.0.0.1"
# shared/ stands beside the repository, here and in CI.
ZIPKIN_SPEC = Path(__file__).resolve().parents[2] / "shared" / "specs" / "zipkin2-api.yaml"

# OTLP span flags (trace.proto): the W3C trace flags in the low byte, then whether the parent
# is known to be remote.
SPAN_FLAGS_TRACE_FLAGS_MASK = 0xFF
SPAN_FLAGS_CONTEXT_HAS_IS_REMOTE = 0x100
SPAN_FLAGS_CONTEXT_IS_REMOTE = 0x200


def wait_until(predicate: Callable[[], Any], timeout: float = 10.0, interval: float = 0.01) -> bool:
    """Polls ``predicate`` until it is true or ``timeout`` seconds have passed."""
    deadline = time.monotonic() + timeout
    while True:
        if predicate():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)


# --- the loopback receiver ------------------------------------------------------------------------


@dataclass
class Received:
    """One request as the receiver saw it."""

    method: str
    path: str
    headers: dict[str, str]  # names lower-cased
    raw: bytes  # as sent (possibly gzip)
    body: bytes  # after Content-Encoding
    status: int  # what the receiver answered
    at: float  # time.monotonic() on arrival

    @property
    def accepted(self) -> bool:
        return 200 <= self.status < 300


@dataclass
class Response:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    delay: float = 0.0  # seconds to stall before answering
    gate: threading.Event | None = None  # if set, answer only once the test sets it (30 s at most)


class Receiver:
    """A threaded ``http.server`` on 127.0.0.1 that records every request.

    It answers the scripted responses given to ``respond()`` in order, then ``default``.
    """

    def __init__(self) -> None:
        self.requests: list[Received] = []
        self.default = Response()
        self._script: deque[Response] = deque()
        self._lock = threading.Lock()
        self._closed = threading.Event()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
                receiver._handle(self)

            def do_PUT(self) -> None:  # noqa: N802
                receiver._handle(self)

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                pass

        self.server = ThreadingHTTPServer((LOOPBACK, 0), Handler)
        self.server.daemon_threads = True
        self.port: int = self.server.server_address[1]
        self._thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    def url(self, path: str = "/v1/traces") -> str:
        return f"http://{LOOPBACK}:{self.port}{path}"

    def respond(self, *responses: Response) -> None:
        """Answers the next requests with ``responses``, in order, then with ``default``."""
        with self._lock:
            self._script.extend(responses)

    def _read_body(self, handler: BaseHTTPRequestHandler) -> bytes:
        if handler.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int(handler.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    handler.rfile.readline()
                    break
                chunks.append(handler.rfile.read(size))
                handler.rfile.readline()
            return b"".join(chunks)
        length = int(handler.headers.get("Content-Length") or 0)
        return handler.rfile.read(length)

    def _handle(self, handler: BaseHTTPRequestHandler) -> None:
        raw = self._read_body(handler)
        headers = {k.lower(): v for k, v in handler.headers.items()}
        body = gzip.decompress(raw) if headers.get("content-encoding") == "gzip" else raw
        with self._lock:
            response = self._script.popleft() if self._script else self.default
            self.requests.append(
                Received(handler.command, handler.path, headers, raw, body, response.status, time.monotonic())
            )
        if response.delay:
            self._closed.wait(response.delay)
        if response.gate is not None:
            response.gate.wait(30)
        try:
            handler.send_response(response.status)
            for name, value in response.headers.items():
                handler.send_header(name, value)
            handler.send_header("Content-Length", str(len(response.body)))
            handler.end_headers()
            handler.wfile.write(response.body)
        except OSError:
            pass  # the client gave up (its timeout); nothing to answer

    def snapshot(self) -> list[Received]:
        with self._lock:
            return list(self.requests)

    def accepted(self) -> list[Received]:
        return [r for r in self.snapshot() if r.accepted]

    def close(self) -> None:
        self._closed.set()
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(timeout=10)


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


def decode_otlp(received: Received) -> Any:
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


def exported_spans(requests: Iterable[Received]) -> list[ExportedSpan]:
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
    """A validator for one Zipkin v2 span: ``definitions.Span`` of the zipkin2-api spec, its
    ``#/definitions/...`` references resolved against the spec's definitions."""
    import jsonschema
    import yaml

    spec = yaml.safe_load(ZIPKIN_SPEC.read_text())
    schema = dict(spec["definitions"]["Span"])
    schema["definitions"] = spec["definitions"]
    # Swagger 2.0 schemas are JSON Schema draft 4.
    jsonschema.Draft4Validator.check_schema(schema)
    return jsonschema.Draft4Validator(schema, format_checker=jsonschema.Draft4Validator.FORMAT_CHECKER)


def zipkin_spans(requests: Iterable[Received]) -> list[dict[str, Any]]:
    """Every span in the accepted requests, each validated against the Zipkin v2 schema."""
    validator = zipkin_span_validator()
    spans = []
    for r in requests:
        if not r.accepted:
            continue
        payload = json.loads(r.body)
        assert isinstance(payload, list), "a Zipkin v2 POST carries a ListOfSpans"
        for span in payload:
            errors = sorted(validator.iter_errors(span), key=lambda e: list(e.path))
            assert not errors, "\n".join(f"{list(e.path)}: {e.message}" for e in errors)
            spans.append(span)
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
