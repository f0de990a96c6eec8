"""Every environment variable ferrotel reads is read and parsed here, and nowhere else.

``config``, ``logs`` and ``tracing`` take resolved values from this module; it imports nothing of
ferrotel, so each of them can import it (and ``config`` can import ``logs`` and ``tracing``)
without an import cycle. Every function takes an optional ``environ`` mapping (``os.environ`` by
default) so the resolution can be checked without touching the process environment.

The ``OTEL_*`` variables follow the OpenTelemetry environment-variable specification: an empty
value is the same as an unset one; a value that cannot be parsed, is out of range or names
something unknown is ignored with a ``ConfigurationWarning`` (the setting falls back to its
default); durations and timeouts are integer milliseconds. The exceptions are header and label
lists that are not ``key=value`` pairs: those raise ``ValueError`` naming the variable, since
sending requests without the credentials they carry would fail anyway.
"""

from __future__ import annotations

import os
import socket
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import unquote

Environ = Mapping[str, str]
Signal = Literal["traces", "logs"]

SAMPLERS = (
    "always_on",
    "always_off",
    "traceidratio",
    "parentbased_always_on",
    "parentbased_always_off",
    "parentbased_traceidratio",
)
#: The samplers that take OTEL_TRACES_SAMPLER_ARG (a ratio in [0, 1]; 1.0 when unset).
RATIO_SAMPLERS = ("traceidratio", "parentbased_traceidratio")
DEFAULT_SAMPLER = "parentbased_always_on"
#: The propagators the Rust core implements (OTEL_PROPAGATORS may also say ``none``).
PROPAGATORS = ("tracecontext", "baggage", "b3", "b3multi")
DEFAULT_PROPAGATORS = ("tracecontext", "baggage")
TRACES_EXPORTERS = ("otlp", "zipkin", "console", "none")
OTLP_PROTOCOLS = ("http/protobuf", "http/json")
DEFAULT_ZIPKIN_ENDPOINT = "http://localhost:9411/api/v2/spans"
#: What a timeout of 0 ("no limit", as the specification reads it) becomes: 2**31 - 1 ms.
INDEFINITE = (2**31 - 1) / 1000.0


class ConfigurationWarning(UserWarning):
    """An environment variable (or part of one) that ferrotel ignored, and why."""


def warn(message: str) -> None:
    """Tells the user an environment variable (or part of one) was ignored."""
    warnings.warn(message, ConfigurationWarning, stacklevel=2)


def _environ(environ: Environ | None) -> Environ:
    return os.environ if environ is None else environ


def get(name: str, environ: Environ | None = None) -> str | None:
    """The value of ``name``, stripped; ``None`` when unset or blank."""
    value = _environ(environ).get(name)
    return value.strip() if value and value.strip() else None


def first(*names: str, environ: Environ | None = None) -> str | None:
    """The value of the first of ``names`` that is set."""
    return next((v for n in names if (v := get(n, environ)) is not None), None)


# --- value types ---------------------------------------------------------------------------------


def pairs(text: str | None, name: str, *, decode: bool = True) -> dict[str, str]:
    """``k=v,k2=v2`` as the OTEL_* lists write them (W3C baggage without properties; keys and
    values percent-decoded when ``decode``). Raises ``ValueError`` naming ``name``."""
    result: dict[str, str] = {}
    for item in (text or "").split(","):
        if not item.strip():
            continue
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"{name}: {item.strip()!r} is not key=value")
        key, value = key.strip(), value.strip()
        result[unquote(key) if decode else key] = unquote(value) if decode else value
    return result


def _boolean(name: str, environ: Environ | None) -> bool:
    """The specification's boolean: only ``true`` (any case) is true."""
    value = get(name, environ)
    if value is None or value.lower() == "false":
        return False
    if value.lower() == "true":
        return True
    warn(f"{name}={value!r} is not true or false; read as false")
    return False


def _integer(name: str, environ: Environ | None, *, minimum: int = 0) -> int | None:
    value = get(name, environ)
    if value is None:
        return None
    try:
        number = int(value)
    except ValueError:
        warn(f"{name}={value!r} is not an integer; ignored")
        return None
    if number < minimum:
        warn(f"{name}={value!r} is less than {minimum}; ignored")
        return None
    return number


def _milliseconds(name: str, environ: Environ | None, *, timeout: bool = False) -> float | None:
    """A duration or timeout in integer milliseconds, as seconds. A timeout of 0 is no limit; a
    duration of 0 becomes 1 ms (the Rust side wants a positive delay)."""
    ms = _integer(name, environ)
    if ms is None:
        return None
    if ms == 0:
        return INDEFINITE if timeout else 0.001
    return ms / 1000.0


def _choice(name: str, allowed: tuple[str, ...], environ: Environ | None, note: str = "") -> str | None:
    value = get(name, environ)
    if value is None:
        return None
    if value.lower() in allowed:
        return value.lower()
    warn(f"{name}={value!r} is not one of {', '.join(allowed)}{note}; ignored")
    return None


# --- service identity and resource ----------------------------------------------------------------


@dataclass(frozen=True)
class Service:
    """Who is sending: the same on spans (resource) and log records (enrichment)."""

    name: str | None
    version: str | None
    environment: str | None


def resource_attributes(environ: Environ | None = None) -> dict[str, str]:
    """OTEL_RESOURCE_ATTRIBUTES. A malformed value is dropped whole, with a warning, as the
    specification says."""
    try:
        return pairs(get("OTEL_RESOURCE_ATTRIBUTES", environ), "OTEL_RESOURCE_ATTRIBUTES")
    except ValueError as e:
        warn(f"{e}; OTEL_RESOURCE_ATTRIBUTES ignored")
        return {}


def service(
    name: str | None = None,
    version: str | None = None,
    environment: str | None = None,
    environ: Environ | None = None,
) -> Service:
    """Arguments first; then the name from OTEL_SERVICE_NAME, SERVICE_NAME, then ``service.name``
    in OTEL_RESOURCE_ATTRIBUTES; the version from APP_VERSION, then ``service.version``; the
    environment from ENVIRONMENT, NODE_ENV, then ``deployment.environment``."""
    attributes = resource_attributes(environ)
    return Service(
        name=name
        or first("OTEL_SERVICE_NAME", "SERVICE_NAME", environ=environ)
        or attributes.get("service.name")
        or None,
        version=version or get("APP_VERSION", environ) or attributes.get("service.version") or None,
        environment=environment
        or first("ENVIRONMENT", "NODE_ENV", environ=environ)
        or attributes.get("deployment.environment")
        or None,
    )


def color_allowed(environ: Environ | None = None) -> bool:
    """False when NO_COLOR is set to anything non-empty (https://no-color.org): the pretty
    console format is then never coloured, even on a terminal."""
    return get("NO_COLOR", environ) is None


def hostname() -> str:
    return socket.gethostname()


def log_enrichment() -> tuple[str | None, str | None, str | None, str]:
    """(service, environment, version, hostname) for log records when ``logs.configure`` has not
    been called: what the Rust core's default log pipeline should ask for."""
    s = service()
    return s.name, s.environment, s.version, hostname()


# --- tracing ---------------------------------------------------------------------------------------


def sdk_disabled(environ: Environ | None = None) -> bool:
    """OTEL_SDK_DISABLED=true: tracing samples nothing, whatever the code configured."""
    return _boolean("OTEL_SDK_DISABLED", environ)


def traces_sampler(environ: Environ | None = None) -> str | None:
    """OTEL_TRACES_SAMPLER; an unknown name is ignored with a warning (so the default,
    parentbased_always_on, applies)."""
    return _choice("OTEL_TRACES_SAMPLER", SAMPLERS, environ, f" (using the default, {DEFAULT_SAMPLER})")


def traces_sampler_arg(
    sampler: str, environ: Environ | None = None, *, warn_unused: bool = True
) -> float | None:
    """OTEL_TRACES_SAMPLER_ARG for ``sampler``: a ratio in [0, 1] for the ratio samplers (an
    invalid one is ignored with a warning, so the ratio is 1.0); the others take no argument
    (a warning says so, unless ``warn_unused`` is false: the sampler came from code)."""
    value = get("OTEL_TRACES_SAMPLER_ARG", environ)
    if value is None:
        return None
    if sampler not in RATIO_SAMPLERS:
        if not warn_unused:
            return None
        warn(
            f"OTEL_TRACES_SAMPLER_ARG={value!r} is ignored: the sampler {sampler} takes no argument "
            "(set OTEL_TRACES_SAMPLER=parentbased_traceidratio or traceidratio for a ratio)"
        )
        return None
    try:
        ratio = float(value)
    except ValueError:
        ratio = float("nan")
    if not 0.0 <= ratio <= 1.0:
        warn(f"OTEL_TRACES_SAMPLER_ARG={value!r} is not a ratio between 0 and 1; using 1.0")
        return None
    return ratio


def sampler(
    enabled: bool = True,
    sampling_rate: float | None = None,
    name: str | None = None,
    environ: Environ | None = None,
) -> tuple[str, float | None]:
    """The sampler and its argument for ``tracing.configure``: ``enabled=False`` or
    OTEL_SDK_DISABLED samples nothing; ``name`` (else OTEL_TRACES_SAMPLER, else
    parentbased_always_on) with ``sampling_rate`` (else OTEL_TRACES_SAMPLER_ARG) as a ratio
    sampler's ratio; a ``sampling_rate`` alone means parentbased_traceidratio. The Rust side
    checks the name and the ratio's range; a ``sampling_rate`` given with a sampler that takes
    none is refused here."""
    if not enabled or sdk_disabled(environ):
        return "always_off", None
    if name is None and sampling_rate is not None:
        return "parentbased_traceidratio", sampling_rate
    from_code = name is not None
    name = name or traces_sampler(environ)
    if name is None:
        if (arg := get("OTEL_TRACES_SAMPLER_ARG", environ)) is not None:
            warn(
                f"OTEL_TRACES_SAMPLER_ARG={arg!r} is ignored without OTEL_TRACES_SAMPLER (set "
                "OTEL_TRACES_SAMPLER=parentbased_traceidratio for a share of new traces)"
            )
        return DEFAULT_SAMPLER, None
    if sampling_rate is not None:
        if name not in RATIO_SAMPLERS:
            raise ValueError(f"sampling_rate={sampling_rate!r} is for the ratio samplers, not {name!r}")
        return name, sampling_rate
    return name, traces_sampler_arg(name, environ, warn_unused=not from_code)


def propagators(environ: Environ | None = None) -> list[str] | None:
    """OTEL_PROPAGATORS, deduplicated; ``none`` is no propagator. Names ferrotel does not
    implement are ignored with a warning. ``None`` when unset (or nothing valid is left)."""
    value = get("OTEL_PROPAGATORS", environ)
    if value is None:
        return None
    names: list[str] = []
    for raw in value.split(","):
        name = raw.strip().lower()
        if not name or name in names:
            continue
        if name == "none" or name in PROPAGATORS:
            names.append(name)
        else:
            warn(f"OTEL_PROPAGATORS: {raw.strip()!r} is not one of {', '.join(PROPAGATORS)}, none; ignored")
    if "none" in names:
        return []
    return names or None


@dataclass(frozen=True)
class SpanBatch:
    """OTEL_BSP_*: ``None`` where unset (or invalid); seconds for the durations."""

    schedule_delay: float | None
    export_timeout: float | None
    max_queue_size: int | None
    max_export_batch_size: int | None


def span_batch(environ: Environ | None = None) -> SpanBatch:
    return SpanBatch(
        schedule_delay=_milliseconds("OTEL_BSP_SCHEDULE_DELAY", environ),
        export_timeout=_milliseconds("OTEL_BSP_EXPORT_TIMEOUT", environ, timeout=True),
        max_queue_size=_integer("OTEL_BSP_MAX_QUEUE_SIZE", environ, minimum=1),
        max_export_batch_size=_integer("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", environ, minimum=1),
    )


def batch_sizes(
    max_queue_size: int | None, max_export_batch_size: int | None, batch: SpanBatch
) -> tuple[int, int]:
    """The queue and batch sizes: arguments, else OTEL_BSP_* (``batch``), else 2048 and 512.
    A batch size from the environment (or the default) larger than the queue is capped to it;
    arguments are left for the Rust side to check."""
    queue = max_queue_size if max_queue_size is not None else batch.max_queue_size or 2048
    if max_export_batch_size is not None:
        return queue, max_export_batch_size
    size = batch.max_export_batch_size or 512
    if size > queue:
        if batch.max_export_batch_size is not None:
            warn(f"OTEL_BSP_MAX_EXPORT_BATCH_SIZE={size} is larger than the queue ({queue}); using {queue}")
        size = queue
    return queue, size


@dataclass(frozen=True)
class SpanLimits:
    """OTEL_SPAN_*_LIMIT (and the general OTEL_ATTRIBUTE_* ones): ``None`` where unset."""

    max_attributes: int | None
    max_events: int | None
    max_links: int | None
    max_attribute_length: int | None


def span_limits(environ: Environ | None = None) -> SpanLimits:
    def limit(*names: str) -> int | None:
        return next((v for n in names if (v := _integer(n, environ)) is not None), None)

    return SpanLimits(
        max_attributes=limit("OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT", "OTEL_ATTRIBUTE_COUNT_LIMIT"),
        max_events=limit("OTEL_SPAN_EVENT_COUNT_LIMIT"),
        max_links=limit("OTEL_SPAN_LINK_COUNT_LIMIT"),
        max_attribute_length=limit(
            "OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT", "OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT"
        ),
    )


# --- exporters -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Otlp:
    """An OTLP/HTTP exporter's settings for one signal. ``endpoint_set`` says whether an
    endpoint variable was set; ``None`` elsewhere means unset (the exporter's default)."""

    endpoint: str
    endpoint_set: bool
    headers: dict[str, str]
    protocol: str | None
    gzip: bool | None
    timeout: float | None

    def options(self) -> dict[str, Any]:
        """Keyword arguments for the Rust exporter: headers and whatever was set."""
        options: dict[str, Any] = {"headers": dict(self.headers)}
        if self.protocol is not None:
            options["protocol"] = self.protocol
        if self.gzip is not None:
            options["gzip"] = self.gzip
        if self.timeout is not None:
            options["timeout"] = self.timeout
        return options


def otlp_endpoint(signal: Signal, environ: Environ | None = None) -> tuple[str, bool]:
    """The endpoint for ``signal``, and whether a variable set it."""
    endpoint = get(f"OTEL_EXPORTER_OTLP_{signal.upper()}_ENDPOINT", environ)
    if endpoint is not None:
        return endpoint, True
    base = get("OTEL_EXPORTER_OTLP_ENDPOINT", environ)
    return (base or "http://localhost:4318").rstrip("/") + f"/v1/{signal}", base is not None


def otlp(signal: Signal, environ: Environ | None = None, *, read_headers: bool = True) -> Otlp:
    """OTEL_EXPORTER_OTLP_<SIGNAL>_* where set, else OTEL_EXPORTER_OTLP_*.

    The signal's endpoint is used as it is; the general one gets ``/v1/<signal>`` appended; the
    default is ``http://localhost:4318/v1/<signal>``. The signal's headers replace the general
    ones entirely (each option is overridden whole by its per-signal variable, as the
    specification says). The protocol is read for traces only: logs are always http/protobuf.
    """
    upper = signal.upper()

    def pick(option: str) -> str:
        specific = f"OTEL_EXPORTER_OTLP_{upper}_{option}"
        return specific if get(specific, environ) is not None else f"OTEL_EXPORTER_OTLP_{option}"

    endpoint, endpoint_set = otlp_endpoint(signal, environ)
    headers_name = pick("HEADERS")
    compression_name = pick("COMPRESSION")
    compression = _choice(compression_name, ("gzip", "none"), environ)
    protocol = None
    if signal == "traces":
        protocol_name = pick("PROTOCOL")
        note = " (grpc is not supported: ferrotel sends OTLP over HTTP)"
        protocol = _choice(protocol_name, OTLP_PROTOCOLS, environ, note)
    return Otlp(
        endpoint=endpoint,
        endpoint_set=endpoint_set,
        headers=pairs(get(headers_name, environ), headers_name) if read_headers else {},
        protocol=protocol,
        gzip=None if compression is None else compression == "gzip",
        timeout=_milliseconds(pick("TIMEOUT"), environ, timeout=True),
    )


@dataclass(frozen=True)
class Zipkin:
    endpoint: str
    endpoint_set: bool
    timeout: float | None


def zipkin(environ: Environ | None = None) -> Zipkin:
    """OTEL_EXPORTER_ZIPKIN_ENDPOINT and OTEL_EXPORTER_ZIPKIN_TIMEOUT (ms)."""
    endpoint = get("OTEL_EXPORTER_ZIPKIN_ENDPOINT", environ)
    return Zipkin(
        endpoint=endpoint or DEFAULT_ZIPKIN_ENDPOINT,
        endpoint_set=endpoint is not None,
        timeout=_milliseconds("OTEL_EXPORTER_ZIPKIN_TIMEOUT", environ, timeout=True),
    )


def traces_exporters(environ: Environ | None = None) -> list[str]:
    """The span exporters the environment asks for: OTEL_TRACES_EXPORTER (otlp, zipkin,
    console, none; unknown names ignored with a warning). Unset, an exporter is chosen only
    when its endpoint variable is set: no surprise traffic to localhost."""
    value = get("OTEL_TRACES_EXPORTER", environ)
    if value is None:
        names = []
        if otlp_endpoint("traces", environ)[1]:
            names.append("otlp")
        if get("OTEL_EXPORTER_ZIPKIN_ENDPOINT", environ) is not None:
            names.append("zipkin")
        return names
    names = []
    for raw in value.split(","):
        name = raw.strip().lower()
        if not name or name in names:
            continue
        if name in TRACES_EXPORTERS:
            names.append(name)
        else:
            warn(
                f"OTEL_TRACES_EXPORTER: {raw.strip()!r} is not one of {', '.join(TRACES_EXPORTERS)}; ignored"
            )
    return [] if "none" in names else names


def elasticsearch_url(environ: Environ | None = None) -> str | None:
    return get("ELASTICSEARCH_URL", environ)


#: Where the multiprocess mode's files go, first set first: ferrotel's own, then prometheus_client's
#: (and its deprecated lower-case spelling), so a prometheus_client deployment works unchanged.
MULTIPROC_DIR_VARIABLES = ("FERROTEL_MULTIPROC_DIR", "PROMETHEUS_MULTIPROC_DIR", "prometheus_multiproc_dir")


def multiproc_dir(environ: Environ | None = None) -> str | None:
    """The multiprocess directory the environment names, if any."""
    return first(*MULTIPROC_DIR_VARIABLES, environ=environ)


# --- the settings ``ferrotel.configure()`` reads ----------------------------------------------------

#: ferrotel's own variables (and the guide's ELASTICSEARCH_URL), by the setting they give.
CONFIG_VARIABLES = {
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
    "FERROTEL_TRACES_FILE": "tracing.exporters.file",
    "FERROTEL_REDACT_KEYS": "redaction.keys",
    "FERROTEL_REDACT_DEFAULTS": "redaction.defaults",
    "FERROTEL_REDACT_VALUES": "redaction.values",
}


def config_settings(environ: Environ | None = None) -> dict[str, Any]:
    """The settings the environment gives ``ferrotel.configure()``, in the nested form TOML has
    (values as the environment writes them: ``config`` checks them as it checks TOML's)."""
    out: dict[str, Any] = {}

    def put(path: str, value: Any) -> None:
        node = out
        *parents, leaf = path.split(".")
        for p in parents:
            node = node.setdefault(p, {})
        node[leaf] = value

    identity = service(environ=environ)
    for key, value in (
        ("service_name", identity.name),
        ("service_version", identity.version),
        ("environment", identity.environment),
    ):
        if value is not None:
            put(key, value)
    for name, path in CONFIG_VARIABLES.items():
        if (value := get(name, environ)) is not None:
            put(path, value)
    if (directory := multiproc_dir(environ)) is not None:
        put("metrics.multiprocess_dir", directory)
    if (labels := get("FERROTEL_METRICS_DEFAULT_LABELS", environ)) is not None:
        put("metrics.default_labels", pairs(labels, "FERROTEL_METRICS_DEFAULT_LABELS", decode=False))
    if sdk_disabled(environ):
        put("tracing.enabled", "false")
    sampler = traces_sampler(environ)
    if sampler in RATIO_SAMPLERS:
        put("tracing.sampler", sampler)
        arg = traces_sampler_arg(sampler, environ)
        if arg is not None and get("FERROTEL_SAMPLING_RATE", environ) is None:
            put("tracing.sampling_rate", arg)
    elif sampler is not None:
        put("tracing.sampler", sampler)
        put("tracing.sampling_rate", None)  # no ratio: none from TOML or FERROTEL_SAMPLING_RATE either
        traces_sampler_arg(sampler, environ)  # warns when one is set
    for exporter in traces_exporters(environ):
        if exporter == "otlp":
            put("tracing.exporters.otlp.endpoint", otlp_endpoint("traces", environ)[0])
        elif exporter == "zipkin":
            put(
                "tracing.exporters.zipkin.endpoint",
                get("OTEL_EXPORTER_ZIPKIN_ENDPOINT", environ) or DEFAULT_ZIPKIN_ENDPOINT,
            )
        elif exporter == "console":
            put("tracing.exporters.console", "true")
    return out


# --- prometheus_client's switches --------------------------------------------------------------


def prometheus_client_flag(name: str, environ: Environ | None = None) -> bool:
    """``PROMETHEUS_DISABLE_CREATED_SERIES`` and ``PROMETHEUS_LEGACY_NAME_VALIDATION`` as
    prometheus_client reads them: ``true``, ``1`` or ``t``, in any case."""
    return (get(name, environ) or "").lower() in ("true", "1", "t")
