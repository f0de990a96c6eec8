"""OpenTelemetry instrumentation packages through ferrotel's tracer provider (issue #16):
``opentelemetry-instrumentation-requests`` and ``-httpx`` record client spans that propagate
ferrotel's context, and ``opentelemetry-instrumentation-logging`` finds the service in the
provider's ``resource``, as it does with the SDK's provider.

Each case runs in a fresh interpreter: the API chooses its tracer provider once.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

CLIENTS = textwrap.dedent(
    """
    import http.server, json, threading
    import ferrotel, ferrotel.otel, httpx, requests
    from ferrotel.tracing import InMemorySpanExporter, configure
    from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
    from opentelemetry.instrumentation.requests import RequestsInstrumentor

    memory = InMemorySpanExporter()
    configure(service_name="clients", exporters=[memory])
    ferrotel.otel.install()
    RequestsInstrumentor().instrument()
    HTTPXClientInstrumentor().instrument()

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
    with ferrotel.get_tracer("app").span("request") as request:
        seen = {"requests": requests.get(url, timeout=5).text, "httpx": httpx.get(url, timeout=5).text}
    print(json.dumps({"seen": seen, "spans": memory.get_finished_spans()}, default=list))
    """
)

LOGGING = textwrap.dedent(
    """
    import json, logging, os
    {block_sdk}
    import ferrotel, ferrotel.otel
    from opentelemetry.instrumentation.logging import LoggingInstrumentor

    ferrotel.tracing.configure(service_name="audotics", service_version="1.4.2", exporters=[])
    provider = ferrotel.otel.install()
    records = []
    handler = logging.Handler()
    handler.emit = records.append
    logging.getLogger().addHandler(handler)
    LoggingInstrumentor().instrument(inject_trace_context=True, enable_log_auto_instrumentation=False)
    with ferrotel.get_tracer("app").span("work") as span:
        logging.getLogger("app").warning("inside")
    record = records[-1]
    print(json.dumps({{
        "resource_type": type(provider.resource).__module__,
        "attributes": dict(provider.resource.attributes),
        "service": record.otelServiceName,
        "trace_id": record.otelTraceID,
        "expected_trace_id": span.context.trace_id,
    }}))
    """
)


def run(script: str, **env: str) -> dict:
    done = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=60,
        env={**_environ(), **env},
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.splitlines()[-1])


def _environ() -> dict[str, str]:
    """This process's environment without the variables that would name another service."""
    return {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("OTEL_", "SERVICE_NAME", "APP_VERSION", "ENVIRONMENT", "NODE_ENV"))
    }


def test_requests_and_httpx_spans_arrive_through_ferrotels_provider() -> None:
    result = run(CLIENTS)
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


def test_logging_instrumentation_reads_the_service_from_the_providers_resource() -> None:
    result = run(
        LOGGING.format(block_sdk=""),
        OTEL_RESOURCE_ATTRIBUTES="deployment.environment=staging,team=audio",
    )
    assert result["service"] == "audotics"
    assert result["trace_id"] == result["expected_trace_id"]
    assert result["resource_type"] == "opentelemetry.sdk.resources"
    attributes = result["attributes"]
    assert attributes["service.name"] == "audotics"
    assert attributes["service.version"] == "1.4.2"
    assert (attributes["deployment.environment"], attributes["team"]) == ("staging", "audio")


def test_the_resource_without_the_sdk_installed() -> None:
    block = "import sys; sys.modules['opentelemetry.sdk'] = sys.modules['opentelemetry.sdk.resources'] = None"
    result = run(LOGGING.format(block_sdk=block), ENVIRONMENT="prod")
    assert result["service"] == "audotics"
    assert result["resource_type"] == "ferrotel.otel"
    assert result["attributes"]["deployment.environment"] == "prod"
