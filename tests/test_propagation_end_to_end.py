"""Propagation end to end, through both middlewares, on loopback (issue #16).

A small service receives a request's headers and calls onward inside a client span: Starlette
behind the ASGI middleware under uvicorn, and Flask behind the WSGI middleware under werkzeug's
server. Each case sends header lines as a client would (repeated names as separate lines) and
checks what arrives onward. The cases follow the text of W3C Trace Context (the Recommendation
and the Level 2 draft), B3 and W3C Baggage, quoted beside them.
"""

from __future__ import annotations

import asyncio
import http.client
import socket
import threading
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import ferrotel
import pytest
from ferrotel import propagation
from ferrotel.middleware import ASGIMiddleware, WSGIMiddleware
from helpers import LOOPBACK, LoopbackReceiver, wait_until

T1, S1 = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
T2, S2 = "0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331"
Lines = list[tuple[str, "str | bytes"]]


def tp(trace_id: str = T1, span_id: str = S1, flags: str = "01") -> str:
    return f"00-{trace_id}-{span_id}-{flags}"


@contextmanager
def client_span(baggage_lines: list[str]) -> Iterator[dict[str, str]]:
    """The handler's onward call: a client span, current, and the headers injected inside it."""
    baggage = propagation.extract_baggage({"baggage": baggage_lines}) if baggage_lines else {}
    with propagation.baggage(**baggage), ferrotel.get_tracer("onward").span("onward", kind="client"):
        headers: dict[str, str] = {}
        propagation.inject(headers)
        yield headers


def send_onward(url: str, headers: dict[str, str]) -> None:
    urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=10).read()


def starlette_service(url: str) -> Iterator[int]:
    import uvicorn
    from starlette.applications import Starlette
    from starlette.middleware import Middleware
    from starlette.responses import PlainTextResponse
    from starlette.routing import Route

    async def call(request):
        with client_span(request.headers.getlist("baggage")) as headers:
            await asyncio.to_thread(send_onward, url, headers)
        return PlainTextResponse("ok")

    middleware = Middleware(ASGIMiddleware, registry=ferrotel.Registry(), log_requests=False)
    app = Starlette(routes=[Route("/call", call)], middleware=[middleware])
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    sock = socket.socket()
    sock.bind((LOOPBACK, 0))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    wait_until(lambda: server.started, what="uvicorn to start")
    yield sock.getsockname()[1]
    server.should_exit = True
    thread.join(10)


def flask_service(url: str) -> Iterator[int]:
    from flask import Flask, request
    from werkzeug.serving import make_server

    app = Flask("propagation_end_to_end")

    @app.get("/call")
    def call() -> str:
        # werkzeug's server joins repeated lines with commas, as WSGI servers do.
        baggage = request.headers.get("baggage")
        with client_span([baggage] if baggage is not None else []) as headers:
            send_onward(url, headers)
        return "ok"

    app.wsgi_app = WSGIMiddleware(  # type: ignore[method-assign]
        app.wsgi_app, registry=ferrotel.Registry(), log_requests=False
    )
    server = make_server(LOOPBACK, 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield server.server_port
    server.shutdown()
    thread.join(10)


SERVICES = {"asgi": starlette_service, "wsgi": flask_service}


@pytest.fixture(scope="module", params=sorted(SERVICES))
def service(request) -> Iterator[tuple[str, Callable[[Lines], dict[str, str]]]]:
    """``(kind, send)``: ``send(lines)`` makes one request and returns the onward headers."""
    with LoopbackReceiver() as receiver:
        ports = SERVICES[request.param](receiver.url("/onward"))
        port = next(ports)

        def send(lines: Lines) -> dict[str, str]:
            before = len(receiver.snapshot())
            conn = http.client.HTTPConnection(LOOPBACK, port, timeout=10)
            try:
                conn.putrequest("GET", "/call", skip_accept_encoding=True)
                for name, value in lines:
                    conn.putheader(name, value)
                conn.endheaders()
                response = conn.getresponse()
                assert response.status == 200, response.read()
                response.read()
            finally:
                conn.close()
            return receiver.snapshot()[before].headers

        yield request.param, send
        next(ports, None)


@pytest.fixture(autouse=True)
def propagators(memory_exporter):
    propagation.set_propagators(["tracecontext", "baggage", "b3"])


def parse(traceparent: str) -> tuple[str, str, str, str]:
    version, trace_id, span_id, flags = traceparent.split("-")
    return version, trace_id, span_id, flags


# --- traceparent -------------------------------------------------------------------------------


def test_traceparent_and_tracestate_are_passed_on(service):
    """ "A vendor receiving a traceparent request header MUST send it to outgoing requests. It MAY
    mutate the value [...] Update parent-id"; "Vendors receiving a tracestate request header MUST
    send it to outgoing requests." """
    _, send = service
    onward = send([("traceparent", tp()), ("tracestate", "congo=t61rcWkgMzE")])
    version, trace_id, span_id, flags = parse(onward["traceparent"])
    assert (version, trace_id, flags) == ("00", T1, "01")
    assert span_id not in (S1, "0" * 16)
    assert onward["tracestate"] == "congo=t61rcWkgMzE"


@pytest.mark.parametrize(
    ("incoming", "passed_on"),
    [
        ("03", "03"),  # Level 2: sampled and random, kept
        ("02", "02"),  # random, not sampled: the parent-based sampler follows the caller
        ("01", "01"),  # no random flag: the trace id is the caller's, not known to be random
        ("00", "00"),
        ("ff", "03"),  # "other flags [...] reserved for future use. Vendors MUST set those to zero"
        ("09", "01"),
    ],
)
def test_trace_flags_and_the_level_2_random_flag(service, incoming, passed_on):
    _, send = service
    onward = send([("traceparent", tp(flags=incoming))])
    assert parse(onward["traceparent"])[1::2] == (T1, passed_on)


def test_a_trace_ferrotel_starts_sets_the_random_flag(service):
    """Level 2: the random flag says the trace id's right-most 7 bytes are random; ferrotel's
    trace ids are wholly random."""
    _, send = service
    first = parse(send([])["traceparent"])
    second = parse(send([("traceparent", "garbage")])["traceparent"])
    assert first[3] == second[3] == "03"
    assert first[1] != second[1]


def test_two_traceparent_lines_restart_the_trace(service):
    """traceparent is a single value: two lines cannot be combined into a valid one. "If the
    vendor failed to parse traceparent, it MUST NOT attempt to parse tracestate." """
    _, send = service
    onward = send([("traceparent", tp()), ("traceparent", tp(T2, S2)), ("tracestate", "rojo=1")])
    assert parse(onward["traceparent"])[1] not in (T1, T2)
    assert "tracestate" not in onward


def test_optional_whitespace_is_spaces_and_tabs_only(service):
    """HTTP's optional whitespace around a field value is space and tab; a no-break space (here
    as the server decodes it: UTF-8 for ASGI, Latin-1 for WSGI) is part of the value, which is
    then invalid."""
    kind, send = service
    assert parse(send([("traceparent", f" \t{tp()}\t ")])["traceparent"])[1] == T1
    nbsp = "\u00a0".encode() if kind == "asgi" else b"\xa0"
    assert parse(send([("traceparent", nbsp + tp().encode())])["traceparent"])[1] != T1


# --- tracestate ----------------------------------------------------------------------------------


def members(n: int, start: int = 0, width: int = 16) -> list[str]:
    """``n`` members of ``width + 4`` characters."""
    return [f"k{i:02d}={'v' * width}" for i in range(start, start + n)]


TRACESTATE_CASES = {
    # "Multiple tracestate header fields MUST be handled as specified by RFC7230 Section 3.2.2"
    # (combined with commas), and "Empty and whitespace-only list members are allowed."
    "empty first line": (["", "rojo=00f067aa0ba902b7"], "rojo=00f067aa0ba902b7"),
    "three lines": (["a=1", "b=2", "c=3"], "a=1,b=2,c=3"),
    "32 members over four lines": (
        [",".join(members(8, i, width=1)) for i in (0, 8, 16, 24)],
        ",".join(members(32, width=1)),
    ),
    # "A key [...] contain[s] up to 256 characters"
    "a long key on the second line": (["congo=t61", f"{'k' * 250}=v"], f"congo=t61,{'k' * 250}=v"),
    # The current key grammar: a digit may start a key, and @ is a key character.
    "current key grammar": (["1vendor=v,tenant@1sys=w"], "1vendor=v,tenant@1sys=w"),
    # An invalid member is dropped alone; a key is kept once, its first entry.
    "invalid member": (["Bad=1,rojo=1,x=a=b,congo=2"], "rojo=1,congo=2"),
    "duplicate key": (["rojo=1,congo=2", "rojo=3"], "rojo=1,congo=2"),
    # "There can be a maximum of 32 list-members": the rest are removed from the end.
    "over 32 members": ([",".join(members(40, width=1))], ",".join(members(32, width=1))),
    # "the vendor MUST truncate whole entries. Entries larger than 128 characters long SHOULD be
    # removed first. Then entries SHOULD be removed starting from the end"
    "over 512 characters, long entry first": (
        [members(1)[0], f"long={'x' * 150}", ",".join(members(19, 1))],
        ",".join(members(20)),
    ),
    "over 512 characters, then from the end": ([",".join(members(30))], ",".join(members(24))),
}


@pytest.mark.parametrize("case", sorted(TRACESTATE_CASES))
def test_tracestate_lines_members_and_limits(service, case):
    _, send = service
    lines, passed_on = TRACESTATE_CASES[case]
    onward = send([("traceparent", tp()), *(("tracestate", line) for line in lines)])
    assert onward.get("tracestate") == passed_on
    assert len(passed_on) <= 512


# --- B3 and baggage ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("state", "continued", "sampled"),
    [("1", True, "1"), ("d", True, "1"), ("0", True, "0"), ("true", False, None), ("false", False, None)],
)
def test_b3_single_header_sampling_states(service, state, continued, sampled):
    """b3 single header: "SamplingState [...] 1 [...] 0 [...] d"; true and false belong to the
    old X-B3-Sampled header only."""
    _, send = service
    onward = send([("b3", f"{T1}-{S1}-{state}")])
    trace_id, span_id, onward_state = onward["b3"].split("-")
    assert (trace_id == T1) == continued
    if sampled is not None:
        assert onward_state == sampled


@pytest.mark.parametrize(
    ("lines", "passed_on"),
    [
        (["a=1", "b=2"], "a=1,b=2"),  # repeated lines are one list
        (["sp=a%20b"], "sp=a%20b"),  # percent-encoded values are read and written back
        (["bad=a b,ok=1"], "ok=1"),  # "baggage-octet" excludes whitespace: that member is skipped
        (['q="x",ok=1'], "ok=1"),  # and DQUOTE
    ],
)
def test_baggage_members(service, lines, passed_on):
    _, send = service
    onward = send([("baggage", line) for line in lines])
    assert onward.get("baggage") == passed_on


def test_baggage_with_nul_or_controls_is_skipped():
    """Servers refuse a NUL in a header line; through the API, such a member is skipped."""
    assert propagation.extract_baggage({"baggage": "nul=a\x00b,tab=a\tb,ok=1"}) == {"ok": "1"}
