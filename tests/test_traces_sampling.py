"""Sampling (always_off, trace-id ratio, parent-based) and span limits."""

from __future__ import annotations

import ferrotel
import pytest
from ferrotel import propagation, tracing
from tracing_helpers import Counters, exported_spans

pytestmark = pytest.mark.usefixtures("reset_tracing")


def memory(**settings) -> tracing.InMemorySpanExporter:
    exporter = tracing.InMemorySpanExporter()
    tracing.configure(service_name="sampling-tests", exporters=[exporter], **settings)
    return exporter


def remote(trace_id: str, sampled: bool) -> tracing.SpanContext:
    return tracing.SpanContext(trace_id, "00f067aa0ba902b7", trace_flags=int(sampled))


def test_always_off_records_and_exports_nothing(tracer):
    exporter = memory(sampler="always_off")
    with tracer.span("root") as root:
        with tracer.span("child") as child:
            headers: dict[str, str] = {}
            propagation.inject(headers)
    assert not root.is_recording() and not child.is_recording()
    assert root.context.is_valid and not root.context.sampled
    assert child.context.trace_id == root.context.trace_id, "the trace still propagates"
    assert headers["traceparent"].endswith("-02"), "not sampled; random (W3C Trace Context Level 2)"
    assert exporter.get_finished_spans() == []


def test_enabled_false_samples_nothing(tracer):
    exporter = tracing.InMemorySpanExporter()
    tracing.configure(enabled=False, exporters=[exporter], sampling_rate=1.0)
    with tracer.span("off"):
        pass
    assert exporter.get_finished_spans() == []


def test_always_off_ignores_a_sampled_parent(tracer):
    exporter = memory(sampler="always_off")
    with tracer.span("child", parent=remote("4bf92f3577b34da6a3ce929d0e0e4736", True)):
        pass
    assert exporter.get_finished_spans() == []


def test_ratio_samples_about_that_share_of_traces(tracer):
    exporter = memory(sampling_rate=0.25)
    total = 4000
    sampled_flags = 0
    for _ in range(total):
        with tracer.span("root") as span:
            sampled_flags += span.context.sampled
    recorded = len(exporter.get_finished_spans())
    assert recorded == sampled_flags
    # Binomial(4000, 0.25): mean 1000, standard deviation about 27; the bounds are 7 sigma.
    assert 810 <= recorded <= 1190, recorded


def test_ratio_zero_and_one(tracer):
    exporter = memory(sampling_rate=0.0)
    for _ in range(200):
        with tracer.span("never"):
            pass
    assert exporter.get_finished_spans() == []
    exporter = memory(sampling_rate=1.0)
    for _ in range(200):
        with tracer.span("always"):
            pass
    assert len(exporter.get_finished_spans()) == 200


def test_ratio_decision_depends_only_on_the_trace_id(tracer, monkeypatch):
    """The same trace id always gets the same decision, and the same one OpenTelemetry's
    TraceIdRatioBased sampler makes, so every service with the same rate keeps the same traces."""
    from opentelemetry.sdk.trace.sampling import TraceIdRatioBased

    monkeypatch.setenv("OTEL_TRACES_SAMPLER_ARG", "0.25")
    exporter = memory(sampler="traceidratio")  # not parent-based: the ratio decides children too
    reference = TraceIdRatioBased(0.25)
    ids = [f"{i:016x}" + f"{(i * 0x9E3779B97F4A7C15) % 2**64:016x}" for i in range(1, 400)]
    decisions = {}
    for trace_id in ids:
        for parent_sampled in (True, False, True):
            with tracer.span("decided", parent=remote(trace_id, parent_sampled)) as span:
                decisions.setdefault(trace_id, set()).add(span.context.sampled)
    assert all(len(d) == 1 for d in decisions.values()), "one decision per trace id"
    for trace_id, (decision,) in decisions.items():
        expected = reference.should_sample(None, int(trace_id, 16), "decided").decision.is_sampled()
        assert decision == expected, trace_id
    kept = sum(1 for (d,) in decisions.values() if d)
    assert 0 < kept < len(ids)
    assert len(exporter.get_finished_spans()) == 3 * kept


def test_children_follow_the_root_decision(tracer):
    exporter = memory(sampling_rate=0.5)
    roots = []
    for _ in range(200):
        with tracer.span("root") as root:
            with tracer.span("child") as child:
                assert child.context.sampled == root.context.sampled
                with tracer.span("grandchild") as grandchild:
                    assert grandchild.context.sampled == root.context.sampled
        roots.append(root.context.sampled)
    spans = exporter.get_finished_spans()
    assert len(spans) == 3 * sum(roots)
    assert 0 < sum(roots) < 200


@pytest.mark.parametrize("rate", [0.0, 1.0])
def test_parent_based_follows_a_remote_parent(tracer, rate):
    """A sampled remote parent is followed even at rate 0, an unsampled one even at rate 1."""
    exporter = memory(sampling_rate=rate)
    with propagation.attach({"traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}):
        with tracer.span("sampled-parent") as kept:
            assert kept.is_recording()
    with propagation.attach({"traceparent": "00-5bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00"}):
        with tracer.span("unsampled-parent") as skipped:
            assert not skipped.is_recording()
            headers: dict[str, str] = {}
            propagation.inject(headers)
    assert headers["traceparent"].startswith("00-5bf92f3577b34da6a3ce929d0e0e4736-")
    assert headers["traceparent"].endswith("-00")
    spans = exporter.get_finished_spans()
    assert [s["name"] for s in spans] == ["sampled-parent"]
    assert spans[0]["trace_id"] == "4bf92f3577b34da6a3ce929d0e0e4736"
    assert spans[0]["parent_span_id"] == "00f067aa0ba902b7"


def test_parentbased_always_off_follows_a_sampled_parent(tracer):
    exporter = memory(sampler="parentbased_always_off")
    with tracer.span("root-not-sampled"):
        pass
    with tracer.span("child-of-sampled", parent=remote("4bf92f3577b34da6a3ce929d0e0e4736", True)):
        pass
    assert [s["name"] for s in exporter.get_finished_spans()] == ["child-of-sampled"]


def test_sampler_from_environment(tracer, monkeypatch):
    monkeypatch.setenv("OTEL_TRACES_SAMPLER", "always_off")
    exporter = tracing.InMemorySpanExporter()
    tracing.configure(exporters=[exporter])
    with tracer.span("env-off"):
        pass
    assert exporter.get_finished_spans() == []


def test_unsampled_spans_never_reach_an_exporter(receiver, tracer):
    tracing.configure(
        service_name="sampling-tests",
        exporters=[tracing.OTLPSpanExporter(receiver.url())],
        sampling_rate=0.5,
        schedule_delay=60,
    )
    sampled_ids = set()
    for _ in range(100):
        with tracer.span("maybe") as span:
            if span.context.sampled:
                sampled_ids.add(span.context.span_id)
    assert ferrotel.flush(10)
    exported = [s.span_id for s in exported_spans(receiver.snapshot())]
    assert sorted(exported) == sorted(sampled_ids)
    assert 0 < len(sampled_ids) < 100


# --- limits ----------------------------------------------------------------------------------------


def test_span_limits_drop_and_count(tracer):
    exporter = memory(max_attributes=3, max_events=2, max_links=1, max_attribute_length=5)
    counters = Counters()
    other = tracer.start_span("other")
    other.end()
    with tracer.span("limited", attributes={"a": 1, "b": 2}) as span:
        span.set_attribute("c", "0123456789")  # truncated to 5 characters
        span.set_attribute("d", 4)  # over the limit
        span.set_attributes({"e": 5, "f": 6})  # over the limit
        span.set_attribute("a", 10)  # overwriting an existing key is not a drop
        for i in range(5):
            span.add_event(f"event-{i}")
        for _ in range(4):
            span.add_link(other.context)
    with tracer.span("links-at-start", links=[other, other, other]):
        pass
    spans = {s["name"]: s for s in exporter.get_finished_spans()}

    limited = spans["limited"]
    assert limited["attributes"] == {"a": 10, "b": 2, "c": "01234"}
    assert limited["dropped_attributes"] == 3
    assert [e["name"] for e in limited["events"]] == ["event-0", "event-1"]
    assert limited["dropped_events"] == 3
    assert len(limited["links"]) == 1 and limited["dropped_links"] == 3
    assert len(spans["links-at-start"]["links"]) == 1 and spans["links-at-start"]["dropped_links"] == 2

    assert counters.dropped("attribute_limit") == 3
    assert counters.dropped("event_limit") == 3
    assert counters.dropped("link_limit") == 5


def test_attribute_length_limit_applies_to_lists_and_events(tracer):
    exporter = memory(max_attribute_length=3)
    with tracer.span("truncated", attributes={"list": ["abcdef", "xy"], "n": 123456}) as span:
        span.add_event("e", {"long": "abcdef"})
    (s,) = exporter.get_finished_spans()
    assert s["attributes"] == {"list": ("abc", "xy"), "n": 123456}
    assert s["events"][0]["attributes"] == {"long": "abc"}


def test_event_attribute_limit(tracer):
    exporter = memory(max_attributes=2)
    counters = Counters()
    with tracer.span("event-attrs") as span:
        span.add_event("many", {"a": 1, "b": 2, "c": 3})
    (s,) = exporter.get_finished_spans()
    assert len(s["events"][0]["attributes"]) == 2
    assert counters.dropped("attribute_limit") == 1


def test_invalid_attributes_are_counted(tracer):
    exporter = memory()
    counters = Counters()
    with tracer.span("invalid", attributes={"ok": 1, "bad": None}) as span:
        span.set_attribute("dict", {"a": 1})
    (s,) = exporter.get_finished_spans()
    assert s["attributes"] == {"ok": 1}
    assert s["dropped_attributes"] == 2
    assert counters.dropped("invalid_attribute") == 2


def test_limits_reach_the_otlp_payload(receiver, tracer):
    tracing.configure(
        service_name="sampling-tests",
        exporters=[tracing.OTLPSpanExporter(receiver.url())],
        schedule_delay=60,
        max_attributes=1,
        max_events=1,
        max_links=1,
    )
    other = tracer.start_span("other")
    other.end()
    with tracer.span("limited", attributes={"a": 1, "b": 2}) as span:
        span.add_event("e1", {"x": 1, "y": 2})
        span.add_event("e2")
        span.add_link(other)
        span.add_link(other)
    assert ferrotel.flush(10)
    (limited,) = [s for s in exported_spans(receiver.snapshot()) if s.name == "limited"]
    assert (limited.dropped_attributes, limited.dropped_events, limited.dropped_links) == (1, 1, 1)
    assert limited.events[0]["dropped_attributes"] == 1
