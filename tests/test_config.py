"""Configuration from code, the environment and TOML gives the same effective settings, and
each kind of invalid value fails in configure() with a message naming the field."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from ferrotel import config as cfg
from ferrotel.config import (
    Config,
    ElasticsearchOutput,
    Endpoint,
    FileOutput,
    LoggingConfig,
    LogOutputs,
    MetricsConfig,
    PushGatewayConfig,
    TracingConfig,
    TracingExporters,
)

FROM_CODE = Config(
    service_name="audotics",
    service_version="1.4.2",
    environment="staging",
    metrics=MetricsConfig(
        enabled=True,
        prefix="audotics_",
        default_labels={"region": "eu-west"},
        push_gateway=PushGatewayConfig("http://127.0.0.1:9091", "audotics", 30.0),
    ),
    logging=LoggingConfig(
        level="warning",
        format="pretty",
        outputs=LogOutputs(
            console="stderr",
            file=FileOutput("/tmp/audotics.log", "5MB", 3),
            elasticsearch=ElasticsearchOutput("http://127.0.0.1:9200", "audotics-logs"),
        ),
    ),
    tracing=TracingConfig(
        enabled=True,
        sampling_rate=0.25,
        exporters=TracingExporters(
            jaeger=Endpoint("http://127.0.0.1:4318/v1/traces"),
            zipkin=Endpoint("http://127.0.0.1:9411/api/v2/spans"),
        ),
    ),
)

ENVIRONMENT = {
    "SERVICE_NAME": "audotics",
    "APP_VERSION": "1.4.2",
    "NODE_ENV": "staging",
    "FERROTEL_METRICS_ENABLED": "true",
    "FERROTEL_METRICS_PREFIX": "audotics_",
    "FERROTEL_METRICS_DEFAULT_LABELS": "region=eu-west",
    "FERROTEL_PUSHGATEWAY_URL": "http://127.0.0.1:9091",
    "FERROTEL_PUSHGATEWAY_JOB": "audotics",
    "FERROTEL_PUSHGATEWAY_INTERVAL": "30",
    "FERROTEL_LOG_LEVEL": "warning",
    "FERROTEL_LOG_FORMAT": "pretty",
    "FERROTEL_LOG_CONSOLE": "stderr",
    "FERROTEL_LOG_FILE": "/tmp/audotics.log",
    "FERROTEL_LOG_FILE_MAX_SIZE": "5MB",
    "FERROTEL_LOG_FILE_MAX_FILES": "3",
    "ELASTICSEARCH_URL": "http://127.0.0.1:9200",
    "FERROTEL_ELASTICSEARCH_INDEX": "audotics-logs",
    "OTEL_TRACES_SAMPLER": "parentbased_traceidratio",
    "OTEL_TRACES_SAMPLER_ARG": "0.25",
    "FERROTEL_JAEGER_ENDPOINT": "http://127.0.0.1:4318/v1/traces",
    "OTEL_EXPORTER_ZIPKIN_ENDPOINT": "http://127.0.0.1:9411/api/v2/spans",
}

TOML = """
service_name = "audotics"
service_version = "1.4.2"
environment = "staging"

[metrics]
enabled = true
prefix = "audotics_"
default_labels = { region = "eu-west" }
push_gateway = { url = "http://127.0.0.1:9091", job_name = "audotics", interval = 30 }

[logging]
level = "warning"
format = "pretty"

[logging.outputs]
console = "stderr"
file = { path = "/tmp/audotics.log", max_size = "5MB", max_files = 3 }
elasticsearch = { node = "http://127.0.0.1:9200", index = "audotics-logs" }

[tracing]
enabled = true
sampling_rate = 0.25

[tracing.exporters]
jaeger = { endpoint = "http://127.0.0.1:4318/v1/traces" }
zipkin = { endpoint = "http://127.0.0.1:9411/api/v2/spans" }
"""


def test_code_environment_and_toml_agree(tmp_path: Path) -> None:
    from_code = cfg.build(FROM_CODE)
    from_env = cfg.build(cfg.environment_settings(ENVIRONMENT))
    toml_file = tmp_path / "ferrotel.toml"
    toml_file.write_text(TOML)
    from_toml = cfg.load(toml_file, environ={})
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text(
        "[project]\nname = 'x'\n\n"
        + TOML.replace("\n[", "\n[tool.ferrotel.").replace(
            'service_name = "audotics"', '[tool.ferrotel]\nservice_name = "audotics"', 1
        )
    )
    from_pyproject = cfg.load(pyproject, environ={})
    assert from_code == from_env == from_toml == from_pyproject


def test_environment_wins_over_toml(tmp_path: Path) -> None:
    toml_file = tmp_path / "ferrotel.toml"
    toml_file.write_text(TOML)
    effective = cfg.load(toml_file, environ={"FERROTEL_LOG_LEVEL": "debug", "OTEL_SERVICE_NAME": "other"})
    assert effective.logging.level == "debug"
    assert effective.service_name == "other"
    assert effective.metrics.prefix == "audotics_"


@pytest.mark.parametrize(
    "settings, field",
    [
        ({"logging": {"level": "verbose"}}, "logging.level"),
        ({"logging": {"format": "xml"}}, "logging.format"),
        ({"logging": {"outputs": {"console": "maybe"}}}, "logging.outputs.console"),
        ({"logging": {"outputs": {"file": {"max_files": 3}}}}, "logging.outputs.file.path"),
        (
            {"logging": {"outputs": {"file": {"path": "/tmp/x", "max_files": 0}}}},
            "logging.outputs.file.max_files",
        ),
        (
            {"logging": {"outputs": {"elasticsearch": {"node": "localhost:9200"}}}},
            "logging.outputs.elasticsearch.node",
        ),
        ({"metrics": {"enabled": "perhaps"}}, "metrics.enabled"),
        ({"metrics": {"prefix": 7}}, "metrics.prefix"),
        ({"metrics": {"default_labels": "region"}}, "metrics.default_labels"),
        ({"metrics": {"push_gateway": {"url": "http://gw"}}}, "metrics.push_gateway.job_name"),
        ({"metrics": {"push_gateway": {"url": "gw:9091", "job_name": "j"}}}, "metrics.push_gateway.url"),
        (
            {"metrics": {"push_gateway": {"url": "http://gw", "job_name": "j", "interval": 0}}},
            "metrics.push_gateway.interval",
        ),
        ({"metrics": {"port": "ninety"}}, "metrics.port"),
        ({"tracing": {"sampling_rate": 1.5}}, "tracing.sampling_rate"),
        ({"tracing": {"sampling_rate": "half"}}, "tracing.sampling_rate"),
        ({"tracing": {"sampler": "sometimes"}}, "tracing.sampler"),
        ({"tracing": {"sampler": "always_on", "sampling_rate": 0.5}}, "tracing.sampling_rate"),
        (
            {"tracing": {"exporters": {"jaeger": {"endpoint": "udp://jaeger:6831"}}}},
            "tracing.exporters.jaeger.endpoint",
        ),
        ({"tracing": {"exporters": {"zipkin": {}}}}, "tracing.exporters.zipkin.endpoint"),
        ({"tracing": {"exporterz": {}}}, "tracing.exporterz"),
        ({"metrics": {"prefixx": "a_"}}, "metrics.prefixx"),
    ],
)
def test_invalid_values_name_the_field(settings: dict, field: str) -> None:
    with pytest.raises(ValueError, match=field.replace(".", r"\.")):
        cfg.build(settings)


def test_invalid_environment_names_the_field() -> None:
    with pytest.raises(ValueError, match=r"logging\.level"):
        cfg.load(environ={"FERROTEL_LOG_LEVEL": "loud"})
    with pytest.raises(ValueError, match="FERROTEL_METRICS_DEFAULT_LABELS"):
        cfg.load(environ={"FERROTEL_METRICS_DEFAULT_LABELS": "region"})


def test_invalid_code_config_fails_in_configure() -> None:
    import ferrotel

    with pytest.raises(ValueError, match=r"tracing\.sampling_rate"):
        ferrotel.configure(tracing=TracingConfig(sampling_rate=-0.1))


def test_configure_applies_every_signal(tmp_path: Path) -> None:
    """In a fresh interpreter: metrics prefix and default labels, a log file, a span file."""
    script = textwrap.dedent(
        f"""
        import json, ferrotel
        from ferrotel.config import *
        effective = ferrotel.configure(Config(
            service_name="audotics", environment="test",
            metrics=MetricsConfig(prefix="audotics_", default_labels={{"region": "eu"}}),
            logging=LoggingConfig(
                outputs=LogOutputs(console=False, file=FileOutput({str(tmp_path / "app.log")!r}))
            ),
            tracing=TracingConfig(exporters=TracingExporters(file={str(tmp_path / "spans.jsonl")!r})),
        ))
        plays = ferrotel.Counter("song_plays_total", "Plays")
        plays.inc()
        with ferrotel.get_tracer("demo").span("play") as span:
            ferrotel.get_logger("demo").info("played", song=7)
            ferrotel.get_logger("demo").debug("not written")
        ferrotel.shutdown(10)
        print(json.dumps({{
            "plays": ferrotel.REGISTRY.get_sample_value("audotics_song_plays_total", {{"region": "eu"}}),
            "trace_id": span.context.trace_id,
        }}))
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["plays"] == 1.0
    lines = [json.loads(line) for line in (tmp_path / "app.log").read_text().splitlines()]
    assert [line["message"] for line in lines] == ["played"]
    assert lines[0]["service.name"] == "audotics"
    assert lines[0]["trace.id"] == result["trace_id"]
    spans = [json.loads(line) for line in (tmp_path / "spans.jsonl").read_text().splitlines()]
    assert [s["name"] for s in spans] == ["play"]
    assert spans[0]["resource"]["service.name"] == "audotics"
    assert spans[0]["resource"]["deployment.environment"] == "test"


def test_the_environment_gives_the_sampler() -> None:
    """OTEL_TRACES_SAMPLER (and its argument for the ratio samplers) wins over TOML's rate; the
    argument alone means nothing, as the OpenTelemetry specification says."""
    assert cfg.load(environ={"OTEL_TRACES_SAMPLER": "always_off"}).tracing.sampler == "always_off"
    ratio = cfg.load(environ={"OTEL_TRACES_SAMPLER": "traceidratio", "OTEL_TRACES_SAMPLER_ARG": "0.1"})
    assert (ratio.tracing.sampler, ratio.tracing.sampling_rate) == ("traceidratio", 0.1)
    assert cfg.load(environ={"OTEL_TRACES_SAMPLER_ARG": "0.1"}).tracing.sampling_rate is None
    both = {"OTEL_TRACES_SAMPLER": "parentbased_traceidratio", "FERROTEL_SAMPLING_RATE": "0.3"}
    assert cfg.load(environ=both).tracing == TracingConfig(sampling_rate=0.3)


def test_an_environment_sampler_replaces_the_toml_rate(tmp_path: Path) -> None:
    toml_file = tmp_path / "ferrotel.toml"
    toml_file.write_text(TOML)
    effective = cfg.load(toml_file, environ={"OTEL_TRACES_SAMPLER": "always_off"})
    assert (effective.tracing.sampler, effective.tracing.sampling_rate) == ("always_off", None)
    with pytest.warns(cfg._env.ConfigurationWarning, match="OTEL_TRACES_SAMPLER='often'"):
        effective = cfg.load(toml_file, environ={"OTEL_TRACES_SAMPLER": "often"})
    assert (effective.tracing.sampler, effective.tracing.sampling_rate) == (None, 0.25)


def test_toml_sampler() -> None:
    assert cfg.build({"tracing": {"sampler": "Always_Off"}}).tracing.sampler == "always_off"
    # parentbased_traceidratio is what sampling_rate alone means
    assert cfg.build({"tracing": {"sampler": "parentbased_traceidratio"}}).tracing == TracingConfig(
        sampling_rate=1.0
    )
    assert cfg.build({"tracing": {"sampler": "traceidratio", "sampling_rate": 0.2}}).tracing == TracingConfig(
        sampler="traceidratio", sampling_rate=0.2
    )


def test_the_environment_chooses_the_exporters() -> None:
    base = {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318/"}
    exporters = cfg.load(environ=base).tracing.exporters
    assert exporters == TracingExporters(otlp=Endpoint("http://collector:4318/v1/traces"))
    exporters = cfg.load(environ={**base, "OTEL_TRACES_EXPORTER": "console,zipkin"}).tracing.exporters
    assert exporters == TracingExporters(zipkin=Endpoint("http://localhost:9411/api/v2/spans"), console=True)
    assert cfg.load(environ={**base, "OTEL_TRACES_EXPORTER": "none"}).tracing.exporters == TracingExporters()
    assert not cfg.load(environ={"OTEL_SDK_DISABLED": "true"}).tracing.enabled


def test_service_identity_from_the_resource_attributes() -> None:
    environ = {"OTEL_RESOURCE_ATTRIBUTES": "service.name=attr,service.version=7,deployment.environment=qa"}
    effective = cfg.load(environ=environ)
    assert (effective.service_name, effective.service_version, effective.environment) == ("attr", "7", "qa")
    assert cfg.load(environ={**environ, "SERVICE_NAME": "guide"}).service_name == "guide"


def test_config_imports_logs_and_tracing_at_the_top() -> None:
    """The environment module imports nothing of ferrotel, so config need not import lazily."""
    import ast

    from ferrotel import _env

    def imports(module: object) -> list[ast.ImportFrom]:
        tree = ast.parse(Path(module.__file__).read_text())  # type: ignore[attr-defined]
        return [n for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)]

    top = [n for n in ast.parse(Path(cfg.__file__).read_text()).body if isinstance(n, ast.ImportFrom)]
    assert {a.name for n in top if n.level == 1 and n.module is None for a in n.names} >= {"logs", "tracing"}
    assert len(imports(cfg)) == len(top), "config imports something inside a function"
    assert all(n.level == 0 for n in imports(_env)), "ferrotel._env imports part of ferrotel"
