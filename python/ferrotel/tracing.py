"""Tracing: spans recorded in Rust, context in a ``contextvars.ContextVar``, batches exported
to OTLP (Jaeger, collectors) or Zipkin from Rust threads.

    from ferrotel import get_tracer, traced

    tracer = get_tracer("audotics")
    with tracer.span("generate_recommendations", attributes={"user.id": 42}) as span:
        span.add_event("cache_miss")

    @traced
    async def fetch_profile(user_id: int) -> dict: ...

    ferrotel.tracing.configure(service_name="audotics", sampling_rate=0.1,
                               exporters=[JaegerExporter(), ZipkinExporter()])
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import AsyncGenerator, Callable, Generator, Iterable, Mapping, Sequence
from types import MappingProxyType
from typing import Any, TypeVar, Union, overload

from . import _env, _redact
from ._core import (
    ConsoleSpanExporter,
    DiscardSpanExporter,
    FileSpanExporter,
    InMemorySpanExporter,
    OTLPSpanExporter,
    Span,
    SpanContext,
    TracedFunction,
    Tracer,
    ZipkinExporter,
    _reset_current_span,
    _set_current_span,
    _tracing_configured,
    configure_tracing,
    current_span,
    set_propagators,
)

__all__ = [
    "ConsoleSpanExporter",
    "DiscardSpanExporter",
    "FileSpanExporter",
    "InMemorySpanExporter",
    "JaegerExporter",
    "OTLPSpanExporter",
    "Span",
    "SpanContext",
    "Tracer",
    "ZipkinExporter",
    "configure",
    "current_resource",
    "current_span",
    "get_tracer",
    "traced",
]

F = TypeVar("F", bound=Callable[..., Any])
#: What the last ``configure()`` installed as the resource.
_resource: Mapping[str, Any] = MappingProxyType({})
# typing.Union, not `|`: the alias is evaluated at import, and `|` between classes needs 3.10.
SpanExporter = Union[
    OTLPSpanExporter,
    ZipkinExporter,
    FileSpanExporter,
    ConsoleSpanExporter,
    InMemorySpanExporter,
    DiscardSpanExporter,
]


def JaegerExporter(endpoint: str = "http://localhost:4318/v1/traces", **options: Any) -> OTLPSpanExporter:  # noqa: N802
    """Jaeger takes OTLP/HTTP on port 4318, as Jaeger recommends; this is that exporter."""
    return OTLPSpanExporter(endpoint, **options)


def otlp_exporter_from_env(endpoint: str | None = None, **options: Any) -> OTLPSpanExporter:
    """An OTLP exporter set up by the OTEL_EXPORTER_OTLP_[TRACES_]* variables (endpoint,
    headers, protocol, compression, timeout); ``endpoint`` and ``options`` win over them."""
    settings = _env.otlp("traces", read_headers="headers" not in options)
    return OTLPSpanExporter(endpoint or settings.endpoint, **{**settings.options(), **options})


def zipkin_exporter_from_env(endpoint: str | None = None, **options: Any) -> ZipkinExporter:
    """A Zipkin exporter set up by OTEL_EXPORTER_ZIPKIN_ENDPOINT and _TIMEOUT; ``endpoint`` and
    ``options`` win over them."""
    settings = _env.zipkin()
    if settings.timeout is not None:
        options.setdefault("timeout", settings.timeout)
    return ZipkinExporter(endpoint or settings.endpoint, **options)


def resource_from_env(
    service_name: str | None = None,
    service_version: str | None = None,
    environment: str | None = None,
    attributes: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Resource attributes: OTEL_RESOURCE_ATTRIBUTES, then the service name, version and
    environment (arguments first, then the environment: see ``ferrotel._env.service``), then
    ``attributes``."""
    service = _env.service(service_name, service_version, environment)
    resource: dict[str, Any] = {
        "telemetry.sdk.name": "ferrotel",
        "telemetry.sdk.language": "python",
        "telemetry.sdk.version": "0.1.0",
    }
    resource.update(_env.resource_attributes())
    resource["service.name"] = service.name or "unknown_service"
    if service.version:
        resource["service.version"] = service.version
    if service.environment:
        resource["deployment.environment"] = service.environment
    resource.update(attributes or {})
    return resource


def exporters_from_env() -> list[SpanExporter]:
    """OTEL_TRACES_EXPORTER (otlp, zipkin, console, none) and the OTLP and Zipkin variables.
    Unset, an exporter is set up only when its endpoint variable is set: no surprise traffic to
    localhost:4318."""
    exporters: list[SpanExporter] = []
    for name in _env.traces_exporters():
        if name == "otlp":
            exporters.append(otlp_exporter_from_env())
        elif name == "zipkin":
            exporters.append(zipkin_exporter_from_env())
        elif name == "console":
            exporters.append(ConsoleSpanExporter())
    return exporters


def configure(
    *,
    enabled: bool = True,
    service_name: str | None = None,
    service_version: str | None = None,
    environment: str | None = None,
    resource: Mapping[str, Any] | None = None,
    sampling_rate: float | None = None,
    sampler: str | None = None,
    exporters: Sequence[SpanExporter] | None = None,
    propagators: Sequence[str] | None = None,
    max_queue_size: int | None = None,
    max_export_batch_size: int | None = None,
    schedule_delay: float | None = None,
    export_timeout: float | None = None,
    max_attributes: int | None = None,
    max_events: int | None = None,
    max_links: int | None = None,
    max_attribute_length: int | None = None,
    redact_keys: Iterable[str] = (),
    redact_defaults: bool = True,
    redact_patterns: Iterable[_redact.RedactPattern] = (),
    redact_values: Iterable[str] = (),
) -> None:
    """Installs the tracing pipeline; arguments win over the OTEL_* environment variables
    (read by ``ferrotel._env``), except OTEL_SDK_DISABLED=true, which samples nothing.

    Span, event and link attributes and status descriptions are redacted by the rules log
    records follow (``ferrotel._redact``; the ``redact_*`` arguments as in
    ``ferrotel.logs.configure``), on the exporters' threads: the application's pays nothing.

    ``sampling_rate`` (the guide's samplingRate) samples that share of new traces and follows
    the parent's decision for the rest; with a ratio ``sampler`` it is that sampler's ratio.
    ``enabled=False`` samples nothing: spans cost next to nothing and export nothing. Durations
    are in seconds.
    """
    sampler_name, sampler_arg = _env.sampler(enabled, sampling_rate, sampler)
    names = propagators if propagators is not None else _env.propagators()
    set_propagators(list(_env.DEFAULT_PROPAGATORS if names is None else names))

    batch = _env.span_batch()
    limits = _env.span_limits()
    queue, batch_size = _env.batch_sizes(max_queue_size, max_export_batch_size, batch)

    def first(*values: float | None, default: float) -> float:
        return next((v for v in values if v is not None), default)

    global _resource
    attributes = resource_from_env(service_name, service_version, environment, resource)
    configure_tracing(
        attributes,
        sampler=sampler_name,
        sampler_arg=sampler_arg,
        exporters=list(exporters_from_env() if exporters is None else exporters),
        max_queue_size=queue,
        max_export_batch_size=batch_size,
        schedule_delay=first(schedule_delay, batch.schedule_delay, default=5.0),
        export_timeout=first(export_timeout, batch.export_timeout, default=30.0),
        max_attributes=int(first(max_attributes, limits.max_attributes, default=128)),
        max_events=int(first(max_events, limits.max_events, default=128)),
        max_links=int(first(max_links, limits.max_links, default=128)),
        max_attribute_length=max_attribute_length
        if max_attribute_length is not None
        else limits.max_attribute_length,
        **_redact.arguments(redact_keys, redact_defaults, redact_patterns, redact_values),
    )
    _resource = MappingProxyType(dict(attributes))


def current_resource() -> Mapping[str, Any]:
    """The resource attributes spans are recorded with (configuring tracing from the
    environment first, as ``get_tracer`` does, when ``configure()`` has not been called)."""
    if not _tracing_configured():
        configure()
    return _resource


def get_tracer(name: str, version: str = "") -> Tracer:
    """A tracer for ``name``; the first call configures tracing from the environment if
    ``configure()`` has not been called."""
    if not _tracing_configured():
        configure()
    return Tracer(name, version)


def _trace(
    tracer: Tracer, name: str, func: Callable[[Span], Any], attributes: Any = None, kind: Any = None
) -> Any:
    if inspect.iscoroutinefunction(func):

        async def run() -> Any:
            async with tracer.span(name, attributes=attributes, kind=kind) as span:
                return await func(span)

        return run()
    with tracer.span(name, attributes=attributes, kind=kind) as span:
        return func(span)


def _wrap_generator(
    tracer: Tracer, name: str, func: Callable[..., Generator[Any, Any, Any]]
) -> Callable[..., Any]:
    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Generator[Any, Any, Any]:
        span = tracer.start_span(name)
        gen = func(*args, **kwargs)
        # What to resume the generator with: send(value) or throw(exception), as the caller did.
        resume: Callable[[Any], Any] = gen.send
        value: Any = None
        try:
            while True:
                # Current only while the generator body runs, not between its yields.
                token = _set_current_span(span)
                try:
                    item = resume(value)
                except StopIteration as stop:
                    return stop.value
                finally:
                    _reset_current_span(token)
                try:
                    value = yield item
                    resume = gen.send
                except GeneratorExit:
                    raise
                except BaseException as exc:
                    resume, value = gen.throw, exc
        except GeneratorExit:
            gen.close()
            raise
        except BaseException as exc:
            span.record_exception(exc, escaped=True)
            span.set_status("error", f"{type(exc).__name__}: {exc}")
            raise
        finally:
            span.end()

    return wrapper


def _wrap_async_generator(
    tracer: Tracer, name: str, func: Callable[..., AsyncGenerator[Any, Any]]
) -> Callable[..., Any]:
    @functools.wraps(func)
    async def wrapper(*args: Any, **kwargs: Any) -> AsyncGenerator[Any, Any]:
        span = tracer.start_span(name)
        agen = func(*args, **kwargs)
        resume: Callable[[Any], Any] = agen.asend
        value: Any = None
        try:
            while True:
                token = _set_current_span(span)
                try:
                    item = await resume(value)
                except StopAsyncIteration:
                    return
                finally:
                    _reset_current_span(token)
                try:
                    value = yield item
                    resume = agen.asend
                except GeneratorExit:
                    raise
                except BaseException as exc:
                    resume, value = agen.athrow, exc
        except GeneratorExit:
            await agen.aclose()
            raise
        except BaseException as exc:
            span.record_exception(exc, escaped=True)
            span.set_status("error", f"{type(exc).__name__}: {exc}")
            raise
        finally:
            span.end()

    return wrapper


@overload
def traced(func: F) -> F: ...


@overload
def traced(
    func: str | None = None,
    *,
    name: str | None = None,
    tracer: Tracer | None = None,
    attributes: Mapping[str, Any] | None = None,
    kind: str | None = None,
) -> Callable[[F], F]: ...


def traced(
    func: F | str | None = None,
    *,
    name: str | None = None,
    tracer: Tracer | None = None,
    attributes: Mapping[str, Any] | None = None,
    kind: str | None = None,
) -> Any:
    """Traces every call of a function, coroutine, generator or async generator.

    ``@traced``, ``@traced("name")`` or ``@traced(name=..., attributes=..., kind=...)``. The
    span is named after the function's qualified name unless told otherwise.
    """
    if isinstance(func, str):
        return traced(name=func, tracer=tracer, attributes=attributes, kind=kind)
    if func is None:
        return lambda f: traced(f, name=name, tracer=tracer, attributes=attributes, kind=kind)
    span_name = name or func.__qualname__
    use = tracer or get_tracer(func.__module__)
    attrs = dict(attributes) if attributes else None
    if inspect.isasyncgenfunction(func):
        return _wrap_async_generator(use, span_name, func)
    if inspect.isgeneratorfunction(func):
        return _wrap_generator(use, span_name, func)
    if inspect.iscoroutinefunction(func):

        @functools.wraps(func)
        async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
            async with use.span(span_name, attributes=attrs, kind=kind):
                return await func(*args, **kwargs)

        return async_wrapper
    # A plain function: the wrapper is native (no Python frame or with block of its own), and
    # carries the function's name, docstring and __wrapped__ as functools.wraps would.
    wrapper = TracedFunction(use, span_name, func, attrs, kind)
    functools.update_wrapper(wrapper, func)
    return wrapper
