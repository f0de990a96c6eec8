"""The prometheus_client bridge, both ways, and custom collectors yielding prometheus_client families."""

from __future__ import annotations

import ferrotel
import ferrotel.prometheus
import prometheus_client
import pytest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    InfoMetricFamily,
    SummaryMetricFamily,
)
from prometheus_client.openmetrics.parser import text_string_to_metric_families as parse_openmetrics
from prometheus_client.parser import text_string_to_metric_families as parse_text


@pytest.fixture
def registry() -> ferrotel.Registry:
    return ferrotel.Registry()


def samples_of(text: str, parse=parse_text, skip_created: bool = True) -> dict:
    out = {}
    for family in parse(text):
        for s in family.samples:
            if skip_created and s.name.endswith("_created"):
                continue
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def families_of(text: str, parse=parse_text) -> dict:
    return {f.name: f for f in parse(text)}


def populate(registry: ferrotel.Registry) -> None:
    c = ferrotel.Counter("jobs_total", "Jobs", ["queue"], registry=registry)
    c.labels("fast").inc(3)
    c.labels("slow").inc(1.5)
    ferrotel.Gauge("temperature_celsius", "Temperature", registry=registry).set(21.5)
    h = ferrotel.Histogram("latency_seconds", "Latency", buckets=(0.1, 1.0), registry=registry)
    for v in (0.05, 0.5, 2.0):
        h.observe(v)
    ferrotel.Summary("payload_bytes", "Payload", registry=registry).observe(512)
    ferrotel.Info("build", "Build", registry=registry).info({"version": "1.0"})
    ferrotel.Enum("phase", "Phase", states=["init", "ready"], registry=registry).state("ready")


# --- ferrotel inside prometheus_client -----------------------------------------------------------


def test_ferrotel_registry_in_prometheus_client(registry):
    populate(registry)
    target = prometheus_client.CollectorRegistry()
    assert ferrotel.prometheus.register_in_prometheus_client(registry, target) is registry

    text = prometheus_client.generate_latest(target).decode()
    assert samples_of(text) == samples_of(ferrotel.generate_latest(registry).decode())

    assert target.get_sample_value("jobs_total", {"queue": "fast"}) == 3.0
    assert target.get_sample_value("temperature_celsius") == 21.5
    assert target.get_sample_value("latency_seconds_bucket", {"le": "1.0"}) == 2.0
    assert target.get_sample_value("latency_seconds_bucket", {"le": "+Inf"}) == 3.0
    assert target.get_sample_value("latency_seconds_count") == 3.0
    assert target.get_sample_value("payload_bytes_sum") == 512.0
    assert target.get_sample_value("build_info", {"version": "1.0"}) == 1.0
    assert target.get_sample_value("phase", {"phase": "ready"}) == 1.0
    assert target.get_sample_value("jobs_created", {"queue": "fast"}) is not None

    families = families_of(text)
    assert families["jobs"].type == "counter"
    assert families["latency_seconds"].type == "histogram"
    assert families["jobs"].documentation == "Jobs"


def test_values_are_read_live_through_the_bridge(registry):
    c = ferrotel.Counter("jobs_total", "Jobs", registry=registry)
    target = prometheus_client.CollectorRegistry()
    ferrotel.prometheus.register_in_prometheus_client(registry, target)
    assert target.get_sample_value("jobs_total") == 0.0
    c.inc(5)
    assert target.get_sample_value("jobs_total") == 5.0
    # metrics registered after the bridge show up too
    ferrotel.Gauge("late", "Late", registry=registry).set(2)
    assert target.get_sample_value("late") == 2.0


def test_bridge_openmetrics_through_prometheus_client(registry):
    c = ferrotel.Counter("jobs_total", "Jobs", registry=registry)
    c.inc(1, exemplar={"trace_id": "abc123"})
    ferrotel.Histogram("size_bytes", "Size", unit="bytes", buckets=(10,), registry=registry).observe(3)
    target = prometheus_client.CollectorRegistry()
    ferrotel.prometheus.register_in_prometheus_client(registry, target)
    from prometheus_client.openmetrics.exposition import generate_latest as pc_generate_openmetrics

    text = pc_generate_openmetrics(target).decode()
    families = families_of(text, parse_openmetrics)
    (total,) = [s for s in families["jobs"].samples if s.name == "jobs_total"]
    assert total.exemplar.labels == {"trace_id": "abc123"}
    assert families["size_bytes"].unit == "bytes"
    assert samples_of(text, parse_openmetrics) == samples_of(
        ferrotel.generate_openmetrics(registry).decode(), parse_openmetrics
    )


def test_bridge_carries_default_labels_and_prefix():
    r = ferrotel.Registry(prefix="svc_", default_labels={"env": "test"})
    ferrotel.Counter("hits_total", "Hits", registry=r).inc(2)
    target = prometheus_client.CollectorRegistry()
    ferrotel.prometheus.register_in_prometheus_client(r, target)
    assert target.get_sample_value("svc_hits_total", {"env": "test"}) == 2.0


def test_bridge_can_be_unregistered(registry):
    ferrotel.Gauge("g", "G", registry=registry).set(1)
    target = prometheus_client.CollectorRegistry()
    ferrotel.prometheus.register_in_prometheus_client(registry, target)
    assert target.get_sample_value("g") == 1.0
    target.unregister(registry)
    assert target.get_sample_value("g") is None


def test_bridge_to_prometheus_client_http_app(registry):
    """prometheus_client's own WSGI app serves ferrotel's metrics through the bridge."""
    ferrotel.Counter("jobs_total", "Jobs", registry=registry).inc(4)
    target = prometheus_client.CollectorRegistry()
    ferrotel.prometheus.register_in_prometheus_client(registry, target)
    app = prometheus_client.make_wsgi_app(target)
    captured = {}

    def start_response(status, headers, exc_info=None):
        captured["status"] = status

    from wsgiref.util import setup_testing_defaults

    environ: dict = {}
    setup_testing_defaults(environ)
    environ["PATH_INFO"] = "/metrics"
    body = b"".join(app(environ, start_response)).decode()
    assert captured["status"].startswith("200")
    assert samples_of(body)[("jobs_total", ())] == 4.0


# --- prometheus_client inside ferrotel -----------------------------------------------------------


def prometheus_client_source() -> prometheus_client.CollectorRegistry:
    source = prometheus_client.CollectorRegistry()
    c = prometheus_client.Counter("legacy_requests_total", "Legacy requests", ["path"], registry=source)
    c.labels("/old").inc(7)
    prometheus_client.Gauge("legacy_queue", "Legacy queue", registry=source).set(4)
    h = prometheus_client.Histogram("legacy_seconds", "Legacy time", buckets=(0.5, 2), registry=source)
    for v in (0.1, 1, 3):
        h.observe(v)
    prometheus_client.Summary("legacy_size", "Legacy size", registry=source).observe(9)
    prometheus_client.Info("legacy_build", "Legacy build", registry=source).info({"rev": "r1"})
    prometheus_client.Enum("legacy_mode", "Legacy mode", states=["a", "b"], registry=source).state("b")
    return source


def test_prometheus_client_registry_in_ferrotel(registry):
    source = prometheus_client_source()
    ferrotel.Gauge("native_up", "Native", registry=registry).set(1)
    ferrotel.prometheus.include_prometheus_client(registry, source)

    text = ferrotel.generate_latest(registry).decode()
    ours = samples_of(text)
    theirs = samples_of(prometheus_client.generate_latest(source).decode())
    for key, value in theirs.items():
        assert ours[key] == value, key
    assert ours[("native_up", ())] == 1.0

    assert registry.get_sample_value("legacy_requests_total", {"path": "/old"}) == 7.0
    assert registry.get_sample_value("legacy_seconds_bucket", {"le": "+Inf"}) == 3.0
    assert registry.get_sample_value("legacy_seconds_count") == 3.0
    assert registry.get_sample_value("legacy_build_info", {"rev": "r1"}) == 1.0
    assert registry.get_sample_value("legacy_mode", {"legacy_mode": "b"}) == 1.0

    families = families_of(text)
    assert families["legacy_requests"].type == "counter"
    assert families["legacy_seconds"].type == "histogram"
    assert families["legacy_size"].type == "summary"


def test_prometheus_client_registry_in_ferrotel_openmetrics(registry):
    source = prometheus_client_source()
    ferrotel.prometheus.include_prometheus_client(registry, source)
    from prometheus_client.openmetrics.exposition import generate_latest as pc_generate_openmetrics

    ours = ferrotel.generate_openmetrics(registry).decode()
    theirs = pc_generate_openmetrics(source).decode()
    assert samples_of(ours, parse_openmetrics, skip_created=False) == samples_of(
        theirs, parse_openmetrics, skip_created=False
    )
    types = {f.name: f.type for f in parse_openmetrics(ours)}
    assert types["legacy_build"] == "info"
    assert types["legacy_mode"] == "stateset"


def test_included_prometheus_client_values_are_read_live(registry):
    source = prometheus_client.CollectorRegistry()
    c = prometheus_client.Counter("legacy_total", "Legacy", registry=source)
    collector = ferrotel.prometheus.include_prometheus_client(registry, source)
    assert collector in registry
    assert registry.get_sample_value("legacy_total") == 0.0
    c.inc(3)
    assert registry.get_sample_value("legacy_total") == 3.0
    registry.unregister(collector)
    assert registry.get_sample_value("legacy_total") is None


def test_included_prometheus_client_gets_default_labels():
    r = ferrotel.Registry(default_labels={"service": "api"})
    source = prometheus_client.CollectorRegistry()
    prometheus_client.Gauge("legacy_queue", "Queue", registry=source).set(2)
    ferrotel.prometheus.include_prometheus_client(r, source)
    assert r.get_sample_value("legacy_queue", {"service": "api"}) == 2.0


def test_included_prometheus_client_is_served_over_http(registry):
    source = prometheus_client.CollectorRegistry()
    prometheus_client.Gauge("legacy_queue", "Queue", registry=source).set(6)
    ferrotel.prometheus.include_prometheus_client(registry, source)
    import urllib.request

    server = ferrotel.start_http_server(0, registry=registry)
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{server.port}/metrics", timeout=30) as response:
            body = response.read().decode()
    finally:
        server.shutdown()
    assert samples_of(body)[("legacy_queue", ())] == 6.0


# --- custom collectors ---------------------------------------------------------------------------


class ShopCollector:
    """A custom collector as users write them for prometheus_client."""

    def __init__(self) -> None:
        self.orders = 7

    def collect(self):
        c = CounterMetricFamily("shop_orders", "Orders placed", labels=["region"])
        c.add_metric(["eu"], self.orders)
        c.add_metric(["us"], 2)
        yield c
        yield GaugeMetricFamily("shop_open_carts", "Open carts", value=13)
        g = GaugeMetricFamily("shop_stock", "Stock", labels=["item"])
        g.add_metric(["apple"], 5)
        g.add_metric(['odd "item"\n'], 1)
        yield g
        yield HistogramMetricFamily(
            "shop_checkout_seconds",
            "Checkout time",
            buckets=[("0.5", 3), ("1.0", 5), ("+Inf", 6)],
            sum_value=4.5,
        )
        yield SummaryMetricFamily("shop_basket_items", "Items per basket", count_value=4, sum_value=10)
        yield InfoMetricFamily("shop", "Shop info", value={"owner": "ann"})


def test_custom_collector_rendered_by_ferrotel(registry):
    registry.register(ShopCollector())
    text = ferrotel.generate_latest(registry).decode()
    samples = samples_of(text)
    assert samples[("shop_orders_total", (("region", "eu"),))] == 7.0
    assert samples[("shop_orders_total", (("region", "us"),))] == 2.0
    assert samples[("shop_open_carts", ())] == 13.0
    assert samples[("shop_stock", (("item", "apple"),))] == 5.0
    assert samples[("shop_stock", (("item", 'odd "item"\n'),))] == 1.0
    assert samples[("shop_checkout_seconds_bucket", (("le", "0.5"),))] == 3.0
    assert samples[("shop_checkout_seconds_bucket", (("le", "+Inf"),))] == 6.0
    assert samples[("shop_checkout_seconds_count", ())] == 6.0
    assert samples[("shop_checkout_seconds_sum", ())] == 4.5
    assert samples[("shop_basket_items_count", ())] == 4.0
    assert samples[("shop_info", (("owner", "ann"),))] == 1.0
    types = {f.name: f.type for f in parse_text(text)}
    assert types["shop_orders"] == "counter"
    assert types["shop_open_carts"] == "gauge"
    assert types["shop_checkout_seconds"] == "histogram"
    assert types["shop_basket_items"] == "summary"


def test_custom_collector_matches_prometheus_client_rendering(registry):
    registry.register(ShopCollector())
    reference = prometheus_client.CollectorRegistry()
    reference.register(ShopCollector())
    assert samples_of(ferrotel.generate_latest(registry).decode()) == samples_of(
        prometheus_client.generate_latest(reference).decode()
    )
    from prometheus_client.openmetrics.exposition import generate_latest as pc_generate_openmetrics

    ours = list(parse_openmetrics(ferrotel.generate_openmetrics(registry).decode()))
    theirs = list(parse_openmetrics(pc_generate_openmetrics(reference).decode()))
    assert [(f.name, f.type, f.documentation) for f in ours] == [
        (f.name, f.type, f.documentation) for f in theirs
    ]
    assert samples_of(ferrotel.generate_openmetrics(registry).decode(), parse_openmetrics) == samples_of(
        pc_generate_openmetrics(reference).decode(), parse_openmetrics
    )


def test_custom_collector_is_collected_at_every_scrape(registry):
    collector = ShopCollector()
    registry.register(collector)
    assert registry.get_sample_value("shop_orders_total", {"region": "eu"}) == 7.0
    collector.orders = 8
    assert registry.get_sample_value("shop_orders_total", {"region": "eu"}) == 8.0


def test_custom_collector_alongside_native_metrics_keeps_registration_order(registry):
    ferrotel.Gauge("first", "First", registry=registry).set(1)
    registry.register(ShopCollector())
    ferrotel.Gauge("last", "Last", registry=registry).set(2)
    names = [f.name for f in parse_text(ferrotel.generate_latest(registry).decode())]
    assert names[0] == "first"
    assert names[-1] == "last"
    assert "shop_orders" in names


def test_custom_collector_in_registry_collect(registry):
    registry.register(ShopCollector())
    metrics = {m.name: m for m in registry.collect()}
    assert metrics["shop_open_carts"].samples[0].value == 13.0
    assert metrics["shop_orders"].type == "counter"


def test_custom_collector_describe_names_clash_with_native_metric(registry):
    ferrotel.Gauge("shop_open_carts", "Native", registry=registry)

    class Described:
        def describe(self):
            yield GaugeMetricFamily("shop_open_carts", "Open carts")

        def collect(self):
            yield GaugeMetricFamily("shop_open_carts", "Open carts", value=1)

    with pytest.raises(ValueError, match="shop_open_carts"):
        registry.register(Described())


def test_custom_collector_with_prometheus_client_metric_objects(registry):
    """A prometheus_client metric (a collector itself) can be registered into ferrotel."""
    g = prometheus_client.Gauge("pc_gauge", "PC gauge", ["k"], registry=None)
    g.labels("a").set(3)
    registry.register(g)
    assert registry.get_sample_value("pc_gauge", {"k": "a"}) == 3.0


def test_failing_custom_collector_surfaces_the_error(registry):
    class Broken:
        def describe(self):
            return []

        def collect(self):
            raise RuntimeError("collector broke")

    registry.register(Broken())
    with pytest.raises(RuntimeError, match="collector broke"):
        ferrotel.generate_latest(registry)
