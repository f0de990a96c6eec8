"""The HTTP middlewares on real frameworks (Starlette, FastAPI, Flask, Django) through their
test clients: metrics with the route template as ``path``, a server span continuing the
caller's trace, response headers, streaming and failing handlers."""

from __future__ import annotations

import contextvars
import json
import sys
import types
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import ferrotel
import pytest
from ferrotel.middleware import ASGIMiddleware, WSGIMiddleware
from ferrotel.tracing import InMemorySpanExporter, configure
from prometheus_client.openmetrics.parser import text_string_to_metric_families
from starlette.middleware import Middleware

# fast, and the whole module: part of the wheel smoke run (scripts/test-wheels.sh on 3.10-3.12)
pytestmark = pytest.mark.wheel_smoke

CALLER_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
CALLER_SPAN = "00f067aa0ba902b7"
TRACEPARENT = f"00-{CALLER_TRACE}-{CALLER_SPAN}-01"


@pytest.fixture
def log_file(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "requests.log"
    ferrotel.logs.configure(console=False, file=str(path))
    yield path
    ferrotel.logs.configure(console=False)


@pytest.fixture
def spans(log_file: Path) -> Iterator[InMemorySpanExporter]:
    memory = InMemorySpanExporter()
    configure(service_name="middleware-test", exporters=[memory])
    yield memory
    configure(exporters=[])


def request_log_lines(path: Path) -> list[dict[str, Any]]:
    assert ferrotel.flush(10)
    lines = [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []
    return [line for line in lines if line["message"] == "request"]


# --- apps ----------------------------------------------------------------------------------------


def starlette_app(registry: ferrotel.Registry) -> Any:
    from starlette.applications import Starlette
    from starlette.middleware import Middleware
    from starlette.responses import JSONResponse, PlainTextResponse, StreamingResponse
    from starlette.routing import Mount, Route

    async def song(request: Any) -> Any:
        return JSONResponse({"song": request.path_params["song_id"]})

    async def stream(request: Any) -> Any:
        async def chunks() -> Any:
            for i in range(3):
                yield f"chunk {i}\n"

        return StreamingResponse(chunks())

    async def boom(request: Any) -> Any:
        raise RuntimeError("handler failed")

    async def health(request: Any) -> Any:
        return PlainTextResponse("ok")

    routes = [
        Route("/songs/{song_id:int}", song),
        Route("/stream", stream),
        Route("/boom", boom),
        Route("/health", health),
        Mount("/api", routes=[Route("/songs/{song_id}", song)]),
    ]
    return Starlette(routes=routes, middleware=[Middleware(ASGIMiddleware, registry=registry)])


def fastapi_app(registry: ferrotel.Registry) -> Any:
    from fastapi import APIRouter, FastAPI
    from fastapi.responses import StreamingResponse

    app = FastAPI()
    app.add_middleware(ASGIMiddleware, registry=registry)
    router = APIRouter(prefix="/api")

    @app.get("/songs/{song_id}")
    async def song(song_id: int) -> dict[str, int]:
        return {"song": song_id}

    @router.get("/songs/{song_id}")
    async def api_song(song_id: str) -> dict[str, str]:
        return {"song": song_id}

    @app.get("/stream")
    async def stream() -> Any:
        async def chunks() -> Any:
            for i in range(3):
                yield f"chunk {i}\n"

        return StreamingResponse(chunks())

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("handler failed")

    @app.get("/health")
    async def health() -> str:
        return "ok"

    app.include_router(router)
    return app


def flask_app(registry: ferrotel.Registry) -> Any:
    from flask import Flask, Response

    app = Flask("middleware_test")

    @app.get("/songs/<int:song_id>")
    def song(song_id: int) -> dict[str, int]:
        return {"song": song_id}

    @app.get("/api/songs/<song_id>")
    def api_song(song_id: str) -> dict[str, str]:
        return {"song": song_id}

    @app.get("/stream")
    def stream() -> Response:
        return Response((f"chunk {i}\n" for i in range(3)), mimetype="text/plain")

    @app.get("/boom")
    def boom() -> None:
        raise RuntimeError("handler failed")

    @app.get("/health")
    def health() -> str:
        return "ok"

    app.config["PROPAGATE_EXCEPTIONS"] = True
    app.wsgi_app = WSGIMiddleware(app.wsgi_app, registry=registry)  # type: ignore[method-assign]
    return app


def django_app(registry: ferrotel.Registry) -> Any:
    import django
    from django.conf import settings

    urls = types.ModuleType("ferrotel_test_urls")
    sys.modules["ferrotel_test_urls"] = urls
    if not settings.configured:
        settings.configure(
            DEBUG=False,
            ROOT_URLCONF="ferrotel_test_urls",
            ALLOWED_HOSTS=["*"],
            SECRET_KEY="test",
            MIDDLEWARE=[],
            INSTALLED_APPS=[],
        )
        django.setup()
    from django.http import HttpResponse, JsonResponse, StreamingHttpResponse
    from django.urls import path

    def song(request: Any, song_id: int) -> Any:
        return JsonResponse({"song": song_id})

    def stream(request: Any) -> Any:
        return StreamingHttpResponse(f"chunk {i}\n" for i in range(3))

    def boom(request: Any) -> Any:
        raise RuntimeError("handler failed")

    def health(request: Any) -> Any:
        return HttpResponse("ok")

    urls.urlpatterns = [  # type: ignore[attr-defined]
        path("songs/<int:song_id>", song),
        path("api/songs/<str:song_id>", song),
        path("stream", stream),
        path("boom", boom),
        path("health", health),
    ]
    from django.core.handlers.wsgi import WSGIHandler
    from django.urls import clear_url_caches

    clear_url_caches()
    return WSGIMiddleware(WSGIHandler(), registry=registry)


# --- one client interface over the frameworks' test clients ----------------------------------


class Response:
    def __init__(self, status: int, headers: dict[str, str], body: bytes) -> None:
        self.status = status
        self.headers = headers
        self.body = body


def asgi_client(app: Any) -> Callable[..., Response]:
    from starlette.testclient import TestClient

    client = TestClient(app, raise_server_exceptions=False)

    def get(path: str, headers: dict[str, str] | None = None) -> Response:
        r = client.get(path, headers=headers or {})
        return Response(r.status_code, {k.lower(): v for k, v in r.headers.items()}, r.content)

    return get


def wsgi_client(app: Any) -> Callable[..., Response]:
    from werkzeug.test import Client

    client = Client(app)

    def get(path: str, headers: dict[str, str] | None = None) -> Response:
        try:
            # buffered: the body is read and closed, as a WSGI server does
            r = client.get(path, headers=headers or {}, buffered=True)
        except RuntimeError:
            return Response(500, {}, b"")
        return Response(r.status_code, {k.lower(): v for k, v in r.headers.items()}, r.get_data())

    return get


FRAMEWORKS = {
    "starlette": (starlette_app, asgi_client, "/songs/{song_id}"),
    "fastapi": (fastapi_app, asgi_client, "/songs/{song_id}"),
    "flask": (flask_app, wsgi_client, "/songs/{song_id}"),
    "django": (django_app, wsgi_client, "/songs/{song_id}"),
}


@pytest.fixture(params=sorted(FRAMEWORKS))
def service(
    request: Any, spans: InMemorySpanExporter
) -> tuple[Callable[..., Response], ferrotel.Registry, str]:
    make_app, make_client, template = FRAMEWORKS[request.param]
    registry = ferrotel.Registry()
    return make_client(make_app(registry)), registry, template


def requests_total(registry: ferrotel.Registry, path: str, status: str) -> float | None:
    return registry.get_sample_value("http_requests_total", {"method": "GET", "path": path, "status": status})


def test_request_metrics_span_headers_and_log_line(
    service: Any, spans: InMemorySpanExporter, log_file: Path
) -> None:
    get, registry, template = service
    response = get("/songs/42", {"traceparent": TRACEPARENT, "x-request-id": "req-1"})
    get("/songs/43")
    assert response.status == 200
    assert requests_total(registry, template, "200") == 2.0
    assert (
        registry.get_sample_value(
            "http_requests_total", {"method": "GET", "path": "/songs/42", "status": "200"}
        )
        is None
    )
    assert registry.get_sample_value("http_request_duration_seconds_count") == 2.0
    assert registry.get_sample_value("http_requests_in_flight") == 0.0

    finished = [s for s in spans.get_finished_spans() if s["kind"] == "SERVER"]
    assert len(finished) == 2
    first = finished[0]
    assert first["name"] == f"GET {template}"
    assert first["trace_id"] == CALLER_TRACE
    assert first["parent_span_id"] == CALLER_SPAN
    assert first["attributes"]["http.route"] == template
    assert first["attributes"]["http.response.status_code"] == 200
    assert first["attributes"]["http.request.method"] == "GET"
    assert first["attributes"]["url.path"] == "/songs/42"
    assert first["attributes"]["url.scheme"] == "http"
    assert first["end_time"] >= first["start_time"]
    assert response.headers["x-trace-id"] == CALLER_TRACE
    assert response.headers["x-request-id"] == "req-1"
    assert finished[1]["parent_span_id"] is None
    assert len(get("/songs/44").headers["x-request-id"]) == 32  # made up when the caller sent none

    logged = request_log_lines(log_file)
    assert len(logged) == 3
    assert logged[0]["request_id"] == "req-1"
    assert logged[0]["path"] == template and logged[0]["status"] == 200 and logged[0]["method"] == "GET"
    assert logged[0]["trace.id"] == CALLER_TRACE
    assert logged[0]["span.id"] == first["span_id"]
    assert logged[0]["duration_ms"] >= 0


def test_exemplars_link_latency_to_the_trace(service: Any, spans: InMemorySpanExporter) -> None:
    get, registry, _ = service
    get("/songs/1", {"traceparent": TRACEPARENT})
    text = ferrotel.generate_openmetrics(registry).decode()
    exemplars = [
        s.exemplar
        for f in text_string_to_metric_families(text)
        if f.name == "http_request_duration_seconds"
        for s in f.samples
        if s.exemplar is not None
    ]
    assert [e.labels for e in exemplars] == [{"trace_id": CALLER_TRACE}]


def test_mounted_or_prefixed_routes_keep_the_full_template(service: Any) -> None:
    get, registry, _ = service
    assert get("/api/songs/abc").status == 200
    assert requests_total(registry, "/api/songs/{song_id}", "200") == 1.0


def test_streaming_response_is_measured_to_its_end(service: Any, spans: InMemorySpanExporter) -> None:
    get, registry, _ = service
    response = get("/stream")
    assert response.body == b"chunk 0\nchunk 1\nchunk 2\n"
    assert requests_total(registry, "/stream", "200") == 1.0
    (span,) = [s for s in spans.get_finished_spans() if s["kind"] == "SERVER"]
    assert span["name"] == "GET /stream"


def test_handler_exception_is_a_500_recorded_on_the_span(
    request: Any, service: Any, spans: InMemorySpanExporter
) -> None:
    get, registry, _ = service
    assert get("/boom").status == 500
    assert requests_total(registry, "/boom", "500") == 1.0
    (span,) = [s for s in spans.get_finished_spans() if s["kind"] == "SERVER"]
    assert span["status"] == "ERROR"
    assert registry.get_sample_value("http_requests_in_flight") == 0.0
    assert span["attributes"]["http.response.status_code"] == 500
    recorded = any(
        e["name"] == "exception" and "handler failed" in e["attributes"]["exception.message"]
        for e in span["events"]
    )
    # Django turns a handler's exception into a 500 response itself; the others let it reach
    # the middleware, which records it on the span and re-raises.
    assert recorded == (request.node.callspec.params["service"] != "django")


def test_unknown_paths_and_excluded_paths(service: Any, spans: InMemorySpanExporter) -> None:
    get, registry, _ = service
    assert get("/no/such/page/123").status == 404
    assert requests_total(registry, "unmatched", "404") == 1.0
    assert get("/health").status == 200
    assert requests_total(registry, "/health", "200") is None
    assert [s["name"] for s in spans.get_finished_spans() if s["kind"] == "SERVER"] == ["GET unmatched"]


def test_flask_rule_is_read_before_flask_drops_its_request(spans: InMemorySpanExporter) -> None:
    """Flask removes its request from the environ when its context ends, before the server
    closes the body; the rule must be the one Flask matched, for a route no other framework
    in the process could resolve."""
    from flask import Flask, Response

    app = Flask("rule_test")

    @app.get("/albums/<int:album_id>/tracks/<int:number>")
    def track(album_id: int, number: int) -> str:
        return "ok"

    @app.get("/albums/<int:album_id>/stream")
    def stream(album_id: int) -> Response:
        return Response((f"part {i}" for i in range(2)), mimetype="text/plain")

    registry = ferrotel.Registry()
    app.wsgi_app = WSGIMiddleware(app.wsgi_app, registry=registry)  # type: ignore[method-assign]
    get = wsgi_client(app)
    assert get("/albums/7/tracks/3").status == 200
    assert get("/albums/7/stream").body == b"part 0part 1"
    assert requests_total(registry, "/albums/{album_id}/tracks/{number}", "200") == 1.0
    assert requests_total(registry, "/albums/{album_id}/stream", "200") == 1.0
    assert requests_total(registry, "unmatched", "200") is None
    names = sorted(s["name"] for s in spans.get_finished_spans() if s["kind"] == "SERVER")
    assert names == ["GET /albums/{album_id}/stream", "GET /albums/{album_id}/tracks/{number}"]


def test_wsgi_app_can_name_its_route_and_bad_request_ids_are_replaced(spans: InMemorySpanExporter) -> None:
    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        environ["ferrotel.route"] = "/items/<int:item_id>"
        start_response("201 Created", [("content-type", "text/plain")])
        return [b"made"]

    registry = ferrotel.Registry()
    get = wsgi_client(WSGIMiddleware(app, registry=registry))
    response = get("/items/5", {"x-request-id": "bad id with spaces"})
    assert response.status == 201 and response.body == b"made"
    assert response.headers["content-type"] == "text/plain"
    assert len(response.headers["x-request-id"]) == 32 and " " not in response.headers["x-request-id"]
    assert requests_total(registry, "/items/{item_id}", "201") == 1.0


def test_a_scope_that_cannot_be_recorded_is_served_and_counted() -> None:
    """Telemetry never fails the application: an ASGI scope that is not a dict is served
    unrecorded, and the miss is counted in ferrotel's own metrics."""
    import asyncio
    from collections import UserDict

    served = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        served.append(scope["path"])

    def dropped() -> float:
        value = ferrotel.REGISTRY.get_sample_value(
            "ferrotel_dropped_total", {"signal": "http", "reason": "unrecordable_request"}
        )
        return value or 0.0

    before = dropped()
    middleware = ASGIMiddleware(app, registry=ferrotel.Registry())
    scope = UserDict({"type": "http", "path": "/odd", "method": "GET", "headers": []})
    asyncio.run(middleware(scope, None, None))  # type: ignore[arg-type]
    assert served == ["/odd"]
    assert dropped() == before + 1


def test_starlette_mount_with_parameters_keeps_the_template(spans: InMemorySpanExporter) -> None:
    """A Mount's parameters are part of the template: one series for every user, never one per
    user (Starlette leaves the Mount's concrete prefix in root_path)."""
    from starlette.applications import Starlette
    from starlette.responses import PlainTextResponse
    from starlette.routing import Mount, Route

    async def profile(request: Any) -> Any:
        return PlainTextResponse(f"user {request.path_params['uid']}")

    async def song(request: Any) -> Any:
        return PlainTextResponse("song")

    registry = ferrotel.Registry()
    mounted = Mount("/users/{uid}", routes=[Route("/profile", profile), Route("/songs/{song_id}", song)])
    app = Starlette(routes=[mounted], middleware=[Middleware(ASGIMiddleware, registry=registry)])
    get = asgi_client(app)
    assert get("/users/42/profile").body == b"user 42"
    assert get("/users/7/profile").status == 200
    assert get("/users/7/songs/9").status == 200
    assert requests_total(registry, "/users/{uid}/profile", "200") == 2.0
    assert requests_total(registry, "/users/{uid}/songs/{song_id}", "200") == 1.0
    paths = {
        s.labels["path"]
        for m in registry.collect()
        if m.name == "http_requests"
        for s in m.samples
        if "path" in s.labels
    }
    assert paths == {"/users/{uid}/profile", "/users/{uid}/songs/{song_id}"}


# --- WSGI protocol corners, on a plain WSGI app ------------------------------------------------


def serve_wsgi(app: Any, path: str = "/x") -> tuple[list[Any], list[bytes], Any]:
    """Serves one request as a WSGI server does: start_response calls seen, the chunks, and
    the body object (closed)."""
    import io

    calls: list[Any] = []
    written: list[bytes] = []

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        calls.append((status, dict(headers), exc_info))
        return written.append

    environ = {
        "REQUEST_METHOD": "GET",
        "PATH_INFO": path,
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(b""),
        "wsgi.errors": io.StringIO(),
    }
    body = app(environ, start_response)
    try:
        chunks = list(body)
    finally:
        body.close()
    return calls, written + chunks, body


def test_wsgi_generator_app_that_starts_the_response_lazily(spans: InMemorySpanExporter) -> None:
    closed: list[bool] = []

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        def body() -> Any:
            environ["ferrotel.route"] = "/lazy"
            write = start_response("202 Accepted", [("content-type", "text/plain")])
            write(b"written ")
            try:
                yield b"yielded"
            finally:
                closed.append(True)

        return body()

    registry = ferrotel.Registry()
    calls, chunks, _ = serve_wsgi(WSGIMiddleware(app, registry=registry))
    assert [c[0] for c in calls] == ["202 Accepted"]
    assert len(calls[0][1]["x-trace-id"]) == 32
    assert chunks == [b"written ", b"yielded"]
    assert closed == [True]
    assert requests_total(registry, "/lazy", "202") == 1.0
    assert registry.get_sample_value("http_requests_in_flight") == 0.0


def test_wsgi_exc_info_restart_and_body_close_called_once(spans: InMemorySpanExporter) -> None:
    closes: list[int] = []

    class Body:
        def __iter__(self) -> Any:
            return iter([b"sorry"])

        def close(self) -> None:
            closes.append(1)

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        try:
            raise ValueError("late failure")
        except ValueError:
            start_response("200 OK", [])
            start_response("503 Service Unavailable", [], sys.exc_info())
        return Body()

    registry = ferrotel.Registry()
    calls, chunks, body = serve_wsgi(WSGIMiddleware(app, registry=registry))
    assert [c[0] for c in calls] == ["200 OK", "503 Service Unavailable"]
    assert calls[1][2][0] is ValueError  # exc_info passed through to the server
    assert chunks == [b"sorry"]
    body.close()  # a second close: the body is closed and the request counted once
    assert closes == [1]
    assert requests_total(registry, "unmatched", "503") == 1.0
    (span,) = [s for s in spans.get_finished_spans() if s["kind"] == "SERVER"]
    assert span["status"] == "ERROR"


def test_wsgi_start_response_by_keyword_and_misuse(spans: InMemorySpanExporter) -> None:
    """The start_response the app gets is native; it takes its arguments as PEP 3333 names
    them, by position or keyword, and refuses a wrong call as a Python function would."""
    seen: list[str] = []

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        for bad_args, bad_kwargs, message in [
            ((), {}, "missing argument 'status'"),
            (("200 OK",), {}, "missing argument 'headers'"),
            (("200 OK", [], None, None), {}, "at most 3 arguments"),
            (("200 OK", []), {"colour": 1}, "unexpected keyword argument 'colour'"),
            (("200 OK", []), {"status": "201 Created"}, "multiple values for argument 'status'"),
        ]:
            with pytest.raises(TypeError, match=message):
                start_response(*bad_args, **bad_kwargs)
            seen.append(message)
        start_response(status="201 Created", headers=[("content-type", "text/plain")], exc_info=None)
        return [b"made"]

    registry = ferrotel.Registry()
    calls, chunks, _ = serve_wsgi(WSGIMiddleware(app, registry=registry))
    assert len(seen) == 5
    assert [c[0] for c in calls] == ["201 Created"]
    assert calls[0][1]["content-type"] == "text/plain"
    assert len(calls[0][1]["x-request-id"]) == 32
    assert chunks == [b"made"]
    assert requests_total(registry, "unmatched", "201") == 1.0


def test_wsgi_middleware_calls_and_subclasses(spans: InMemorySpanExporter) -> None:
    """The middleware is called natively (vectorcall); by keyword too, a wrong call refused, and
    a subclass's own __call__ (which may call the base's) still runs."""

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        environ["ferrotel.route"] = "/sub"
        start_response("200 OK", [])
        return [b"ok"]

    registry = ferrotel.Registry()
    middleware = WSGIMiddleware(app, registry=registry)
    calls, chunks, _ = serve_wsgi(
        lambda environ, start_response: middleware(environ=environ, start_response=start_response)
    )
    assert chunks == [b"ok"] and calls[0][0] == "200 OK"
    with pytest.raises(TypeError, match="missing argument 'start_response'"):
        middleware({})
    with pytest.raises(TypeError, match="at most 2 arguments"):
        middleware({}, None, None)

    seen: list[str] = []

    class Audited(WSGIMiddleware):
        def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
            seen.append(environ["PATH_INFO"])
            return super().__call__(environ, start_response)

    class Plain(WSGIMiddleware):
        pass

    audited_registry, plain_registry = ferrotel.Registry(), ferrotel.Registry()
    _, audited_chunks, _ = serve_wsgi(Audited(app, registry=audited_registry), path="/a")
    _, plain_chunks, _ = serve_wsgi(Plain(app, registry=plain_registry), path="/p")
    assert audited_chunks == plain_chunks == [b"ok"]
    assert seen == ["/a"], "the subclass's own __call__ ran"
    assert requests_total(registry, "/sub", "200") == 1.0
    assert requests_total(audited_registry, "/sub", "200") == 1.0
    assert requests_total(plain_registry, "/sub", "200") == 1.0


def test_wsgi_app_raising_before_start_response(spans: InMemorySpanExporter) -> None:
    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        raise KeyError("no such thing")

    registry = ferrotel.Registry()
    with pytest.raises(KeyError):
        serve_wsgi(WSGIMiddleware(app, registry=registry))
    assert requests_total(registry, "unmatched", "500") == 1.0
    assert registry.get_sample_value("http_requests_in_flight") == 0.0
    assert ferrotel.current_span() is None
    (span,) = [s for s in spans.get_finished_spans() if s["kind"] == "SERVER"]
    assert any(e["name"] == "exception" for e in span["events"])


def test_wsgi_request_objects_are_freed_even_when_the_body_holds_start_response(
    spans: InMemorySpanExporter,
) -> None:
    """A body that keeps its start_response (PEP 3333's class-based app) makes a cycle with the
    middleware's exchange object; nothing may outlive the request."""
    import gc
    import weakref

    refs: list[Any] = []

    class App:
        def __init__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> None:
            self.start = start_response
            refs.append(weakref.ref(self))

        def __iter__(self) -> Any:
            self.start("200 OK", [])
            yield b"ok"

    middleware = WSGIMiddleware(App, registry=ferrotel.Registry())
    serve_wsgi(middleware)

    def never_closed() -> None:
        body = middleware({"REQUEST_METHOD": "GET", "PATH_INFO": "/y"}, lambda *a: None)
        list(body)

    # A server that never closes the body leaves the request's span current: in a context of
    # its own, so the rest of the tests keep theirs.
    contextvars.copy_context().run(never_closed)
    gc.collect()
    assert [r() for r in refs] == [None, None]
