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
import os
from collections.abc import AsyncGenerator, Callable, Generator, Mapping, Sequence
from typing import Any, TypeVar, overload
from urllib.parse import unquote

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
    "current_span",
    "get_tracer",
    "traced",
]

F = TypeVar("F", bound=Callable[..., Any])
SpanExporter = (
    OTLPSpanExporter
    | ZipkinExporter
    | FileSpanExporter
    | ConsoleSpanExporter
    | InMemorySpanExporter
    | DiscardSpanExporter
)


def JaegerExporter(endpoint: str = "http://localhost:4318/v1/traces", **options: Any) -> OTLPSpanExporter:  # noqa: N802
    """Jaeger takes OTLP/HTTP on port 4318, as Jaeger recommends; this is that exporter."""
    return OTLPSpanExporter(endpoint, **options)


def _env(name: str) -> str | None:
    value = os.environ.get(name)
    return value.strip() if value and value.strip() else None


def _pairs(text: str | None, what: str) -> dict[str, str]:
    """``k=v,k2=v2`` as the OTEL_* variables write them (values percent-encoded)."""
    pairs: dict[str, str] = {}
    for item in (text or "").split(","):
        if not item.strip():
            continue
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"{what}: {item!r} is not key=value")
        pairs[unquote(key.strip())] = unquote(value.strip())
    return pairs


def _number(name: str, value: str | None, scale: float = 1.0) -> float | None:
    if value is None:
        return None
    try:
        return float(value) * scale
    except ValueError:
        raise ValueError(f"{name}={value!r} is not a number") from None


def resource_from_env(
    service_name: str | None = None,
    service_version: str | None = None,
    environment: str | None = None,
    attributes: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Resource attributes: arguments first, then OTEL_SERVICE_NAME / SERVICE_NAME, APP_VERSION,
    ENVIRONMENT / NODE_ENV and OTEL_RESOURCE_ATTRIBUTES."""
    resource: dict[str, Any] = {
        "telemetry.sdk.name": "ferrotel",
        "telemetry.sdk.language": "python",
        "telemetry.sdk.version": "0.1.0",
    }
    resource.update(_pairs(_env("OTEL_RESOURCE_ATTRIBUTES"), "OTEL_RESOURCE_ATTRIBUTES"))
    name = service_name or _env("OTEL_SERVICE_NAME") or _env("SERVICE_NAME") or resource.get("service.name")
    resource["service.name"] = name or "unknown_service"
    version = service_version or _env("APP_VERSION")
    if version:
        resource["service.version"] = version
    env = environment or _env("ENVIRONMENT") or _env("NODE_ENV")
    if env:
        resource["deployment.environment"] = env
    resource.update(attributes or {})
    return resource


def exporters_from_env() -> list[SpanExporter]:
    """OTEL_TRACES_EXPORTER (otlp, zipkin, console, none) and the OTLP and Zipkin endpoints. With
    none of them set, nothing is exported: no surprise traffic to localhost:4318."""
    names = _env("OTEL_TRACES_EXPORTER")
    otlp_endpoint = _env("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
    base = _env("OTEL_EXPORTER_OTLP_ENDPOINT")
    if otlp_endpoint is None and base is not None:
        otlp_endpoint = base.rstrip("/") + "/v1/traces"
    if names is None:
        names = "otlp" if otlp_endpoint else "none"
    exporters: list[SpanExporter] = []
    for name in (n.strip() for n in names.split(",")):
        if name == "otlp":
            protocol = _env("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL") or _env("OTEL_EXPORTER_OTLP_PROTOCOL")
            headers = _env("OTEL_EXPORTER_OTLP_TRACES_HEADERS") or _env("OTEL_EXPORTER_OTLP_HEADERS")
            compression = _env("OTEL_EXPORTER_OTLP_TRACES_COMPRESSION") or _env(
                "OTEL_EXPORTER_OTLP_COMPRESSION"
            )
            timeout_ms = _env("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT") or _env("OTEL_EXPORTER_OTLP_TIMEOUT")
            exporters.append(
                OTLPSpanExporter(
                    otlp_endpoint or "http://localhost:4318/v1/traces",
                    protocol=protocol or "http/protobuf",
                    headers=_pairs(headers, "OTEL_EXPORTER_OTLP_HEADERS"),
                    gzip=compression == "gzip",
                    timeout=_number("OTEL_EXPORTER_OTLP_TIMEOUT", timeout_ms, 0.001) or 10.0,
                )
            )
        elif name == "zipkin":
            exporters.append(
                ZipkinExporter(_env("OTEL_EXPORTER_ZIPKIN_ENDPOINT") or "http://localhost:9411/api/v2/spans")
            )
        elif name == "console":
            exporters.append(ConsoleSpanExporter())
        elif name != "none":
            raise ValueError(f"OTEL_TRACES_EXPORTER: unknown exporter {name!r} (otlp, zipkin, console, none)")
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
) -> None:
    """Installs the tracing pipeline; arguments win over the OTEL_* environment variables.

    ``sampling_rate`` (the guide's samplingRate) samples that share of new traces and follows
    the parent's decision for the rest. ``enabled=False`` samples nothing: spans cost next to
    nothing and export nothing. Durations are in seconds.
    """
    if sampling_rate is not None and not 0.0 <= sampling_rate <= 1.0:
        raise ValueError(f"sampling_rate {sampling_rate!r} is not between 0 and 1")
    if not enabled:
        sampler_name, sampler_arg = "always_off", None
    elif sampling_rate is not None:
        sampler_name, sampler_arg = "parentbased_traceidratio", sampling_rate
    else:
        sampler_name = sampler or _env("OTEL_TRACES_SAMPLER") or "parentbased_always_on"
        sampler_arg = _number("OTEL_TRACES_SAMPLER_ARG", _env("OTEL_TRACES_SAMPLER_ARG"))
    names = (
        propagators
        if propagators is not None
        else (_env("OTEL_PROPAGATORS") or "tracecontext,baggage").split(",")
    )
    set_propagators(list(names))

    def setting(value: float | None, env: str, default: float, scale: float = 1.0) -> float:
        if value is not None:
            return value
        from_env = _number(env, _env(env), scale)
        return default if from_env is None else from_env

    configure_tracing(
        resource_from_env(service_name, service_version, environment, resource),
        sampler=sampler_name,
        sampler_arg=sampler_arg,
        exporters=list(exporters_from_env() if exporters is None else exporters),
        max_queue_size=int(setting(max_queue_size, "OTEL_BSP_MAX_QUEUE_SIZE", 2048)),
        max_export_batch_size=int(setting(max_export_batch_size, "OTEL_BSP_MAX_EXPORT_BATCH_SIZE", 512)),
        schedule_delay=setting(schedule_delay, "OTEL_BSP_SCHEDULE_DELAY", 5.0, 0.001),
        export_timeout=setting(export_timeout, "OTEL_BSP_EXPORT_TIMEOUT", 30.0, 0.001),
        max_attributes=int(setting(max_attributes, "OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT", 128)),
        max_events=int(setting(max_events, "OTEL_SPAN_EVENT_COUNT_LIMIT", 128)),
        max_links=int(setting(max_links, "OTEL_SPAN_LINK_COUNT_LIMIT", 128)),
        max_attribute_length=max_attribute_length
        if max_attribute_length is not None
        else (int(v) if (v := _env("OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT")) else None),
    )


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
