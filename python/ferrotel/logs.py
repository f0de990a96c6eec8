"""Structured logs: records built once in Rust, written as ECS JSON (or ``pretty``) by sinks on
their own threads.

With no configuration, JSON lines go to stdout::

    import ferrotel

    log = ferrotel.get_logger(__name__)
    log.info("Creating new user", email=user.email, source="signup")
    log.log({"level": "info", "message": "Incoming request", "context": {"method": "GET"}})

    with ferrotel.log_context(request_id=request_id):   # on every record inside the block
        log.bind(user_id=42).warning("quota nearly used", used=0.93)

Configure once, at start-up::

    from ferrotel.logs import ElasticsearchSink, FileSink, MASK_EMAILS

    ferrotel.logs.configure(
        level="info",
        format="json",                                   # or "pretty" (coloured on a terminal)
        file=FileSink("/var/log/app.log", max_size="10MB", max_files=5),
        elasticsearch=ElasticsearchSink("http://localhost:9200", "audotics-logs"),
        redact_patterns=[MASK_EMAILS],
    )
    ferrotel.logs.install()          # the stdlib's logging (and so libraries') through the same sinks
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from . import _core, _env, _redact
from ._core import FileSink, LogContext, Logger
from ._redact import MASK_EMAILS, RedactPattern

if TYPE_CHECKING:
    from typing_extensions import Self

__all__ = [
    "MASK_EMAILS",
    "ElasticsearchSink",
    "FileSink",
    "Handler",
    "Logger",
    "OtlpLogSink",
    "configure",
    "get_logger",
    "install",
    "log_context",
]


def get_logger(name: str = "root") -> Logger:
    """A logger whose ``debug``/``info``/``warning``/``error``/``critical``/``exception`` take a
    message and context as keyword arguments: ``get_logger(__name__).info("saved", song_id=7)``."""
    return Logger(name)


class OtlpLogSink(_core.OtlpLogSink):
    """OTLP/HTTP logs (protobuf) to ``endpoint``: ``OtlpLogSink(endpoint=None, *, headers=None,
    **options)``. By default the endpoint is OTEL_EXPORTER_OTLP_LOGS_ENDPOINT, else
    OTEL_EXPORTER_OTLP_ENDPOINT + ``/v1/logs``, else ``http://localhost:4318/v1/logs``; the headers
    OTEL_EXPORTER_OTLP_LOGS_HEADERS or OTEL_EXPORTER_OTLP_HEADERS; ``gzip`` and ``timeout``
    OTEL_EXPORTER_OTLP_[LOGS_]COMPRESSION and _TIMEOUT (see ``ferrotel._env.otlp``).
    ``options``: ``gzip``, ``timeout``, ``max_batch``, ``max_queue``, ``flush_interval``."""

    def __new__(
        cls, endpoint: str | None = None, *, headers: Mapping[str, str] | None = None, **options: Any
    ) -> Self:
        settings = _env.otlp("logs", read_headers=headers is None)
        for option, value in (("gzip", settings.gzip), ("timeout", settings.timeout)):
            if value is not None:
                options.setdefault(option, value)
        return super().__new__(
            cls,
            endpoint or settings.endpoint,
            headers=dict(settings.headers if headers is None else headers),
            **options,
        )


class ElasticsearchSink(_core.ElasticsearchSink):
    """Bulk-indexes records into Elasticsearch: ``ElasticsearchSink(node=None,
    index="logs-ferrotel-default", **options)``, the node by default ELASTICSEARCH_URL.
    ``options``: ``username``, ``password``, ``api_key``, ``headers``, ``op_type``, ``max_batch``,
    ``max_bytes``, ``flush_interval``, ``max_queue``, ``timeout``, ``gzip``."""

    def __new__(cls, node: str | None = None, index: str = "logs-ferrotel-default", **options: Any) -> Self:
        return super().__new__(cls, node or _env.elasticsearch_url(), index, **options)


def log_context(**context: Any) -> LogContext:
    """``with log_context(request_id=rid):`` — the fields go on every record logged in the block,
    in this thread or asyncio task (it is a ``contextvars`` scope); inner blocks add to outer ones."""
    return LogContext(**context)


def _console(console: bool | str | None, others: bool) -> str | None:
    if console is None:
        return None if others else "stdout"
    if console is True:
        return "stdout"
    if console is False:
        return None
    return console


def configure(
    level: str | int = "info",
    format: str = "json",
    *,
    console: bool | str | None = None,
    file: FileSink | str | os.PathLike[str] | None = None,
    elasticsearch: _core.ElasticsearchSink | None = None,
    otlp: _core.OtlpLogSink | None = None,
    service: str | None = None,
    environment: str | None = None,
    version: str | None = None,
    hostname: str | None = None,
    redact_keys: Iterable[str] = (),
    redact_defaults: bool = True,
    redact_patterns: Iterable[RedactPattern] = (),
    redact_values: Iterable[str] = (),
) -> None:
    """Replaces the log pipeline (the previous sinks write what they hold first).

    ``console`` is ``True``/``"stdout"``, ``"stderr"`` or ``False``; by default stdout unless
    another sink is given. ``file`` is a ``FileSink`` or a path. ``service``, ``environment``,
    ``version`` and ``hostname`` default to OTEL_SERVICE_NAME (or SERVICE_NAME), ENVIRONMENT (or
    NODE_ENV), APP_VERSION (then OTEL_RESOURCE_ATTRIBUTES) and the host name, as on spans.

    Values under keys containing password, secret, token, api_key, authorization, cookie, … are
    written as ``[REDACTED]``, and so are such secrets written inside messages and exception
    messages (``password=…``, a URL's ``user:pass@``). ``redact_keys`` adds keys,
    ``redact_defaults=False`` drops the built-in ones; ``redact_values`` turns on the opt-in
    rules ``cards``, ``emails``, ``bearer_tokens``; ``redact_patterns`` rewrite matching text: a
    regex or ``(regex, replacement)``, such as ``MASK_EMAILS``. ``ferrotel._redact`` describes
    the rules and their cost; spans follow the same ones (``ferrotel.tracing.configure``).
    """
    if isinstance(file, (str, os.PathLike)):
        file = FileSink(file)
    identity = _env.service(service, version, environment)
    _core.configure_logs(
        level=level,
        format=format,
        console=_console(console, any(s is not None for s in (file, elasticsearch, otlp))),
        file=file,
        elasticsearch=elasticsearch,
        otlp=otlp,
        service=identity.name,
        environment=identity.environment,
        version=identity.version,
        hostname=hostname or _env.hostname(),
        color=_env.color_allowed(),
        **_redact.arguments(redact_keys, redact_defaults, redact_patterns, redact_values),
    )


class Handler(logging.Handler):
    """A ``logging.Handler`` that sends records — with ``extra``, ``exc_info`` and ``stack_info`` —
    through ferrotel's log pipeline: ``logging.getLogger().addHandler(ferrotel.logs.Handler())``.

    The record goes straight to Rust: no Python formatting, no handler lock (the pipeline is
    thread-safe). Handler-level filters still apply when added.
    """

    emit = staticmethod(_core.emit_stdlib_record)  # type: ignore[assignment]

    def __init__(self, level: int | str = logging.NOTSET) -> None:
        super().__init__(level)
        # Until a filter is added, logging calls Rust directly, skipping Handler.handle.
        self.handle = _core.emit_stdlib_record  # type: ignore[method-assign]

    def addFilter(self, filter: Any) -> None:  # noqa: N802 - logging's name
        super().addFilter(filter)
        self.__dict__.pop("handle", None)

    def flush(self) -> None:
        """Waits (up to 5 s) until every record sent so far is written."""
        _core.flush(5.0)


def install(level: str | int | None = None) -> Handler:
    """Routes the root logger through ferrotel: its handlers are replaced by one ``Handler``, so
    every library's ``logging`` comes out in the same format and sinks. The root level becomes
    ``level``, or else ferrotel's configured level."""
    root = logging.getLogger()
    for old in root.handlers[:]:
        root.removeHandler(old)
    handler = Handler()
    root.addHandler(handler)
    if level is None:
        level = _core.log_level()
    root.setLevel(level.upper() if isinstance(level, str) else level)
    return handler
