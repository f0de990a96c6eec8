"""HTTP middleware cases: what ferrotel's middleware (metrics, a log line and a span per request)
adds to a bare Starlette or Flask app, against starlette_exporter and OpenTelemetry's ASGI and
WSGI middleware with the SDK. The apps are driven in-process, 200 requests per run."""

from __future__ import annotations

from typing import Any

from ._common import Case, Namespace, Side, log_file, otel_provider

REQUESTS_PER_RUN = 200


def _log_to_temp_file() -> None:
    """The middleware's request log lines go to a file in the bench's temporary directory
    (removed when the bench exits), the previous setup's file removed."""
    from .. import logs

    logs.configure(file=log_file("http"))


def starlette_side(kind: str) -> Side:
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

            app = OpenTelemetryMiddleware(app, tracer_provider=otel_provider())
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


def flask_side(kind: str) -> Side:
    """A bare Flask app called as WSGI, with ferrotel's WSGI middleware or OpenTelemetry's.
    ``benches/process_cpu.py`` times these apps too."""

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

            app = OpenTelemetryMiddleware(flask_app.wsgi_app, tracer_provider=otel_provider())
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


CASES: list[Case] = [
    Case(
        "http",
        "Starlette middleware vs starlette_exporter",
        starlette_side("ferrotel"),
        starlette_side("starlette_exporter"),
        number=5,
        baseline=starlette_side("bare"),
        per_stmt=REQUESTS_PER_RUN,
    ),
    Case(
        "http",
        "Starlette middleware vs OpenTelemetry ASGI",
        starlette_side("ferrotel"),
        starlette_side("opentelemetry"),
        number=5,
        baseline=starlette_side("bare"),
        per_stmt=REQUESTS_PER_RUN,
    ),
    Case(
        "http",
        "Flask WSGI middleware vs OpenTelemetry WSGI",
        flask_side("ferrotel"),
        flask_side("opentelemetry"),
        number=5,
        baseline=flask_side("bare"),
        per_stmt=REQUESTS_PER_RUN,
    ),
]
