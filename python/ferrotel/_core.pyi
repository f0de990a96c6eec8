"""Type stubs for ferrotel's native core (built from ``rust/`` by maturin)."""

import logging
import os
from collections.abc import Callable, Iterable, Mapping, MutableMapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, Final, NoReturn, Self, TypeVar, final, overload

from prometheus_client.metrics_core import Metric
from typing_extensions import disjoint_base

# Checked against the built extension by `python -m mypy.stubtest ferrotel._core` (scripts/test.sh).
# PyO3 classes construct in `__new__` (so the stubs declare `__new__`, not `__init__`), cannot be
# subclassed unless declared `subclass` (hence `@final`), and their `#[pyo3(get)]`/`#[getter]`
# attributes are read-only unless a setter exists (hence `@property`).

__all__ = [
    "AsgiSend",
    "HttpRequest",
    "HttpTelemetry",
    "WsgiExchange",
    "WsgiMiddlewareBase",
    "emit_stdlib_record",
    "LogContext",
    "Logger",
    "configure_logs",
    "log_level",
    "ElasticsearchSink",
    "FileSink",
    "OtlpLogSink",
    "Counter",
    "_push_to_gateway",
    "PushGateway",
    "start_http_server",
    "MetricsServer",
    "Gauge",
    "Histogram",
    "Info",
    "Enum",
    "_mark_process_dead",
    "_multiprocess_active",
    "_multiprocess_dir",
    "MultiProcessCollector",
    "generate_latest",
    "generate_openmetrics",
    "Registry",
    "Summary",
    "ExceptionCounter",
    "InprogressTracker",
    "Timer",
    "_debug_panic",
    "_after_fork_in_child",
    "_after_fork_in_parent",
    "_before_fork",
    "flush",
    "shutdown",
    "_tracing_configured",
    "configure_tracing",
    "ConsoleSpanExporter",
    "DiscardSpanExporter",
    "FileSpanExporter",
    "InMemorySpanExporter",
    "OTLPSpanExporter",
    "ZipkinExporter",
    "random_id",
    "extract",
    "extract_baggage",
    "inject",
    "set_propagators",
    "Span",
    "SpanContext",
    "Ready",
    "_current_span_var",
    "_reset_current_span",
    "_set_current_span",
    "current_span",
    "non_recording_span",
    "TracedFunction",
    "Tracer",
    "SpanWithMethod",
    "PanicException",
    "REGISTRY",
    "DEFAULT_BUCKETS",
]

_F = TypeVar("_F", bound=Callable[..., Any])
_LabelValue = str | int | float
_Number = float | int

REGISTRY: Final[Registry]
DEFAULT_BUCKETS: Final[list[float]]

# Defined by PyO3 itself (its `__module__` is "pyo3_runtime"); raised when Rust code panics.
class PanicException(BaseException): ...

@final
class Registry:
    # `prefix` defaults to "" and `cardinality_limit` to 10_000; PyO3 writes both defaults as
    # `...` in the runtime signature (they are Rust expressions), so the stub does too.
    def __new__(
        cls,
        auto_describe: bool = False,
        target_info: Mapping[str, str] | None = None,
        *,
        prefix: str = ...,
        default_labels: Mapping[str, str] | None = None,
        cardinality_limit: int = ...,
    ) -> Self: ...
    @property
    def prefix(self) -> str: ...
    @property
    def default_labels(self) -> dict[str, str]: ...
    @property
    def cardinality_limit(self) -> int: ...
    def register(self, collector: Any) -> None: ...
    def unregister(self, collector: Any) -> None: ...
    def __contains__(self, key: Any, /) -> bool: ...
    def register_process_metrics(self) -> None: ...
    def configure(
        self, *, prefix: str | None = None, default_labels: Mapping[str, str] | None = None
    ) -> None: ...
    def collect(self) -> list[Metric]: ...
    def get_sample_value(self, name: str, labels: Mapping[str, str] | None = None) -> float | None: ...
    def get(self, name: str, kind: str | None = None) -> Any: ...
    def render(
        self, accept: str | None = None, accept_encoding: str | None = None
    ) -> tuple[bytes, str, str | None]: ...

@final
class Timer:
    def __enter__(self) -> Timer: ...
    def __exit__(self, *_exc: object) -> bool: ...
    def __call__(self, func: _F) -> _F: ...

@final
class ExceptionCounter:
    def __enter__(self) -> ExceptionCounter: ...
    def __exit__(
        self,
        exc_type: type[BaseException] | None = None,
        _exc: BaseException | None = None,
        _tb: TracebackType | None = None,
    ) -> bool: ...
    def __call__(self, func: _F) -> _F: ...

@final
class InprogressTracker:
    def __enter__(self) -> InprogressTracker: ...
    def __exit__(self, *_exc: object) -> bool: ...
    def __call__(self, func: _F) -> _F: ...

# The six metric classes share these members (prometheus_client's names), but have no common
# base class at runtime: each is a separate final class.

@final
class Counter:
    def __new__(
        cls,
        name: str,
        documentation: str = "",
        labelnames: Iterable[str] | None = None,
        namespace: str = "",
        subsystem: str = "",
        unit: str = "",
        registry: Registry | None = ...,
        _labelvalues: Sequence[str] | None = None,
    ) -> Self: ...
    @property
    def _name(self) -> str: ...
    @property
    def _documentation(self) -> str: ...
    @property
    def _labelnames(self) -> list[str]: ...
    @property
    def _type(self) -> str: ...
    def labels(self, *values: _LabelValue, **kwvalues: _LabelValue) -> Counter: ...
    def remove(self, *values: _LabelValue) -> None: ...
    def clear(self) -> None: ...
    def collect(self) -> list[Metric]: ...
    def describe(self) -> list[Metric]: ...
    def inc(self, amount: _Number | None = None, exemplar: Mapping[str, str] | None = None) -> None:
        """Adds ``amount`` (None: 1)."""
    def reset(self) -> None: ...
    def count_exceptions(
        self, exception: type[BaseException] | tuple[type[BaseException], ...] | None = None
    ) -> ExceptionCounter:
        """Counts exceptions of ``exception`` (None: ``Exception``)."""

@final
class Gauge:
    def __new__(
        cls,
        name: str,
        documentation: str = "",
        labelnames: Iterable[str] | None = None,
        namespace: str = "",
        subsystem: str = "",
        unit: str = "",
        registry: Registry | None = ...,
        _labelvalues: Sequence[str] | None = None,
        multiprocess_mode: str = "all",
    ) -> Self: ...
    @property
    def _name(self) -> str: ...
    @property
    def _documentation(self) -> str: ...
    @property
    def _labelnames(self) -> list[str]: ...
    @property
    def _type(self) -> str: ...
    def labels(self, *values: _LabelValue, **kwvalues: _LabelValue) -> Gauge: ...
    def remove(self, *values: _LabelValue) -> None: ...
    def clear(self) -> None: ...
    def collect(self) -> list[Metric]: ...
    def describe(self) -> list[Metric]: ...
    def inc(self, amount: _Number | None = None) -> None:
        """Adds ``amount`` (None: 1)."""
    def dec(self, amount: _Number | None = None) -> None:
        """Subtracts ``amount`` (None: 1)."""
    def set(self, value: _Number) -> None: ...
    def set_to_current_time(self) -> None: ...
    def set_function(self, f: Callable[[], _Number]) -> None: ...
    def track_inprogress(self) -> InprogressTracker: ...
    def time(self) -> Timer: ...

@final
class Histogram:
    def __new__(
        cls,
        name: str,
        documentation: str = "",
        labelnames: Iterable[str] | None = None,
        namespace: str = "",
        subsystem: str = "",
        unit: str = "",
        registry: Registry | None = ...,
        _labelvalues: Sequence[str] | None = None,
        buckets: Sequence[_Number] | None = None,
    ) -> Self: ...
    @property
    def _name(self) -> str: ...
    @property
    def _documentation(self) -> str: ...
    @property
    def _labelnames(self) -> list[str]: ...
    @property
    def _type(self) -> str: ...
    @property
    def _upper_bounds(self) -> list[float]: ...
    def labels(self, *values: _LabelValue, **kwvalues: _LabelValue) -> Histogram: ...
    def remove(self, *values: _LabelValue) -> None: ...
    def clear(self) -> None: ...
    def collect(self) -> list[Metric]: ...
    def describe(self) -> list[Metric]: ...
    def observe(self, amount: _Number, exemplar: Mapping[str, str] | None = None) -> None: ...
    def time(self) -> Timer: ...

@final
class Summary:
    def __new__(
        cls,
        name: str,
        documentation: str = "",
        labelnames: Iterable[str] | None = None,
        namespace: str = "",
        subsystem: str = "",
        unit: str = "",
        registry: Registry | None = ...,
        _labelvalues: Sequence[str] | None = None,
    ) -> Self: ...
    @property
    def _name(self) -> str: ...
    @property
    def _documentation(self) -> str: ...
    @property
    def _labelnames(self) -> list[str]: ...
    @property
    def _type(self) -> str: ...
    def labels(self, *values: _LabelValue, **kwvalues: _LabelValue) -> Summary: ...
    def remove(self, *values: _LabelValue) -> None: ...
    def clear(self) -> None: ...
    def collect(self) -> list[Metric]: ...
    def describe(self) -> list[Metric]: ...
    def observe(self, amount: _Number) -> None: ...
    def time(self) -> Timer: ...

@final
class Info:
    def __new__(
        cls,
        name: str,
        documentation: str = "",
        labelnames: Iterable[str] | None = None,
        namespace: str = "",
        subsystem: str = "",
        unit: str = "",
        registry: Registry | None = ...,
        _labelvalues: Sequence[str] | None = None,
    ) -> Self: ...
    @property
    def _name(self) -> str: ...
    @property
    def _documentation(self) -> str: ...
    @property
    def _labelnames(self) -> list[str]: ...
    @property
    def _type(self) -> str: ...
    def labels(self, *values: _LabelValue, **kwvalues: _LabelValue) -> Info: ...
    def remove(self, *values: _LabelValue) -> None: ...
    def clear(self) -> None: ...
    def collect(self) -> list[Metric]: ...
    def describe(self) -> list[Metric]: ...
    def info(self, val: Mapping[str, str]) -> None: ...

@final
class Enum:
    def __new__(
        cls,
        name: str,
        documentation: str = "",
        labelnames: Iterable[str] | None = None,
        namespace: str = "",
        subsystem: str = "",
        unit: str = "",
        registry: Registry | None = ...,
        _labelvalues: Sequence[str] | None = None,
        states: Sequence[str] | None = None,
    ) -> Self: ...
    @property
    def _name(self) -> str: ...
    @property
    def _documentation(self) -> str: ...
    @property
    def _labelnames(self) -> list[str]: ...
    @property
    def _type(self) -> str: ...
    def labels(self, *values: _LabelValue, **kwvalues: _LabelValue) -> Enum: ...
    def remove(self, *values: _LabelValue) -> None: ...
    def clear(self) -> None: ...
    def collect(self) -> list[Metric]: ...
    def describe(self) -> list[Metric]: ...
    def state(self, state: str) -> None: ...

@final
class MetricsServer:
    @property
    def port(self) -> int: ...
    @property
    def addr(self) -> str: ...
    def shutdown(self) -> None: ...
    def __enter__(self) -> MetricsServer: ...
    def __exit__(self, *_exc: object) -> None: ...

def start_http_server(
    port: int, addr: str = "127.0.0.1", registry: Registry | None = None
) -> MetricsServer: ...
def generate_latest(registry: Registry | None = None) -> bytes: ...
def _multiprocess_dir(path: str | os.PathLike[str] | None, attach_existing: bool = True) -> None: ...
def _multiprocess_active() -> Path | None: ...
def _mark_process_dead(pid: int, path: str | os.PathLike[str]) -> None: ...

@disjoint_base
class MultiProcessCollector:
    def __new__(cls, path: str | os.PathLike[str]) -> Self: ...
    @property
    def _path(self) -> Path: ...
    def collect(self) -> list[Metric]: ...

def generate_openmetrics(registry: Registry | None = None) -> bytes: ...
def _debug_panic(message: str) -> None: ...
def flush(timeout: float = 5.0) -> bool: ...
def shutdown(timeout: float = 5.0) -> bool: ...
def _before_fork() -> None: ...
def _after_fork_in_parent() -> None: ...
def _after_fork_in_child() -> None: ...

# --- tracing ---------------------------------------------------------------------------------

_Attributes = Mapping[str, Any]

@final
class SpanContext:
    def __new__(
        cls, trace_id: str, span_id: str, trace_flags: int = 1, trace_state: str = "", is_remote: bool = True
    ) -> Self: ...
    @property
    def trace_id(self) -> str: ...
    @property
    def span_id(self) -> str: ...
    @property
    def trace_flags(self) -> int: ...
    @property
    def trace_state(self) -> str: ...
    @property
    def is_remote(self) -> bool: ...
    @property
    def is_valid(self) -> bool: ...
    @property
    def sampled(self) -> bool: ...
    def __eq__(self, value: object, /) -> bool: ...
    def __hash__(self) -> int: ...

@final
class Ready:
    """An awaitable that is already done: what ``async with span:`` awaits."""

    def __await__(self) -> Any: ...
    def __iter__(self) -> Ready: ...
    def __next__(self) -> NoReturn: ...

@final
class Span:
    # Django's templates call the callables they meet; a span must not be entered that way.
    do_not_call_in_templates: bool
    @property
    def context(self) -> SpanContext: ...
    @property
    def name(self) -> str | None: ...
    def get_span_context(self) -> SpanContext: ...
    def is_recording(self) -> bool: ...
    def set_attribute(self, key: str, value: Any) -> None: ...
    def set_attributes(self, attributes: _Attributes) -> None: ...
    def add_event(
        self, name: str, attributes: _Attributes | None = None, timestamp: float | int | None = None
    ) -> None: ...
    def add_link(self, context: Span | SpanContext, attributes: _Attributes | None = None) -> None: ...
    def set_status(self, status: Any, description: str | None = None) -> None: ...
    def record_exception(
        self,
        exception: BaseException,
        attributes: _Attributes | None = None,
        timestamp: float | int | None = None,
        escaped: bool = False,
    ) -> None: ...
    def update_name(self, name: str) -> None: ...
    def end(self, end_time: float | int | None = None) -> None: ...
    # At runtime `__enter__` and `__exit__` are SpanWithMethod descriptors (no bound method per
    # `with` block), and a span is callable only as their implementation: not declared here.
    def __enter__(self) -> Span: ...
    def __exit__(
        self, typ: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None
    ) -> bool: ...
    def __aenter__(self) -> Ready: ...
    def __aexit__(
        self,
        _exc_type: type[BaseException] | None = None,
        exc: BaseException | None = None,
        _tb: TracebackType | None = None,
    ) -> Ready: ...

@final
class SpanWithMethod:
    """``Span.__enter__`` and ``Span.__exit__``: bound to a span, they are the span itself."""

    @overload
    def __get__(self, instance: None, owner: type | None = None, /) -> SpanWithMethod: ...
    @overload
    def __get__(self, instance: Span, owner: type | None = None, /) -> Span: ...
    def __call__(self, span: Span, *args: Any) -> Span | bool:
        """Unbound use: ``Span.__enter__(span)`` (the span), ``Span.__exit__(span, *exc_info)`` (False)."""

@final
class Tracer:
    def __new__(cls, name: str, version: str = "") -> Self: ...
    @property
    def name(self) -> str: ...
    def span(
        self,
        name: str,
        attributes: _Attributes | None = None,
        kind: Any = None,
        parent: Span | SpanContext | None = None,
        links: Iterable[Any] | None = None,
        start_time: float | int | None = None,
    ) -> Span: ...
    def start_span(
        self,
        name: str,
        attributes: _Attributes | None = None,
        kind: Any = None,
        parent: Span | SpanContext | None = None,
        links: Iterable[Any] | None = None,
        start_time: float | int | None = None,
    ) -> Span: ...
    def start_as_current_span(
        self,
        name: str,
        attributes: _Attributes | None = None,
        kind: Any = None,
        parent: Span | SpanContext | None = None,
        links: Iterable[Any] | None = None,
        start_time: float | int | None = None,
    ) -> Span: ...
    def trace(
        self, name: str, func: Callable[[Span], Any], attributes: _Attributes | None = None, kind: Any = None
    ) -> Any: ...

@final
class HttpRequest:
    """One request in flight, from ``HttpTelemetry.start_asgi``."""

    status: int
    @property
    def trace_id(self) -> str: ...
    @property
    def request_id(self) -> str: ...
    @property
    def span(self) -> Span: ...
    def header_bytes(self) -> list[tuple[bytes, bytes]]: ...
    def wrap_send(self, send: Callable[[MutableMapping[str, Any]], Any]) -> AsgiSend: ...
    def failed(self, exc: BaseException) -> None: ...
    def finish(self, route: str | None = None) -> None: ...
    def finish_asgi(self, scope: MutableMapping[str, Any]) -> None: ...

@final
class AsgiSend:
    """The ``send`` an ASGI app gets: the response start sets the status and gains the headers."""

    def __call__(self, message: MutableMapping[str, Any]) -> Any: ...

@final
class HttpTelemetry:
    """The HTTP middlewares' native work per request."""

    def __new__(
        cls,
        requests: Counter,
        latency: Histogram,
        in_flight: Gauge,
        tracer: Tracer,
        logger: str | None = None,
        excluded: Sequence[str] = ...,
        route_fallback: Callable[[dict[str, Any]], str | None] | None = None,
    ) -> Self: ...
    def start_asgi(self, scope: MutableMapping[str, Any]) -> HttpRequest | None: ...
    def wsgi(
        self, app: Callable[..., Any], environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        """A ``WsgiExchange``, or the app's own body when the request is not recorded."""

@final
class WsgiExchange:
    """One WSGI request: the ``start_response`` the app gets and the body the server gets."""

    # Callable through a vectorcall slot (there is no `__call__` in the class's `__dict__`).
    def __call__(self, status: str, headers: Iterable[tuple[str, str]], exc_info: Any = None) -> Any: ...
    def __iter__(self) -> Self: ...
    def __next__(self) -> bytes: ...
    def close(self) -> None: ...

@disjoint_base
class WsgiMiddlewareBase:
    """The native base of ``ferrotel.middleware.WSGIMiddleware``."""

    def __new__(cls, *_args: Any, **_kwargs: Any) -> Self: ...
    def _bind(self, app: Callable[..., Any], telemetry: HttpTelemetry) -> None: ...
    def __init_subclass__(cls, **_kwargs: Any) -> None: ...
    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]: ...

@final
class TracedFunction:
    """What ``@traced`` makes of a plain function."""

    __wrapped__: Callable[..., Any]
    def __new__(
        cls,
        tracer: Tracer,
        name: str,
        func: Callable[..., Any],
        attributes: dict[str, Any] | None = None,
        kind: Any = None,
    ) -> Self: ...
    def __call__(self, *args: Any, **kwargs: Any) -> Any: ...
    def __get__(self, instance: Any, owner: Any = None, /) -> Any: ...
    def __reduce__(self) -> str: ...

@final
class OTLPSpanExporter:
    def __new__(
        cls,
        endpoint: str = "http://localhost:4318/v1/traces",
        protocol: str = "http/protobuf",
        headers: Mapping[str, str] | None = None,
        gzip: bool = False,
        timeout: float = 10.0,
    ) -> Self: ...
    @property
    def endpoint(self) -> str: ...
    @property
    def gzip(self) -> bool: ...
    @property
    def protocol(self) -> str: ...

@final
class ZipkinExporter:
    def __new__(cls, endpoint: str = "http://localhost:9411/api/v2/spans", timeout: float = 10.0) -> Self: ...
    @property
    def endpoint(self) -> str: ...

@final
class FileSpanExporter:
    def __new__(cls, path: str | os.PathLike[str]) -> Self: ...
    @property
    def path(self) -> str: ...

@final
class ConsoleSpanExporter:
    def __new__(cls, stream: str = "stdout") -> Self: ...

@final
class DiscardSpanExporter:
    def __new__(cls) -> Self: ...

@final
class InMemorySpanExporter:
    def __new__(cls) -> Self: ...
    def get_finished_spans(self) -> list[dict[str, Any]]: ...
    def clear(self) -> None: ...

def configure_tracing(
    resource: Mapping[str, Any],
    sampler: str = "parentbased_always_on",
    sampler_arg: float | None = None,
    exporters: Sequence[Any] = ...,
    max_queue_size: int = 2048,
    max_export_batch_size: int = 512,
    schedule_delay: float = 5.0,
    export_timeout: float = 30.0,
    max_attributes: int = 128,
    max_events: int = 128,
    max_links: int = 128,
    max_attribute_length: int | None = None,
) -> None: ...
def _tracing_configured() -> bool: ...
def current_span() -> Span | None: ...
def _set_current_span(span: Span) -> Any: ...
def _reset_current_span(token: Any) -> None: ...
def _current_span_var() -> Any: ...
def non_recording_span(context: Span | SpanContext) -> Span: ...
def extract(carrier: Mapping[str, Any]) -> SpanContext | None: ...
def extract_baggage(carrier: Mapping[str, Any]) -> dict[str, str]: ...
def inject(
    carrier: MutableMapping[str, str],
    span: Span | SpanContext | None = None,
    baggage: Mapping[str, str] | None = None,
) -> None: ...
def set_propagators(names: Sequence[str]) -> None: ...

# --- logs ---------------------------------------------------------------------------------------

_Level = str | int

@final
class Logger:
    def __new__(cls, name: str = "root") -> Self: ...
    @property
    def name(self) -> str: ...
    def debug(self, message: object, **context: Any) -> None: ...
    def info(self, message: object, **context: Any) -> None: ...
    def warning(self, message: object, **context: Any) -> None: ...
    def error(self, message: object, **context: Any) -> None: ...
    def critical(self, message: object, **context: Any) -> None: ...
    def exception(self, message: object, **context: Any) -> None: ...
    def log(self, entry: Mapping[str, Any]) -> None: ...
    def bind(self, **context: Any) -> Logger: ...
    def is_enabled_for(self, level: _Level) -> bool: ...

@final
class LogContext:
    def __new__(cls, **context: Any) -> Self: ...
    def __enter__(self) -> LogContext: ...
    def __exit__(
        self,
        _exc_type: type[BaseException] | None,
        _exc: BaseException | None,
        _tb: TracebackType | None,
    ) -> bool: ...

@final
class FileSink:
    def __new__(
        cls,
        path: str | os.PathLike[str],
        max_size: int | str | None = None,
        max_files: int = 5,
        *,
        max_queue: int = 10_000,
    ) -> Self: ...
    @property
    def path(self) -> Path: ...
    @property
    def max_size(self) -> int: ...
    @property
    def max_files(self) -> int: ...

@disjoint_base
class ElasticsearchSink:
    def __new__(
        cls,
        node: str | None = None,
        index: str = "logs-ferrotel-default",
        *,
        username: str | None = None,
        password: str | None = None,
        api_key: str | None = None,
        headers: Mapping[str, str] | None = None,
        op_type: str = "create",
        max_batch: int = 500,
        max_bytes: int | str | None = None,
        flush_interval: float = 1.0,
        max_queue: int = 10_000,
        timeout: float = 10.0,
        gzip: bool = False,
    ) -> Self: ...
    @property
    def node(self) -> str: ...
    @property
    def index(self) -> str: ...

@disjoint_base
class OtlpLogSink:
    def __new__(
        cls,
        endpoint: str,
        *,
        headers: Mapping[str, str] | None = None,
        gzip: bool = False,
        timeout: float = 10.0,
        max_batch: int = 512,
        max_queue: int = 2048,
        flush_interval: float = 1.0,
    ) -> Self: ...
    @property
    def endpoint(self) -> str: ...

def configure_logs(
    *,
    level: _Level,
    format: str,
    console: str | None,
    file: FileSink | None,
    elasticsearch: ElasticsearchSink | None,
    otlp: OtlpLogSink | None,
    service: str | None,
    environment: str | None,
    version: str | None,
    hostname: str | None,
    redact_keys: list[str],
    redact_defaults: bool,
    redact_patterns: list[tuple[str, str]],
    color: bool = True,
) -> None: ...
def log_level() -> int: ...
def emit_stdlib_record(record: logging.LogRecord) -> bool: ...

# --- pushgateway -----------------------------------------------------------------------------

@final
class PushGateway:
    def __new__(
        cls,
        url: str,
        job_name: str,
        interval: float = 15.0,
        grouping_key: Sequence[tuple[str, str]] | None = None,
        registry: Registry | None = None,
        method: str = "PUT",
        timeout: float = 10.0,
    ) -> Self: ...
    @property
    def url(self) -> str: ...
    def start(self) -> PushGateway: ...
    def push(self, timeout: float = 10.0) -> bool: ...
    def stop(self, timeout: float = 10.0) -> bool: ...

def _push_to_gateway(
    gateway: str,
    job: str,
    registry: Registry | None = None,
    grouping_key: Sequence[tuple[str, str]] | None = None,
    method: str = "PUT",
    timeout: float = 30.0,
) -> None: ...
def random_id() -> str: ...
