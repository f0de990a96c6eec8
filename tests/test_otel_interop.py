"""ferrotel's tracer provider has the SDK's ``resource`` (issue #16):
``opentelemetry-instrumentation-logging`` finds the service there, as it does with the SDK's
provider. (Client spans from the requests and httpx instrumentations: ``test_otel_api``.)

Each case runs in a fresh interpreter: the API chooses its tracer provider once.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

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
    # set_logging_format too: before 0.63b0 (the last release for 3.9 is 0.62b1) only that
    # injects the trace context; the root logger has a handler, so its basicConfig() does nothing
    LoggingInstrumentor().instrument(
        inject_trace_context=True, set_logging_format=True, enable_log_auto_instrumentation=False
    )
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
