"""Property-based tests (issue #16) over the metrics API: names, labels, values, and the
expositions parsed back by prometheus_client. See tests/strategies.py."""

from __future__ import annotations

import math
from typing import Any

import ferrotel
from hypothesis import assume, example, given
from hypothesis import strategies as st
from prometheus_client.openmetrics.parser import text_string_to_metric_families as parse_openmetrics
from prometheus_client.parser import text_string_to_metric_families as parse_text
from strategies import clean_text, surrogate_text

metric_name = st.from_regex(r"[a-zA-Z_][a-zA-Z0-9_]{0,20}", fullmatch=True)
label_name = st.from_regex(r"[a-zA-Z][a-zA-Z0-9_]{0,10}", fullmatch=True)

METRIC_CLASSES = [
    ferrotel.Counter,
    ferrotel.Gauge,
    ferrotel.Histogram,
    ferrotel.Summary,
    ferrotel.Info,
    ferrotel.Enum,
]


def define(cls: type, name: str, labelnames: list[str], registry: ferrotel.Registry, doc: str = "doc") -> Any:
    if cls is ferrotel.Enum:
        return cls(name, doc, labelnames, registry=registry, states=["a", "b"])
    return cls(name, doc, labelnames, registry=registry)


def refused_clearly(define: Any) -> None:
    """Calls ``define()``: it may refuse with a ValueError or TypeError of ferrotel's own (not
    a codec's UnicodeEncodeError, which is a ValueError naming no setting), nothing else."""
    try:
        define()
    except (ValueError, TypeError) as exc:
        assert not isinstance(exc, UnicodeError), repr(exc)


@given(st.sampled_from(METRIC_CLASSES), clean_text, clean_text, st.lists(clean_text, max_size=3))
def test_defining_a_metric_raises_only_value_or_type_errors(cls, name, doc, labelnames):
    refused_clearly(lambda: define(cls, name, labelnames, ferrotel.Registry(), doc))


@given(st.lists(st.floats() | st.integers(), max_size=5))
def test_histogram_buckets_are_accepted_or_refused_clearly(buckets):
    refused_clearly(lambda: ferrotel.Histogram("h", "doc", buckets=buckets, registry=ferrotel.Registry()))


@given(clean_text, st.dictionaries(clean_text, clean_text, max_size=3), st.integers(0, 2**64 - 1))
def test_registry_settings_are_accepted_or_refused_clearly(prefix, default_labels, limit):
    refused_clearly(
        lambda: ferrotel.Registry(prefix=prefix, default_labels=default_labels, cardinality_limit=limit)
    )


@given(st.integers(max_value=-1) | st.integers(min_value=2**64))
def test_a_negative_cardinality_limit_is_refused_with_value_error(limit):
    refused_clearly(lambda: ferrotel.Registry(cardinality_limit=limit))


@given(st.sampled_from(METRIC_CLASSES), surrogate_text, st.lists(label_name, max_size=2))
def test_a_surrogate_metric_name_is_refused_with_value_error(cls, name, labelnames):
    refused_clearly(lambda: define(cls, name, labelnames, ferrotel.Registry()))


@given(st.sampled_from(METRIC_CLASSES), metric_name, surrogate_text)
def test_a_surrogate_label_name_is_refused_with_value_error(cls, name, labelname):
    refused_clearly(lambda: define(cls, name, [labelname], ferrotel.Registry()))


def exposed_samples(registry: ferrotel.Registry) -> list[Any]:
    """The samples of both expositions, each parsed back by prometheus_client."""
    text = ferrotel.generate_latest(registry).decode()
    openmetrics = ferrotel.generate_openmetrics(registry).decode()
    samples = [s for family in parse_text(text) for s in family.samples]
    om_samples = [s for family in parse_openmetrics(openmetrics) for s in family.samples]
    assert len(om_samples) >= len(samples) > 0
    return samples


def value_of(samples: list[Any], suffix: str, labels: dict[str, str]) -> float:
    (value,) = [s.value for s in samples if s.name.endswith(suffix) and s.labels == labels]
    return float(value)


label_sets = st.lists(label_name, min_size=1, max_size=3, unique=True).flatmap(
    lambda names: st.tuples(st.just(names), st.lists(clean_text, min_size=len(names), max_size=len(names)))
)


@given(metric_name, label_sets, st.floats(min_value=0, allow_infinity=False), st.floats(allow_nan=False))
def test_recorded_label_values_and_numbers_come_back_from_the_exposition(name, label_set, amount, value):
    names, values = label_set
    assume(not any(n.startswith("__") for n in names))
    registry = ferrotel.Registry()
    counter = ferrotel.Counter(name, "doc", names, registry=registry)
    gauge = ferrotel.Gauge(name + "_g", "doc", names, registry=registry)
    counter.labels(*values).inc(amount)
    gauge.labels(*values).set(value)
    samples = exposed_samples(registry)
    assert len(names) == len(values)
    labels = dict(zip(names, values))
    assert value_of(samples, "_total", labels) == amount
    assert value_of(samples, "_g", labels) == value


def observed(observations: list[float]) -> list[Any]:
    """The exposed samples of a histogram ``h`` and a summary ``s`` that saw ``observations``."""
    registry = ferrotel.Registry()
    histogram = ferrotel.Histogram("h", "doc", registry=registry)
    summary = ferrotel.Summary("s", "doc", registry=registry)
    for x in observations:
        histogram.observe(x)
        summary.observe(x)
    return exposed_samples(registry)


@given(st.lists(st.floats(allow_nan=False, allow_infinity=False, min_value=0), min_size=1, max_size=5))
def test_histogram_and_summary_expositions_stay_valid_for_finite_observations(observations):
    samples = observed(observations)
    assert value_of(samples, "h_count", {}) == len(observations)
    assert value_of(samples, "s_count", {}) == len(observations)


@given(st.lists(st.floats(allow_nan=False), min_size=1, max_size=5).filter(lambda xs: any(x < 0 for x in xs)))
@example([math.inf, -math.inf])
def test_histogram_and_summary_expositions_stay_valid_for_any_observation(observations):
    observed(observations)


class Unreadable:
    def __float__(self) -> float:
        raise RuntimeError("no number today")


@given(st.sampled_from([None, "text", Unreadable(), [1.0]]) | st.builds(RuntimeError))
def test_a_failing_gauge_callback_leaves_the_rest_of_the_scrape(result):
    registry = ferrotel.Registry()
    ferrotel.Counter("kept", "doc", registry=registry).inc()

    def callback() -> Any:
        if isinstance(result, Exception):
            raise result
        return result

    ferrotel.Gauge("g", "doc", registry=registry).set_function(callback)
    assert value_of(exposed_samples(registry), "kept_total", {}) == 1


@given(surrogate_text)
def test_a_surrogate_label_value_is_recorded_without_raising(value):
    registry = ferrotel.Registry()
    counter = ferrotel.Counter("c", "doc", ["l"], registry=registry)
    counter.labels(value).inc()
    exposed_samples(registry)
