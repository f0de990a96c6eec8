"""The OpenTelemetry API records into ferrotel, with one context shared both ways.

Each case runs in a fresh interpreter: the API chooses its runtime context once, at import.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

#: A loopback server answering with the traceparent it received, at ``url``.
ECHO = textwrap.dedent(
    """
    import http.server, threading

    class Echo(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.end_headers()
            self.wfile.write(self.headers.get("traceparent", "").encode())

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Echo)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/songs/1"
    """
)

APP = textwrap.dedent(
    """
    import json, urllib.request
    {setup}
    import ferrotel
    from ferrotel.tracing import InMemorySpanExporter, configure
    from opentelemetry import trace
    from opentelemetry.instrumentation.urllib import URLLibInstrumentor

    memory = InMemorySpanExporter()
    configure(service_name="otel-app", exporters=[memory])
    {install}
    URLLibInstrumentor().instrument()
    {echo}

    ours = ferrotel.get_tracer("app")
    theirs = trace.get_tracer("library", "2.0")
    seen = {{}}
    with ours.span("request") as request:
        seen["otel_sees_ours"] = format(trace.get_current_span().get_span_context().span_id, "016x")
        with theirs.start_as_current_span("library-work", attributes={{"lib.k": "v"}}) as work:
            seen["ours_sees_otel"] = ferrotel.current_span().context.span_id
            seen["work_span_id"] = format(work.get_span_context().span_id, "016x")
            with ours.span("inner"):
                pass
            seen["traceparent"] = urllib.request.urlopen(url, timeout=5).read().decode()
        try:
            with theirs.start_as_current_span("failing"):
                raise KeyError("missing")
        except KeyError:
            pass
        seen["request_span_id"] = request.context.span_id
    outside = trace.get_current_span().get_span_context()
    seen["after"] = ferrotel.current_span() is None and not outside.is_valid
    print(json.dumps({{"seen": seen, "spans": memory.get_finished_spans()}}, default=list))
    """
)

ENTRY_POINTS = (
    "import os\n"
    "os.environ['OTEL_PYTHON_CONTEXT'] = 'ferrotel'\n"
    "os.environ['OTEL_PYTHON_TRACER_PROVIDER'] = 'ferrotel'\n"
)


def run_script(script: str) -> dict:
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "Failed to load context" not in done.stderr, done.stderr
    return json.loads(done.stdout)


def run_app(setup: str, install: str) -> dict:
    return run_script(APP.format(setup=setup, install=install, echo=ECHO))


@pytest.mark.parametrize(
    "setup, install",
    [(ENTRY_POINTS, ""), ("", "import ferrotel.otel; ferrotel.otel.install()")],
    ids=["entry-points", "install"],
)
def test_otel_api_and_instrumentation_record_into_ferrotel(setup: str, install: str) -> None:
    result = run_app(setup, install)
    seen = result["seen"]
    spans = {s["name"]: s for s in result["spans"]}
    assert set(spans) == {"request", "library-work", "inner", "GET", "failing"}

    request, work, inner, client, failing = (
        spans[n] for n in ("request", "library-work", "inner", "GET", "failing")
    )
    # One context: each API sees the other's current span.
    assert seen["otel_sees_ours"] == request["span_id"] == seen["request_span_id"]
    assert seen["ours_sees_otel"] == work["span_id"] == seen["work_span_id"]
    assert seen["after"] is True
    # Parents across the two APIs and the instrumentation package.
    assert work["parent_span_id"] == request["span_id"]
    assert inner["parent_span_id"] == work["span_id"]
    assert client["parent_span_id"] == work["span_id"]
    assert failing["parent_span_id"] == request["span_id"]
    assert len({s["trace_id"] for s in spans.values()}) == 1
    # The instrumentation's client span, its propagation, and the API's scope and attributes.
    assert client["kind"] == "CLIENT"
    assert client["scope"] == "opentelemetry.instrumentation.urllib"
    assert seen["traceparent"] == f"00-{client['trace_id']}-{client['span_id']}-03"
    assert work["scope"] == "library" and work["attributes"] == {"lib.k": "v"}
    assert failing["status"] == "ERROR"
    assert [e["name"] for e in failing["events"]] == ["exception"]
    assert failing["events"][0]["attributes"]["exception.type"] == "KeyError"
    assert request["resource"]["service.name"] == "otel-app"


CLIENTS = textwrap.dedent(
    """
    import json
    import ferrotel, ferrotel.otel, httpx, requests
    from ferrotel.tracing import InMemorySpanExporter, configure
    from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
    from opentelemetry.instrumentation.requests import RequestsInstrumentor

    memory = InMemorySpanExporter()
    configure(service_name="clients", exporters=[memory])
    ferrotel.otel.install()
    RequestsInstrumentor().instrument()
    HTTPXClientInstrumentor().instrument()
    {echo}
    with ferrotel.get_tracer("app").span("request") as request:
        seen = {{"requests": requests.get(url, timeout=5).text, "httpx": httpx.get(url, timeout=5).text}}
    print(json.dumps({{"seen": seen, "spans": memory.get_finished_spans()}}, default=list))
    """
)


def test_requests_and_httpx_spans_arrive_through_ferrotels_provider() -> None:
    result = run_script(CLIENTS.format(echo=ECHO))
    spans = result["spans"]
    request = next(s for s in spans if s["name"] == "request")
    clients = {s["scope"]: s for s in spans if s["kind"] == "CLIENT"}
    assert set(clients) == {"opentelemetry.instrumentation.requests", "opentelemetry.instrumentation.httpx"}
    for library in ("requests", "httpx"):
        client = clients[f"opentelemetry.instrumentation.{library}"]
        assert client["parent_span_id"] == request["span_id"]
        assert client["trace_id"] == request["trace_id"]
        # What the server received names the client span, with the flags of a trace ferrotel
        # started: sampled and (W3C Trace Context Level 2) random.
        assert result["seen"][library] == f"00-{client['trace_id']}-{client['span_id']}-03"
        assert client["resource"]["service.name"] == "clients"
