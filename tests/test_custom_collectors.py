"""Custom collectors returning prometheus_client's metric families: ferrotel renders them byte for
byte as prometheus_client does, in both text formats, and get_sample_value reads them."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import ferrotel
import ferrotel.core
import prometheus_client
import pytest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeHistogramMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    InfoMetricFamily,
    Metric,
    StateSetMetricFamily,
    SummaryMetricFamily,
    UnknownMetricFamily,
)
from prometheus_client.openmetrics.exposition import generate_latest as pc_openmetrics
from prometheus_client.samples import Exemplar, Sample, Timestamp


def counter() -> Iterable[Metric]:
    c = CounterMetricFamily("jobs", "Jobs done", labels=["queue"])
    c.add_metric(["fast"], 3, created=1700000000.25, timestamp=1700000100.5)
    c.add_metric(["slow"], 1.5, exemplar=Exemplar({"trace_id": "abc"}, 1.0, 1700000050.125))
    yield c
    yield CounterMetricFamily("plain_total", "Plain, with _total in the name", value=7)


def gauges() -> Iterable[Metric]:
    g = GaugeMetricFamily(
        "temperature", 'Help with "quotes", \\ and\nnewline', labels=["room"], unit="celsius"
    )
    g.add_metric(['kitchen "k"\n'], 21.5, timestamp=Timestamp(1700000000, 5))
    g.add_metric(["attic"], -3, timestamp=1700000000)
    yield g
    yield GaugeMetricFamily("huge", "Large and small values", value=1.5e300)
    yield UnknownMetricFamily("mystery", "Untyped", value=float("inf"))


def histograms() -> Iterable[Metric]:
    h = HistogramMetricFamily("latency_seconds", "Latency", labels=["route"])
    h.add_metric(
        ["/"],
        buckets=[("0.1", 2), ("1.0", 5), ("+Inf", 6, Exemplar({"trace_id": "t"}, 3.5))],
        sum_value=7.25,
    )
    yield h
    gh = GaugeHistogramMetricFamily("queue_size", "Queue size")
    gh.add_metric([], buckets=[("10.0", 4), ("+Inf", 5)], gsum_value=30)
    yield gh
    s = SummaryMetricFamily("payload_bytes", "Payload", labels=["dir"])
    s.add_metric(["in"], count_value=4, sum_value=1024.0)
    yield s


def info_and_states() -> Iterable[Metric]:
    yield InfoMetricFamily("build", "Build", value={"version": "1.2.3", "commit": "abc"})
    st = StateSetMetricFamily("feature", "Feature flags", labels=["team"])
    st.add_metric(["core"], {"dark_mode": True, "beta": False})
    yield st


def raw_metric() -> Iterable[Metric]:
    m = Metric("raw", "A raw Metric with its own samples", "gauge")
    m.samples.append(Sample("raw", {"b": "2", "a": "1"}, 4.0, None, None))
    m.samples.append(Sample("raw", {"a": "x"}, 5.0, 1700000000.999, None))
    yield m


class Custom:
    def __init__(self, make: Any) -> None:
        self.make = make

    def collect(self) -> Iterable[Metric]:
        return list(self.make())


MAKERS = [counter, gauges, histograms, info_and_states, raw_metric]


@pytest.mark.parametrize("make", MAKERS, ids=lambda m: m.__name__)
def test_custom_collector_renders_as_prometheus_client_does(make: Any) -> None:
    ours = ferrotel.Registry()
    theirs = prometheus_client.CollectorRegistry()
    ours.register(Custom(make))
    theirs.register(Custom(make))
    assert ferrotel.generate_latest(ours).decode() == prometheus_client.generate_latest(theirs).decode()
    assert ferrotel.generate_openmetrics(ours).decode() == pc_openmetrics(theirs).decode()


def test_all_custom_families_in_one_registry_render_as_prometheus_client_does() -> None:
    ours = ferrotel.Registry()
    theirs = prometheus_client.CollectorRegistry()
    for make in MAKERS:
        ours.register(Custom(make))
        theirs.register(Custom(make))
    assert ferrotel.generate_latest(ours) == prometheus_client.generate_latest(theirs)
    assert ferrotel.generate_openmetrics(ours) == pc_openmetrics(theirs)


@pytest.mark.parametrize("make", MAKERS, ids=lambda m: m.__name__)
def test_get_sample_value_reads_custom_collectors(make: Any) -> None:
    registry = ferrotel.Registry()
    registry.register(Custom(make))
    theirs = prometheus_client.CollectorRegistry()
    theirs.register(Custom(make))
    for metric in make():
        for sample in metric.samples:
            expected = theirs.get_sample_value(sample.name, sample.labels)
            assert registry.get_sample_value(sample.name, sample.labels) == expected, sample


def test_a_custom_collector_beside_ferrotels_own_metrics() -> None:
    registry = ferrotel.Registry()
    ferrotel.Counter("requests", "Requests", registry=registry).inc()
    registry.register(Custom(counter))
    assert registry.get_sample_value("requests_total") == 1.0
    assert registry.get_sample_value("jobs_total", {"queue": "fast"}) == 3.0
    assert registry.get_sample_value("jobs_created", {"queue": "fast"}) == 1700000000.25


def test_ferrotel_core_mirrors_prometheus_client_core() -> None:
    import prometheus_client.core as pc_core

    for name in pc_core.__all__:
        assert hasattr(ferrotel.core, name), name
    assert ferrotel.core.CounterMetricFamily is pc_core.CounterMetricFamily
    assert ferrotel.core.Counter is ferrotel.Counter
    assert ferrotel.core.REGISTRY is ferrotel.REGISTRY
    assert ferrotel.core.CollectorRegistry is ferrotel.Registry
