"""Configuration: the guide's ``MetricsConfig``, ``LoggingConfig`` and ``TracingConfig`` as
dataclasses, from code, from the environment, or from TOML (``ferrotel.toml``, or
``[tool.ferrotel]`` in ``pyproject.toml``).

    ferrotel.configure(Config(
        service_name="audotics",
        metrics=MetricsConfig(
            prefix="audotics_", push_gateway=PushGatewayConfig("http://127.0.0.1:9091", "audotics")
        ),
        logging=LoggingConfig(outputs=LogOutputs(file=FileOutput("/var/log/audotics.log"))),
        tracing=TracingConfig(
            sampling_rate=0.1, exporters=TracingExporters(jaeger=Endpoint("http://127.0.0.1:4318/v1/traces"))
        ),
    ))

``ferrotel.configure()`` with no ``Config`` reads the TOML file (when present) and then the
environment, the environment winning. Every invalid value fails in ``configure()`` with a
message naming the field.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, is_dataclass
from pathlib import Path
from typing import Any

LEVELS = ("debug", "info", "warning", "error", "critical")
FORMATS = ("json", "pretty")


@dataclass(frozen=True)
class PushGatewayConfig:
    url: str
    job_name: str
    interval: float = 15.0


@dataclass(frozen=True)
class MetricsConfig:
    enabled: bool = True
    prefix: str = ""
    default_labels: Mapping[str, str] = field(default_factory=dict)
    push_gateway: PushGatewayConfig | None = None
    #: serve ``/metrics`` on this port (on ``address``) when set
    port: int | None = None
    address: str = "127.0.0.1"


@dataclass(frozen=True)
class FileOutput:
    path: str
    max_size: str | int = "10MB"
    max_files: int = 5


@dataclass(frozen=True)
class ElasticsearchOutput:
    node: str
    index: str = "logs-ferrotel-default"


@dataclass(frozen=True)
class LogOutputs:
    #: True or "stdout", "stderr", or False
    console: bool | str = True
    file: FileOutput | None = None
    elasticsearch: ElasticsearchOutput | None = None


@dataclass(frozen=True)
class LoggingConfig:
    level: str = "info"
    format: str = "json"
    outputs: LogOutputs = field(default_factory=LogOutputs)


@dataclass(frozen=True)
class Endpoint:
    endpoint: str


@dataclass(frozen=True)
class TracingExporters:
    jaeger: Endpoint | None = None
    zipkin: Endpoint | None = None
    otlp: Endpoint | None = None
    console: bool = False
    #: a JSON-lines file of spans
    file: str | None = None


@dataclass(frozen=True)
class TracingConfig:
    enabled: bool = True
    service_name: str | None = None
    sampling_rate: float = 1.0
    exporters: TracingExporters = field(default_factory=TracingExporters)


@dataclass(frozen=True)
class Config:
    service_name: str | None = None
    service_version: str | None = None
    environment: str | None = None
    metrics: MetricsConfig = field(default_factory=MetricsConfig)
    logging: LoggingConfig = field(default_factory=LoggingConfig)
    tracing: TracingConfig = field(default_factory=TracingConfig)


# --- reading: TOML and environment into one nested dict ----------------------------------------


def toml_settings(path: str | os.PathLike[str] | None = None) -> dict[str, Any]:
    """``path``, else ``./ferrotel.toml``, else ``[tool.ferrotel]`` of ``./pyproject.toml``."""
    if path is not None:
        candidates = [(Path(path), Path(path).name == "pyproject.toml")]
    else:
        candidates = [(Path("ferrotel.toml"), False), (Path("pyproject.toml"), True)]
    for candidate, in_pyproject in candidates:
        if not candidate.is_file():
            if path is not None:
                raise ValueError(f"config file {str(candidate)!r} does not exist")
            continue
        with candidate.open("rb") as f:
            try:
                data = tomllib.load(f)
            except tomllib.TOMLDecodeError as e:
                raise ValueError(f"config file {str(candidate)!r}: {e}") from None
        if in_pyproject:
            data = data.get("tool", {}).get("ferrotel")
            if data is None:
                continue
        return data
    return {}


def _pairs(text: str, name: str) -> dict[str, str]:
    out = {}
    for item in filter(None, (i.strip() for i in text.split(","))):
        key, sep, value = item.partition("=")
        if not sep:
            raise ValueError(f"{name}: {item!r} is not key=value")
        out[key.strip()] = value.strip()
    return out


def environment_settings(environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The settings the environment gives, as the nested form TOML has."""
    env = {k: v for k, v in (os.environ if environ is None else environ).items() if v.strip()}
    out: dict[str, Any] = {}

    def put(path: str, value: Any) -> None:
        node = out
        *parents, leaf = path.split(".")
        for p in parents:
            node = node.setdefault(p, {})
        node[leaf] = value

    def first(*names: str) -> str | None:
        return next((env[n] for n in names if n in env), None)

    if (v := first("OTEL_SERVICE_NAME", "SERVICE_NAME")) is not None:
        put("service_name", v)
    if (v := first("APP_VERSION")) is not None:
        put("service_version", v)
    if (v := first("ENVIRONMENT", "NODE_ENV")) is not None:
        put("environment", v)
    simple = {
        "FERROTEL_METRICS_ENABLED": "metrics.enabled",
        "FERROTEL_METRICS_PREFIX": "metrics.prefix",
        "FERROTEL_METRICS_PORT": "metrics.port",
        "FERROTEL_METRICS_ADDRESS": "metrics.address",
        "FERROTEL_PUSHGATEWAY_URL": "metrics.push_gateway.url",
        "FERROTEL_PUSHGATEWAY_JOB": "metrics.push_gateway.job_name",
        "FERROTEL_PUSHGATEWAY_INTERVAL": "metrics.push_gateway.interval",
        "FERROTEL_LOG_LEVEL": "logging.level",
        "FERROTEL_LOG_FORMAT": "logging.format",
        "FERROTEL_LOG_CONSOLE": "logging.outputs.console",
        "FERROTEL_LOG_FILE": "logging.outputs.file.path",
        "FERROTEL_LOG_FILE_MAX_SIZE": "logging.outputs.file.max_size",
        "FERROTEL_LOG_FILE_MAX_FILES": "logging.outputs.file.max_files",
        "ELASTICSEARCH_URL": "logging.outputs.elasticsearch.node",
        "FERROTEL_ELASTICSEARCH_INDEX": "logging.outputs.elasticsearch.index",
        "FERROTEL_TRACING_ENABLED": "tracing.enabled",
        "FERROTEL_SAMPLING_RATE": "tracing.sampling_rate",
        "FERROTEL_JAEGER_ENDPOINT": "tracing.exporters.jaeger.endpoint",
        "OTEL_EXPORTER_ZIPKIN_ENDPOINT": "tracing.exporters.zipkin.endpoint",
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "tracing.exporters.otlp.endpoint",
        "FERROTEL_TRACES_FILE": "tracing.exporters.file",
    }
    for name, path in simple.items():
        if name in env:
            put(path, env[name])
    if "FERROTEL_METRICS_DEFAULT_LABELS" in env:
        put(
            "metrics.default_labels",
            _pairs(env["FERROTEL_METRICS_DEFAULT_LABELS"], "FERROTEL_METRICS_DEFAULT_LABELS"),
        )
    if env.get("OTEL_SDK_DISABLED", "").lower() == "true":
        put("tracing.enabled", "false")
    if "OTEL_TRACES_SAMPLER_ARG" in env and "FERROTEL_SAMPLING_RATE" not in env:
        put("tracing.sampling_rate", env["OTEL_TRACES_SAMPLER_ARG"])
    if "OTEL_EXPORTER_OTLP_ENDPOINT" in env and "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT" not in env:
        put("tracing.exporters.otlp.endpoint", env["OTEL_EXPORTER_OTLP_ENDPOINT"].rstrip("/") + "/v1/traces")
    return out


def _merge(base: dict[str, Any], top: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in top.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping) and key != "default_labels":
            merged[key] = _merge(dict(merged[key]), value)
        else:
            merged[key] = value
    return merged


# --- building and checking ---------------------------------------------------------------------


def _bool(value: Any, where: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "1", "yes", "on"):
        return True
    if isinstance(value, str) and value.strip().lower() in ("false", "0", "no", "off"):
        return False
    raise ValueError(f"{where}: {value!r} is not a boolean")


def _number(value: Any, where: str, *, integer: bool = False, positive: bool = False) -> Any:
    try:
        if isinstance(value, bool):
            raise ValueError
        number = int(value) if integer else float(value)
        if integer and isinstance(value, float) and not value.is_integer():
            raise ValueError
    except (TypeError, ValueError):
        raise ValueError(f"{where}: {value!r} is not {'an integer' if integer else 'a number'}") from None
    if positive and not number > 0:
        raise ValueError(f"{where}: {value!r} must be greater than 0")
    return number


def _str(value: Any, where: str) -> str:
    if not isinstance(value, str):
        raise ValueError(f"{where}: {value!r} is not a string")
    return value


def _url(value: Any, where: str) -> str:
    text = _str(value, where)
    if not text.startswith(("http://", "https://")):
        raise ValueError(f"{where}: {text!r} is not an http:// or https:// URL")
    return text


def _table(data: Any, where: str, cls: type[Any]) -> dict[str, Any]:
    if is_dataclass(data) and not isinstance(data, type):
        return {f.name: getattr(data, f.name) for f in fields(data)}
    if not isinstance(data, Mapping):
        raise ValueError(f"{where}: {data!r} is not a table")
    known = {f.name for f in fields(cls)}
    for key in data:
        if key not in known:
            raise ValueError(f"{where}.{key}: unknown setting (known: {', '.join(sorted(known))})")
    return dict(data)


def _metrics(data: Any) -> MetricsConfig:
    d = _table(data, "metrics", MetricsConfig)
    push = d.get("push_gateway")
    push_config = None
    if push is not None:
        p = _table(push, "metrics.push_gateway", PushGatewayConfig)
        for required in ("url", "job_name"):
            if not p.get(required):
                raise ValueError(f"metrics.push_gateway.{required}: required")
        push_config = PushGatewayConfig(
            _url(p["url"], "metrics.push_gateway.url"),
            _str(p["job_name"], "metrics.push_gateway.job_name"),
            _number(p.get("interval", 15.0), "metrics.push_gateway.interval", positive=True),
        )
    labels = d.get("default_labels", {})
    if not isinstance(labels, Mapping):
        raise ValueError(f"metrics.default_labels: {labels!r} is not a table of label values")
    port = d.get("port")
    return MetricsConfig(
        enabled=_bool(d.get("enabled", True), "metrics.enabled"),
        prefix=_str(d.get("prefix", ""), "metrics.prefix"),
        default_labels={str(k): str(v) for k, v in labels.items()},
        push_gateway=push_config,
        port=None if port is None else _number(port, "metrics.port", integer=True),
        address=_str(d.get("address", "127.0.0.1"), "metrics.address"),
    )


def _logging(data: Any) -> LoggingConfig:
    d = _table(data, "logging", LoggingConfig)
    level = _str(d.get("level", "info"), "logging.level").lower()
    if level not in LEVELS:
        raise ValueError(f"logging.level: {level!r} is not one of {', '.join(LEVELS)}")
    fmt = _str(d.get("format", "json"), "logging.format").lower()
    if fmt not in FORMATS:
        raise ValueError(f"logging.format: {fmt!r} is not one of {', '.join(FORMATS)}")
    o = _table(d.get("outputs", {}), "logging.outputs", LogOutputs)
    console = o.get("console", True)
    if isinstance(console, str) and console.lower() not in ("stdout", "stderr"):
        console = _bool(console, "logging.outputs.console")
    elif not isinstance(console, str):
        console = _bool(console, "logging.outputs.console")
    file_output = None
    if o.get("file") is not None:
        f = _table(o["file"], "logging.outputs.file", FileOutput)
        if not f.get("path"):
            raise ValueError("logging.outputs.file.path: required")
        size = f.get("max_size", "10MB")
        if not isinstance(size, str):
            size = _number(size, "logging.outputs.file.max_size", integer=True, positive=True)
        file_output = FileOutput(
            _str(f["path"], "logging.outputs.file.path"),
            size,
            _number(f.get("max_files", 5), "logging.outputs.file.max_files", integer=True, positive=True),
        )
    es_output = None
    if o.get("elasticsearch") is not None:
        e = _table(o["elasticsearch"], "logging.outputs.elasticsearch", ElasticsearchOutput)
        if not e.get("node"):
            raise ValueError("logging.outputs.elasticsearch.node: required")
        es_output = ElasticsearchOutput(
            _url(e["node"], "logging.outputs.elasticsearch.node"),
            _str(e.get("index", "logs-ferrotel-default"), "logging.outputs.elasticsearch.index"),
        )
    return LoggingConfig(level, fmt, LogOutputs(console, file_output, es_output))


def _tracing(data: Any) -> TracingConfig:
    d = _table(data, "tracing", TracingConfig)
    rate = _number(d.get("sampling_rate", 1.0), "tracing.sampling_rate")
    if not 0.0 <= rate <= 1.0:
        raise ValueError(f"tracing.sampling_rate: {rate!r} is not between 0 and 1")
    x = _table(d.get("exporters", {}), "tracing.exporters", TracingExporters)
    endpoints: dict[str, Endpoint | None] = {}
    for name in ("jaeger", "zipkin", "otlp"):
        value = x.get(name)
        if value is None:
            endpoints[name] = None
            continue
        e = _table(value, f"tracing.exporters.{name}", Endpoint)
        if not e.get("endpoint"):
            raise ValueError(f"tracing.exporters.{name}.endpoint: required")
        endpoints[name] = Endpoint(_url(e["endpoint"], f"tracing.exporters.{name}.endpoint"))
    file = x.get("file")
    return TracingConfig(
        enabled=_bool(d.get("enabled", True), "tracing.enabled"),
        service_name=None
        if d.get("service_name") is None
        else _str(d["service_name"], "tracing.service_name"),
        sampling_rate=rate,
        exporters=TracingExporters(
            jaeger=endpoints["jaeger"],
            zipkin=endpoints["zipkin"],
            otlp=endpoints["otlp"],
            console=_bool(x.get("console", False), "tracing.exporters.console"),
            file=None if file is None else _str(file, "tracing.exporters.file"),
        ),
    )


def build(settings: Mapping[str, Any] | Config) -> Config:
    """A checked ``Config`` from nested settings (TOML's shape) or from a ``Config``."""
    d = _table(settings, "config", Config)

    def text(key: str) -> str | None:
        return None if d.get(key) is None else _str(d[key], key)

    return Config(
        service_name=text("service_name"),
        service_version=text("service_version"),
        environment=text("environment"),
        metrics=_metrics(d.get("metrics", {})),
        logging=_logging(d.get("logging", {})),
        tracing=_tracing(d.get("tracing", {})),
    )


def load(path: str | os.PathLike[str] | None = None, environ: Mapping[str, str] | None = None) -> Config:
    """TOML (``path`` or the default files), then the environment on top, checked."""
    return build(_merge(toml_settings(path), environment_settings(environ)))
