"""Behaviour of every metric type and method, checked through a fresh Registry per test."""

from __future__ import annotations

import asyncio
import math
import time

import ferrotel
import prometheus_client
import pytest
from prometheus_client.openmetrics.parser import text_string_to_metric_families as parse_openmetrics
from prometheus_client.parser import text_string_to_metric_families as parse_text

# fast, and the whole module: part of the wheel smoke run (scripts/test-wheels.sh on 3.10-3.12)
pytestmark = pytest.mark.wheel_smoke

OVERFLOW = "__ferrotel_overflow__"


@pytest.fixture
def registry() -> ferrotel.Registry:
    return ferrotel.Registry()


def text_samples(registry: ferrotel.Registry) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of the 0.0.4 exposition, keyed by name and sorted labels."""
    out = {}
    for family in parse_text(ferrotel.generate_latest(registry).decode()):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def dropped_folds() -> float:
    value = ferrotel.REGISTRY.get_sample_value(
        "ferrotel_dropped_total", {"signal": "metrics", "reason": "cardinality_limit"}
    )
    return value or 0.0


# --- Counter -----------------------------------------------------------------------------------


def test_counter_inc_default_and_amounts(registry):
    c = ferrotel.Counter("jobs_total", "Jobs done", registry=registry)
    assert registry.get_sample_value("jobs_total") == 0.0
    c.inc()
    c.inc(2)
    c.inc(0.5)
    assert registry.get_sample_value("jobs_total") == 3.5
    assert registry.get_sample_value("jobs_created") is not None


def test_counter_total_suffix_is_dropped_from_the_family_name(registry):
    c = ferrotel.Counter("jobs_total", "Jobs done", registry=registry)
    assert c._name == "jobs"
    assert c._type == "counter"
    families = list(parse_text(ferrotel.generate_latest(registry).decode()))
    assert [f.name for f in families] == ["jobs"]
    assert [s.name for s in families[0].samples] == ["jobs_total"]


def test_counter_without_total_suffix_exposes_total_sample(registry):
    c = ferrotel.Counter("jobs", "Jobs done", registry=registry)
    c.inc(4)
    assert registry.get_sample_value("jobs_total") == 4.0
    body = ferrotel.generate_latest(registry).decode()
    assert "# TYPE jobs_total counter" in body
    assert "jobs_total 4.0" in body
    # 0.0.4 has no place for _created.
    assert "_created" not in body


def test_counter_reset(registry):
    c = ferrotel.Counter("jobs_total", "Jobs done", registry=registry)
    c.inc(10)
    c.reset()
    assert registry.get_sample_value("jobs_total") == 0.0


def test_counter_exemplar_in_openmetrics(registry):
    c = ferrotel.Counter("requests_total", "Requests", ["path"], registry=registry)
    c.labels("/a").inc(1, exemplar={"trace_id": "abc"})
    c.labels("/b").inc(2)
    families = {f.name: f for f in parse_openmetrics(ferrotel.generate_openmetrics(registry).decode())}
    samples = {s.labels["path"]: s for s in families["requests"].samples if s.name == "requests_total"}
    assert samples["/a"].exemplar is not None
    assert samples["/a"].exemplar.labels == {"trace_id": "abc"}
    assert samples["/a"].exemplar.value == 1.0
    assert samples["/b"].exemplar is None
    # the 0.0.4 format has no exemplars
    assert "trace_id" not in ferrotel.generate_latest(registry).decode()


def test_counter_exemplar_replaced_by_latest(registry):
    c = ferrotel.Counter("requests_total", "Requests", registry=registry)
    c.inc(1, exemplar={"trace_id": "first"})
    c.inc(3, exemplar={"trace_id": "second"})
    (family,) = parse_openmetrics(ferrotel.generate_openmetrics(registry).decode())
    (total,) = [s for s in family.samples if s.name == "requests_total"]
    assert total.value == 4.0
    assert total.exemplar.labels == {"trace_id": "second"}
    assert total.exemplar.value == 3.0


# --- labels, children, remove, clear -----------------------------------------------------------


def test_labels_returns_the_same_child_for_the_same_values(registry):
    c = ferrotel.Counter("requests_total", "Requests", ["method", "status"], registry=registry)
    a = c.labels("GET", "200")
    assert c.labels("GET", "200") is a
    assert c.labels("GET", 200) is a, "int label values are str()-ed like prometheus_client"
    assert c.labels(method="GET", status="200") is a
    assert c.labels(status=200, method="GET") is a
    assert c.labels("POST", "200") is not a


def test_label_values_str_int_float(registry):
    g = ferrotel.Gauge("temp", "Temperature", ["room", "floor", "ratio"], registry=registry)
    g.labels("kitchen", 2, 0.5).set(21)
    g.labels("attic", -1, 1.0).set(5)
    assert registry.get_sample_value("temp", {"room": "kitchen", "floor": "2", "ratio": "0.5"}) == 21.0
    assert registry.get_sample_value("temp", {"room": "attic", "floor": "-1", "ratio": "1.0"}) == 5.0
    assert g.labels("kitchen", "2", "0.5") is g.labels("kitchen", 2, 0.5)


def test_label_value_escaping_round_trips(registry):
    c = ferrotel.Counter("odd_total", 'Help with "quotes" \\ and\nnewline', ["v"], registry=registry)
    value = 'a"b\\c\nd'
    c.labels(value).inc()
    samples = text_samples(registry)
    assert samples[("odd_total", (("v", value),))] == 1.0
    (family,) = parse_openmetrics(ferrotel.generate_openmetrics(registry).decode())
    assert family.samples[0].labels == {"v": value}
    assert family.documentation == 'Help with "quotes" \\ and\nnewline'


def test_labelled_children_record_independently(registry):
    c = ferrotel.Counter("requests_total", "Requests", ["path"], registry=registry)
    a, b = c.labels("/a"), c.labels("/b")
    a.inc(2)
    b.inc(5)
    a.inc()
    assert registry.get_sample_value("requests_total", {"path": "/a"}) == 3.0
    assert registry.get_sample_value("requests_total", {"path": "/b"}) == 5.0


def test_remove_one_label_set(registry):
    c = ferrotel.Counter("requests_total", "Requests", ["path", "code"], registry=registry)
    c.labels("/a", 200).inc()
    c.labels("/b", 200).inc()
    c.remove("/a", 200)
    assert registry.get_sample_value("requests_total", {"path": "/a", "code": "200"}) is None
    assert registry.get_sample_value("requests_total", {"path": "/b", "code": "200"}) == 1.0
    # removing a label set that does not exist is a no-op, as in prometheus_client
    c.remove("/missing", 500)
    # a removed label set starts again from zero, with a fresh child
    c.labels("/a", 200).inc(7)
    assert registry.get_sample_value("requests_total", {"path": "/a", "code": "200"}) == 7.0


def test_clear_removes_every_label_set(registry):
    g = ferrotel.Gauge("queue", "Queue depth", ["name"], registry=registry)
    for name in ("a", "b", "c"):
        g.labels(name).set(1)
    g.clear()
    (family,) = parse_text(ferrotel.generate_latest(registry).decode())
    assert family.samples == []
    g.labels("a").inc()
    assert registry.get_sample_value("queue", {"name": "a"}) == 1.0


def test_labelled_parent_cannot_record_directly(registry):
    c = ferrotel.Counter("requests_total", "Requests", ["path"], registry=registry)
    with pytest.raises(ValueError, match="requests"):
        c.inc()


def test_labels_on_a_child_is_refused(registry):
    c = ferrotel.Counter("requests_total", "Requests", ["path"], registry=registry)
    with pytest.raises(ValueError, match="already"):
        c.labels("/a").labels("/b")


# --- Gauge -------------------------------------------------------------------------------------


def test_gauge_inc_dec_set(registry):
    g = ferrotel.Gauge("in_flight", "In flight", registry=registry)
    g.inc()
    g.inc(4)
    g.dec()
    g.dec(0.5)
    assert registry.get_sample_value("in_flight") == 3.5
    g.set(-2)
    assert registry.get_sample_value("in_flight") == -2.0
    g.set(float("inf"))
    assert registry.get_sample_value("in_flight") == math.inf


def test_gauge_set_to_current_time(registry):
    g = ferrotel.Gauge("last_run", "Last run", registry=registry)
    before = time.time()
    g.set_to_current_time()
    value = registry.get_sample_value("last_run")
    # a Unix timestamp from the same wall clock, not a monotonic reading
    assert abs(value - before) < 3600


def test_gauge_set_function_is_read_at_every_scrape(registry):
    g = ferrotel.Gauge("items", "Items", registry=registry)
    items = [1, 2]
    g.set_function(lambda: len(items))
    assert registry.get_sample_value("items") == 2.0
    items.append(3)
    assert registry.get_sample_value("items") == 3.0
    assert "items 3.0" in ferrotel.generate_latest(registry).decode()


def test_gauge_set_function_on_labelled_child(registry):
    g = ferrotel.Gauge("pool_size", "Pool size", ["pool"], registry=registry)
    g.labels("db").set_function(lambda: 8)
    g.labels("cache").set(3)
    assert registry.get_sample_value("pool_size", {"pool": "db"}) == 8.0
    assert registry.get_sample_value("pool_size", {"pool": "cache"}) == 3.0


def test_gauge_track_inprogress_context_manager(registry):
    g = ferrotel.Gauge("in_progress", "In progress", registry=registry)
    with g.track_inprogress():
        assert registry.get_sample_value("in_progress") == 1.0
        with g.track_inprogress():
            assert registry.get_sample_value("in_progress") == 2.0
    assert registry.get_sample_value("in_progress") == 0.0
    with pytest.raises(RuntimeError):
        with g.track_inprogress():
            raise RuntimeError("boom")
    assert registry.get_sample_value("in_progress") == 0.0


def test_gauge_track_inprogress_decorator(registry):
    g = ferrotel.Gauge("in_progress", "In progress", registry=registry)
    seen = []

    @g.track_inprogress()
    def work(x):
        seen.append(registry.get_sample_value("in_progress"))
        return x * 2

    assert work(21) == 42
    assert work.__name__ == "work"
    assert seen == [1.0]
    assert registry.get_sample_value("in_progress") == 0.0


def test_gauge_track_inprogress_async_decorator(registry):
    g = ferrotel.Gauge("in_progress", "In progress", registry=registry)
    seen = []
    gate = asyncio.Event

    async def main():
        release = gate()

        @g.track_inprogress()
        async def work():
            await release.wait()
            return "done"

        tasks = [asyncio.create_task(work()) for _ in range(3)]
        for _ in range(5):
            await asyncio.sleep(0)
        seen.append(registry.get_sample_value("in_progress"))
        release.set()
        return await asyncio.gather(*tasks)

    assert asyncio.run(main()) == ["done"] * 3
    assert seen == [3.0]
    assert registry.get_sample_value("in_progress") == 0.0


def test_gauge_time_sets_the_duration(registry):
    g = ferrotel.Gauge("last_duration_seconds", "Duration", registry=registry)
    g.set(-1)
    with g.time():
        time.sleep(0.001)
    value = registry.get_sample_value("last_duration_seconds")
    assert 0 < value < 3600

    @g.time()
    def f():
        return "ok"

    g.set(-1)
    assert f() == "ok"
    assert registry.get_sample_value("last_duration_seconds") >= 0


# --- Histogram ---------------------------------------------------------------------------------


def test_histogram_buckets_sum_count(registry):
    h = ferrotel.Histogram("latency_seconds", "Latency", buckets=(0.1, 0.5, 1.0), registry=registry)
    for v in (0.05, 0.1, 0.3, 0.5, 0.7, 1.0, 3.0):
        h.observe(v)
    bucket = lambda le: registry.get_sample_value("latency_seconds_bucket", {"le": le})  # noqa: E731
    # bounds are inclusive (le), buckets cumulative
    assert bucket("0.1") == 2.0
    assert bucket("0.5") == 4.0
    assert bucket("1.0") == 6.0
    assert bucket("+Inf") == 7.0
    assert registry.get_sample_value("latency_seconds_count") == 7.0
    assert registry.get_sample_value("latency_seconds_sum") == pytest.approx(5.65)
    assert h._upper_bounds == [0.1, 0.5, 1.0, math.inf]


def test_histogram_int_buckets_and_explicit_inf(registry):
    h = ferrotel.Histogram("size_bytes", "Size", buckets=[1, 2, float("inf")], registry=registry)
    assert h._upper_bounds == [1.0, 2.0, math.inf]
    h.observe(2)
    assert registry.get_sample_value("size_bytes_bucket", {"le": "2.0"}) == 1.0
    assert registry.get_sample_value("size_bytes_bucket", {"le": "1.0"}) == 0.0


def test_histogram_default_buckets(registry):
    h = ferrotel.Histogram("latency_seconds", "Latency", registry=registry)
    assert h._upper_bounds == list(ferrotel.DEFAULT_BUCKETS)
    assert list(ferrotel.DEFAULT_BUCKETS) == list(prometheus_client.Histogram.DEFAULT_BUCKETS)


def test_histogram_exemplar_on_its_bucket(registry):
    h = ferrotel.Histogram("latency_seconds", "Latency", buckets=(0.1, 1.0), registry=registry)
    h.observe(0.5, exemplar={"trace_id": "t-1"})
    h.observe(0.05)
    (family,) = parse_openmetrics(ferrotel.generate_openmetrics(registry).decode())
    by_le = {s.labels["le"]: s for s in family.samples if s.name == "latency_seconds_bucket"}
    assert by_le["1.0"].exemplar.labels == {"trace_id": "t-1"}
    assert by_le["1.0"].exemplar.value == 0.5
    assert by_le["0.1"].exemplar is None
    assert by_le["+Inf"].exemplar is None


def test_histogram_labelled(registry):
    h = ferrotel.Histogram("latency_seconds", "Latency", ["route"], buckets=(1,), registry=registry)
    h.labels("/a").observe(0.5)
    h.labels(route="/b").observe(2)
    assert registry.get_sample_value("latency_seconds_bucket", {"route": "/a", "le": "1.0"}) == 1.0
    assert registry.get_sample_value("latency_seconds_bucket", {"route": "/b", "le": "1.0"}) == 0.0
    assert registry.get_sample_value("latency_seconds_count", {"route": "/b"}) == 1.0


def _nan_drops() -> float:
    labels = {"signal": "metrics", "reason": "nan_value"}
    return ferrotel.REGISTRY.get_sample_value("ferrotel_dropped_total", labels) or 0.0


def test_nan_observations_are_dropped_and_counted(registry):
    """A NaN sum would make every later OpenMetrics exposition invalid, so NaN is counted, not kept."""
    h = ferrotel.Histogram("x", "X", buckets=(1,), registry=registry)
    s = ferrotel.Summary("y", "Y", registry=registry)
    c = ferrotel.Counter("z", "Z", registry=registry)
    before = _nan_drops()
    h.observe(float("nan"))
    s.observe(float("nan"))
    c.inc(float("nan"))
    h.observe(0.5)
    assert _nan_drops() == before + 3
    assert registry.get_sample_value("x_count") == 1.0
    assert registry.get_sample_value("x_sum") == 0.5
    assert registry.get_sample_value("x_bucket", {"le": "+Inf"}) == 1.0
    assert registry.get_sample_value("y_count") == 0.0
    assert registry.get_sample_value("z_total") == 0.0


def test_histogram_time_context_manager(registry):
    h = ferrotel.Histogram("work_seconds", "Work", registry=registry)
    with h.time():
        pass
    with pytest.raises(KeyError):
        with h.time():
            raise KeyError("x")
    assert registry.get_sample_value("work_seconds_count") == 2.0
    assert registry.get_sample_value("work_seconds_sum") >= 0


def test_histogram_time_decorator(registry):
    h = ferrotel.Histogram("work_seconds", "Work", registry=registry)

    @h.time()
    def work(a, b=1):
        """Docstring kept."""
        return a + b

    assert work(1, b=2) == 3
    assert work(1) == 2
    assert work.__name__ == "work"
    assert work.__doc__ == "Docstring kept."
    assert registry.get_sample_value("work_seconds_count") == 2.0


def test_histogram_time_async_decorator(registry):
    h = ferrotel.Histogram("work_seconds", "Work", buckets=(1000,), registry=registry)

    @h.time()
    async def work(x):
        await asyncio.sleep(0)
        return x

    assert asyncio.iscoroutinefunction(work)

    async def main():
        return await asyncio.gather(*(work(i) for i in range(4)))

    assert asyncio.run(main()) == [0, 1, 2, 3]
    assert registry.get_sample_value("work_seconds_count") == 4.0
    assert registry.get_sample_value("work_seconds_bucket", {"le": "1000.0"}) == 4.0


def test_histogram_time_on_labelled_child(registry):
    h = ferrotel.Histogram("work_seconds", "Work", ["kind"], registry=registry)
    with h.labels("a").time():
        pass
    assert registry.get_sample_value("work_seconds_count", {"kind": "a"}) == 1.0


# --- Summary -----------------------------------------------------------------------------------


def test_summary_observe_and_time(registry):
    s = ferrotel.Summary("payload_bytes", "Payload", registry=registry)
    s.observe(10)
    s.observe(2.5)
    assert registry.get_sample_value("payload_bytes_count") == 2.0
    assert registry.get_sample_value("payload_bytes_sum") == 12.5
    with s.time():
        pass

    @s.time()
    def f():
        return 1

    @s.time()
    async def g():
        return 2

    assert f() == 1
    assert asyncio.run(g()) == 2
    assert registry.get_sample_value("payload_bytes_count") == 5.0


def test_summary_labelled(registry):
    s = ferrotel.Summary("payload_bytes", "Payload", ["route"], registry=registry)
    s.labels("/a").observe(1)
    s.labels("/a").observe(3)
    assert registry.get_sample_value("payload_bytes_sum", {"route": "/a"}) == 4.0
    (family,) = parse_text(ferrotel.generate_latest(registry).decode())
    assert family.type == "summary"


# --- count_exceptions ---------------------------------------------------------------------------


def test_count_exceptions_context_manager(registry):
    c = ferrotel.Counter("failures_total", "Failures", registry=registry)
    with pytest.raises(ValueError):
        with c.count_exceptions(ValueError):
            raise ValueError("counted")
    with pytest.raises(KeyError):
        with c.count_exceptions(ValueError):
            raise KeyError("not counted")
    with c.count_exceptions(ValueError):
        pass
    assert registry.get_sample_value("failures_total") == 1.0


def test_count_exceptions_default_counts_any_exception(registry):
    c = ferrotel.Counter("failures_total", "Failures", registry=registry)
    for exc in (ValueError, KeyError, RuntimeError):
        with pytest.raises(exc):
            with c.count_exceptions():
                raise exc()
    assert registry.get_sample_value("failures_total") == 3.0


def test_count_exceptions_subclass_and_tuple(registry):
    c = ferrotel.Counter("failures_total", "Failures", registry=registry)
    with pytest.raises(FileNotFoundError):
        with c.count_exceptions(OSError):
            raise FileNotFoundError()
    with pytest.raises(KeyError):
        with c.count_exceptions((ValueError, KeyError)):
            raise KeyError()
    assert registry.get_sample_value("failures_total") == 2.0


def test_count_exceptions_decorator(registry):
    c = ferrotel.Counter("failures_total", "Failures", registry=registry)

    @c.count_exceptions(ZeroDivisionError)
    def divide(a, b):
        return a / b

    assert divide(4, 2) == 2
    with pytest.raises(ZeroDivisionError):
        divide(1, 0)
    with pytest.raises(ZeroDivisionError):
        divide(1, 0)
    with pytest.raises(TypeError):
        divide(1, "x")
    assert registry.get_sample_value("failures_total") == 2.0
    assert divide.__name__ == "divide"


def test_count_exceptions_async_decorator(registry):
    c = ferrotel.Counter("failures_total", "Failures", ["op"], registry=registry)

    @c.labels("fetch").count_exceptions()
    async def fetch(fail):
        await asyncio.sleep(0)
        if fail:
            raise ConnectionError("down")
        return "ok"

    assert asyncio.run(fetch(False)) == "ok"
    with pytest.raises(ConnectionError):
        asyncio.run(fetch(True))
    assert registry.get_sample_value("failures_total", {"op": "fetch"}) == 1.0


# --- Info and Enum -----------------------------------------------------------------------------


def test_info(registry):
    i = ferrotel.Info("build", "Build information", registry=registry)
    i.info({"version": "1.2.3", "commit": "abc"})
    assert registry.get_sample_value("build_info", {"version": "1.2.3", "commit": "abc"}) == 1.0
    i.info({"version": "1.2.4"})
    assert registry.get_sample_value("build_info", {"version": "1.2.4"}) == 1.0
    assert registry.get_sample_value("build_info", {"version": "1.2.3", "commit": "abc"}) is None
    (family,) = parse_openmetrics(ferrotel.generate_openmetrics(registry).decode())
    assert family.type == "info"
    (family,) = parse_text(ferrotel.generate_latest(registry).decode())
    assert family.type == "gauge"


def test_info_with_labels(registry):
    i = ferrotel.Info("component", "Component", ["name"], registry=registry)
    i.labels("db").info({"version": "15"})
    assert registry.get_sample_value("component_info", {"name": "db", "version": "15"}) == 1.0
    with pytest.raises(ValueError, match="name"):
        i.labels("db").info({"name": "clash"})


def test_info_cannot_have_a_unit(registry):
    with pytest.raises(ValueError):
        ferrotel.Info("build", "Build", unit="seconds", registry=registry)


def test_enum(registry):
    e = ferrotel.Enum(
        "task_state", "Task state", states=["starting", "running", "stopped"], registry=registry
    )
    # the first state is current until set
    assert registry.get_sample_value("task_state", {"task_state": "starting"}) == 1.0
    assert registry.get_sample_value("task_state", {"task_state": "running"}) == 0.0
    e.state("running")
    assert registry.get_sample_value("task_state", {"task_state": "starting"}) == 0.0
    assert registry.get_sample_value("task_state", {"task_state": "running"}) == 1.0
    assert registry.get_sample_value("task_state", {"task_state": "stopped"}) == 0.0
    (family,) = parse_openmetrics(ferrotel.generate_openmetrics(registry).decode())
    assert family.type == "stateset"


def test_enum_with_labels(registry):
    e = ferrotel.Enum("worker_state", "Worker state", ["worker"], states=["idle", "busy"], registry=registry)
    e.labels("w1").state("busy")
    e.labels("w2")
    assert registry.get_sample_value("worker_state", {"worker": "w1", "worker_state": "busy"}) == 1.0
    assert registry.get_sample_value("worker_state", {"worker": "w2", "worker_state": "idle"}) == 1.0


# --- naming: namespace, subsystem, unit, prefix, default labels --------------------------------


def test_namespace_subsystem_unit(registry):
    h = ferrotel.Histogram(
        "latency", "Latency", namespace="shop", subsystem="http", unit="seconds", registry=registry
    )
    assert h._name == "shop_http_latency_seconds"
    c = ferrotel.Counter("sent_total", "Sent", namespace="shop", unit="bytes", registry=registry)
    assert c._name == "shop_sent_bytes"
    # the unit is not appended twice
    g = ferrotel.Gauge("size_bytes", "Size", unit="bytes", registry=registry)
    assert g._name == "size_bytes"
    c.inc(3)
    assert registry.get_sample_value("shop_sent_bytes_total") == 3.0
    om = ferrotel.generate_openmetrics(registry).decode()
    assert "# UNIT shop_http_latency_seconds seconds" in om
    families = {f.name: f for f in parse_openmetrics(om)}
    assert families["shop_http_latency_seconds"].unit == "seconds"


def test_names_match_prometheus_client(registry):
    """The same constructor arguments give the same names as prometheus_client."""
    pc_registry = prometheus_client.CollectorRegistry()
    cases = [
        (ferrotel.Counter, prometheus_client.Counter, dict(name="a_total", namespace="ns", unit="bytes")),
        (ferrotel.Gauge, prometheus_client.Gauge, dict(name="b", subsystem="sub", unit="seconds")),
        (ferrotel.Histogram, prometheus_client.Histogram, dict(name="c", namespace="n", subsystem="s")),
        (ferrotel.Summary, prometheus_client.Summary, dict(name="d_seconds", unit="seconds")),
    ]
    for ours, theirs, kwargs in cases:
        mine = ours(documentation="x", registry=registry, **kwargs)
        reference = theirs(documentation="x", registry=pc_registry, **kwargs)
        assert mine._name == reference._name


def test_registry_prefix(registry):
    r = ferrotel.Registry(prefix="myapp_")
    assert r.prefix == "myapp_"
    c = ferrotel.Counter("requests_total", "Requests", registry=r)
    c.inc()
    assert c._name == "myapp_requests"
    assert r.get_sample_value("myapp_requests_total") == 1.0
    assert r.get_sample_value("requests_total") is None
    # a name that already carries the prefix is not prefixed twice
    g = ferrotel.Gauge("myapp_up", "Up", registry=r)
    assert g._name == "myapp_up"
    # look-up works with or without the prefix
    assert r.get("requests_total") is not None
    assert r.get("myapp_requests_total") is not None


def test_registry_default_labels(registry):
    r = ferrotel.Registry(default_labels={"service": "music", "env": "prod"})
    assert r.default_labels == {"service": "music", "env": "prod"}
    c = ferrotel.Counter("requests_total", "Requests", ["path"], registry=r)
    c.labels("/").inc()
    g = ferrotel.Gauge("up", "Up", registry=r)
    g.set(1)
    samples = text_samples(r)
    assert samples[("requests_total", (("env", "prod"), ("path", "/"), ("service", "music")))] == 1.0
    assert samples[("up", (("env", "prod"), ("service", "music")))] == 1.0
    for family in parse_openmetrics(ferrotel.generate_openmetrics(r).decode()):
        for s in family.samples:
            assert s.labels["service"] == "music"
            assert s.labels["env"] == "prod"
    assert r.get_sample_value("up", {"service": "music", "env": "prod"}) == 1.0


def test_default_label_values_are_strings():
    r = ferrotel.Registry(default_labels={"version": 3})
    ferrotel.Gauge("up", "Up", registry=r).set(1)
    assert r.get_sample_value("up", {"version": "3"}) == 1.0


def test_metric_label_clashing_with_default_label():
    r = ferrotel.Registry(default_labels={"env": "prod"})
    with pytest.raises(ValueError, match="env"):
        ferrotel.Counter("requests_total", "Requests", ["env"], registry=r)


# --- registry: registration, look-up, collect -------------------------------------------------


def test_unregistered_metric(registry):
    c = ferrotel.Counter("standalone_total", "Standalone", registry=None)
    c.inc(2)
    assert c not in registry
    assert c not in ferrotel.REGISTRY
    (family,) = c.collect()
    assert family.name == "standalone"
    assert [s.value for s in family.samples if s.name == "standalone_total"] == [2.0]
    registry.register(c)
    assert c in registry
    assert registry.get_sample_value("standalone_total") == 2.0


def test_contains_and_unregister(registry):
    c = ferrotel.Counter("a_total", "A", registry=registry)
    other = ferrotel.Counter("a_total", "A", registry=None)
    assert c in registry
    assert other not in registry, "membership is by metric, not by name"
    registry.unregister(c)
    assert c not in registry
    assert registry.get_sample_value("a_total") is None
    with pytest.raises(ValueError):
        registry.unregister(c)
    # the name is free again
    ferrotel.Counter("a_total", "A", registry=registry).inc()
    assert registry.get_sample_value("a_total") == 1.0


def test_registry_get(registry):
    c = ferrotel.Counter("requests_total", "Requests", ["path"], registry=registry)
    h = ferrotel.Histogram("latency_seconds", "Latency", registry=registry)
    found = registry.get("requests_total")
    assert isinstance(found, ferrotel.Counter)
    assert found in registry
    assert registry.get("requests") is not None
    assert registry.get("requests_total", "counter") is not None
    assert registry.get("requests_total", "gauge") is None
    assert registry.get("missing") is None
    assert isinstance(registry.get("latency_seconds", "histogram"), ferrotel.Histogram)
    # the handle records into the registered series, and children are shared
    found.labels("/x").inc(3)
    assert registry.get_sample_value("requests_total", {"path": "/x"}) == 3.0
    assert found.labels("/x") is c.labels("/x")
    registry.get("latency_seconds").observe(1)
    assert registry.get_sample_value("latency_seconds_count") == 1.0
    assert h in registry


def test_registry_collect_returns_prometheus_client_metrics(registry):
    ferrotel.Counter("requests_total", "Requests", ["path"], registry=registry).labels("/").inc(2)
    ferrotel.Gauge("up", "Up", registry=registry).set(1)
    metrics = list(registry.collect())
    assert all(isinstance(m, prometheus_client.Metric) for m in metrics)
    by_name = {m.name: m for m in metrics}
    assert by_name["requests"].type == "counter"
    assert by_name["requests"].documentation == "Requests"
    totals = [s for s in by_name["requests"].samples if s.name == "requests_total"]
    assert totals[0].labels == {"path": "/"}
    assert totals[0].value == 2.0
    assert by_name["up"].samples[0].value == 1.0


def test_registration_order_is_exposition_order(registry):
    for name in ("zeta", "alpha", "mid"):
        ferrotel.Gauge(name, name, registry=registry)
    names = [f.name for f in parse_text(ferrotel.generate_latest(registry).decode())]
    assert names == ["zeta", "alpha", "mid"]


def test_collector_registry_alias():
    assert ferrotel.CollectorRegistry is ferrotel.Registry


def test_same_metric_in_two_registries():
    r1, r2 = ferrotel.Registry(), ferrotel.Registry()
    c = ferrotel.Counter("shared_total", "Shared", registry=r1)
    r2.register(c)
    c.inc()
    assert r1.get_sample_value("shared_total") == 1.0
    assert r2.get_sample_value("shared_total") == 1.0


# --- MetricsCollector (the guide) ---------------------------------------------------------------


def test_metrics_collector_record_request(registry):
    metrics = ferrotel.MetricsCollector(registry)
    metrics.record_request("GET", "/songs/{song_id}", 200, 0.042)
    metrics.record_request("GET", "/songs/{song_id}", 200, 0.7)
    metrics.record_request("POST", "/songs", 201, 3)
    labels = {"method": "GET", "path": "/songs/{song_id}", "status": "200"}
    assert registry.get_sample_value("http_requests_total", labels) == 2.0
    assert (
        registry.get_sample_value(
            "http_requests_total", {"method": "POST", "path": "/songs", "status": "201"}
        )
        == 1.0
    )
    bucket = lambda le: registry.get_sample_value("http_request_duration_seconds_bucket", {"le": le})  # noqa: E731
    assert [bucket(le) for le in ("0.1", "0.5", "1.0", "2.0", "5.0", "+Inf")] == [1, 1, 2, 2, 3, 3]
    assert registry.get_sample_value("http_request_duration_seconds_count") == 3.0
    metrics.active_users.set(12)
    assert registry.get_sample_value("active_users") == 12.0


def test_metrics_collector_custom_metrics_as_in_the_guide(registry):
    metrics = ferrotel.MetricsCollector(registry)
    metrics.register(ferrotel.Counter("recommendations_generated_total", "Recs", registry=None))
    metrics.register(ferrotel.Counter("recommendation_errors_total", "Rec errors", registry=None))
    metrics.register(ferrotel.Histogram("recommendation_generation_duration", "Rec time", registry=None))

    metrics.counter("recommendations_generated_total").inc()
    metrics.counter("recommendations_generated_total").inc()
    metrics.histogram("recommendation_generation_duration").observe(0.2)
    metrics.counter("recommendation_errors_total").inc()

    assert registry.get_sample_value("recommendations_generated_total") == 2.0
    assert registry.get_sample_value("recommendation_errors_total") == 1.0
    assert registry.get_sample_value("recommendation_generation_duration_count") == 1.0
    assert isinstance(metrics.histogram("http_request_duration_seconds"), ferrotel.Histogram)


def test_metrics_collector_register_is_idempotent(registry):
    metrics = ferrotel.MetricsCollector(registry)
    c = ferrotel.Counter("things_total", "Things", registry=registry)
    assert metrics.register(c) is c
    assert metrics.register(c) is c
    c.inc()
    assert registry.get_sample_value("things_total") == 1.0


def test_metrics_collector_lookup_errors(registry):
    metrics = ferrotel.MetricsCollector(registry)
    with pytest.raises(KeyError, match="missing_total"):
        metrics.counter("missing_total")
    with pytest.raises(KeyError):
        metrics.counter("active_users")  # a gauge, not a counter


def test_two_metrics_collectors_share_one_registry(registry):
    first = ferrotel.MetricsCollector(registry)
    second = ferrotel.MetricsCollector(registry)
    first.record_request("GET", "/", 200, 0.01)
    second.record_request("GET", "/", 200, 0.01)
    labels = {"method": "GET", "path": "/", "status": "200"}
    assert registry.get_sample_value("http_requests_total", labels) == 2.0
    assert registry.get_sample_value("http_request_duration_seconds_count") == 2.0


def test_metrics_collector_refuses_a_clashing_kind(registry):
    ferrotel.Counter("active_users", "Not a gauge", registry=registry)
    with pytest.raises(ValueError, match="active_users"):
        ferrotel.MetricsCollector(registry)


# --- cardinality limit ---------------------------------------------------------------------------


def test_cardinality_overflow_folds_new_label_sets():
    r = ferrotel.Registry(cardinality_limit=3)
    assert r.cardinality_limit == 3
    c = ferrotel.Counter("requests_total", "Requests", ["user", "path"], registry=r)
    before = dropped_folds()
    for i in range(3):
        c.labels(f"u{i}", "/").inc()
    assert dropped_folds() == before
    c.labels("u3", "/").inc(2)
    c.labels("u4", "/").inc(5)
    overflow = {"user": OVERFLOW, "path": OVERFLOW}
    assert r.get_sample_value("requests_total", overflow) == 7.0
    assert r.get_sample_value("requests_total", {"user": "u3", "path": "/"}) is None
    assert dropped_folds() == before + 2
    # existing label sets still get their own series, without a fold
    c.labels("u0", "/").inc()
    assert r.get_sample_value("requests_total", {"user": "u0", "path": "/"}) == 2.0
    assert dropped_folds() == before + 2
    # every over-limit label set gets the one overflow child
    assert c.labels("u5", "/") is c.labels("u6", "/")
    assert dropped_folds() == before + 4
    series = [s for f in parse_text(ferrotel.generate_latest(r).decode()) for s in f.samples]
    assert len(series) == 4


def test_cardinality_overflow_histogram():
    r = ferrotel.Registry(cardinality_limit=1)
    h = ferrotel.Histogram("latency_seconds", "Latency", ["route"], buckets=(1,), registry=r)
    h.labels("/a").observe(0.5)
    h.labels("/b").observe(2)
    h.labels("/c").observe(0.1)
    assert r.get_sample_value("latency_seconds_count", {"route": OVERFLOW}) == 2.0
    assert r.get_sample_value("latency_seconds_bucket", {"route": OVERFLOW, "le": "1.0"}) == 1.0


def test_cardinality_limit_is_per_metric():
    r = ferrotel.Registry(cardinality_limit=2)
    a = ferrotel.Counter("a_total", "A", ["k"], registry=r)
    b = ferrotel.Counter("b_total", "B", ["k"], registry=r)
    for i in range(2):
        a.labels(i).inc()
        b.labels(i).inc()
    assert r.get_sample_value("a_total", {"k": OVERFLOW}) is None
    assert r.get_sample_value("b_total", {"k": OVERFLOW}) is None


def test_removing_a_label_set_frees_room_under_the_limit():
    r = ferrotel.Registry(cardinality_limit=2)
    c = ferrotel.Counter("a_total", "A", ["k"], registry=r)
    c.labels("x").inc()
    c.labels("y").inc()
    c.remove("x")
    c.labels("z").inc()
    assert r.get_sample_value("a_total", {"k": "z"}) == 1.0
    assert r.get_sample_value("a_total", {"k": OVERFLOW}) is None


def test_clear_also_drops_the_overflow_series():
    """clear() promises to remove every label set; the overflow series is one of them."""
    r = ferrotel.Registry(cardinality_limit=1)
    c = ferrotel.Counter("a_total", "A", ["k"], registry=r)
    c.labels("x").inc()
    c.labels("y").inc()
    assert r.get_sample_value("a_total", {"k": OVERFLOW}) == 1.0
    c.clear()
    (family,) = parse_text(ferrotel.generate_latest(r).decode())
    assert family.samples == []
