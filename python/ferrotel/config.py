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
environment (read by ``ferrotel._env``, as every variable ferrotel reads), the environment
winning. Every invalid value fails in ``configure()`` with a message naming the field; the
``OTEL_*`` variables are the exception: as the OpenTelemetry specification says, an invalid one
is ignored with a ``ferrotel.config.ConfigurationWarning``.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, is_dataclass
from pathlib import Path
from typing import Any

from . import _env, _redact, logs, multiprocess, tracing
from ._core import REGISTRY, PushGateway, start_http_server
from ._env import ConfigurationWarning

if sys.version_info >= (3, 11):
    import tomllib
else:  # tomllib is new in 3.11; tomli is the same parser, from PyPI
    import tomli as tomllib

__all__ = [
    "Config",
    "ConfigurationWarning",
    "ElasticsearchOutput",
    "Endpoint",
    "FileOutput",
    "LogOutputs",
    "LoggingConfig",
    "MetricsConfig",
    "PushGatewayConfig",
    "RedactionConfig",
    "TracingConfig",
    "TracingExporters",
    "apply",
    "build",
    "configure",
    "environment_settings",
    "load",
    "toml_settings",
]

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
    #: the multiprocess mode's directory (gunicorn, uvicorn --workers): see ``ferrotel.multiprocess``
    multiprocess_dir: str | None = None


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
    #: the guide's samplingRate: that share of new traces (parentbased_traceidratio), or the
    #: ratio of a ratio ``sampler``; unset, OTEL_TRACES_SAMPLER[_ARG] decide (default: all)
    sampling_rate: float | None = None
    exporters: TracingExporters = field(default_factory=TracingExporters)
    #: an OpenTelemetry sampler name: always_on, always_off, traceidratio,
    #: parentbased_always_on, parentbased_always_off (parentbased_traceidratio is ``sampling_rate``)
    sampler: str | None = None


@dataclass(frozen=True)
class RedactionConfig:
    """What log records and spans leave out, the same for both (``ferrotel._redact``)."""

    #: keys added to the built-in ones (password, token, api_key, ssn, session, ...)
    keys: tuple[str, ...] = ()
    #: False drops the built-in keys and the search for credentials in URLs
    defaults: bool = True
    #: opt-in rules by the values' shape: cards, emails, bearer_tokens
    values: tuple[str, ...] = ()
    #: (regex, replacement) pairs; a replacement of "[REDACTED]" for a bare regex
    patterns: tuple[tuple[str, str], ...] = ()

    def arguments(self) -> dict[str, Any]:
        """The ``redact_*`` arguments of ``logs.configure`` and ``tracing.configure``."""
        return {
            "redact_keys": self.keys,
            "redact_defaults": self.defaults,
            "redact_values": self.values,
            "redact_patterns": self.patterns,
        }


@dataclass(frozen=True)
class Config:
    service_name: str | None = None
    service_version: str | None = None
    environment: str | None = None
    metrics: MetricsConfig = field(default_factory=MetricsConfig)
    logging: LoggingConfig = field(default_factory=LoggingConfig)
    tracing: TracingConfig = field(default_factory=TracingConfig)
    redaction: RedactionConfig = field(default_factory=RedactionConfig)


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


def environment_settings(environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The settings the environment gives, as the nested form TOML has (``_env.config_settings``).
    Where the multiprocess mode is not available (Windows), the environment's directory is left
    out with a warning, as at import: each process keeps its own metrics."""
    settings = _env.config_settings(environ)
    metrics = settings.get("metrics", {})
    if "multiprocess_dir" in metrics and not multiprocess._supported():
        del metrics["multiprocess_dir"]
        names = " / ".join(_env.MULTIPROC_DIR_VARIABLES)
        _env.warn(f"{names}: {multiprocess._unsupported_message()}; each process keeps its own metrics")
    return settings


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
    directory = d.get("multiprocess_dir")
    if directory is not None:
        if not multiprocess._supported():
            raise ValueError(f"metrics.multiprocess_dir: {multiprocess._unsupported_message()}")
        directory = os.fspath(directory) if isinstance(directory, os.PathLike) else directory
        if not os.path.isdir(_str(directory, "metrics.multiprocess_dir")):
            raise ValueError(f"metrics.multiprocess_dir: {directory!r} is not a directory")
    return MetricsConfig(
        enabled=_bool(d.get("enabled", True), "metrics.enabled"),
        prefix=_str(d.get("prefix", ""), "metrics.prefix"),
        default_labels={str(k): str(v) for k, v in labels.items()},
        push_gateway=push_config,
        port=None if port is None else _number(port, "metrics.port", integer=True),
        address=_str(d.get("address", "127.0.0.1"), "metrics.address"),
        multiprocess_dir=directory,
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
    rate = d.get("sampling_rate")
    if rate is not None:
        rate = _number(rate, "tracing.sampling_rate")
        if not 0.0 <= rate <= 1.0:
            raise ValueError(f"tracing.sampling_rate: {rate!r} is not between 0 and 1")
    sampler = d.get("sampler")
    if sampler is not None:
        sampler = _str(sampler, "tracing.sampler").strip().lower()
        if sampler not in _env.SAMPLERS:
            raise ValueError(f"tracing.sampler: {sampler!r} is not one of {', '.join(_env.SAMPLERS)}")
        if sampler == "parentbased_traceidratio":  # what sampling_rate alone means
            sampler, rate = None, 1.0 if rate is None else rate
        elif rate is not None and sampler not in _env.RATIO_SAMPLERS:
            raise ValueError(
                f"tracing.sampling_rate: {rate!r} is for the ratio samplers, not tracing.sampler {sampler!r}"
            )
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
        sampler=sampler,
        exporters=TracingExporters(
            jaeger=endpoints["jaeger"],
            zipkin=endpoints["zipkin"],
            otlp=endpoints["otlp"],
            console=_bool(x.get("console", False), "tracing.exporters.console"),
            file=None if file is None else _str(file, "tracing.exporters.file"),
        ),
    )


def _names(value: Any, where: str) -> tuple[str, ...]:
    """A list of names, from TOML's array or the environment's comma-separated string."""
    if isinstance(value, str):
        value = [v.strip() for v in value.split(",") if v.strip()]
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
        raise ValueError(f"{where}: {value!r} is not a list of strings")
    return tuple(value)


def _redaction(data: Any) -> RedactionConfig:
    d = _table(data, "redaction", RedactionConfig)
    values = _names(d.get("values", ()), "redaction.values")
    for name in values:
        if name not in _redact.VALUE_RULES:
            raise ValueError(f"redaction.values: {name!r} is not one of {', '.join(_redact.VALUE_RULES)}")
    patterns = []
    for rule in d.get("patterns", ()):
        if isinstance(rule, str):
            rule = (rule, "[REDACTED]")
        if not (isinstance(rule, (list, tuple)) and len(rule) == 2 and all(isinstance(p, str) for p in rule)):
            raise ValueError(f"redaction.patterns: {rule!r} is not a regex or a [regex, replacement] pair")
        patterns.append((rule[0], rule[1]))
    return RedactionConfig(
        keys=_names(d.get("keys", ()), "redaction.keys"),
        defaults=_bool(d.get("defaults", True), "redaction.defaults"),
        values=values,
        patterns=tuple(patterns),
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
        redaction=_redaction(d.get("redaction", {})),
    )


def load(path: str | os.PathLike[str] | None = None, environ: Mapping[str, str] | None = None) -> Config:
    """TOML (``path`` or the default files), then the environment on top, checked."""
    return build(_merge(toml_settings(path), environment_settings(environ)))


# --- applying -------------------------------------------------------------------------------


@dataclass
class Running:
    """What ``configure()`` started, so the next ``configure()`` can replace it."""

    config: Config
    server: Any = None
    pusher: Any = None


_running: Running | None = None


def _stop_running() -> None:
    global _running
    if _running is None:
        return
    if _running.server is not None:
        _running.server.shutdown()
    if _running.pusher is not None:
        _running.pusher.stop()
    _running = None


def apply(config: Config) -> Running:
    """Sets up all three signals from a checked ``Config``. What it leaves unset (service name,
    sampler, propagators, batching, limits; an OTLP or Zipkin exporter's headers, protocol,
    compression and timeout) comes from the environment, through ``logs`` and ``tracing``."""
    global _running
    _stop_running()
    running = Running(config)
    m = config.metrics
    if m.multiprocess_dir is not None:
        multiprocess.enable(m.multiprocess_dir)
    REGISTRY.configure(prefix=m.prefix, default_labels=dict(m.default_labels))
    if m.enabled and m.port is not None:
        running.server = start_http_server(m.port, m.address)
    if m.enabled and m.push_gateway is not None:
        push = m.push_gateway
        running.pusher = PushGateway(push.url, push.job_name, push.interval).start()

    out = config.logging.outputs
    logs.configure(
        config.logging.level,
        config.logging.format,
        console=out.console,
        file=logs.FileSink(out.file.path, out.file.max_size, out.file.max_files) if out.file else None,
        elasticsearch=logs.ElasticsearchSink(out.elasticsearch.node, out.elasticsearch.index)
        if out.elasticsearch
        else None,
        service=config.service_name,
        environment=config.environment,
        version=config.service_version,
        **config.redaction.arguments(),
    )

    t = config.tracing
    x = t.exporters
    exporters: list[Any] = []
    if x.jaeger:
        exporters.append(tracing.JaegerExporter(x.jaeger.endpoint))
    if x.otlp:
        exporters.append(tracing.otlp_exporter_from_env(x.otlp.endpoint))
    if x.zipkin:
        exporters.append(tracing.zipkin_exporter_from_env(x.zipkin.endpoint))
    if x.console:
        exporters.append(tracing.ConsoleSpanExporter())
    if x.file:
        exporters.append(tracing.FileSpanExporter(x.file))
    tracing.configure(
        enabled=t.enabled,
        service_name=t.service_name or config.service_name,
        service_version=config.service_version,
        environment=config.environment,
        sampling_rate=t.sampling_rate,
        sampler=t.sampler,
        exporters=exporters,
        **config.redaction.arguments(),
    )
    _running = running
    return running


def configure(
    config: Config | None = None,
    *,
    metrics: MetricsConfig | None = None,
    logging: LoggingConfig | None = None,
    tracing: TracingConfig | None = None,
    redaction: RedactionConfig | None = None,
    service_name: str | None = None,
    service_version: str | None = None,
    environment: str | None = None,
    toml: str | os.PathLike[str] | None = None,
) -> Config:
    """Sets up metrics, logs and traces; returns the effective configuration.

    With a ``Config`` (or any of the keyword parts) the configuration is exactly what the code
    says. With none, it is read from TOML (``toml``, ``./ferrotel.toml`` or ``[tool.ferrotel]``
    in ``./pyproject.toml``) with the environment on top.
    """
    parts = {"metrics": metrics, "logging": logging, "tracing": tracing, "redaction": redaction}
    names = {"service_name": service_name, "service_version": service_version, "environment": environment}
    if config is None and all(v is None for v in (*parts.values(), *names.values())):
        effective = load(toml)
    else:
        base = config or Config()
        effective = build(
            Config(
                service_name=names["service_name"] or base.service_name,
                service_version=names["service_version"] or base.service_version,
                environment=names["environment"] or base.environment,
                metrics=metrics or base.metrics,
                logging=logging or base.logging,
                tracing=tracing or base.tracing,
                redaction=redaction or base.redaction,
            )
        )
    apply(effective)
    return effective
