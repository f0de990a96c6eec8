"""Redaction of spans (issue #16, "Secrets"): the log records' rules applied to span, event and
link attributes and status descriptions, in memory and through an exporter; and the
middlewares' ``url.path`` without query strings or credentials, whatever the server passed."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import ferrotel
import pytest
from ferrotel.middleware import ASGIMiddleware, WSGIMiddleware
from ferrotel.tracing import FileSpanExporter, InMemorySpanExporter


def test_span_attributes_events_and_status_are_redacted(tracer, memory_exporter):
    with pytest.raises(PermissionError):
        with tracer.span("login", attributes={"password": "hunter2", "user": "bob", "ssn": 123}) as span:
            span.set_attribute("http.request.header.authorization", ["Bearer abc"])
            span.set_attribute("db.statement", "UPDATE users SET pwd='x1' WHERE id=1")
            span.add_event("retry", {"api_key": "k", "url": "https://u:p4ss@example.com/x"})
            linked = ferrotel.tracing.SpanContext("4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7")
            span.add_link(linked, {"token": "t"})
            raise PermissionError("denied for session=abc123")
    (data,) = memory_exporter.get_finished_spans()
    assert data["attributes"] == {
        "password": "[REDACTED]",
        "user": "bob",
        "ssn": "[REDACTED]",
        "http.request.header.authorization": "[REDACTED]",
        "db.statement": "UPDATE users SET pwd='[REDACTED]' WHERE id=1",
    }
    retry, exception = data["events"]
    assert retry["attributes"] == {"api_key": "[REDACTED]", "url": "https://u:[REDACTED]@example.com/x"}
    assert data["links"][0]["attributes"] == {"token": "[REDACTED]"}
    assert data["status_description"] == "PermissionError: denied for session=[REDACTED]"
    assert exception["attributes"]["exception.message"] == "denied for session=[REDACTED]"
    assert "abc123" not in exception["attributes"]["exception.stacktrace"]


def test_exporters_redact_on_their_thread_and_rules_are_configurable(tmp_path: Path, reset_tracing):
    path = tmp_path / "spans.jsonl"
    ferrotel.tracing.configure(
        exporters=[FileSpanExporter(str(path))],
        redact_keys=["song_id"],
        redact_defaults=False,
        redact_values=["emails"],
        redact_patterns=[r"SECRET-\d+"],
    )
    tracer = ferrotel.get_tracer("t")
    with tracer.span("s", attributes={"song_id": 1, "password": "kept", "to": "jane@example.com SECRET-9"}):
        pass
    assert ferrotel.flush(10)
    (span,) = [json.loads(line) for line in path.read_text().splitlines()]
    assert span["attributes"] == {"song_id": "[REDACTED]", "password": "kept", "to": "[REDACTED] [REDACTED]"}


def test_no_rules_leave_spans_untouched(reset_tracing):
    memory = InMemorySpanExporter()
    ferrotel.tracing.configure(exporters=[memory], redact_defaults=False)
    with ferrotel.get_tracer("t").span("s", attributes={"password": "p", "q": "token=t"}):
        pass
    assert memory.get_finished_spans()[0]["attributes"] == {"password": "p", "q": "token=t"}


# --- url.path ------------------------------------------------------------------------------------

LEAKY_PATHS = [
    # A request target in absolute form is handed over whole by uvicorn and wsgiref.
    ("http://admin:hunter2@api.example.com/songs/1", "/songs/1"),
    # A %3F that the server decoded puts the query string back in the path.
    ("/search?access_token=abc&q=x", "/search"),
    ("//user:pass@host/p", "/p"),
    ("/songs/1;jsessionid=ABC123", "/songs/1;jsessionid=[REDACTED]"),
]


@pytest.mark.parametrize(("raw", "recorded"), LEAKY_PATHS)
def test_asgi_url_path_has_no_query_string_or_credentials(memory_exporter, raw, recorded):
    async def app(scope, receive, send):
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    middleware = ASGIMiddleware(app, registry=ferrotel.Registry(), log_requests=False)
    scope = {"type": "http", "method": "GET", "path": raw, "query_string": b"", "headers": []}

    async def receive():
        return {"type": "http.request"}

    async def send(message):
        pass

    asyncio.run(middleware(scope, receive, send))
    assert ferrotel.flush(10)
    (span,) = memory_exporter.get_finished_spans()
    assert span["attributes"]["url.path"] == recorded


@pytest.mark.parametrize(("raw", "recorded"), LEAKY_PATHS)
def test_wsgi_url_path_has_no_query_string_or_credentials(memory_exporter, raw, recorded):
    def app(environ, start_response):
        start_response("200 OK", [])
        return [b""]

    middleware = WSGIMiddleware(app, registry=ferrotel.Registry(), log_requests=False)
    environ = {"REQUEST_METHOD": "GET", "PATH_INFO": raw, "QUERY_STRING": "", "wsgi.url_scheme": "http"}
    body = middleware(environ, lambda status, headers, exc_info=None: None)
    b"".join(body)
    body.close()
    assert ferrotel.flush(10)
    (span,) = memory_exporter.get_finished_spans()
    assert span["attributes"]["url.path"] == recorded
