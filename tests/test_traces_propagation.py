"""Context propagation: W3C Trace Context (+ tracestate), W3C Baggage, B3 single and multi
header. Round trips in every format; malformed headers are ignored and never raise."""

from __future__ import annotations

from collections.abc import Iterator, Mapping

import ferrotel
import pytest
from ferrotel import propagation, tracing

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
SPAN_ID = "00f067aa0ba902b7"
TRACEPARENT = f"00-{TRACE_ID}-{SPAN_ID}-01"


@pytest.fixture
def propagators(memory_exporter):
    """``propagators(*names)`` switches the process-wide propagators (reset after the test)."""

    def use(*names: str) -> None:
        propagation.set_propagators(list(names))

    return use


# --- round trips -----------------------------------------------------------------------------------


def test_tracecontext_round_trip(propagators, tracer, memory_exporter):
    propagators("tracecontext")
    with tracer.span("client", kind="client") as client:
        headers: dict[str, str] = {}
        propagation.inject(headers)
    # A trace ferrotel starts is sampled and, as W3C Trace Context Level 2 says, random.
    assert headers == {"traceparent": f"00-{client.context.trace_id}-{client.context.span_id}-03"}

    context = propagation.extract(headers)
    assert context is not None
    assert (context.trace_id, context.span_id) == (client.context.trace_id, client.context.span_id)
    assert context.sampled and context.trace_flags == 3 and context.is_remote and context.is_valid

    with tracer.span("local") as local:
        with propagation.attach(headers) as attached:
            assert attached == context
            assert ferrotel.current_span().context == context
            with tracer.span("server", kind="server") as server:
                pass
        assert ferrotel.current_span() is local, "attach restores the span current before it"
    spans = {s["name"]: s for s in memory_exporter.get_finished_spans()}
    assert server.context.trace_id == client.context.trace_id
    assert spans["server"]["parent_span_id"] == client.context.span_id
    assert spans["server"]["trace_id"] == client.context.trace_id


def test_tracestate_is_carried_through_a_service(propagators, tracer):
    propagators("tracecontext")
    incoming = {"traceparent": TRACEPARENT, "tracestate": "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE"}
    context = propagation.extract(incoming)
    assert context is not None and context.trace_state == "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE"
    with propagation.attach(incoming), tracer.span("hop") as hop:
        outgoing: dict[str, str] = {}
        propagation.inject(outgoing)
    assert outgoing["traceparent"] == f"00-{TRACE_ID}-{hop.context.span_id}-01"
    assert outgoing["tracestate"] == "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE"


def test_unsampled_flag_round_trips(propagators, tracer, memory_exporter):
    propagators("tracecontext", "b3multi", "b3")
    with propagation.attach({"traceparent": f"00-{TRACE_ID}-{SPAN_ID}-00"}):
        with tracer.span("not-sampled") as span:
            headers: dict[str, str] = {}
            propagation.inject(headers)
    assert not span.is_recording()
    assert headers["traceparent"] == f"00-{TRACE_ID}-{span.context.span_id}-00"
    assert headers["b3"] == f"{TRACE_ID}-{span.context.span_id}-0"
    assert headers["x-b3-sampled"] == "0"
    context = propagation.extract(headers)
    assert context is not None and not context.sampled
    assert memory_exporter.get_finished_spans() == []


def test_baggage_round_trip(propagators):
    propagators("tracecontext", "baggage")
    expected = {"user_id": "alice", "plan": "pro tier", "odd": "a,b;c=d%e é"}
    with propagation.baggage(user_id="alice"), propagation.baggage(plan="pro tier", odd="a,b;c=d%e é"):
        assert dict(propagation.get_baggage()) == expected
        headers: dict[str, str] = {}
        propagation.inject(headers)
    assert "traceparent" not in headers, "no span is current: no trace context to send"
    assert dict(propagation.get_baggage()) == {}
    # Values are percent-encoded: the header itself holds no delimiters of theirs.
    members = headers["baggage"].split(",")
    assert len(members) == 3 and all(m.count("=") == 1 and ";" not in m and " " not in m for m in members)
    assert propagation.extract_baggage(headers) == expected
    with propagation.attach(headers):
        assert dict(propagation.get_baggage()) == expected


def test_baggage_reads_properties_and_whitespace(propagators):
    propagators("baggage")
    headers = {"baggage": " user = alice%20b ;prop=1;flag , plan=pro,tenant=t%2C1"}
    assert propagation.extract_baggage(headers) == {"user": "alice b", "plan": "pro", "tenant": "t,1"}


def test_b3_single_round_trip(propagators, tracer, memory_exporter):
    propagators("b3")
    with tracer.span("client") as client:
        headers: dict[str, str] = {}
        propagation.inject(headers)
    assert headers == {"b3": f"{client.context.trace_id}-{client.context.span_id}-1"}
    context = propagation.extract(headers)
    assert context is not None and context.sampled and context.is_remote
    assert (context.trace_id, context.span_id) == (client.context.trace_id, client.context.span_id)
    with propagation.attach(headers), tracer.span("server"):
        pass
    server = [s for s in memory_exporter.get_finished_spans() if s["name"] == "server"][0]
    assert server["parent_span_id"] == client.context.span_id


@pytest.mark.parametrize(
    ("value", "trace_id", "sampled"),
    [
        (f"{TRACE_ID}-{SPAN_ID}", TRACE_ID, None),  # no sampling state: the receiver decides
        (f"{TRACE_ID}-{SPAN_ID}-1", TRACE_ID, True),
        (f"{TRACE_ID}-{SPAN_ID}-0", TRACE_ID, False),
        (f"{TRACE_ID}-{SPAN_ID}-d", TRACE_ID, True),  # debug implies sampled
        (f"{TRACE_ID}-{SPAN_ID}-1-05e3ac9a4f6e3b90", TRACE_ID, True),  # with parent span id
        (f"a3ce929d0e0e4736-{SPAN_ID}-1", "0000000000000000a3ce929d0e0e4736", True),  # 64-bit id
    ],
)
def test_b3_single_forms(propagators, value, trace_id, sampled):
    propagators("b3")
    context = propagation.extract({"b3": value})
    assert context is not None
    assert (context.trace_id, context.span_id) == (trace_id, SPAN_ID)
    if sampled is not None:
        assert context.sampled == sampled


def test_b3_multi_round_trip(propagators, tracer):
    propagators("b3multi")
    with tracer.span("client") as client:
        headers: dict[str, str] = {}
        propagation.inject(headers)
    assert headers == {
        "x-b3-traceid": client.context.trace_id,
        "x-b3-spanid": client.context.span_id,
        "x-b3-sampled": "1",
    }
    context = propagation.extract(headers)
    assert context is not None and context.sampled
    assert (context.trace_id, context.span_id) == (client.context.trace_id, client.context.span_id)
    # Header names are case-insensitive, as HTTP frameworks may hand them over.
    mixed = {"X-B3-TraceId": TRACE_ID, "X-B3-SpanId": SPAN_ID, "X-B3-Sampled": "0"}
    context = propagation.extract(mixed)
    assert context is not None and (context.trace_id, context.span_id, context.sampled) == (
        TRACE_ID,
        SPAN_ID,
        False,
    )
    # X-B3-Flags: 1 is debug, which implies sampled.
    context = propagation.extract({"x-b3-traceid": TRACE_ID, "x-b3-spanid": SPAN_ID, "x-b3-flags": "1"})
    assert context is not None and context.sampled


def test_all_formats_together(propagators, tracer):
    propagators("tracecontext", "baggage", "b3", "b3multi")
    with propagation.baggage(k="v"), tracer.span("everything") as span:
        headers: dict[str, str] = {}
        propagation.inject(headers)
    tid, sid = span.context.trace_id, span.context.span_id
    assert headers == {
        "traceparent": f"00-{tid}-{sid}-03",
        "baggage": "k=v",
        "b3": f"{tid}-{sid}-1",
        "x-b3-traceid": tid,
        "x-b3-spanid": sid,
        "x-b3-sampled": "1",
    }
    # Each format alone is enough to continue the trace.
    for subset in (["traceparent"], ["b3"], ["x-b3-traceid", "x-b3-spanid", "x-b3-sampled"]):
        context = propagation.extract({k: headers[k] for k in subset})
        assert context is not None and (context.trace_id, context.span_id) == (tid, sid), subset


def test_only_configured_formats_are_read(propagators):
    propagators("tracecontext")
    assert propagation.extract({"b3": f"{TRACE_ID}-{SPAN_ID}-1"}) is None
    assert propagation.extract_baggage({"baggage": "k=v"}) == {}
    propagators("b3")
    assert propagation.extract({"traceparent": TRACEPARENT}) is None


def test_none_turns_propagation_off(propagators, tracer):
    """OTEL_PROPAGATORS=none: nothing is read or written (not the default pair)."""
    propagators("none")
    assert propagation.extract({"traceparent": TRACEPARENT}) is None
    with tracer.span("quiet"):
        headers: dict[str, str] = {}
        propagation.inject(headers)
    assert headers == {}


def test_unknown_propagator_name_is_a_configuration_error(memory_exporter):
    with pytest.raises(ValueError, match="jaeger"):
        propagation.set_propagators(["tracecontext", "jaeger"])
    with pytest.raises(ValueError):
        tracing.configure(exporters=[memory_exporter], propagators=["xray"])


def test_propagators_from_environment(reset_tracing, monkeypatch, tracer):
    monkeypatch.setenv("OTEL_PROPAGATORS", "b3multi,baggage")
    tracing.configure(exporters=[tracing.InMemorySpanExporter()])
    with propagation.baggage(k="v"), tracer.span("env") as span:
        headers: dict[str, str] = {}
        propagation.inject(headers)
    assert headers == {
        "x-b3-traceid": span.context.trace_id,
        "x-b3-spanid": span.context.span_id,
        "x-b3-sampled": "1",
        "baggage": "k=v",
    }


def test_inject_an_explicit_span_or_context(propagators, tracer):
    propagators("tracecontext")
    context = tracing.SpanContext(TRACE_ID, SPAN_ID, trace_flags=1)
    headers: dict[str, str] = {}
    propagation.inject(headers, context)
    assert headers == {"traceparent": TRACEPARENT}
    span = tracer.start_span("not-current")
    headers = {}
    propagation.inject(headers, span)
    span.end()
    assert headers["traceparent"] == f"00-{span.context.trace_id}-{span.context.span_id}-03"


def test_interoperates_with_the_opentelemetry_propagators(propagators, tracer):
    """ferrotel's headers read by OpenTelemetry's propagators, and the other way round."""
    from opentelemetry import baggage as otel_baggage
    from opentelemetry import trace as otel_trace
    from opentelemetry.baggage.propagation import W3CBaggagePropagator
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

    propagators("tracecontext", "baggage")
    with propagation.baggage(user="alice b", plan="pro"), tracer.span("ours") as span:
        ours: dict[str, str] = {}
        propagation.inject(ours)
    ctx = TraceContextTextMapPropagator().extract(ours)
    ctx = W3CBaggagePropagator().extract(ours, context=ctx)
    their_span = otel_trace.get_current_span(ctx).get_span_context()
    assert format(their_span.trace_id, "032x") == span.context.trace_id
    assert format(their_span.span_id, "016x") == span.context.span_id
    assert their_span.trace_flags.sampled
    assert otel_baggage.get_all(ctx) == {"user": "alice b", "plan": "pro"}

    theirs: dict[str, str] = {}
    otel_ctx = otel_trace.set_span_in_context(
        otel_trace.NonRecordingSpan(
            otel_trace.SpanContext(
                int(TRACE_ID, 16),
                int(SPAN_ID, 16),
                is_remote=False,
                trace_flags=otel_trace.TraceFlags(1),
                trace_state=otel_trace.TraceState([("vendor", "value")]),
            )
        )
    )
    # (OpenTelemetry's Python propagator writes a space as "+", which W3C Baggage reads as a
    # literal plus: the value here has no space.)
    otel_ctx = otel_baggage.set_baggage("who", "bob,smith=1;x", context=otel_ctx)
    TraceContextTextMapPropagator().inject(theirs, context=otel_ctx)
    W3CBaggagePropagator().inject(theirs, context=otel_ctx)
    context = propagation.extract(theirs)
    assert context is not None
    assert (context.trace_id, context.span_id, context.sampled) == (TRACE_ID, SPAN_ID, True)
    assert context.trace_state == "vendor=value"
    assert propagation.extract_baggage(theirs) == {"who": "bob,smith=1;x"}


# --- malformed input -------------------------------------------------------------------------------

BAD_TRACEPARENTS = [
    "",
    "garbage",
    f"00-{TRACE_ID}-{SPAN_ID}",  # a field short
    f"00-{TRACE_ID}-{SPAN_ID}-01-extra",  # version 00 has exactly four fields
    f"ff-{TRACE_ID}-{SPAN_ID}-01",  # version ff is invalid
    f"0-{TRACE_ID}-{SPAN_ID}-01",  # version length
    f"000-{TRACE_ID}-{SPAN_ID}-01",
    f"0g-{TRACE_ID}-{SPAN_ID}-01",  # version not hex
    f"00-{TRACE_ID[:-1]}-{SPAN_ID}-01",  # trace id 31 digits
    f"00-{TRACE_ID}0-{SPAN_ID}-01",  # trace id 33 digits
    f"00-{TRACE_ID}-{SPAN_ID[:-1]}-01",  # span id 15 digits
    f"00-{TRACE_ID}-{SPAN_ID}0-01",  # span id 17 digits
    f"00-{TRACE_ID}-{SPAN_ID}-1",  # flags length
    f"00-{TRACE_ID}-{SPAN_ID}-001",
    f"00-{TRACE_ID}-{SPAN_ID}-0g",  # flags not hex
    f"00-{TRACE_ID.upper()}-{SPAN_ID}-01",  # upper case
    f"00-{TRACE_ID}-{SPAN_ID.upper()}-01",
    f"00-{TRACE_ID}-{SPAN_ID}-0A",
    f"0A-{TRACE_ID}-{SPAN_ID}-01",
    f"00-{'0' * 32}-{SPAN_ID}-01",  # all-zero ids
    f"00-{TRACE_ID}-{'0' * 16}-01",
    f"00-{TRACE_ID[:16]}-{SPAN_ID}-01",  # 64-bit trace id is not W3C
    f"00_{TRACE_ID}_{SPAN_ID}_01",  # wrong separators
    f"00-{TRACE_ID}-{SPAN_ID}-01-",  # trailing separator
    f"00-{TRACE_ID[:-1]}z-{SPAN_ID}-01",  # not hex
    f"01-{TRACE_ID}-{SPAN_ID}-01x",  # a later version still needs a dash after flags
]


@pytest.mark.parametrize("value", BAD_TRACEPARENTS)
def test_malformed_traceparent_is_ignored(propagators, tracer, memory_exporter, value):
    propagators("tracecontext", "baggage")
    carrier = {"traceparent": value, "tracestate": "rojo=00f067aa0ba902b7"}
    assert propagation.extract(carrier) is None
    with tracer.span("outer") as outer, propagation.attach(carrier) as context:
        assert context is None
        assert ferrotel.current_span() is outer, "a bad header must not replace the current span"
        with tracer.span("inner"):
            pass
    inner = [s for s in memory_exporter.get_finished_spans() if s["name"] == "inner"][0]
    assert inner["parent_span_id"] == outer.context.span_id


def test_later_traceparent_versions_are_read(propagators):
    propagators("tracecontext")
    context = propagation.extract({"traceparent": f"cc-{TRACE_ID}-{SPAN_ID}-01-what-the-future-holds"})
    assert context is not None and (context.trace_id, context.span_id) == (TRACE_ID, SPAN_ID)


TRACESTATES = [
    # Only what breaks the grammar goes: the offending member, or a later one with the same key.
    ("Upper=1", ""),  # keys are lower case
    ("novalue,k=a=b,ok=1", "ok=1"),
    ("rojo=1,rojo=2", "rojo=1"),
    ("k=" + "v" * 257 + ",ok=1", "ok=1"),  # a value has at most 256 characters
    ("1abc=v,tenant@1sys=v", "1abc=v,tenant@1sys=v"),  # the current grammar: a digit may start a key
    # At most 32 members and 512 characters: whole members are removed from the end.
    (",".join(f"k{i}=v" for i in range(33)), ",".join(f"k{i}=v" for i in range(32))),
    (",".join(f"k{i}=" + "v" * 20 for i in range(30)), ",".join(f"k{i}=" + "v" * 20 for i in range(20))),
]


@pytest.mark.parametrize(("value", "kept"), TRACESTATES)
def test_tracestate_keeps_only_what_is_valid_and_traceparent_is_kept(propagators, value, kept):
    propagators("tracecontext")
    context = propagation.extract({"traceparent": TRACEPARENT, "tracestate": value})
    assert context is not None and (context.trace_id, context.span_id) == (TRACE_ID, SPAN_ID)
    assert context.trace_state == kept


BAD_B3 = [
    "",
    "0",  # a sampling decision alone carries no context
    TRACE_ID,
    f"{TRACE_ID}-{SPAN_ID}-2",  # sampled must be 0, 1 or d
    f"{TRACE_ID}-{SPAN_ID}-1-{SPAN_ID}-extra",
    f"{TRACE_ID}-{SPAN_ID}-1-xyz",  # bad parent span id
    f"{TRACE_ID.upper()}-{SPAN_ID}-1",
    f"{TRACE_ID}-{SPAN_ID.upper()}-1",
    f"{'0' * 32}-{SPAN_ID}-1",
    f"{TRACE_ID}-{'0' * 16}-1",
    f"{TRACE_ID[:-2]}-{SPAN_ID}-1",  # neither 16 nor 32 digits
    f"{TRACE_ID}-{SPAN_ID[:-1]}-1",
]


@pytest.mark.parametrize("value", BAD_B3)
def test_malformed_b3_is_ignored(propagators, value):
    propagators("b3")
    assert propagation.extract({"b3": value}) is None


@pytest.mark.parametrize(
    "headers",
    [
        {"x-b3-traceid": TRACE_ID},  # no span id
        {"x-b3-spanid": SPAN_ID},
        {"x-b3-traceid": TRACE_ID.upper(), "x-b3-spanid": SPAN_ID},
        {"x-b3-traceid": TRACE_ID, "x-b3-spanid": "0" * 16},
        {"x-b3-traceid": "0" * 32, "x-b3-spanid": SPAN_ID},
        {"x-b3-traceid": TRACE_ID + "00", "x-b3-spanid": SPAN_ID},
        {"x-b3-traceid": TRACE_ID, "x-b3-spanid": SPAN_ID, "x-b3-sampled": "yes"},
    ],
)
def test_malformed_b3_multi_is_ignored(propagators, headers):
    propagators("b3multi")
    assert propagation.extract(headers) is None


def test_oversize_baggage_is_ignored(propagators):
    propagators("tracecontext", "baggage")
    huge = ",".join(f"key{i}=" + "v" * 100 for i in range(100))  # ~10 kB, over 8192 bytes
    assert len(huge) > 8192
    headers = {"traceparent": TRACEPARENT, "baggage": huge}
    assert propagation.extract_baggage(headers) == {}
    with propagation.attach(headers) as context:
        assert context is not None, "the trace context is still good"
        assert dict(propagation.get_baggage()) == {}


def test_oversize_baggage_is_not_injected(propagators):
    propagators("baggage")
    with propagation.baggage(**{f"k{i}": "v" * 100 for i in range(100)}):
        headers: dict[str, str] = {}
        propagation.inject(headers)
    assert "baggage" not in headers or len(headers["baggage"]) <= 8192


def test_malformed_baggage_members_are_skipped(propagators):
    propagators("baggage")
    headers = {"baggage": "good=1,novalue,=nokey,bad key=2,pct=%zz,trail=%,(paren)=3,also=ok"}
    assert propagation.extract_baggage(headers) == {"good": "1", "also": "ok"}


class HeaderMapping(Mapping[str, str]):
    """A read-only, case-preserving mapping, like a framework's header object."""

    def __init__(self, items: dict[str, str]) -> None:
        self._items = items

    def __getitem__(self, key: str) -> str:
        return self._items[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)


@pytest.mark.parametrize(
    "carrier",
    [
        {},
        {"traceparent": None, "tracestate": None, "baggage": None, "b3": None},
        {"traceparent": 12345, "baggage": 3.5, "b3": object()},
        {"traceparent": b"\xff\xfe\x00", "baggage": b"\xff", "b3": b"\x00"},
        {"traceparent": [], "baggage": [], "b3": []},
        {"traceparent": [None], "baggage": [1], "b3": [b"x"]},
        {1: "x", None: "y", (1, 2): "z"},
        {"traceparent": "\x00" * 10_000, "baggage": "=" * 10_000, "b3": "-" * 10_000},
        {"traceparent": "é" * 55, "tracestate": "é=é", "baggage": "é=é", "b3": "é-é-é"},
        {"x-b3-traceid": None, "x-b3-spanid": 1, "x-b3-sampled": b"1", "x-b3-flags": []},
        HeaderMapping({"traceparent": "nonsense"}),
    ],
    ids=lambda c: repr(c)[:40],
)
def test_odd_carriers_never_raise(propagators, tracer, carrier):
    propagators("tracecontext", "baggage", "b3", "b3multi")
    assert propagation.extract(carrier) is None
    assert propagation.extract_baggage(carrier) == {}
    with propagation.attach(carrier) as context:
        assert context is None
        assert ferrotel.current_span() is None


def test_carriers_with_bytes_and_lists_are_read(propagators):
    """WSGI/ASGI hand headers over as bytes, OpenTelemetry getters as lists of values."""
    propagators("tracecontext", "baggage")
    for carrier in ({"traceparent": TRACEPARENT.encode()}, {"traceparent": [TRACEPARENT]}):
        context = propagation.extract(carrier)
        assert context is not None and context.trace_id == TRACE_ID, carrier
    assert propagation.extract(HeaderMapping({"traceparent": TRACEPARENT})) is not None


def test_span_context_constructor_validates(memory_exporter):
    with pytest.raises(ValueError):
        tracing.SpanContext(TRACE_ID.upper(), SPAN_ID)
    with pytest.raises(ValueError):
        tracing.SpanContext("0" * 32, SPAN_ID)
    with pytest.raises(ValueError):
        tracing.SpanContext(TRACE_ID, "0" * 16)
    context = tracing.SpanContext(TRACE_ID, SPAN_ID)
    assert context.is_remote and context.sampled and context.is_valid
