"""Overhead benchmarks: each operation timed for ferrotel and for the library it replaces, in
the same process, reported as ns per operation and the ratio (anchor / ferrotel).

    python -m ferrotel bench                  # the whole table
    python -m ferrotel bench --quick          # fewer repeats, for a quick look
    python -m ferrotel bench --signal logs    # one signal

The log cases compare against structlog, python-json-logger and picologging when they are
installed (``pip install ferrotel[test]``); cases whose anchor is missing are left out.

``benches/`` runs the same cases under pytest-benchmark.
"""

from __future__ import annotations

import argparse
import atexit
import importlib.util
import itertools
import logging
import math
import os
import platform
import sys
import tempfile
import timeit
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

Namespace = dict[str, Any]


@dataclass(frozen=True)
class Side:
    """One library's side of a case: ``setup()`` builds the objects ``stmt`` uses."""

    library: str
    setup: Callable[[], Namespace]
    stmt: str


@dataclass(frozen=True)
class Case:
    signal: str
    name: str
    ferrotel: Side
    anchor: Side
    #: how many times one timing runs ``stmt``; slow operations use fewer
    number: int = 20_000
    #: modules the anchor needs; the case is left out when one is not installed
    requires: tuple[str, ...] = ()

    @property
    def key(self) -> str:
        """Unique across CASES: one operation can be measured against several anchors."""
        return f"{self.name} vs {self.anchor.library}"

    @property
    def available(self) -> bool:
        return all(importlib.util.find_spec(module) is not None for module in self.requires)

    #: for costs added to something else (a middleware on an app): that something alone; the
    #: table then shows, and the ratio compares, what each side adds to it
    baseline: Side | None = None
    #: operations one run of ``stmt`` performs (requests served in a batch)
    per_stmt: int = 1


def _ferrotel_registry() -> Any:
    import ferrotel

    return ferrotel.Registry()


def _prom_registry() -> Any:
    import prometheus_client

    return prometheus_client.CollectorRegistry()


def _metric(library: str, kind: str, *args: Any, **kwargs: Any) -> Any:
    if library == "ferrotel":
        import ferrotel as lib

        kwargs.setdefault("registry", _ferrotel_registry())
    else:
        import prometheus_client as lib  # type: ignore[no-redef]

        kwargs.setdefault("registry", _prom_registry())
    return getattr(lib, kind)(*args, **kwargs)


def _metric_side(library: str, kind: str, stmt: str, *args: Any, **kwargs: Any) -> Side:
    def setup() -> Namespace:
        m = _metric(library, kind, *args, **kwargs)
        return {"m": m, "child": m.labels("GET", "/songs/{song_id}", "200") if m._labelnames else m}

    return Side(library, setup, stmt)


def _render_side(library: str) -> Side:
    def setup() -> Namespace:
        if library == "ferrotel":
            import ferrotel as lib

            registry = _ferrotel_registry()
        else:
            import prometheus_client as lib  # type: ignore[no-redef]

            registry = _prom_registry()
        counters = [
            lib.Counter(f"requests_{i}_total", "Requests", ["method", "path", "status"], registry=registry)
            for i in range(10)
        ]
        for i, counter in enumerate(counters):
            for j in range(1_000):
                counter.labels("GET", f"/route/{j}", str(200 + i)).inc(j)
        histograms = lib.Histogram("latency_seconds", "Latency", ["route"], registry=registry)
        for j in range(1_000):
            histograms.labels(f"/route/{j}").observe(j / 1000)
        return {"generate_latest": lib.generate_latest, "registry": registry}

    return Side(library, setup, "generate_latest(registry)")


def _metric_case(name: str, kind: str, stmt: str, *args: Any, **kwargs: Any) -> Case:
    return Case(
        "metrics",
        name,
        _metric_side("ferrotel", kind, stmt, *args, **kwargs),
        _metric_side("prometheus_client", kind, stmt, *args, **kwargs),
    )


LABELS = ("method", "path", "status")
HTTP_BUCKETS = (0.1, 0.5, 1.0, 2.0, 5.0)

CASES: list[Case] = [
    _metric_case("Counter.inc()", "Counter", "m.inc()", "c_total", "c"),
    _metric_case(
        "labels(3 values).inc()",
        "Counter",
        "m.labels('GET', '/songs/{song_id}', '200').inc()",
        "l_total",
        "l",
        LABELS,
    ),
    _metric_case("kept child .inc()", "Counter", "child.inc()", "k_total", "k", LABELS),
    _metric_case(
        "Histogram.observe() 5 buckets", "Histogram", "m.observe(0.3)", "h5", "h", buckets=HTTP_BUCKETS
    ),
    _metric_case("Histogram.observe() default buckets", "Histogram", "m.observe(0.3)", "hd", "h"),
    _metric_case("Gauge.set()", "Gauge", "m.set(3.5)", "g", "g"),
    Case(
        "metrics",
        "render 10k counter series + 1k histograms",
        _render_side("ferrotel"),
        _render_side("prometheus_client"),
        number=3,
    ),
]


def _otel_provider(sampled: bool = True) -> Any:
    """The OpenTelemetry SDK's TracerProvider with a BatchSpanProcessor and an exporter that
    discards: the anchor side of every tracing and middleware case."""
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult
    from opentelemetry.sdk.trace.sampling import ALWAYS_OFF, ParentBased

    class Discard(SpanExporter):
        def export(self, spans: Any) -> SpanExportResult:
            return SpanExportResult.SUCCESS

    provider = TracerProvider(sampler=None if sampled else ParentBased(ALWAYS_OFF))
    provider.add_span_processor(BatchSpanProcessor(Discard()))
    _OTEL_PROVIDERS.append(provider)
    return provider


#: providers made by the current side's setup: shut down once it is timed, so their export
#: threads (which take the GIL) finish before the next side is timed
_OTEL_PROVIDERS: list[Any] = []


def _traces_side(library: str, stmt: str, sampled: bool = True) -> Side:
    """Spans through the whole pipeline: ferrotel's batch processor with a discarding exporter,
    against the OpenTelemetry SDK's BatchSpanProcessor with a discarding exporter."""

    def setup() -> Namespace:
        attrs = {"http.method": "GET", "http.route": "/songs/{song_id}", "http.status_code": 200}
        if library == "ferrotel":
            import ferrotel
            from ferrotel.tracing import DiscardSpanExporter, configure

            configure(
                service_name="bench",
                exporters=[DiscardSpanExporter()],
                sampler=None if sampled else "always_off",
            )
            tracer: Any = ferrotel.get_tracer("bench")

            def handler() -> None:
                pass

            handler = ferrotel.traced(tracer=tracer)(handler)

            return {"tracer": tracer, "attrs": attrs, "handler": handler}
        tracer = _otel_provider(sampled).get_tracer("bench")

        def otel_handler() -> None:
            pass

        otel_handler = tracer.start_as_current_span("handler")(otel_handler)

        return {"tracer": tracer, "attrs": attrs, "handler": otel_handler}

    if library != "ferrotel":
        stmt = stmt.replace("tracer.span(", "tracer.start_as_current_span(")
    return Side(library if library == "ferrotel" else "opentelemetry-sdk", setup, stmt)


def _trace_case(name: str, stmt: str, sampled: bool = True) -> Case:
    return Case(
        "traces",
        name,
        _traces_side("ferrotel", stmt, sampled),
        _traces_side("opentelemetry-sdk", stmt, sampled),
        number=5_000,
    )


def _backend_side(down: bool) -> Side:
    """A span with OTLP export to a backend that refuses connections, against the same span
    with an exporter that always succeeds: the application's cost must not change. Both are
    measured in their steady state: the dead backend's queue already full (later spans are
    dropped and counted), the healthy exporter keeping up."""

    def setup() -> Namespace:
        import ferrotel
        from ferrotel.tracing import DiscardSpanExporter, OTLPSpanExporter, configure

        exporter: Any = OTLPSpanExporter("http://127.0.0.1:9/v1/traces", timeout=1.0)
        configure(service_name="bench", exporters=[exporter if down else DiscardSpanExporter()])
        tracer = ferrotel.get_tracer("bench")
        for _ in range(5_000):
            with tracer.span("warm-up"):
                pass
        return {"tracer": tracer}

    library = "ferrotel, backend down" if down else "ferrotel, healthy exporter"
    return Side(library, setup, "with tracer.span('op'): pass")


CASES += [
    _trace_case("span context manager, 0 attributes", "with tracer.span('op'): pass"),
    _trace_case("span context manager, 3 attributes", "with tracer.span('op', attributes=attrs): pass"),
    _trace_case("two nested spans", "with tracer.span('a'):\n    with tracer.span('b'): pass"),
    _trace_case("@traced plain function", "handler()"),
    _trace_case("unsampled span", "with tracer.span('op'): pass", sampled=False),
    Case(
        "traces",
        "span while the OTLP backend is down",
        _backend_side(True),
        _backend_side(False),
        number=5_000,
    ),
]


# --- logs: every side writes to a file of its own in one temporary folder -------------------

_LOG_DIR: tempfile.TemporaryDirectory[str] | None = None
_LOG_FILES: dict[str, str] = {}
_LOG_SEQ = itertools.count()
ENRICHMENT = {"service": "music-api", "environment": "production", "version": "1.4.2"}
LOG_CALL = 'log.info("user logged in", user_id=42, path="/songs")'
STDLIB_CALL = 'log.info("user logged in", extra={"user_id": 42, "path": "/songs"})'
PLAIN_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"


def _remove_log_dir() -> None:
    """At exit: the log writers finish (they may still hold a file open) before their
    directory goes."""
    import ferrotel

    ferrotel.shutdown(5.0)
    if _LOG_DIR is not None:
        _LOG_DIR.cleanup()


def _log_file(side: str) -> str:
    """A new file for ``side``; the one its previous setup used is removed."""
    global _LOG_DIR
    if _LOG_DIR is None:
        _LOG_DIR = tempfile.TemporaryDirectory(prefix="ferrotel-bench-", ignore_cleanup_errors=True)
        atexit.register(_remove_log_dir)
    old = _LOG_FILES.get(side)
    if old is not None and os.path.exists(old):
        os.remove(old)
    _LOG_FILES[side] = path = os.path.join(_LOG_DIR.name, f"{side}-{next(_LOG_SEQ)}.log")
    return path


def _ferrotel_logs(side: str, format: str = "json", level: str = "info") -> Any:
    import ferrotel
    from ferrotel.logs import FileSink

    hostname = platform.node()
    # The queue holds a whole timing run, so every record timed is handed to the writer thread
    # (which writes it concurrently), none dropped.
    sink = FileSink(_log_file(side), max_size="1GB", max_queue=100_000)
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

        handler = logging.FileHandler(_log_file("python-json-logger"))
        static = {**ENRICHMENT, "hostname": platform.node()}
        handler.setFormatter(JsonFormatter(PLAIN_FORMAT, static_fields=static))
        return {"log": _stdlib_logger("json", handler)}

    return Side("stdlib logging + python-json-logger", setup, STDLIB_CALL)


def _structlog_side() -> Side:
    def setup() -> Namespace:
        import structlog

        log = structlog.wrap_logger(
            structlog.WriteLogger(open(_log_file("structlog"), "w")),  # noqa: SIM115 - kept open
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

        handler = picologging.FileHandler(_log_file("picologging"))
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


REQUESTS_PER_RUN = 200


def _log_to_temp_file() -> None:
    """The middleware's request log lines go to a file in the bench's temporary directory
    (removed when the bench exits), the previous setup's file removed."""
    from . import logs

    logs.configure(file=_log_file("http"))


def _starlette_side(kind: str) -> Side:
    """A bare Starlette app, driven in-process with 200 requests per run, with or without a
    middleware: ferrotel's full one (metrics, log line, span), starlette_exporter, or the
    OpenTelemetry ASGI middleware with the SDK and a batch processor."""

    def setup() -> Namespace:
        import asyncio

        from starlette.applications import Starlette
        from starlette.responses import PlainTextResponse
        from starlette.routing import Route

        async def song(request: Any) -> Any:
            return PlainTextResponse("ok")

        app: Any = Starlette(routes=[Route("/songs/{song_id}", song)])
        if kind == "ferrotel":
            import ferrotel
            from ferrotel.middleware import ASGIMiddleware
            from ferrotel.tracing import DiscardSpanExporter, configure

            configure(service_name="bench", exporters=[DiscardSpanExporter()])
            _log_to_temp_file()
            app.add_middleware(ASGIMiddleware, registry=ferrotel.Registry())
        elif kind == "starlette_exporter":
            from starlette_exporter import PrometheusMiddleware

            app.add_middleware(PrometheusMiddleware, group_paths=True)
        elif kind == "opentelemetry":
            from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware

            app = OpenTelemetryMiddleware(app, tracer_provider=_otel_provider())
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "GET",
            "scheme": "http",
            "path": "/songs/42",
            "raw_path": b"/songs/42",
            "query_string": b"",
            "root_path": "",
            "headers": [(b"host", b"127.0.0.1"), (b"user-agent", b"bench")],
            "client": ("127.0.0.1", 50000),
            "server": ("127.0.0.1", 8000),
        }

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message: Any) -> None:
            pass

        async def serve(n: int) -> None:
            for _ in range(n):
                await app(dict(scope), receive, send)

        loop = asyncio.new_event_loop()
        return {"loop": loop, "serve": serve, "n": REQUESTS_PER_RUN}

    return Side(kind, setup, "loop.run_until_complete(serve(n))")


def _flask_side(kind: str) -> Side:
    """A bare Flask app called as WSGI, with ferrotel's WSGI middleware or OpenTelemetry's."""

    def setup() -> Namespace:
        import io

        from flask import Flask

        flask_app = Flask("bench")

        @flask_app.get("/songs/<int:song_id>")
        def song(song_id: int) -> str:
            return "ok"

        app: Any = flask_app.wsgi_app
        if kind == "ferrotel":
            import ferrotel
            from ferrotel.middleware import WSGIMiddleware
            from ferrotel.tracing import DiscardSpanExporter, configure

            configure(service_name="bench", exporters=[DiscardSpanExporter()])
            _log_to_temp_file()
            app = WSGIMiddleware(flask_app.wsgi_app, registry=ferrotel.Registry())
        elif kind == "opentelemetry":
            from opentelemetry.instrumentation.wsgi import OpenTelemetryMiddleware

            app = OpenTelemetryMiddleware(flask_app.wsgi_app, tracer_provider=_otel_provider())
        environ = {
            "REQUEST_METHOD": "GET",
            "PATH_INFO": "/songs/42",
            "SCRIPT_NAME": "",
            "QUERY_STRING": "",
            "SERVER_NAME": "127.0.0.1",
            "SERVER_PORT": "8000",
            "SERVER_PROTOCOL": "HTTP/1.1",
            "HTTP_HOST": "127.0.0.1",
            "wsgi.url_scheme": "http",
            "wsgi.input": io.BytesIO(b""),
            "wsgi.errors": io.StringIO(),
            "wsgi.version": (1, 0),
            "wsgi.multithread": False,
            "wsgi.multiprocess": False,
            "wsgi.run_once": False,
        }

        def start_response(status: str, headers: Any, exc_info: Any = None) -> Any:
            return None

        def serve(n: int) -> None:
            for _ in range(n):
                body = app(dict(environ), start_response)
                for _chunk in body:
                    pass
                close = getattr(body, "close", None)
                if close is not None:
                    close()

        return {"serve": serve, "n": REQUESTS_PER_RUN}

    return Side(kind, setup, "serve(n)")


CASES += [
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


CASES += [
    Case(
        "http",
        "Starlette middleware vs starlette_exporter",
        _starlette_side("ferrotel"),
        _starlette_side("starlette_exporter"),
        number=5,
        baseline=_starlette_side("bare"),
        per_stmt=REQUESTS_PER_RUN,
    ),
    Case(
        "http",
        "Starlette middleware vs OpenTelemetry ASGI",
        _starlette_side("ferrotel"),
        _starlette_side("opentelemetry"),
        number=5,
        baseline=_starlette_side("bare"),
        per_stmt=REQUESTS_PER_RUN,
    ),
    Case(
        "http",
        "Flask WSGI middleware vs OpenTelemetry WSGI",
        _flask_side("ferrotel"),
        _flask_side("opentelemetry"),
        number=5,
        baseline=_flask_side("bare"),
        per_stmt=REQUESTS_PER_RUN,
    ),
]


def time_side(side: Side, number: int, repeat: int) -> float:
    """Best of ``repeat`` timings of ``number`` runs of the statement, in ns per run."""
    namespace = side.setup()
    timer = timeit.Timer(side.stmt, globals=namespace)
    timer.timeit(max(1, number // 10))
    best = min(timer.repeat(repeat=repeat, number=number)) / number * 1e9
    shutdown_anchors()
    return best


def shutdown_anchors() -> None:
    """Shuts down the OpenTelemetry providers the last setup made (their export threads)."""
    while _OTEL_PROVIDERS:
        _OTEL_PROVIDERS.pop().shutdown()


@dataclass(frozen=True)
class Row:
    case: Case
    ferrotel_ns: float
    anchor_ns: float
    baseline_ns: float = 0.0

    @property
    def ratio(self) -> float:
        """NaN when ferrotel's side came out no slower than the bare app: the run's noise was
        larger than what ferrotel adds, and no ratio can be read from it."""
        added = self.ferrotel_ns - self.baseline_ns
        if added <= 0:
            return math.nan
        return (self.anchor_ns - self.baseline_ns) / added


#: Timings per setup for the cases that subtract a bare app's timing.
ADDED_TIMINGS = 5


def run(cases: list[Case], repeat: int = 7) -> list[Row]:
    rows = []
    for case in cases:
        # Interleave the sides so drift on a shared machine hits them alike.
        f_times, a_times, b_times = [], [], []
        # A cost added to an app is the difference of two timings of the app (~40 µs a request
        # for Flask), a few µs out of it: a stray slow or fast best of the bare app moves it by
        # as much. So these take twice the repeats, each the best of five timings of one setup.
        rounds, inner = (repeat * 2, ADDED_TIMINGS) if case.baseline is not None else (repeat, 1)
        for _ in range(rounds):
            f_times.append(time_side(case.ferrotel, case.number, inner) / case.per_stmt)
            a_times.append(time_side(case.anchor, case.number, inner) / case.per_stmt)
            if case.baseline is not None:
                b_times.append(time_side(case.baseline, case.number, inner) / case.per_stmt)
        rows.append(Row(case, min(f_times), min(a_times), min(b_times) if b_times else 0.0))
    return rows


def _fmt_ns(ns: float) -> str:
    return f"{ns / 1e6:,.2f} ms" if ns >= 1e6 else f"{ns:,.1f} ns"


def _fmt_ratio(ratio: float) -> str:
    return "n/a (noise)" if math.isnan(ratio) else f"{ratio:.1f}×"


def table(rows: list[Row]) -> str:
    lines = [
        "| signal | operation | ferrotel | anchor | anchor library | ratio |",
        "| --- | --- | ---: | ---: | --- | ---: |",
    ]
    for r in rows:
        f_ns, a_ns, name = r.ferrotel_ns, r.anchor_ns, r.case.name
        if r.case.baseline is not None:
            f_ns, a_ns = f_ns - r.baseline_ns, a_ns - r.baseline_ns
            name = f"{name} (added to {_fmt_ns(r.baseline_ns)} per request)"
        library = r.case.anchor.library
        lines.append(
            f"| {r.case.signal} | {name} | {_fmt_ns(f_ns)} | {_fmt_ns(a_ns)} | {library}"
            f" | {_fmt_ratio(r.ratio)} |"
        )
    return "\n".join(lines)


def machine() -> str:
    import os

    return (
        f"Python {platform.python_version()} ({platform.python_implementation()}), "
        f"{platform.system()} {platform.machine()}, {os.cpu_count()} CPUs"
    )


def _dropped_logs() -> float:
    """Log records dropped so far: a timed log call must have handed its record to the writer."""
    import ferrotel

    return sum(
        s.value
        for m in ferrotel.REGISTRY.collect()
        if m.name == "ferrotel_dropped"
        for s in m.samples
        if s.name.endswith("_total") and s.labels.get("signal") == "logs"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ferrotel bench", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats")
    parser.add_argument("--signal", choices=sorted({c.signal for c in CASES}), help="only this signal")
    args = parser.parse_args(argv)
    cases = [c for c in CASES if args.signal in (None, c.signal)]
    for case in cases:
        if not case.available:
            print(f"left out {case.name!r}: needs {', '.join(case.requires)}", file=sys.stderr)
    cases = [c for c in cases if c.available]
    dropped_before = _dropped_logs()
    reps = 3 if args.quick else 7
    rows = run(cases, repeat=reps)
    dropped = _dropped_logs() - dropped_before
    print(f"ferrotel overhead benchmark — {machine()}")
    print(
        f"best of {reps} interleaved repeats ({2 * reps}, of {ADDED_TIMINGS} timings each, for costs"
        " added to an app), ns per operation;"
        " ratio = anchor / ferrotel\n"
    )
    print(table(rows))
    if "traces" in {c.signal for c in cases}:
        from ._core import _otlp_encode_rate

        rate = max(_otlp_encode_rate() for _ in range(3))
        print(f"\nOTLP exporter thread: encodes {rate:,.0f} spans/s (protobuf, 512-span requests)")
    if dropped:
        print(f"\nWARNING: {dropped:.0f} log records were dropped: not every timed call handed one over")
    return 0


if __name__ == "__main__":
    sys.exit(main())
