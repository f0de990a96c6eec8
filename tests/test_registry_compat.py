"""prometheus_client's CollectorRegistry API on ferrotel's Registry, each behaviour checked by
running the same calls against prometheus_client where that pins the expected result."""

from __future__ import annotations

import itertools
import subprocess
import sys
from collections.abc import Callable, Iterator
from typing import Any

import ferrotel
import prometheus_client
import prometheus_client.registry
import pytest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.openmetrics.exposition import generate_latest as pc_openmetrics


def both() -> Iterator[tuple[Any, Any]]:
    """(library, fresh registry) for prometheus_client and ferrotel."""
    yield prometheus_client, prometheus_client.CollectorRegistry()
    yield ferrotel, ferrotel.Registry()


def families(registry: Any) -> set[tuple[str, frozenset[str]]]:
    return {(m.name, frozenset(s.name for s in m.samples)) for m in registry.collect()}


# --- restricted_registry --------------------------------------------------------------------------


def record(lib: Any, registry: Any) -> None:
    lib.Counter("jobs", "Jobs", ["queue"], registry=registry).labels("a").inc()
    lib.Gauge("depth", "Depth", registry=registry).set(3)
    lib.Histogram("wait_seconds", "Wait", buckets=(1,), registry=registry).observe(0.5)


@pytest.mark.parametrize("names", [["jobs_total"], ["depth", "wait_seconds_count"], ["missing"], []])
def test_restricted_registry_collects_only_the_named_samples(names: list[str]) -> None:
    seen = []
    for lib, registry in both():
        record(lib, registry)
        seen.append(families(registry.restricted_registry(names)))
    assert seen[0] == seen[1]
    assert all(sample in names for _, samples in seen[1] for sample in samples)


def test_restricted_registry_sees_metrics_registered_after_it_was_made() -> None:
    registry = ferrotel.Registry()
    restricted = registry.restricted_registry(["late_total"])
    assert list(restricted.collect()) == []
    ferrotel.Counter("late", "Late", registry=registry).inc(2)
    (metric,) = restricted.collect()
    assert [(s.name, s.value) for s in metric.samples] == [("late_total", 2.0)]


def test_restricted_registry_renders_through_generate_latest() -> None:
    registry = ferrotel.Registry()
    record(ferrotel, registry)
    body = ferrotel.generate_latest(registry.restricted_registry(["depth"])).decode()
    assert body == "# HELP depth Depth\n# TYPE depth gauge\ndepth 3.0\n"
    om = ferrotel.generate_openmetrics(registry.restricted_registry(["jobs_total"])).decode()
    assert om.startswith('# HELP jobs Jobs\n# TYPE jobs counter\njobs_total{queue="a"} 1.0\n')
    assert "_created" not in om and om.endswith("# EOF\n")


# --- target_info ----------------------------------------------------------------------------------


def test_target_info_is_rendered_as_prometheus_client_renders_it() -> None:
    labels = {"service": "audotics", "zone": "eu-1"}
    ours = ferrotel.Registry(target_info=labels)
    theirs = prometheus_client.CollectorRegistry(target_info=labels)
    ferrotel.Gauge("up", "Up", registry=ours).set(1)
    prometheus_client.Gauge("up", "Up", registry=theirs).set(1)
    assert ferrotel.generate_latest(ours) == prometheus_client.generate_latest(theirs)
    assert ferrotel.generate_openmetrics(ours) == pc_openmetrics(theirs)
    assert ours.get_sample_value("target_info", labels) == 1.0
    assert ours.get_target_info() == labels


def test_set_target_info_replaces_and_removes_it() -> None:
    registry = ferrotel.Registry()
    assert registry.get_target_info() is None
    registry.set_target_info({"env": "prod"})
    assert registry.get_sample_value("target_info", {"env": "prod"}) == 1.0
    registry.set_target_info({"env": "dev"})
    assert registry.get_sample_value("target_info", {"env": "prod"}) is None
    assert registry.get_sample_value("target_info", {"env": "dev"}) == 1.0
    registry.set_target_info(None)
    assert registry.get_target_info() is None
    assert b"target" not in ferrotel.generate_latest(registry)


def test_target_info_clashes_with_an_info_named_target() -> None:
    for lib, registry in both():
        registry.set_target_info({"env": "prod"})
        with pytest.raises(ValueError):
            lib.Info("target", "Clash", registry=registry)
    for lib, registry in both():
        lib.Info("target", "Registered first", registry=registry)
        with pytest.raises(ValueError, match="already contains a target_info metric"):
            registry.set_target_info({"env": "prod"})


def test_target_info_is_in_the_restricted_view_only_when_named() -> None:
    registry = ferrotel.Registry(target_info={"env": "prod"})
    ferrotel.Gauge("up", "Up", registry=registry).set(1)
    assert {m.name for m in registry.restricted_registry(["up"]).collect()} == {"up"}
    assert {m.name for m in registry.restricted_registry(["target_info"]).collect()} == {"target"}


# --- auto_describe and collectors without names ----------------------------------------------------


class NoDescribe:
    """A custom collector with collect() only."""

    def __init__(self, name: str = "custom") -> None:
        self.name = name

    def collect(self) -> Iterator[GaugeMetricFamily]:
        yield GaugeMetricFamily(self.name, "Custom", value=7)


@pytest.mark.parametrize("auto_describe", [False, True])
def test_auto_describe_decides_whether_collect_names_a_collector(auto_describe: bool) -> None:
    outcomes = []
    for lib in (prometheus_client, ferrotel):
        registry = (
            prometheus_client.CollectorRegistry(auto_describe=auto_describe)
            if lib is prometheus_client
            else ferrotel.Registry(auto_describe=auto_describe)
        )
        registry.register(NoDescribe())
        try:
            registry.register(NoDescribe())
            outcomes.append("both registered")
        except ValueError:
            outcomes.append("duplicate")
    assert outcomes[0] == outcomes[1] == ("duplicate" if auto_describe else "both registered")


def test_the_default_registry_describes_by_collecting() -> None:
    collector = NoDescribe("ferrotel_test_auto_described")
    ferrotel.REGISTRY.register(collector)
    try:
        with pytest.raises(ValueError):
            ferrotel.REGISTRY.register(NoDescribe("ferrotel_test_auto_described"))
    finally:
        ferrotel.REGISTRY.unregister(collector)


@pytest.mark.parametrize("support", [False, True])
def test_support_collectors_without_names_in_the_restricted_view(support: bool) -> None:
    seen = []
    for registry in (
        prometheus_client.CollectorRegistry(support_collectors_without_names=support),
        ferrotel.Registry(support_collectors_without_names=support),
    ):
        registry.register(NoDescribe())
        seen.append(families(registry.restricted_registry(["custom"])))
    assert seen[0] == seen[1] == ({("custom", frozenset({"custom"}))} if support else set())


# --- unregister and duplicate names ----------------------------------------------------------------


def test_unregister_frees_every_name_the_collector_held() -> None:
    registry = ferrotel.Registry()
    counter = ferrotel.Counter("jobs", "Jobs", registry=registry)
    registry.unregister(counter)
    for name in ("jobs", "jobs_total", "jobs_created"):
        gauge = ferrotel.Gauge(name, "Now a gauge", registry=registry)
        registry.unregister(gauge)
    ferrotel.Counter("jobs", "Jobs again", registry=registry).inc()
    assert registry.get_sample_value("jobs_total") == 1.0
    custom = NoDescribe("jobs_custom")
    registry = ferrotel.Registry(auto_describe=True)
    registry.register(custom)
    registry.unregister(custom)
    registry.register(NoDescribe("jobs_custom"))


def test_unregister_of_what_is_not_registered() -> None:
    """prometheus_client raises KeyError (a dict look-up); ferrotel's error is also a ValueError."""
    registry = ferrotel.Registry()
    counter = ferrotel.Counter("jobs", "Jobs", registry=None)
    with pytest.raises(KeyError):
        registry.unregister(counter)
    with pytest.raises(ValueError, match="not registered"):
        registry.unregister(counter)
    with pytest.raises(KeyError):
        prometheus_client.CollectorRegistry().unregister(prometheus_client.Counter("j", "J", registry=None))


def declare(lib: Any, kind: str, name: str, registry: Any) -> Any:
    kwargs: dict[str, Any] = {"registry": registry}
    if kind == "Enum":
        kwargs["states"] = ["a", "b"]
    return getattr(lib, kind)(name, "Doc", **kwargs)


KINDS = ("Counter", "Gauge", "Histogram", "Summary", "Info", "Enum")
NAMES = ("x", "x_total", "x_created", "x_sum", "x_count", "x_bucket", "x_info")


def test_duplicate_check_covers_every_derived_name_across_types() -> None:
    """Every pair of (type, name) declarations clashes in ferrotel exactly when it clashes in
    prometheus_client: `_total`, `_created`, `_sum`, `_count`, `_bucket`, `_info`, bare names."""
    declarations = list(itertools.product(KINDS, NAMES))
    differ = []
    for first, second in itertools.product(declarations, repeat=2):
        outcome = []
        for lib, registry in both():
            declare(lib, *first, registry)
            try:
                declare(lib, *second, registry)
                outcome.append(False)
            except ValueError:
                outcome.append(True)
        if outcome[0] != outcome[1]:
            differ.append((first, second, outcome))
    assert differ == []


def test_duplicate_is_prometheus_clients_duplicate_timeseries() -> None:
    registry = ferrotel.Registry()
    ferrotel.Counter("jobs", "Jobs", registry=registry)
    with pytest.raises(prometheus_client.registry.DuplicateTimeseries) as caught:
        ferrotel.Gauge("jobs_total", "Clash", registry=registry)
    error = caught.value
    assert isinstance(error, ValueError)
    assert isinstance(error, ferrotel.DuplicateTimeseries)
    assert error.duplicates == {"jobs_total"}
    assert str(error).startswith("Duplicated timeseries in CollectorRegistry: {'jobs_total'}")
    assert "counter:jobs" in str(error)
    with pytest.raises(ferrotel.DuplicateTimeseries):
        registry.register(CollectorOf("jobs_created"))


class CollectorOf:
    def __init__(self, name: str) -> None:
        self.name = name

    def describe(self) -> list[GaugeMetricFamily]:
        return [GaugeMetricFamily(self.name, "Doc")]

    def collect(self) -> list[CounterMetricFamily]:
        return []


def test_duplicate_timeseries_without_prometheus_client() -> None:
    """With prometheus_client absent, ferrotel's DuplicateTimeseries is a plain ValueError."""
    code = """
import sys
sys.modules["prometheus_client"] = None
import ferrotel
mro = ferrotel.DuplicateTimeseries.__mro__
assert mro[1:3] == (ferrotel.registry._Base, ValueError), mro
r = ferrotel.Registry()
ferrotel.Counter("jobs", "Jobs", registry=r)
try:
    ferrotel.Gauge("jobs_total", "Clash", registry=r)
except ferrotel.DuplicateTimeseries as e:
    assert isinstance(e, ValueError) and e.duplicates == {"jobs_total"}, e
    print("ok")
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "ok", out.stderr


# --- the built-in collectors -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("handle", "sample"),
    [
        ("PROCESS_COLLECTOR", "process_open_fds"),
        ("PLATFORM_COLLECTOR", "python_info"),
        ("GC_COLLECTOR", "python_gc_collections_total"),
    ],
)
def test_builtin_collectors_can_be_unregistered_and_registered_again(handle: str, sample: str) -> None:
    collector = getattr(ferrotel, handle)
    names: Callable[[], set[str]] = lambda: {  # noqa: E731
        s.name for m in ferrotel.REGISTRY.collect() for s in m.samples
    }
    assert collector in ferrotel.REGISTRY
    assert sample in names()
    ferrotel.REGISTRY.unregister(collector)
    try:
        assert sample not in names()
        assert collector not in ferrotel.REGISTRY
    finally:
        ferrotel.REGISTRY.register(collector)
    assert sample in names()
    assert sample in {s.name for m in collector.collect() for s in m.samples}


def test_prometheus_clients_collector_classes_register_into_ferrotel() -> None:
    registry = ferrotel.Registry()
    ferrotel.ProcessCollector(namespace="worker", registry=registry)
    ferrotel.PlatformCollector(registry=registry)
    assert registry.get_sample_value("worker_process_max_fds") is not None
    assert registry.get_sample_value("python_info", dict(python_info_labels())) == 1.0
    with pytest.raises(ValueError):
        ferrotel.PlatformCollector()  # the default REGISTRY has ferrotel's own already


def python_info_labels() -> Iterator[tuple[str, str]]:
    (metric,) = prometheus_client.PlatformCollector(registry=None).collect()
    yield from metric.samples[0].labels.items()
