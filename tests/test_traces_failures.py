"""Export failures, on loopback only: a backend that is down, one that answers 503/429 with
Retry-After and then recovers, one that rejects (no retry), one that hangs; a queue that
overflows. Everything is bounded, counted in ferrotel's own metrics, and never raises."""

from __future__ import annotations

import threading

import ferrotel
import pytest
from conftest import find_free_port
from ferrotel import tracing
from helpers import Response
from tracing_helpers import Counters, exported_spans, zipkin_spans

pytestmark = pytest.mark.usefixtures("reset_tracing")

WATCHDOG = 60  # seconds: a producer still running then is blocked, and the test fails


def dead_endpoint(path: str = "/v1/traces") -> str:
    """A loopback URL where nothing listens (connections are refused)."""
    return f"http://127.0.0.1:{find_free_port()}{path}"


def configure(*exporters, **settings) -> None:
    settings.setdefault("schedule_delay", 60)
    settings.setdefault("export_timeout", 1.0)
    tracing.configure(service_name="failure-tests", exporters=list(exporters), **settings)


def make_spans(tracer, count: int, prefix: str = "span") -> list[str]:
    """Ends ``count`` spans on another thread, failing (not hanging) if that ever blocks."""
    ids: list[str] = []
    errors: list[BaseException] = []

    def produce() -> None:
        try:
            for i in range(count):
                with tracer.span(f"{prefix}-{i}") as span:
                    ids.append(span.context.span_id)
        except BaseException as exc:  # noqa: BLE001 (reported below)
            errors.append(exc)

    thread = threading.Thread(target=produce, daemon=True)
    thread.start()
    thread.join(WATCHDOG)
    assert not thread.is_alive(), f"ending {count} spans blocked"
    assert not errors, errors
    return ids


def test_backend_down_drops_and_counts(tracer):
    configure(tracing.OTLPSpanExporter(dead_endpoint(), timeout=0.5))
    counters = Counters()
    make_spans(tracer, 30)
    assert ferrotel.flush(10), "flush is bounded by export_timeout, not by the dead backend"
    assert counters.dropped("export_failed") == 30
    assert counters.failures("otlp_traces") == 1


def test_zipkin_backend_down_drops_and_counts(tracer):
    configure(tracing.ZipkinExporter(dead_endpoint("/api/v2/spans"), timeout=0.5))
    counters = Counters()
    make_spans(tracer, 7)
    assert ferrotel.flush(10)
    assert counters.dropped("export_failed") == 7
    assert counters.failures("zipkin") == 1


def test_queue_overflow_when_the_backend_is_down(tracer):
    """Far more spans than max_queue_size: the overflow is dropped as queue_full, sending never
    blocks or raises, and every span is accounted for."""
    configure(
        tracing.OTLPSpanExporter(dead_endpoint(), timeout=0.5),
        max_queue_size=100,
        max_export_batch_size=50,
        export_timeout=0.5,
    )
    counters = Counters()
    total = 5000
    make_spans(tracer, total)
    assert ferrotel.flush(20)
    assert counters.dropped("queue_full") > 0
    assert counters.dropped("queue_full") + counters.dropped("export_failed") == total


def test_queue_holds_at_most_max_queue_size_while_the_backend_is_stuck(receiver, tracer):
    """The backend holds the first request until the test lets it go: meanwhile at most one
    batch is in flight and max_queue_size spans wait; everything else is dropped and counted."""
    gate = threading.Event()
    receiver.respond(Response(200, gate=gate))
    configure(
        tracing.OTLPSpanExporter(receiver.url(), timeout=30),
        max_queue_size=100,
        max_export_batch_size=50,
        export_timeout=40,
    )
    counters = Counters()
    total = 5000
    try:
        ids = make_spans(tracer, total)
        queue_full = counters.dropped("queue_full")
        assert queue_full >= total - 100 - 50, "more than max_queue_size + one batch was held"
    finally:
        gate.set()
    assert ferrotel.flush(30)
    requests = receiver.snapshot()
    exported = [s.span_id for s in exported_spans(requests)]
    assert len(exported) == len(set(exported)), "a span was exported twice"
    assert set(exported) <= set(ids)
    assert all(len(exported_spans([r])) <= 50 for r in requests)
    assert counters.dropped("queue_full") == queue_full, "nothing dropped after the backend recovered"
    assert queue_full + len(exported) == total
    assert counters.dropped("export_failed") == 0


@pytest.mark.parametrize(("status", "retries"), [(503, 2), (429, 1)])
def test_retry_after_then_recovery_delivers_once(receiver, tracer, status, retries):
    receiver.respond(*[Response(status, {"Retry-After": "1"}) for _ in range(retries)])
    configure(tracing.OTLPSpanExporter(receiver.url()), export_timeout=15)
    counters = Counters()
    ids = make_spans(tracer, 5)
    assert ferrotel.flush(30)

    requests = receiver.snapshot()
    assert [r.status for r in requests] == [status] * retries + [200]
    assert len({r.body for r in requests}) == 1, "every attempt sends the same batch"
    delivered = [s.span_id for s in exported_spans(requests)]  # from the accepted request only
    assert sorted(delivered) == sorted(ids), "the batch arrives once, after recovery"
    for earlier, later in zip(requests, requests[1:]):
        assert later.at - earlier.at >= 0.8, "Retry-After: 1 was not honoured"
    assert counters.failures("otlp_traces") == 0
    assert counters.dropped("export_failed") == 0


@pytest.mark.parametrize("status", [400, 401, 413, 500])
def test_rejection_is_not_retried(receiver, tracer, status):
    receiver.default = Response(status, body=b"rejected")
    configure(tracing.OTLPSpanExporter(receiver.url()), export_timeout=10)
    counters = Counters()
    make_spans(tracer, 3)
    assert ferrotel.flush(20)
    assert len(receiver.snapshot()) == 1, "a rejected batch must not be sent again"
    assert counters.dropped("export_failed") == 3


def test_zipkin_retries_and_rejections(receiver, tracer):
    receiver.respond(Response(503, {"Retry-After": "1"}), Response(200), Response(400))
    configure(tracing.ZipkinExporter(receiver.url("/api/v2/spans")), export_timeout=10)
    counters = Counters()
    first = make_spans(tracer, 2, "first")
    assert ferrotel.flush(20)
    make_spans(tracer, 3, "second")
    assert ferrotel.flush(20)
    requests = receiver.snapshot()
    assert [r.status for r in requests] == [503, 200, 400]
    assert sorted(s["id"] for s in zipkin_spans(requests)) == sorted(first)
    assert counters.dropped("export_failed") == 3


def test_retry_after_past_the_deadline_gives_up(receiver, tracer):
    receiver.default = Response(503, {"Retry-After": "120"})
    configure(tracing.OTLPSpanExporter(receiver.url()), export_timeout=2)
    counters = Counters()
    make_spans(tracer, 4)
    assert ferrotel.flush(15), "a Retry-After beyond export_timeout must not hold the exporter"
    assert len(receiver.snapshot()) == 1
    assert counters.dropped("export_failed") == 4


def test_a_hanging_backend_is_bounded_by_the_timeouts(receiver, tracer):
    receiver.default = Response(200, delay=30)
    configure(tracing.OTLPSpanExporter(receiver.url(), timeout=0.5), export_timeout=1.5)
    counters = Counters()
    make_spans(tracer, 4)
    assert ferrotel.flush(15)
    assert receiver.snapshot(), "the exporter did try"
    assert counters.dropped("export_failed") == 4


def test_one_failing_exporter_does_not_hold_up_another(receiver, tracer):
    memory = tracing.InMemorySpanExporter()
    configure(
        tracing.OTLPSpanExporter(dead_endpoint(), timeout=0.5),
        tracing.OTLPSpanExporter(receiver.url()),
        memory,
    )
    counters = Counters()
    ids = make_spans(tracer, 10)
    assert ferrotel.flush(15)
    assert sorted(s.span_id for s in exported_spans(receiver.snapshot())) == sorted(ids)
    assert sorted(s["span_id"] for s in memory.get_finished_spans()) == sorted(ids)
    assert counters.dropped("export_failed") == 10


def test_export_failures_are_exposed_in_the_registry(receiver, tracer):
    """``ferrotel_export_failures_total`` is scraped with the rest of ferrotel's metrics."""
    receiver.default = Response(400)
    configure(tracing.OTLPSpanExporter(receiver.url()))
    make_spans(tracer, 1)
    assert ferrotel.flush(10)
    assert len(receiver.snapshot()) == 1
    text = ferrotel.generate_latest().decode()
    assert 'ferrotel_export_failures_total{exporter="otlp_traces"}' in text


def test_flush_with_nothing_to_export_and_bad_timeouts(tracer):
    configure(tracing.OTLPSpanExporter(dead_endpoint()))
    counters = Counters()
    assert ferrotel.flush(5)
    assert counters.failures("otlp_traces") == 0
    with pytest.raises(ValueError):
        ferrotel.flush(-1)


def test_after_shutdown_spans_are_dropped_and_counted(receiver, tracer):
    configure(tracing.OTLPSpanExporter(receiver.url()), export_timeout=10)
    ids = make_spans(tracer, 3, "before")
    assert ferrotel.shutdown(10)
    assert sorted(s.span_id for s in exported_spans(receiver.snapshot())) == sorted(ids)
    counters = Counters()
    make_spans(tracer, 2, "after")  # dropped as they end: there is no queue left
    assert counters.dropped("shutdown") == 2
    assert len(exported_spans(receiver.snapshot())) == 3
