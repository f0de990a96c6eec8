"""Definition-time mistakes are ValueErrors naming the value; record-time values that would make
the exposition invalid are left out and counted; a failing `set_function` callback costs its own
sample only."""

from __future__ import annotations

import logging
import math
from typing import Any

import ferrotel
import pytest
from prometheus_client.openmetrics.parser import text_string_to_metric_families as parse_openmetrics

SURROGATE = "caf\udce9"  # what os.fsdecode makes of a Latin-1 byte


def dropped(reason: str) -> float:
    labels = {"signal": "metrics", "reason": reason}
    return ferrotel.REGISTRY.get_sample_value("ferrotel_dropped_total", labels) or 0.0


def openmetrics(registry: ferrotel.Registry) -> dict[str, Any]:
    """The registry's OpenMetrics exposition, parsed by prometheus_client's strict parser."""
    return {f.name: f for f in parse_openmetrics(ferrotel.generate_openmetrics(registry).decode())}


# --- definition-time errors ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "declare",
    [
        lambda: ferrotel.Counter(SURROGATE, "Doc", registry=None),
        lambda: ferrotel.Counter("ok", "Doc", [SURROGATE], registry=None),
        lambda: ferrotel.Gauge("ok", "Doc", namespace=SURROGATE, registry=None),
        lambda: ferrotel.Histogram("ok", "Doc", unit=SURROGATE, registry=None),
        lambda: ferrotel.Registry(prefix=SURROGATE),
        lambda: ferrotel.Registry(default_labels={SURROGATE: "v"}),
        lambda: ferrotel.Info("ok", "Doc", registry=None).info({SURROGATE: "v"}),
    ],
)
def test_surrogate_names_are_value_errors_naming_the_value(declare: Any) -> None:
    with pytest.raises(ValueError, match=r"caf\\udce9"):
        declare()


def test_surrogates_in_documentation_and_label_values_are_replaced() -> None:
    registry = ferrotel.Registry()
    c = ferrotel.Counter("c", f"doc {SURROGATE}", ["path"], registry=registry)
    c.labels(SURROGATE).inc()
    assert registry.get_sample_value("c_total", {"path": "caf\ufffd"}) == 1.0
    assert "doc caf\ufffd" in ferrotel.generate_latest(registry).decode()


@pytest.mark.parametrize("limit", [-1, 0, 2**70])
def test_cardinality_limit_out_of_range_is_a_value_error(limit: int) -> None:
    with pytest.raises(ValueError, match=f"cardinality_limit.*{limit}"):
        ferrotel.Registry(cardinality_limit=limit)


def test_cardinality_limit_of_the_wrong_type_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="cardinality_limit"):
        ferrotel.Registry(cardinality_limit="10")  # type: ignore[arg-type]


# --- values that would make the exposition invalid -------------------------------------------------


def test_infinite_observations_leave_the_sum_valid() -> None:
    registry = ferrotel.Registry()
    h = ferrotel.Histogram("h", "H", buckets=(1,), registry=registry)
    s = ferrotel.Summary("s", "S", registry=registry)
    before = dropped("non_finite_value")
    for value in (math.inf, -math.inf, 0.5):
        h.observe(value)
        s.observe(value)
    assert dropped("non_finite_value") == before + 4
    families = openmetrics(registry)  # parses: no NaN or infinite _sum
    assert registry.get_sample_value("h_sum") == 0.5
    assert registry.get_sample_value("h_count") == 1.0
    assert registry.get_sample_value("s_sum") == 0.5
    assert {"h", "s"} <= set(families)


def test_infinite_counter_increment_is_left_out() -> None:
    registry = ferrotel.Registry()
    c = ferrotel.Counter("c", "C", registry=registry)
    before = dropped("non_finite_value")
    c.inc(math.inf)
    c.inc(2)
    assert dropped("non_finite_value") == before + 1
    assert registry.get_sample_value("c_total") == 2.0


def test_negative_observations_without_negative_buckets_are_left_out() -> None:
    registry = ferrotel.Registry()
    h = ferrotel.Histogram("h", "H", buckets=(1, 2), registry=registry)
    s = ferrotel.Summary("s", "S", registry=registry)
    before = dropped("negative_value")
    h.observe(-3)
    s.observe(-3)
    h.observe(1.5)
    assert dropped("negative_value") == before + 2
    openmetrics(registry)
    assert registry.get_sample_value("h_sum") == 1.5
    assert registry.get_sample_value("s_count") == 0.0


def test_a_histogram_with_negative_buckets_records_negatives_and_has_no_sum() -> None:
    """As in prometheus_client, a negative bucket means negative values are expected, and
    OpenMetrics then allows no `_sum`, nor (without a `_sum`) a `_count`: the +Inf bucket counts.
    (prometheus_client keeps `_count`, which its own OpenMetrics parser rejects.)"""
    registry = ferrotel.Registry()
    h = ferrotel.Histogram("temp", "T", buckets=(-10, 0, 10), registry=registry)
    h.observe(-15)
    h.observe(5)
    families = openmetrics(registry)
    names = {s.name for s in families["temp"].samples}
    assert "temp_sum" not in names and "temp_count" not in names
    assert registry.get_sample_value("temp_bucket", {"le": "-10.0"}) == 1.0
    assert registry.get_sample_value("temp_bucket", {"le": "+Inf"}) == 2.0


# --- set_function callbacks ------------------------------------------------------------------------


def test_a_failing_set_function_costs_only_its_own_sample(caplog: pytest.LogCaptureFixture) -> None:
    registry = ferrotel.Registry()
    ferrotel.Gauge("fine", "Fine", registry=registry).set(1)
    broken = ferrotel.Gauge("broken", "Broken", ["kind"], registry=registry)
    state = {"fail": True}

    def boom() -> float:
        if state["fail"]:
            raise RuntimeError("backend down")
        return 4.0

    broken.labels("raises").set_function(boom)
    broken.labels("not_a_number").set_function(lambda: "many")
    broken.labels("ok").set(2)
    before = dropped("set_function_failed")
    with caplog.at_level(logging.WARNING, logger="ferrotel"):
        for _ in range(3):
            text = ferrotel.generate_latest(registry).decode()
    assert "fine 1.0" in text
    assert 'broken{kind="ok"} 2.0' in text
    assert "raises" not in text and "not_a_number" not in text
    assert dropped("set_function_failed") == before + 6
    warnings = [r for r in caplog.records if r.name == "ferrotel"]
    assert len(warnings) == 1, warnings
    assert "broken" in warnings[0].getMessage()
    state["fail"] = False
    assert registry.get_sample_value("broken", {"kind": "raises"}) == 4.0
