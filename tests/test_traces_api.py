"""The tracing API: tracer.trace, @traced, and what a span records."""

from __future__ import annotations

import asyncio
import re

import ferrotel
import pytest
from ferrotel import traced, tracing

# fast, and the whole module: part of the wheel smoke run (scripts/test-wheels.sh on 3.10-3.12)
pytestmark = pytest.mark.wheel_smoke

HEX32 = re.compile(r"^[0-9a-f]{32}$")
HEX16 = re.compile(r"^[0-9a-f]{16}$")


class PaymentDeclined(Exception):
    """An application error, for the exception.type of a class outside builtins."""


def only(memory_exporter, name: str) -> dict:
    matches = [s for s in memory_exporter.get_finished_spans() if s["name"] == name]
    assert len(matches) == 1, f"{len(matches)} spans named {name!r}"
    return matches[0]


def assert_exception_event(span: dict, type_name: str, message: str, function: str) -> None:
    assert span["status"] == "ERROR"
    events = [e for e in span["events"] if e["name"] == "exception"]
    assert len(events) == 1, span["events"]
    attrs = events[0]["attributes"]
    assert attrs["exception.type"] == type_name
    assert attrs["exception.message"] == message
    assert attrs["exception.stacktrace"].startswith("Traceback (most recent call last):")
    assert function in attrs["exception.stacktrace"]
    assert attrs["exception.stacktrace"].rstrip().endswith(f"{type_name.rsplit('.', 1)[-1]}: {message}")
    assert attrs["exception.escaped"] is True
    assert message in span["status_description"]


# --- tracer.trace ----------------------------------------------------------------------------------


def test_trace_returns_the_functions_value(memory_exporter, tracer):
    seen = []

    def work(span):
        seen.append((span, ferrotel.current_span()))
        span.set_attribute("work.done", True)
        return {"answer": 42}

    assert tracer.trace("work", work) == {"answer": 42}
    ((span, current),) = seen
    assert span is current, "the span given to fn is the current one"
    recorded = only(memory_exporter, "work")
    assert recorded["attributes"] == {"work.done": True}
    assert recorded["status"] == "UNSET"
    assert ferrotel.current_span() is None


def test_trace_records_and_reraises(memory_exporter, tracer):
    error = PaymentDeclined("card expired")

    def charge(span):
        raise error

    with pytest.raises(PaymentDeclined) as raised:
        tracer.trace("charge", charge)
    assert raised.value is error
    assert_exception_event(
        only(memory_exporter, "charge"), f"{__name__}.PaymentDeclined", "card expired", "charge"
    )
    assert ferrotel.current_span() is None


def test_trace_with_attributes_and_kind(memory_exporter, tracer):
    tracer.trace("call", lambda span: None, attributes={"peer": "db"}, kind="client")
    recorded = only(memory_exporter, "call")
    assert recorded["attributes"] == {"peer": "db"}
    assert recorded["kind"] == "CLIENT"


def test_trace_awaits_coroutine_functions(memory_exporter, tracer):
    async def fetch(span):
        await asyncio.sleep(0)
        assert ferrotel.current_span() is span
        return "profile"

    async def fail(span):
        await asyncio.sleep(0)
        raise ValueError("no such user")

    async def main() -> None:
        async with tracer.span("request") as request:
            assert await tracer.trace("fetch", fetch) == "profile"
            with pytest.raises(ValueError, match="no such user"):
                await tracer.trace("fail", fail)
            assert ferrotel.current_span() is request

    asyncio.run(main())
    request = only(memory_exporter, "request")
    fetched = only(memory_exporter, "fetch")
    assert fetched["parent_span_id"] == request["span_id"] and fetched["status"] == "UNSET"
    failed = only(memory_exporter, "fail")
    assert failed["parent_span_id"] == request["span_id"]
    assert_exception_event(failed, "ValueError", "no such user", "fail")
    assert request["status"] == "UNSET", "caught inside: the outer span is not in error"


# --- @traced ---------------------------------------------------------------------------------------


def test_traced_function_forms(memory_exporter, tracer):
    @traced
    def bare(x: int) -> int:
        """Doubles."""
        return x * 2

    @traced("named-by-string")
    def by_string() -> str:
        return "s"

    @traced(name="named", attributes={"component": "billing"}, kind="server", tracer=tracer)
    def configured(*, a: int, b: int = 1) -> int:
        return a + b

    assert bare(21) == 42
    assert by_string() == "s"
    assert configured(a=2, b=3) == 5
    assert bare.__name__ == "bare" and bare.__doc__ == "Doubles."

    spans = {s["name"]: s for s in memory_exporter.get_finished_spans()}
    assert set(spans) == {bare.__qualname__, "named-by-string", "named"}
    assert bare.__qualname__.endswith("test_traced_function_forms.<locals>.bare")
    assert spans[bare.__qualname__]["scope"] == __name__, "the default tracer is named after the module"
    assert spans["named"]["attributes"] == {"component": "billing"}
    assert spans["named"]["kind"] == "SERVER"
    assert spans["named"]["scope"] == "tests"


class Ledger:
    """Module level, so its traced method pickles by reference."""

    rate = 2

    @traced(name="ledger.total")
    def total(self, amount: int) -> int:
        return amount * self.rate

    @staticmethod
    @traced(name="ledger.static")
    def static(x: int) -> int:
        return x + 1


@traced
def module_level(x: int) -> int:
    return x


def test_traced_methods_bind_and_functions_keep_their_identity(memory_exporter):
    import inspect
    import pickle

    ledger = Ledger()
    assert ledger.total(5) == 10
    assert Ledger.total(ledger, 1) == 2
    assert Ledger.static(1) == 2
    assert [s["name"] for s in memory_exporter.get_finished_spans()] == [
        "ledger.total",
        "ledger.total",
        "ledger.static",
    ]
    assert list(inspect.signature(Ledger.total).parameters) == ["self", "amount"]
    assert list(inspect.signature(ledger.total).parameters) == ["amount"]
    assert module_level.__wrapped__(3) == 3 and module_level.__module__ == __name__
    assert pickle.loads(pickle.dumps(module_level)) is module_level
    assert "module_level" in repr(module_level)
    assert callable(ledger.total) and ledger.total.__self__ is ledger
    with pytest.raises(TypeError):
        module_level()  # the function's own TypeError, raised through the span
    assert memory_exporter.get_finished_spans()[-1]["status"] == "ERROR"


def test_traced_function_exception(memory_exporter):
    @traced(name="refund")
    def refund(amount: int) -> None:
        raise PaymentDeclined(f"cannot refund {amount}")

    with pytest.raises(PaymentDeclined, match="cannot refund 5"):
        refund(5)
    assert_exception_event(
        only(memory_exporter, "refund"), f"{__name__}.PaymentDeclined", "cannot refund 5", "refund"
    )


def test_traced_nested_calls(memory_exporter, tracer):
    @traced(name="inner", tracer=tracer)
    def inner() -> str:
        return ferrotel.current_span().context.span_id

    @traced(name="outer", tracer=tracer)
    def outer() -> tuple[str, str]:
        return ferrotel.current_span().context.span_id, inner()

    outer_id, inner_id = outer()
    assert only(memory_exporter, "outer")["span_id"] == outer_id
    assert only(memory_exporter, "inner")["span_id"] == inner_id
    assert only(memory_exporter, "inner")["parent_span_id"] == outer_id


def test_traced_coroutine(memory_exporter, tracer):
    @traced(name="lookup", tracer=tracer, attributes={"cache": "miss"})
    async def lookup(key: str) -> str:
        await asyncio.sleep(0)
        return key.upper()

    @traced(name="explode", tracer=tracer)
    async def explode() -> None:
        await asyncio.sleep(0)
        raise RuntimeError("boom")

    assert asyncio.iscoroutinefunction(lookup)
    assert asyncio.run(lookup("k")) == "K"
    with pytest.raises(RuntimeError, match="boom"):
        asyncio.run(explode())
    assert only(memory_exporter, "lookup")["attributes"] == {"cache": "miss"}
    assert_exception_event(only(memory_exporter, "explode"), "RuntimeError", "boom", "explode")


def test_traced_generator_values_send_and_return(memory_exporter, tracer):
    @traced(name="accumulate", tracer=tracer)
    def accumulate():
        total = 0
        while True:
            value = yield total
            if value is None:
                return total
            total += value

    def drive():
        result = yield from accumulate()
        return result

    gen = drive()
    assert next(gen) == 0
    assert gen.send(5) == 5
    assert gen.send(7) == 12
    with pytest.raises(StopIteration) as stop:
        gen.send(None)
    assert stop.value.value == 12
    assert only(memory_exporter, "accumulate")["status"] == "UNSET"


def test_traced_generator_exception(memory_exporter, tracer):
    @traced(name="faulty", tracer=tracer)
    def faulty():
        yield 1
        raise LookupError("row 2 missing")

    gen = faulty()
    assert next(gen) == 1
    with pytest.raises(LookupError, match="row 2 missing"):
        next(gen)
    span = only(memory_exporter, "faulty")
    assert_exception_event(span, "LookupError", "row 2 missing", "faulty")


def test_traced_generator_forwards_throw(memory_exporter, tracer):
    """A traced generator behaves like the generator: throw() reaches its body, which may
    handle the exception and go on (as @contextmanager relies on)."""

    @traced(name="resilient", tracer=tracer)
    def resilient():
        try:
            yield "first"
        except ValueError as exc:
            yield f"recovered from {exc}"
        yield "last"

    gen = resilient()
    assert next(gen) == "first"
    assert gen.throw(ValueError("bad input")) == "recovered from bad input"
    assert next(gen) == "last"
    with pytest.raises(StopIteration):
        next(gen)
    assert only(memory_exporter, "resilient")["status"] == "UNSET"


def test_traced_generator_closes_inner_generator(memory_exporter, tracer):
    cleaned = []

    @traced(name="resource", tracer=tracer)
    def resource():
        try:
            yield "handle"
        finally:
            cleaned.append(True)

    gen = resource()
    assert next(gen) == "handle"
    gen.close()
    assert cleaned == [True]
    assert only(memory_exporter, "resource")["status"] == "UNSET"


def test_traced_async_generator(memory_exporter, tracer):
    @traced(name="pages", tracer=tracer)
    async def pages(n: int):
        for i in range(n):
            await asyncio.sleep(0)
            yield f"page-{i}"

    @traced(name="broken-pages", tracer=tracer)
    async def broken():
        yield "page-0"
        raise ConnectionError("lost the stream")

    async def main() -> None:
        assert [p async for p in pages(3)] == ["page-0", "page-1", "page-2"]
        got = []
        with pytest.raises(ConnectionError, match="lost the stream"):
            async for p in broken():
                got.append(p)
        assert got == ["page-0"]

    asyncio.run(main())
    assert only(memory_exporter, "pages")["status"] == "UNSET"
    assert_exception_event(
        only(memory_exporter, "broken-pages"), "ConnectionError", "lost the stream", "broken"
    )


def test_traced_async_generator_forwards_athrow(memory_exporter, tracer):
    @traced(name="async-resilient", tracer=tracer)
    async def resilient():
        try:
            yield "first"
        except ValueError:
            yield "recovered"

    async def main() -> None:
        agen = resilient()
        assert await agen.__anext__() == "first"
        assert await agen.athrow(ValueError("x")) == "recovered"
        await agen.aclose()

    asyncio.run(main())
    assert only(memory_exporter, "async-resilient")["status"] == "UNSET"


# --- spans -----------------------------------------------------------------------------------------


def test_ids_are_lower_case_hex_and_unique(memory_exporter, tracer):
    trace_ids, span_ids = set(), set()
    for _ in range(500):
        with tracer.span("id") as span:
            assert HEX32.match(span.context.trace_id) and HEX16.match(span.context.span_id)
            trace_ids.add(span.context.trace_id)
            span_ids.add(span.context.span_id)
    assert len(trace_ids) == len(span_ids) == 500


def test_with_block_exception_is_recorded_and_propagates(memory_exporter, tracer):
    with pytest.raises(ZeroDivisionError), tracer.span("divide"):
        1 / 0  # noqa: B018
    span = only(memory_exporter, "divide")
    assert_exception_event(span, "ZeroDivisionError", "division by zero", "test_with_block_exception")
    assert span["status_description"] == "ZeroDivisionError: division by zero"


def test_span_enter_and_exit_the_ways_python_code_calls_them(memory_exporter, tracer):
    # `with` binds __enter__/__exit__ to the span itself (no bound methods are allocated); the
    # other ways of calling them must do the same thing.
    import contextlib

    span = tracer.span("explicit")
    assert span.__enter__() is span
    assert ferrotel.current_span() is span
    assert span.__exit__(None, None, None) is False
    assert ferrotel.current_span() is None

    with contextlib.ExitStack() as stack:  # calls type(cm).__enter__(cm) and __exit__(cm, ...)
        entered = stack.enter_context(tracer.span("exit-stack"))
        assert ferrotel.current_span() is entered
    assert ferrotel.current_span() is None

    unbound = tracer.span("unbound")
    assert type(unbound).__enter__(unbound) is unbound
    try:
        raise KeyError("k")
    except KeyError as err:
        assert type(unbound).__exit__(unbound, type(err), err, err.__traceback__) is False
    assert ferrotel.current_span() is None
    assert [s["name"] for s in memory_exporter.get_finished_spans()] == ["explicit", "exit-stack", "unbound"]
    assert only(memory_exporter, "unbound")["status"] == "ERROR"
    assert only(memory_exporter, "exit-stack")["status"] == "UNSET"
    assert "__enter__" in repr(type(span).__enter__)


def test_a_span_is_not_callable_outside_with(memory_exporter, tracer):
    span = tracer.span("not-callable")
    for args, kwargs in [((1,), {}), ((None, None), {}), ((), {"exc": None}), ((1, 2, 3, 4), {})]:
        with pytest.raises(TypeError, match="not callable"):
            span(*args, **kwargs)
    assert ferrotel.current_span() is None, "a refused call does not enter the span"
    assert span.is_recording(), "nor end it"
    assert type(span).do_not_call_in_templates is True  # Django templates would call it


def test_with_blocks_leak_no_references(memory_exporter, tracer):
    import sys

    span = tracer.span("refs")
    before = sys.getrefcount(span)
    for _ in range(1000):
        with span:
            pass
    with pytest.raises(ValueError), span:
        raise ValueError("x")
    assert sys.getrefcount(span) == before
    tracing.configure(service_name="t", exporters=[], sampler="always_off")
    quiet = tracer.span("quiet")
    before = sys.getrefcount(quiet)
    for _ in range(1000):
        with quiet as entered:
            assert entered is quiet
    assert not quiet.is_recording()
    del entered
    assert sys.getrefcount(quiet) == before


def test_nested_with_blocks_on_one_span_restore_the_context(memory_exporter, tracer):
    outer = tracer.span("outer")
    inner = tracer.span("inner")
    with outer:
        with inner:
            assert ferrotel.current_span() is inner
            with outer:  # re-entered: current again, then back to inner
                assert ferrotel.current_span() is outer
            assert ferrotel.current_span() is inner
        assert ferrotel.current_span() is outer
    assert ferrotel.current_span() is None


def test_span_methods(memory_exporter, tracer):
    linked = tracer.start_span("linked")
    linked.end()
    span = tracer.start_span("original", attributes={"a": 1}, start_time=1_700_000_000.5)
    assert span.is_recording() and span.name == "original"
    span.set_attribute("a", 2)  # overwrites
    span.set_attributes({"b": "x", "c": [1.0, 2.0]})
    span.add_event("plain")
    span.add_event("with-ns", {"k": "v"}, timestamp=1_700_000_000_250_000_000)
    span.add_event("with-seconds", timestamp=1_700_000_000.75)
    span.add_link(linked, {"why": "batch"})
    span.record_exception(ValueError("handled"))
    span.update_name("renamed")
    span.end(end_time=1_700_000_001_000_000_000)
    assert not span.is_recording()
    span.set_attribute("late", 1)  # after end: ignored, not raised
    span.add_event("late")

    s = only(memory_exporter, "renamed")
    assert s["start_time"] == 1_700_000_000_500_000_000
    assert s["end_time"] == 1_700_000_001_000_000_000
    assert s["attributes"] == {"a": 2, "b": "x", "c": (1.0, 2.0)}
    assert [e["name"] for e in s["events"]] == ["plain", "with-ns", "with-seconds", "exception"]
    assert s["events"][1]["timestamp"] == 1_700_000_000_250_000_000
    assert s["events"][1]["attributes"] == {"k": "v"}
    # Float seconds carry about a microsecond of precision at today's epoch.
    assert abs(s["events"][2]["timestamp"] - 1_700_000_000_750_000_000) < 1_000
    handled = s["events"][3]["attributes"]
    assert handled["exception.type"] == "ValueError" and handled["exception.escaped"] is False
    assert s["links"] == [
        {
            "trace_id": linked.context.trace_id,
            "span_id": linked.context.span_id,
            "attributes": {"why": "batch"},
        }
    ]
    assert s["status"] == "UNSET", "record_exception alone does not set the status"


def test_status_rules(memory_exporter, tracer):
    with tracer.span("ok-is-final") as span:
        span.set_status("ok", "ignored for OK")
        span.set_status("error", "too late")
    with tracer.span("error-then-unset") as span:
        span.set_status("error", "first")
        span.set_status("unset")
    with tracer.span("numeric") as span:
        span.set_status(2, "by number")
    with tracer.span("upper") as span:
        span.set_status("ERROR", "upper case")
        with pytest.raises(ValueError):
            span.set_status("catastrophic")
    spans = {s["name"]: s for s in memory_exporter.get_finished_spans()}
    assert (spans["ok-is-final"]["status"], spans["ok-is-final"]["status_description"]) == ("OK", "")
    assert spans["error-then-unset"]["status"] == "UNSET"
    assert spans["error-then-unset"]["status_description"] == ""
    assert (spans["numeric"]["status"], spans["numeric"]["status_description"]) == ("ERROR", "by number")
    assert spans["upper"]["status"] == "ERROR"


def test_opentelemetry_enums_are_accepted(memory_exporter, tracer):
    from opentelemetry.trace import SpanKind, Status, StatusCode

    with tracer.span("otel-kind", kind=SpanKind.PRODUCER) as span:
        span.set_status(Status(StatusCode.ERROR, "from Status"))
    s = only(memory_exporter, "otel-kind")
    assert (s["kind"], s["status"], s["status_description"]) == ("PRODUCER", "ERROR", "from Status")


def test_kinds(memory_exporter, tracer):
    for kind in ("internal", "SERVER", "Client", "producer", "consumer", None):
        with tracer.span(f"kind-{kind}", kind=kind):
            pass
    kinds = {s["name"]: s["kind"] for s in memory_exporter.get_finished_spans()}
    assert kinds == {
        "kind-internal": "INTERNAL",
        "kind-SERVER": "SERVER",
        "kind-Client": "CLIENT",
        "kind-producer": "PRODUCER",
        "kind-consumer": "CONSUMER",
        "kind-None": "INTERNAL",
    }
    with pytest.raises(ValueError):
        tracer.span("bad", kind="sideways")


def test_links_at_start(memory_exporter, tracer):
    from opentelemetry.trace import Link

    a = tracer.start_span("a")
    a.end()
    remote = tracing.SpanContext("4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7")

    class OtelLike:
        def __init__(self, context, attributes):
            self.context, self.attributes = context, attributes

    with tracer.span("b", links=[a, remote, OtelLike(remote, {"kind": "dup"})]):
        pass
    b = only(memory_exporter, "b")
    assert [(link["trace_id"], link["span_id"]) for link in b["links"]] == [
        (a.context.trace_id, a.context.span_id),
        (remote.trace_id, remote.span_id),
        (remote.trace_id, remote.span_id),
    ]
    assert b["links"][2]["attributes"] == {"kind": "dup"}
    del Link  # (OpenTelemetry's Link has the same shape as OtelLike)


def test_invalid_attribute_values_are_dropped_not_raised(memory_exporter, tracer):
    with tracer.span("odd-values") as span:
        span.set_attribute("none", None)
        span.set_attribute("dict", {"a": 1})
        span.set_attribute("mixed", [1, "a"])
        span.set_attribute("nested", [[1]])
        span.set_attribute("huge-int", 2**80)
        span.set_attribute("object", object())
        span.set_attribute("ok", "fine")
        span.set_attribute("empty-list", [])
    s = only(memory_exporter, "odd-values")
    assert s["attributes"]["ok"] == "fine"
    for key in ("none", "dict", "mixed", "nested", "huge-int", "object"):
        assert key not in s["attributes"]
    assert s["dropped_attributes"] >= 6


def test_non_recording_span_methods_are_no_ops(memory_exporter, tracer):
    unsampled = tracing.SpanContext("4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7", trace_flags=0)
    with tracer.span("quiet", parent=unsampled) as span:
        assert not span.is_recording()
        assert span.context.trace_id == unsampled.trace_id
        assert not span.context.sampled
        span.set_attribute("k", "v")
        span.set_attributes({"a": 1})
        span.add_event("e")
        span.add_link(unsampled)
        span.set_status("error", "x")
        span.record_exception(ValueError("x"))
        span.update_name("renamed")
        assert ferrotel.current_span() is span
    span.end()
    assert memory_exporter.get_finished_spans() == []


def test_get_tracer_configures_from_environment_once(reset_tracing, monkeypatch):
    """A tracer made before configure() follows the pipeline configured later."""
    early = ferrotel.get_tracer("early")
    exporter = tracing.InMemorySpanExporter()
    tracing.configure(exporters=[exporter], service_name="late")
    with early.span("after-configure"):
        pass
    (span,) = exporter.get_finished_spans()
    assert span["resource"]["service.name"] == "late" and span["scope"] == "early"


def test_configure_rejects_bad_settings(reset_tracing):
    with pytest.raises(ValueError):
        tracing.configure(sampling_rate=1.5)
    with pytest.raises(ValueError):
        tracing.configure(sampler="sometimes")
    with pytest.raises(ValueError):
        tracing.configure(max_queue_size=10, max_export_batch_size=20)
    with pytest.raises(ValueError):
        tracing.configure(schedule_delay=0)
    with pytest.raises(TypeError):
        tracing.configure(exporters=["not an exporter"])
    with pytest.raises(ValueError):
        tracing.OTLPSpanExporter("ftp://example/v1/traces")
    with pytest.raises(ValueError):
        tracing.OTLPSpanExporter("http://127.0.0.1:4318/v1/traces", protocol="grpc")
