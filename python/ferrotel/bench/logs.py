"""Log cases: ferrotel against structlog, python-json-logger and picologging, every side writing
JSON (or a plain line) to a file of its own; and the cost of a call below the level."""

from __future__ import annotations

import logging
import platform
from typing import Any

from ._common import Case, Namespace, Side, log_file

ENRICHMENT = {"service": "music-api", "environment": "production", "version": "1.4.2"}
LOG_CALL = 'log.info("user logged in", user_id=42, path="/songs")'
STDLIB_CALL = 'log.info("user logged in", extra={"user_id": 42, "path": "/songs"})'
PLAIN_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"


def _ferrotel_logs(side: str, format: str = "json", level: str = "info") -> Any:
    import ferrotel
    from ferrotel.logs import FileSink

    hostname = platform.node()
    # The queue holds a whole timing run, so every record timed is handed to the writer thread
    # (which writes it concurrently), none dropped.
    sink = FileSink(log_file(side), max_size="1GB", max_queue=100_000)
    ferrotel.logs.configure(
        level,
        format,
        file=sink,
        service=ENRICHMENT["service"],
        environment=ENRICHMENT["environment"],
        version=ENRICHMENT["version"],
        hostname=hostname,
    )
    return ferrotel.get_logger("bench")


def _ferrotel_log_side(name: str, stmt: str, format: str = "json", level: str = "info") -> Side:
    return Side("ferrotel", lambda: {"log": _ferrotel_logs(name, format, level)}, stmt)


def _stdlib_logger(name: str, handler: logging.Handler) -> logging.Logger:
    log = logging.getLogger(f"ferrotel.bench.{name}")
    for old in log.handlers[:]:
        log.removeHandler(old)
        old.close()
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    log.propagate = False
    return log


def _json_logger_side() -> Side:
    def setup() -> Namespace:
        from pythonjsonlogger.json import JsonFormatter

        handler = logging.FileHandler(log_file("python-json-logger"))
        static = {**ENRICHMENT, "hostname": platform.node()}
        handler.setFormatter(JsonFormatter(PLAIN_FORMAT, static_fields=static))
        return {"log": _stdlib_logger("json", handler)}

    return Side("stdlib logging + python-json-logger", setup, STDLIB_CALL)


def _structlog_side() -> Side:
    def setup() -> Namespace:
        import structlog

        log = structlog.wrap_logger(
            structlog.WriteLogger(open(log_file("structlog"), "w")),  # noqa: SIM115 - kept open
            processors=[
                structlog.processors.add_log_level,
                structlog.processors.TimeStamper(fmt="iso"),
                structlog.processors.JSONRenderer(),
            ],
            wrapper_class=structlog.make_filtering_bound_logger(logging.INFO),
        )
        return {"log": log.bind(logger="bench", hostname=platform.node(), **ENRICHMENT)}

    return Side("structlog JSONRenderer", setup, LOG_CALL)


def _picologging_side() -> Side:
    def setup() -> Namespace:
        import picologging

        handler = picologging.FileHandler(log_file("picologging"))
        handler.setFormatter(picologging.Formatter(PLAIN_FORMAT))
        log = picologging.getLogger("ferrotel.bench.plain")
        for old in list(log.handlers):
            log.removeHandler(old)
        log.addHandler(handler)
        log.setLevel(picologging.INFO)
        return {"log": log}

    return Side("picologging", setup, 'log.info("user logged in")')


def _bridge_side() -> Side:
    def setup() -> Namespace:
        from ferrotel.logs import Handler

        _ferrotel_logs("bridge")
        return {"log": _stdlib_logger("bridge", Handler())}

    return Side("ferrotel", setup, STDLIB_CALL)


def _empty_function_side() -> Side:
    def setup() -> Namespace:
        def noop(message: str, **context: Any) -> None:
            pass

        return {"noop": noop}

    return Side("empty Python function", setup, 'noop("cache miss", key="k")')


CASES: list[Case] = [
    Case(
        "logs",
        "JSON line, 2 fields + enrichment, to a file",
        _ferrotel_log_side("json", LOG_CALL),
        _structlog_side(),
        requires=("structlog",),
    ),
    Case(
        "logs",
        "JSON line, 2 fields + enrichment, to a file",
        _ferrotel_log_side("json", LOG_CALL),
        _json_logger_side(),
        requires=("pythonjsonlogger",),
    ),
    Case(
        "logs",
        "plain line to a file",
        _ferrotel_log_side("plain", 'log.info("user logged in")', format="pretty"),
        _picologging_side(),
        requires=("picologging",),
    ),
    Case(
        "logs",
        "stdlib logging call through ferrotel's Handler, JSON to a file",
        _bridge_side(),
        _json_logger_side(),
        requires=("pythonjsonlogger",),
    ),
    Case(
        "logs",
        "filtered-out call (debug below info)",
        _ferrotel_log_side("filtered", 'log.debug("cache miss", key="k")'),
        _empty_function_side(),
        number=200_000,
    ),
]
