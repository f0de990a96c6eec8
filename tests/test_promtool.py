"""ferrotel's 0.0.4 text exposition through ``promtool check metrics`` (parser and linter)."""

from __future__ import annotations

import subprocess
from collections.abc import Callable

import ferrotel

PROMTOOL_TIMEOUT = 60


def check_metrics(promtool: str, exposition: bytes) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [promtool, "check", "metrics"],
        input=exposition,
        capture_output=True,
        timeout=PROMTOOL_TIMEOUT,
        check=False,
    )


def well_named_registry(registry: ferrotel.Registry) -> ferrotel.Registry:
    requests = ferrotel.Counter(
        "app_http_requests_total", "HTTP requests handled.", ["method", "path"], registry=registry
    )
    requests.labels("GET", "/songs/{song_id}").inc(3, exemplar={"trace_id": "abc"})
    requests.labels("POST", 'odd "path" \\ with\nnewline').inc()
    in_flight = ferrotel.Gauge("app_http_requests_in_flight", "Requests being served.", registry=registry)
    in_flight.set(4)
    temperature = ferrotel.Gauge("app_temperature_celsius", "Temperature.", ["room"], registry=registry)
    temperature.labels("lab").set(-3.5)
    latency = ferrotel.Histogram(
        "app_http_request_duration_seconds", "Request latency.", ["method"], registry=registry
    )
    for v in (0.004, 0.2, 3):
        latency.labels("GET").observe(v)
    custom = ferrotel.Histogram(
        "app_job_duration_seconds", "Job duration.", buckets=(0.5, 1, 60, 3600), registry=registry
    )
    custom.observe(42)
    payload = ferrotel.Summary("app_payload_size_bytes", "Payload sizes.", ["direction"], registry=registry)
    payload.labels("in").observe(512)
    ferrotel.Info("app_build", "Build information.", registry=registry).info(
        {"version": "1.2.3", "revision": "abc123"}
    )
    state = ferrotel.Enum(
        "app_lifecycle_state",
        "Lifecycle state.",
        states=["starting", "running", "stopping"],
        registry=registry,
    )
    state.state("running")
    return registry


def test_promtool_accepts_ferrotel_exposition_without_lint(
    server_binary: Callable[[str], str], registry: ferrotel.Registry
) -> None:
    promtool = server_binary("promtool")
    exposition = bytes(ferrotel.generate_latest(well_named_registry(registry)))
    result = check_metrics(promtool, exposition)
    report = (
        f"promtool exit {result.returncode}\nstdout: {result.stdout.decode()!r}\n"
        f"stderr: {result.stderr.decode()!r}\nexposition:\n{exposition.decode()}"
    )
    assert result.returncode == 0, report
    assert result.stdout.strip() == b"", report
    assert result.stderr.strip() == b"", report


def test_promtool_accepts_default_labels_and_prefix(server_binary: Callable[[str], str]) -> None:
    promtool = server_binary("promtool")
    registry = ferrotel.Registry(prefix="myapp_", default_labels={"env": "prod", "region": 'e"u\\1'})
    well_named_registry(registry)
    exposition = bytes(ferrotel.generate_latest(registry))
    result = check_metrics(promtool, exposition)
    assert result.returncode == 0, (result.stdout, result.stderr, exposition.decode())
    assert result.stdout.strip() == b"" and result.stderr.strip() == b""


def test_promtool_accepts_negotiated_gzip_free_text_body(
    server_binary: Callable[[str], str], registry: ferrotel.Registry
) -> None:
    """What a 0.0.4 scrape gets from render() is what promtool accepts."""
    promtool = server_binary("promtool")
    body, content_type, encoding = well_named_registry(registry).render("text/plain;version=0.0.4", None)
    assert content_type.startswith("text/plain; version=0.0.4") and encoding is None
    result = check_metrics(promtool, bytes(body))
    assert result.returncode == 0, (result.stdout, result.stderr)
    assert result.stdout.strip() == b"" and result.stderr.strip() == b""


def test_promtool_does_report_problems(server_binary: Callable[[str], str]) -> None:
    """The checks above are meaningful: promtool does complain about a badly named counter."""
    promtool = server_binary("promtool")
    bad = b"# HELP requests Requests.\n# TYPE requests counter\nrequests 1\n"
    result = check_metrics(promtool, bad)
    assert result.returncode != 0
    assert b"_total" in result.stdout + result.stderr
