"""The OTEL_* environment variables, as the OpenTelemetry specification defines them, read in one
place (``ferrotel._env``) and honoured by ``ferrotel.configure()``, ``ferrotel.tracing.configure``
and the log pipeline.

The end-to-end tests send spans to the loopback receiver and decode them with the official
opentelemetry-proto messages; the others check the parsing against plain mappings.
"""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path

import ferrotel
import pytest
from ferrotel import _env, tracing
from ferrotel._env import ConfigurationWarning
from tracing_helpers import exported_spans

GUIDE_VARIABLES = ("SERVICE_NAME", "APP_VERSION", "ENVIRONMENT", "NODE_ENV", "ELASTICSEARCH_URL")


@pytest.fixture
def environ(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> pytest.MonkeyPatch:
    """A process environment without any variable ferrotel reads (and a working directory
    without ferrotel.toml or pyproject.toml); set what the test needs with ``setenv``."""
    for name in list(os.environ):
        if name.startswith(("OTEL_", "FERROTEL_")) or name in GUIDE_VARIABLES:
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    return monkeypatch


@pytest.fixture
def configured(environ: pytest.MonkeyPatch, reset_tracing, receiver):
    """For ``ferrotel.configure()`` from the environment: spans go to the receiver
    (OTEL_EXPORTER_OTLP_ENDPOINT) and leave only on ``flush``; logs go nowhere. Logs and tracing
    are put back afterwards."""
    environ.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.base_url)
    environ.setenv("OTEL_BSP_SCHEDULE_DELAY", "60000")
    environ.setenv("FERROTEL_LOG_CONSOLE", "false")
    yield receiver
    ferrotel.logs.configure(console=False)


def flush() -> None:
    assert ferrotel.flush(10), "flush did not finish within 10 s"


def record(tracer, count: int) -> list[ferrotel.Span]:
    spans = []
    for i in range(count):
        with tracer.span(f"span-{i}") as span:
            spans.append(span)
    flush()
    return spans


# --- sampler -----------------------------------------------------------------------------------------


def test_always_off_sends_no_span(configured, tracer, environ):
    environ.setenv("OTEL_TRACES_SAMPLER", "always_off")
    effective = ferrotel.configure()
    assert effective.tracing.sampler == "always_off"
    spans = record(tracer, 20)
    assert not any(s.context.sampled for s in spans)
    assert configured.snapshot() == []


def test_always_on_sends_every_span_with_the_otlp_headers(configured, tracer, environ):
    environ.setenv("OTEL_TRACES_SAMPLER", "always_on")
    environ.setenv("OTEL_EXPORTER_OTLP_HEADERS", "api-key=s3cr%3Dt , x-tenant=music%20team")
    ferrotel.configure()
    spans = record(tracer, 20)
    requests = configured.snapshot()
    assert requests, "no request arrived"
    assert sorted(s.name for s in exported_spans(requests)) == sorted(f"span-{i}" for i in range(20))
    assert {s.span_id for s in exported_spans(requests)} == {s.context.span_id for s in spans}
    for request in requests:
        assert request.path == "/v1/traces"
        assert request.headers["api-key"] == "s3cr=t"
        assert request.headers["x-tenant"] == "music team"


def test_always_on_follows_no_parent(configured, tracer, environ):
    """always_on samples a child even of an unsampled remote parent (parentbased_* would not)."""
    environ.setenv("OTEL_TRACES_SAMPLER", "always_on")
    ferrotel.configure()
    parent = tracing.SpanContext("5bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7", trace_flags=0)
    with tracer.span("child-of-unsampled", parent=parent):
        pass
    flush()
    assert [s.name for s in exported_spans(configured.snapshot())] == ["child-of-unsampled"]


def test_traces_headers_replace_the_general_ones(configured, tracer, environ):
    """Each OTLP option is overridden whole by its per-signal variable: the general headers are
    not merged into OTEL_EXPORTER_OTLP_TRACES_HEADERS."""
    environ.setenv("OTEL_TRACES_SAMPLER", "always_on")
    environ.setenv("OTEL_EXPORTER_OTLP_HEADERS", "api-key=general,x-tenant=music")
    environ.setenv("OTEL_EXPORTER_OTLP_TRACES_HEADERS", "api-key=traces%20only")
    ferrotel.configure()
    record(tracer, 3)
    requests = configured.snapshot()
    assert len(exported_spans(requests)) == 3
    for request in requests:
        assert request.headers["api-key"] == "traces only"
        assert "x-tenant" not in request.headers


def test_tracing_configure_reads_the_same_variables(configured, tracer, environ):
    """``ferrotel.tracing.configure()`` on its own: sampler, endpoint, headers, compression."""
    environ.setenv("OTEL_TRACES_SAMPLER", "always_off")
    environ.setenv("OTEL_EXPORTER_OTLP_HEADERS", "api-key=k1")
    environ.setenv("OTEL_EXPORTER_OTLP_COMPRESSION", "gzip")
    tracing.configure()
    record(tracer, 5)
    assert configured.snapshot() == []
    environ.setenv("OTEL_TRACES_SAMPLER", "parentbased_always_on")
    tracing.configure()
    record(tracer, 5)
    requests = configured.snapshot()
    assert len(exported_spans(requests)) == 5
    assert all(r.headers["api-key"] == "k1" for r in requests)
    assert all(r.headers["content-encoding"] == "gzip" for r in requests)


def test_configure_from_code_sends_the_otlp_headers(configured, tracer, environ):
    """An OTLP endpoint from code still takes the headers, compression and protocol from the
    environment, and a Config that leaves the sampler unset leaves it to OTEL_TRACES_SAMPLER."""
    from ferrotel.config import Config, Endpoint, LoggingConfig, LogOutputs, TracingConfig, TracingExporters

    environ.delenv("OTEL_EXPORTER_OTLP_ENDPOINT")
    environ.setenv("OTEL_EXPORTER_OTLP_TRACES_HEADERS", "authorization=Bearer%20abc")
    environ.setenv("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "http/json")
    environ.setenv("OTEL_TRACES_SAMPLER", "always_on")
    ferrotel.configure(
        Config(
            service_name="from-code",
            logging=LoggingConfig(outputs=LogOutputs(console=False)),
            tracing=TracingConfig(exporters=TracingExporters(otlp=Endpoint(configured.url("/custom/path")))),
        )
    )
    parent = tracing.SpanContext("5bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7", trace_flags=0)
    with tracer.span("sampled-by-always-on", parent=parent):
        pass
    flush()
    (request,) = configured.snapshot()
    assert request.path == "/custom/path"
    assert request.headers["authorization"] == "Bearer abc"
    assert request.headers["content-type"] == "application/json"
    (span,) = exported_spans([request])
    assert span.name == "sampled-by-always-on"
    assert span.resource["service.name"] == "from-code"


def test_traceidratio_with_an_argument(configured, tracer, environ):
    """traceidratio keeps the traces OpenTelemetry's TraceIdRatioBased keeps, children of
    sampled and unsampled parents alike (it is not parent-based)."""
    from opentelemetry.sdk.trace.sampling import TraceIdRatioBased

    environ.setenv("OTEL_TRACES_SAMPLER", "traceidratio")
    environ.setenv("OTEL_TRACES_SAMPLER_ARG", "0.25")
    effective = ferrotel.configure()
    assert (effective.tracing.sampler, effective.tracing.sampling_rate) == ("traceidratio", 0.25)
    reference = TraceIdRatioBased(0.25)
    expected = set()
    for i in range(1, 201):
        trace_id = f"{i:016x}{(i * 0x9E3779B97F4A7C15) % 2**64:016x}"
        parent = tracing.SpanContext(trace_id, "00f067aa0ba902b7", trace_flags=i % 2)
        with tracer.span(f"s{i}", parent=parent):
            pass
        if reference.should_sample(None, int(trace_id, 16), "s").decision.is_sampled():
            expected.add(f"s{i}")
    flush()
    exported = {s.name for s in exported_spans(configured.snapshot())}
    assert exported == expected
    assert 0 < len(exported) < 200


def test_parentbased_traceidratio_is_the_sampling_rate(configured, environ):
    environ.setenv("OTEL_TRACES_SAMPLER", "parentbased_traceidratio")
    environ.setenv("OTEL_TRACES_SAMPLER_ARG", "0.5")
    effective = ferrotel.configure()
    assert (effective.tracing.sampler, effective.tracing.sampling_rate) == (None, 0.5)


@pytest.mark.parametrize("value", ["sometimes", "jaeger_remote", "parentbased_jaeger_remote", "xray"])
def test_an_unknown_sampler_warns_and_falls_back_to_parentbased_always_on(configured, tracer, environ, value):
    environ.setenv("OTEL_TRACES_SAMPLER", value)
    with pytest.warns(ConfigurationWarning, match=f"OTEL_TRACES_SAMPLER='{value}'"):
        ferrotel.configure()
    unsampled = tracing.SpanContext("5bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7", trace_flags=0)
    with tracer.span("root"):
        pass
    with tracer.span("child-of-unsampled", parent=unsampled):
        pass
    flush()
    assert [s.name for s in exported_spans(configured.snapshot())] == ["root"]


@pytest.mark.parametrize("arg", ["half", "1.5", "-0.1", "nan"])
def test_an_invalid_ratio_warns_and_samples_everything(configured, tracer, environ, arg):
    environ.setenv("OTEL_TRACES_SAMPLER", "traceidratio")
    environ.setenv("OTEL_TRACES_SAMPLER_ARG", arg)
    with pytest.warns(ConfigurationWarning, match="OTEL_TRACES_SAMPLER_ARG"):
        ferrotel.configure()
    record(tracer, 30)
    assert len(exported_spans(configured.snapshot())) == 30


def test_the_argument_alone_is_ignored_with_a_warning(configured, tracer, environ):
    """OTEL_TRACES_SAMPLER_ARG is only used when OTEL_TRACES_SAMPLER is set."""
    environ.setenv("OTEL_TRACES_SAMPLER_ARG", "0.0")
    with pytest.warns(ConfigurationWarning, match="OTEL_TRACES_SAMPLER_ARG='0.0' is ignored"):
        ferrotel.configure()
    record(tracer, 10)
    assert len(exported_spans(configured.snapshot())) == 10


def test_sdk_disabled_samples_nothing_whatever_the_code_says(configured, tracer, environ):
    environ.setenv("OTEL_SDK_DISABLED", "TRUE")
    assert not ferrotel.configure().tracing.enabled
    record(tracer, 5)
    tracing.configure(sampler="always_on")  # the variable wins over code, as in the OTel SDKs
    record(tracer, 5)
    assert configured.snapshot() == []


def test_no_exporter_variable_means_no_traffic(environ, reset_tracing, receiver, tracer):
    """Without OTEL_TRACES_EXPORTER or an endpoint variable nothing is exported (no surprise
    traffic to localhost:4318); OTEL_TRACES_EXPORTER=none wins over an endpoint."""
    assert _env.traces_exporters() == []
    environ.setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", receiver.url("/traces"))
    environ.setenv("OTEL_TRACES_EXPORTER", "none")
    tracing.configure(schedule_delay=60)
    record(tracer, 3)
    assert receiver.snapshot() == []


# --- logs ------------------------------------------------------------------------------------------


def test_log_enrichment_is_resolved_in_python(environ, tmp_path):
    """Service, version and environment reach log records from OTEL_RESOURCE_ATTRIBUTES, which
    only the Python side reads: ``logs.configure`` passes resolved values to Rust."""
    environ.setenv(
        "OTEL_RESOURCE_ATTRIBUTES",
        "service.name=attr%20service,service.version=3.1,deployment.environment=qa",
    )
    path = tmp_path / "app.log"
    ferrotel.logs.configure(file=ferrotel.logs.FileSink(path))
    try:
        ferrotel.get_logger("env").info("enriched")
        flush()
        (line,) = [json.loads(x) for x in path.read_text().splitlines()]
    finally:
        ferrotel.logs.configure(console=False)
    assert line["service.name"] == "attr service"
    assert line["service.version"] == "3.1"
    assert line["service.environment"] == "qa"
    assert line["host.hostname"] == _env.hostname()


def test_otlp_log_sink_takes_headers_and_compression_from_the_environment(environ, receiver):
    environ.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.base_url + "/")
    environ.setenv("OTEL_EXPORTER_OTLP_HEADERS", "api-key=general")
    environ.setenv("OTEL_EXPORTER_OTLP_LOGS_HEADERS", "api-key=logs")
    environ.setenv("OTEL_EXPORTER_OTLP_COMPRESSION", "gzip")
    sink = ferrotel.logs.OtlpLogSink(flush_interval=0.05)
    assert sink.endpoint == receiver.url("/v1/logs")
    ferrotel.logs.configure(otlp=sink, console=False)
    try:
        ferrotel.get_logger("env").info("to the collector")
        flush()
    finally:
        ferrotel.logs.configure(console=False)
    (request,) = receiver.snapshot()
    assert request.path == "/v1/logs"
    assert request.headers["api-key"] == "logs"
    assert request.headers["content-encoding"] == "gzip"


# --- parsing, against plain mappings --------------------------------------------------------------------


def test_endpoints():
    assert _env.otlp_endpoint("traces", {}) == ("http://localhost:4318/v1/traces", False)
    base = {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318/"}
    assert _env.otlp_endpoint("traces", base) == ("http://collector:4318/v1/traces", True)
    assert _env.otlp_endpoint("logs", base) == ("http://collector:4318/v1/logs", True)
    specific = {**base, "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://traces:4318/custom"}
    assert _env.otlp_endpoint("traces", specific) == ("http://traces:4318/custom", True)
    assert _env.otlp_endpoint("logs", specific) == ("http://collector:4318/v1/logs", True)
    # an empty value is an unset one
    assert _env.otlp_endpoint("traces", {"OTEL_EXPORTER_OTLP_ENDPOINT": " "})[1] is False


def test_headers():
    env = {"OTEL_EXPORTER_OTLP_HEADERS": " a = 1 ,b=x%2Cy%3Dz,,c=", "OTEL_EXPORTER_OTLP_LOGS_HEADERS": "d=4"}
    assert _env.otlp("traces", env).headers == {"a": "1", "b": "x,y=z", "c": ""}
    assert _env.otlp("logs", env).headers == {"d": "4"}
    with pytest.raises(ValueError, match="OTEL_EXPORTER_OTLP_TRACES_HEADERS: 'broken'"):
        _env.otlp("traces", {"OTEL_EXPORTER_OTLP_TRACES_HEADERS": "a=1,broken"})
    assert _env.otlp("traces", {"OTEL_EXPORTER_OTLP_HEADERS": "broken"}, read_headers=False).headers == {}


def test_timeout_compression_and_protocol():
    env = {
        "OTEL_EXPORTER_OTLP_TIMEOUT": "2500",
        "OTEL_EXPORTER_OTLP_COMPRESSION": "GZIP",
        "OTEL_EXPORTER_OTLP_PROTOCOL": "http/json",
        "OTEL_EXPORTER_OTLP_LOGS_TIMEOUT": "0",
        "OTEL_EXPORTER_OTLP_LOGS_COMPRESSION": "none",
    }
    traces, logs = _env.otlp("traces", env), _env.otlp("logs", env)
    assert (traces.timeout, traces.gzip, traces.protocol) == (2.5, True, "http/json")
    assert (logs.timeout, logs.gzip, logs.protocol) == (_env.INDEFINITE, False, None)
    assert _env.otlp("traces", {}).options() == {"headers": {}}
    with pytest.warns(ConfigurationWarning, match="OTEL_EXPORTER_OTLP_TRACES_PROTOCOL='grpc'.*not supported"):
        assert _env.otlp("traces", {"OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "grpc"}).protocol is None
    with pytest.warns(ConfigurationWarning, match="OTEL_EXPORTER_OTLP_COMPRESSION='zstd'"):
        assert _env.otlp("traces", {"OTEL_EXPORTER_OTLP_COMPRESSION": "zstd"}).gzip is None
    for bad in ("-1", "2.5s", "soon"):
        with pytest.warns(ConfigurationWarning, match="OTEL_EXPORTER_OTLP_TIMEOUT"):
            assert _env.otlp("traces", {"OTEL_EXPORTER_OTLP_TIMEOUT": bad}).timeout is None


def test_samplers():
    for name in _env.SAMPLERS:
        assert _env.traces_sampler({"OTEL_TRACES_SAMPLER": name}) == name
    assert _env.traces_sampler({"OTEL_TRACES_SAMPLER": " Always_On "}) == "always_on"
    assert _env.traces_sampler({}) is None
    assert _env.sampler(environ={}) == ("parentbased_always_on", None)
    env = {"OTEL_TRACES_SAMPLER": "parentbased_traceidratio", "OTEL_TRACES_SAMPLER_ARG": "0.1"}
    assert _env.sampler(environ=env) == ("parentbased_traceidratio", 0.1)
    assert _env.sampler(environ={**env, "OTEL_TRACES_SAMPLER_ARG": ""}) == ("parentbased_traceidratio", None)
    # arguments win; enabled=False and OTEL_SDK_DISABLED sample nothing
    assert _env.sampler(sampling_rate=0.3, environ=env) == ("parentbased_traceidratio", 0.3)
    assert _env.sampler(name="traceidratio", environ=env) == ("traceidratio", 0.1)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the argument is for the environment's sampler
        assert _env.sampler(name="always_on", environ=env) == ("always_on", None)
    assert _env.sampler(False, environ=env) == ("always_off", None)
    assert _env.sampler(environ={**env, "OTEL_SDK_DISABLED": "true"}) == ("always_off", None)
    with pytest.raises(ValueError, match="sampling_rate=0.5 is for the ratio samplers"):
        _env.sampler(sampling_rate=0.5, name="always_off", environ={})
    with pytest.warns(ConfigurationWarning, match="takes no argument"):
        assert _env.traces_sampler_arg("always_on", {"OTEL_TRACES_SAMPLER_ARG": "0.5"}) is None


def test_booleans_follow_the_specification():
    assert _env.sdk_disabled({"OTEL_SDK_DISABLED": "True"})
    assert not _env.sdk_disabled({"OTEL_SDK_DISABLED": "false"})
    assert not _env.sdk_disabled({})
    with pytest.warns(ConfigurationWarning, match="OTEL_SDK_DISABLED='1'"):
        assert not _env.sdk_disabled({"OTEL_SDK_DISABLED": "1"})


def test_resource_and_service():
    env = {
        "OTEL_RESOURCE_ATTRIBUTES": "service.name=attr,team=a%20b,note=x%2Cy,service.version=2",
        "NODE_ENV": "staging",
    }
    assert _env.resource_attributes(env) == {
        "service.name": "attr",
        "team": "a b",
        "note": "x,y",
        "service.version": "2",
    }
    assert _env.service(environ=env) == _env.Service("attr", "2", "staging")
    # OTEL_SERVICE_NAME wins over service.name in OTEL_RESOURCE_ATTRIBUTES; arguments win over all
    assert _env.service(environ={**env, "OTEL_SERVICE_NAME": "otel"}).name == "otel"
    assert _env.service(environ={**env, "SERVICE_NAME": "guide"}).name == "guide"
    assert _env.service("arg", "9", "prod", environ=env) == _env.Service("arg", "9", "prod")
    with pytest.warns(ConfigurationWarning, match="OTEL_RESOURCE_ATTRIBUTES"):
        assert _env.resource_attributes({"OTEL_RESOURCE_ATTRIBUTES": "team=a,oops"}) == {}


def test_propagators():
    assert _env.propagators({}) is None
    assert _env.propagators({"OTEL_PROPAGATORS": "b3multi, baggage,b3multi"}) == ["b3multi", "baggage"]
    assert _env.propagators({"OTEL_PROPAGATORS": "none"}) == []
    with pytest.warns(ConfigurationWarning, match="'xray'"):
        assert _env.propagators({"OTEL_PROPAGATORS": "tracecontext,xray"}) == ["tracecontext"]
    with pytest.warns(ConfigurationWarning, match="'jaeger'"):
        assert _env.propagators({"OTEL_PROPAGATORS": "jaeger"}) is None


def test_unknown_propagator_in_the_environment_is_ignored(environ, reset_tracing, tracer):
    environ.setenv("OTEL_PROPAGATORS", "tracecontext,ottrace")
    with pytest.warns(ConfigurationWarning, match="ottrace"):
        tracing.configure(exporters=[])
    with tracer.span("propagated"):
        headers: dict[str, str] = {}
        ferrotel.propagation.inject(headers)
    assert set(headers) == {"traceparent"}


def test_batch_and_limits():
    env = {
        "OTEL_BSP_SCHEDULE_DELAY": "250",
        "OTEL_BSP_EXPORT_TIMEOUT": "0",
        "OTEL_BSP_MAX_QUEUE_SIZE": "100",
        "OTEL_BSP_MAX_EXPORT_BATCH_SIZE": "50",
        "OTEL_ATTRIBUTE_COUNT_LIMIT": "10",
        "OTEL_SPAN_EVENT_COUNT_LIMIT": "5",
        "OTEL_SPAN_LINK_COUNT_LIMIT": "0",
        "OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT": "64",
        "OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT": "32",
    }
    assert _env.span_batch(env) == _env.SpanBatch(0.25, _env.INDEFINITE, 100, 50)
    assert _env.span_limits(env) == _env.SpanLimits(10, 5, 0, 32)
    assert _env.span_limits({**env, "OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT": "20"}).max_attributes == 20
    assert _env.batch_sizes(None, None, _env.span_batch({})) == (2048, 512)
    assert _env.batch_sizes(None, None, _env.span_batch(env)) == (100, 50)
    assert _env.batch_sizes(10, None, _env.span_batch({})) == (10, 10)
    assert _env.batch_sizes(10, 20, _env.span_batch({})) == (10, 20)  # the Rust side refuses it
    with pytest.warns(ConfigurationWarning, match="OTEL_BSP_MAX_EXPORT_BATCH_SIZE=50 is larger"):
        small_queue = _env.span_batch({**env, "OTEL_BSP_MAX_QUEUE_SIZE": "20"})
        assert _env.batch_sizes(None, None, small_queue) == (20, 20)
    with pytest.warns(ConfigurationWarning, match="OTEL_BSP_MAX_QUEUE_SIZE='0'"):
        assert _env.span_batch({"OTEL_BSP_MAX_QUEUE_SIZE": "0"}).max_queue_size is None


def test_batch_variables_reach_the_pipeline(environ, reset_tracing, tracer):
    """OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT and friends are applied by ``tracing.configure``."""
    environ.setenv("OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT", "2")
    environ.setenv("OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT", "3")
    exporter = tracing.InMemorySpanExporter()
    tracing.configure(exporters=[exporter])
    with tracer.span("limited", attributes={"a": "abcdef", "b": 1, "c": 2}):
        pass
    (span,) = exporter.get_finished_spans()
    assert span["attributes"] == {"a": "abc", "b": 1}


def test_exporter_selection():
    assert _env.traces_exporters({}) == []
    assert _env.traces_exporters({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318"}) == ["otlp"]
    assert _env.traces_exporters({"OTEL_EXPORTER_ZIPKIN_ENDPOINT": "http://z:9411"}) == ["zipkin"]
    assert _env.traces_exporters({"OTEL_TRACES_EXPORTER": "console,otlp,console"}) == ["console", "otlp"]
    none = {"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318"}
    assert _env.traces_exporters(none) == []
    with pytest.warns(ConfigurationWarning, match="'logging'"):
        assert _env.traces_exporters({"OTEL_TRACES_EXPORTER": "logging,zipkin"}) == ["zipkin"]
    zipkin = _env.zipkin({"OTEL_EXPORTER_ZIPKIN_TIMEOUT": "1500"})
    assert (zipkin.endpoint, zipkin.timeout) == (_env.DEFAULT_ZIPKIN_ENDPOINT, 1.5)


def test_valid_values_do_not_warn(environ):
    for name, value in {
        "OTEL_TRACES_SAMPLER": "traceidratio",
        "OTEL_TRACES_SAMPLER_ARG": "0.5",
        "OTEL_PROPAGATORS": "tracecontext,baggage,b3",
        "OTEL_EXPORTER_OTLP_TIMEOUT": "1000",
        "OTEL_EXPORTER_OTLP_COMPRESSION": "gzip",
        "OTEL_BSP_MAX_QUEUE_SIZE": "4096",
        "OTEL_SDK_DISABLED": "false",
        "OTEL_RESOURCE_ATTRIBUTES": "team=audio",
    }.items():
        environ.setenv(name, value)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _env.config_settings()
        _env.sampler()
        _env.propagators()
        _env.span_batch()
        _env.otlp("traces")
        _env.service()
