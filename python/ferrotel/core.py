"""prometheus_client's ``core`` module, for ferrotel: the metric classes and registry are
ferrotel's; the metric families a custom collector returns are prometheus_client's own classes,
which ferrotel's registries render exactly as prometheus_client does.

    from ferrotel.core import REGISTRY, CounterMetricFamily

    class QueueCollector:
        def collect(self):
            yield CounterMetricFamily("jobs", "Jobs done", value=jobs_done())

    REGISTRY.register(QueueCollector())
"""

from __future__ import annotations

from prometheus_client.metrics_core import (
    CounterMetricFamily,
    GaugeHistogramMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    InfoMetricFamily,
    Metric,
    StateSetMetricFamily,
    SummaryMetricFamily,
    UnknownMetricFamily,
    UntypedMetricFamily,
)
from prometheus_client.samples import BucketSpan, Exemplar, NativeHistogram, Sample, Timestamp

from ._core import REGISTRY, Counter, Enum, Gauge, Histogram, Info, Summary
from .registry import CollectorRegistry, DuplicateTimeseries

__all__ = [
    "BucketSpan",
    "CollectorRegistry",
    "Counter",
    "CounterMetricFamily",
    "DuplicateTimeseries",
    "Enum",
    "Exemplar",
    "Gauge",
    "GaugeHistogramMetricFamily",
    "GaugeMetricFamily",
    "Histogram",
    "HistogramMetricFamily",
    "Info",
    "InfoMetricFamily",
    "Metric",
    "NativeHistogram",
    "REGISTRY",
    "Sample",
    "StateSetMetricFamily",
    "Summary",
    "SummaryMetricFamily",
    "Timestamp",
    "UnknownMetricFamily",
    "UntypedMetricFamily",
]
