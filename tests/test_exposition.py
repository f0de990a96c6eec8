"""Round trips of ferrotel's expositions through prometheus_client's own parsers.

Everything recorded is rendered in the Prometheus text format 0.0.4 and in OpenMetrics 1.0, read
back with ``prometheus_client.parser`` / ``prometheus_client.openmetrics.parser`` and compared
with what was recorded, and with what prometheus_client renders for the same metrics.
"""

from __future__ import annotations

import gzip
import http.client
import math
import time
from collections.abc import Iterable
from types import ModuleType
from typing import Any

import ferrotel
import prometheus_client
import pytest
from prometheus_client.metrics_core import Metric
from prometheus_client.openmetrics import exposition as pc_openmetrics
from prometheus_client.openmetrics.parser import text_string_to_metric_families as parse_openmetrics_text
from prometheus_client.parser import text_string_to_metric_families as parse_text004_text

# fast, and the whole module: part of the wheel smoke run (scripts/test-wheels.sh on 3.10-3.12)
pytestmark = pytest.mark.wheel_smoke

TEXT004 = "text004"
OPENMETRICS = "openmetrics"
FORMATS = (TEXT004, OPENMETRICS)

CONTENT_TYPE_TEXT004 = "text/plain; version=0.0.4; charset=utf-8"
CONTENT_TYPE_OPENMETRICS = "application/openmetrics-text; version=1.0.0; charset=utf-8"

# A label value that needs every escape the text formats have, plus non-ASCII and a tab.
NASTY_VALUE = 'say "hi"\\ to C:\\temp\nsecond line \t ü 日本'
NASTY_HELP = 'Help with a newline\nand a backslash \\ and "quotes".'


# --------------------------------------------------------------------------------------------
# helpers


def render(registry: ferrotel.Registry, fmt: str) -> bytes:
    if fmt == TEXT004:
        return bytes(ferrotel.generate_latest(registry))
    return bytes(ferrotel.generate_openmetrics(registry))


def parse(body: bytes, fmt: str) -> dict[str, Metric]:
    """Families by name; fails on duplicated families (which would mean a broken exposition)."""
    text = body.decode("utf-8")
    parser = parse_text004_text if fmt == TEXT004 else parse_openmetrics_text
    families: dict[str, Metric] = {}
    for family in parser(text):
        assert family.name not in families, f"family {family.name!r} appears twice:\n{text}"
        families[family.name] = family
    return families


def roundtrip(registry: ferrotel.Registry, fmt: str) -> dict[str, Metric]:
    return parse(render(registry, fmt), fmt)


LabelKey = frozenset[tuple[str, str]]


def key(labels: dict[str, str]) -> LabelKey:
    return frozenset(labels.items())


def values(family: Metric, sample_name: str | None = None) -> dict[LabelKey, float]:
    """``{labels: value}`` for the family's samples called ``sample_name`` (default: all)."""
    out: dict[LabelKey, float] = {}
    for s in family.samples:
        if sample_name is None or s.name == sample_name:
            k = key(s.labels)
            assert k not in out, f"duplicated sample {s.name}{s.labels}"
            out[k] = s.value
    return out


def sample_names(family: Metric) -> set[str]:
    return {s.name for s in family.samples}


def only(family: Metric, name: str, labels: dict[str, str]) -> Any:
    matches = [s for s in family.samples if s.name == name and s.labels == labels]
    assert len(matches) == 1, f"expected one {name}{labels} in {family.samples}"
    return matches[0]


# --------------------------------------------------------------------------------------------
# counters


@pytest.mark.parametrize("fmt", FORMATS)
def test_counter_with_labels_roundtrip(registry: ferrotel.Registry, fmt: str) -> None:
    c = ferrotel.Counter("app_requests_total", "Requests handled.", ["method", "path"], registry=registry)
    c.labels("GET", "/").inc()
    c.labels("GET", "/").inc(2)
    c.labels(method="POST", path="/upload").inc(0.5)
    c.labels("DELETE", "/x")  # a child that exists but was never incremented
    plain = ferrotel.Counter("app_jobs", "Jobs without the _total suffix.", registry=registry)
    plain.inc(7)

    families = roundtrip(registry, fmt)
    assert set(families) == {"app_requests", "app_jobs"}
    fam = families["app_requests"]
    assert fam.type == "counter"
    assert fam.documentation == "Requests handled."
    assert values(fam, "app_requests_total") == {
        key({"method": "GET", "path": "/"}): 3.0,
        key({"method": "POST", "path": "/upload"}): 0.5,
        key({"method": "DELETE", "path": "/x"}): 0.0,
    }
    assert values(families["app_jobs"], "app_jobs_total") == {key({}): 7.0}

    if fmt == TEXT004:
        # 0.0.4 deliberately has no _created series.
        assert sample_names(fam) == {"app_requests_total"}
    else:
        created = values(fam, "app_requests_created")
        assert set(created) == set(values(fam, "app_requests_total"))
        assert all(v > 1e9 for v in created.values())


def test_counter_exemplars_openmetrics(registry: ferrotel.Registry) -> None:
    c = ferrotel.Counter("app_requests_total", "Requests.", ["path"], registry=registry)
    c.labels("/a").inc(2, exemplar={"trace_id": "abc123", "span_id": "s1"})
    c.labels("/a").inc()  # no exemplar: the last one stays
    c.labels("/b").inc(4, exemplar={"trace_id": "back\\slash\nnewline ü"})
    c.labels("/c").inc(1)

    fam = roundtrip(registry, OPENMETRICS)["app_requests"]
    a = only(fam, "app_requests_total", {"path": "/a"})
    assert a.value == 3.0
    assert a.exemplar is not None
    assert a.exemplar.labels == {"trace_id": "abc123", "span_id": "s1"}
    assert a.exemplar.value == 2.0
    assert a.exemplar.timestamp is not None

    b = only(fam, "app_requests_total", {"path": "/b"})
    assert b.exemplar is not None
    assert b.exemplar.labels == {"trace_id": "back\\slash\nnewline ü"}
    assert b.exemplar.value == 4.0

    assert only(fam, "app_requests_total", {"path": "/c"}).exemplar is None
    for s in fam.samples:
        if s.name == "app_requests_created":
            assert s.exemplar is None

    # The 0.0.4 format has no exemplars at all.
    text = render(registry, TEXT004).decode()
    assert "#" not in "".join(line for line in text.splitlines() if not line.startswith("#"))
    assert all(s.exemplar is None for s in roundtrip(registry, TEXT004)["app_requests"].samples)


@pytest.mark.parametrize("kind", ["counter", "histogram"])
def test_exemplar_timestamps_read_back(registry: ferrotel.Registry, kind: str) -> None:
    """The exemplar's timestamp is when it was recorded, as prometheus_client's parser reads it."""
    before = time.time()
    if kind == "counter":
        ferrotel.Counter("app_events_total", "Events.", registry=registry).inc(exemplar={"trace_id": "t"})
        sample_name = "app_events_total"
    else:
        h = ferrotel.Histogram("app_events", "Events.", buckets=(1,), registry=registry)
        h.observe(0.5, exemplar={"trace_id": "t"})
        sample_name = "app_events_bucket"
    after = time.time()

    (fam,) = roundtrip(registry, OPENMETRICS).values()
    (exemplar,) = [s.exemplar for s in fam.samples if s.name == sample_name and s.exemplar is not None]
    assert exemplar.timestamp is not None
    assert before - 1 <= float(exemplar.timestamp) <= after + 1, render(registry, OPENMETRICS).decode()


def test_exemplar_label_value_with_quote_is_escaped(registry: ferrotel.Registry) -> None:
    # prometheus_client's OpenMetrics parser cannot read an escaped quote inside an exemplar
    # (it rejects prometheus_client's own output the same way), so check the line itself.
    c = ferrotel.Counter("app_requests_total", "Requests.", registry=registry)
    c.inc(1, exemplar={"trace_id": 'a"b'})
    lines = render(registry, OPENMETRICS).decode().splitlines()
    line = next(line for line in lines if line.startswith("app_requests_total"))
    assert line.startswith('app_requests_total 1.0 # {trace_id="a\\"b"} 1.0 ')


# --------------------------------------------------------------------------------------------
# gauges


@pytest.mark.parametrize("fmt", FORMATS)
def test_gauge_roundtrip(registry: ferrotel.Registry, fmt: str) -> None:
    g = ferrotel.Gauge("app_in_flight", "In-flight requests.", registry=registry)
    g.set(10)
    g.inc()
    g.inc(2.5)
    g.dec(0.5)
    temp = ferrotel.Gauge(
        "temperature",
        "Temperature.",
        ["room"],
        namespace="ns",
        subsystem="sub",
        unit="celsius",
        registry=registry,
    )
    temp.labels("kitchen").set(-12.25)
    temp.labels("lab").set(1e20)
    temp.labels("tiny").set(1e-7)
    temp.labels("hot").set(float("inf"))
    temp.labels("cold").set(float("-inf"))
    temp.labels("broken").set(float("nan"))
    ferrotel.Gauge("app_untouched", "Never set.", registry=registry)

    families = roundtrip(registry, fmt)
    assert set(families) == {"app_in_flight", "ns_sub_temperature_celsius", "app_untouched"}
    assert families["app_in_flight"].type == "gauge"
    assert values(families["app_in_flight"]) == {key({}): 13.0}
    assert values(families["app_untouched"]) == {key({}): 0.0}

    fam = families["ns_sub_temperature_celsius"]
    assert fam.type == "gauge"
    assert sample_names(fam) == {"ns_sub_temperature_celsius"}
    got = values(fam)
    assert got[key({"room": "kitchen"})] == -12.25
    assert got[key({"room": "lab"})] == 1e20
    assert got[key({"room": "tiny"})] == 1e-7
    assert got[key({"room": "hot"})] == math.inf
    assert got[key({"room": "cold"})] == -math.inf
    assert math.isnan(got[key({"room": "broken"})])
    assert len(got) == 6
    if fmt == OPENMETRICS:
        assert fam.unit == "celsius"


# --------------------------------------------------------------------------------------------
# histograms


def bucket_counts(family: Metric, labels: dict[str, str]) -> dict[str, float]:
    """``{le: cumulative count}`` for one child, in exposition order."""
    out: dict[str, float] = {}
    for s in family.samples:
        if s.name == family.name + "_bucket":
            own = {k: v for k, v in s.labels.items() if k != "le"}
            if own == labels:
                out[s.labels["le"]] = s.value
    return out


@pytest.mark.parametrize("fmt", FORMATS)
def test_histogram_custom_buckets_roundtrip(registry: ferrotel.Registry, fmt: str) -> None:
    h = ferrotel.Histogram(
        "app_latency_seconds", "Latency.", ["route"], buckets=(0.01, 0.1, 1, 10), registry=registry
    )
    for v in (0.005, 0.01, 0.05, 0.5, 0.75, 5, 50):
        h.labels("/a").observe(v)
    h.labels("/b").observe(100)

    fam = roundtrip(registry, fmt)["app_latency_seconds"]
    assert fam.type == "histogram"
    assert fam.documentation == "Latency."
    assert bucket_counts(fam, {"route": "/a"}) == {
        "0.01": 2.0,  # le is inclusive
        "0.1": 3.0,
        "1.0": 5.0,
        "10.0": 6.0,
        "+Inf": 7.0,
    }
    assert list(bucket_counts(fam, {"route": "/a"})) == ["0.01", "0.1", "1.0", "10.0", "+Inf"]
    assert bucket_counts(fam, {"route": "/b"}) == {"0.01": 0, "0.1": 0, "1.0": 0, "10.0": 0, "+Inf": 1}
    assert values(fam, "app_latency_seconds_count") == {key({"route": "/a"}): 7.0, key({"route": "/b"}): 1.0}
    sums = values(fam, "app_latency_seconds_sum")
    assert sums[key({"route": "/a"})] == pytest.approx(0.005 + 0.01 + 0.05 + 0.5 + 0.75 + 5 + 50)
    assert sums[key({"route": "/b"})] == 100.0
    expected_names = {f"app_latency_seconds_{s}" for s in ("bucket", "count", "sum")}
    if fmt == OPENMETRICS:
        expected_names.add("app_latency_seconds_created")
    assert sample_names(fam) == expected_names


@pytest.mark.parametrize("fmt", FORMATS)
def test_histogram_default_buckets_roundtrip(registry: ferrotel.Registry, fmt: str) -> None:
    h = ferrotel.Histogram("app_work_seconds", "Work.", registry=registry)
    observations = (0.001, 0.02, 0.3, 0.3, 4, 9.99, 11)
    for v in observations:
        h.observe(v)

    fam = roundtrip(registry, fmt)["app_work_seconds"]
    got = bucket_counts(fam, {})
    bounds = list(prometheus_client.Histogram.DEFAULT_BUCKETS)
    assert [float(le) for le in got] == bounds
    assert list(ferrotel.DEFAULT_BUCKETS) == bounds
    for le, count in got.items():
        assert count == sum(1 for v in observations if v <= float(le)), le
    assert values(fam, "app_work_seconds_count") == {key({}): len(observations)}
    assert values(fam, "app_work_seconds_sum")[key({})] == pytest.approx(sum(observations))


def test_histogram_exemplars_openmetrics(registry: ferrotel.Registry) -> None:
    h = ferrotel.Histogram("app_latency_seconds", "Latency.", buckets=(0.1, 1), registry=registry)
    h.observe(0.05, exemplar={"trace_id": "fast"})
    h.observe(0.5, exemplar={"trace_id": "medium"})
    h.observe(7, exemplar={"trace_id": "slow"})
    h.observe(0.07)  # no exemplar: the 0.1 bucket keeps "fast"

    fam = roundtrip(registry, OPENMETRICS)["app_latency_seconds"]
    exemplars = {s.labels["le"]: s.exemplar for s in fam.samples if s.name == "app_latency_seconds_bucket"}
    assert exemplars["0.1"] is not None and exemplars["0.1"].labels == {"trace_id": "fast"}
    assert exemplars["0.1"].value == 0.05
    assert exemplars["1.0"] is not None and exemplars["1.0"].labels == {"trace_id": "medium"}
    assert exemplars["1.0"].value == 0.5
    assert exemplars["+Inf"] is not None and exemplars["+Inf"].labels == {"trace_id": "slow"}
    assert exemplars["+Inf"].value == 7.0
    for s in fam.samples:
        if s.name != "app_latency_seconds_bucket":
            assert s.exemplar is None, s


# --------------------------------------------------------------------------------------------
# summaries, info, enums


@pytest.mark.parametrize("fmt", FORMATS)
def test_summary_roundtrip(registry: ferrotel.Registry, fmt: str) -> None:
    s = ferrotel.Summary("app_payload_bytes", "Payload sizes.", ["direction"], registry=registry)
    s.labels("in").observe(100)
    s.labels("in").observe(28.5)
    s.labels("out").observe(0)
    plain = ferrotel.Summary("app_job_seconds", "Job time.", registry=registry)
    plain.observe(1.5)

    families = roundtrip(registry, fmt)
    fam = families["app_payload_bytes"]
    assert fam.type == "summary"
    assert values(fam, "app_payload_bytes_count") == {
        key({"direction": "in"}): 2,
        key({"direction": "out"}): 1,
    }
    assert values(fam, "app_payload_bytes_sum") == {
        key({"direction": "in"}): 128.5,
        key({"direction": "out"}): 0,
    }
    expected = {"app_payload_bytes_count", "app_payload_bytes_sum"}
    if fmt == OPENMETRICS:
        expected.add("app_payload_bytes_created")
    assert sample_names(fam) == expected
    assert values(families["app_job_seconds"], "app_job_seconds_count") == {key({}): 1}
    assert values(families["app_job_seconds"], "app_job_seconds_sum") == {key({}): 1.5}


@pytest.mark.parametrize("fmt", FORMATS)
def test_info_roundtrip(registry: ferrotel.Registry, fmt: str) -> None:
    i = ferrotel.Info("app_build", "Build information.", registry=registry)
    i.info({"version": "1.2.3", "commit": "abc", "odd": NASTY_VALUE})
    per_plugin = ferrotel.Info("app_plugin", "Plugins.", ["plugin"], registry=registry)
    per_plugin.labels("auth").info({"version": "2"})

    families = roundtrip(registry, fmt)
    # 0.0.4 has no info type: prometheus_client writes it as a gauge named by its sample.
    name, kind = ("app_build_info", "gauge") if fmt == TEXT004 else ("app_build", "info")
    fam = families[name]
    assert fam.type == kind
    assert fam.documentation == "Build information."
    assert values(fam, "app_build_info") == {
        key({"version": "1.2.3", "commit": "abc", "odd": NASTY_VALUE}): 1.0
    }
    plugin = families["app_plugin_info" if fmt == TEXT004 else "app_plugin"]
    assert values(plugin, "app_plugin_info") == {key({"plugin": "auth", "version": "2"}): 1.0}


@pytest.mark.parametrize("fmt", FORMATS)
def test_enum_roundtrip(registry: ferrotel.Registry, fmt: str) -> None:
    e = ferrotel.Enum("app_state", "Lifecycle.", states=["starting", "running", "stopped"], registry=registry)
    e.state("running")
    workers = ferrotel.Enum("app_worker", "Workers.", ["worker"], states=["idle", "busy"], registry=registry)
    workers.labels("w1").state("busy")
    workers.labels("w2")  # the first state until told otherwise

    families = roundtrip(registry, fmt)
    fam = families["app_state"]
    assert fam.type == ("gauge" if fmt == TEXT004 else "stateset")
    assert values(fam, "app_state") == {
        key({"app_state": "starting"}): 0.0,
        key({"app_state": "running"}): 1.0,
        key({"app_state": "stopped"}): 0.0,
    }
    assert values(families["app_worker"], "app_worker") == {
        key({"worker": "w1", "app_worker": "idle"}): 0.0,
        key({"worker": "w1", "app_worker": "busy"}): 1.0,
        key({"worker": "w2", "app_worker": "idle"}): 1.0,
        key({"worker": "w2", "app_worker": "busy"}): 0.0,
    }


# --------------------------------------------------------------------------------------------
# escaping, registry options


@pytest.mark.parametrize("fmt", FORMATS)
def test_label_values_and_help_are_escaped(registry: ferrotel.Registry, fmt: str) -> None:
    c = ferrotel.Counter("app_requests_total", NASTY_HELP, ["path", "other"], registry=registry)
    c.labels(NASTY_VALUE, "").inc(2)
    c.labels('\\"', "\n").inc(3)
    c.labels("\\n", '\\"\\').inc(4)  # backslash-n as two characters, not a newline
    g = ferrotel.Gauge("app_multi_line", "line one\nline two\n\nline four \\n", registry=registry)
    g.set(1)
    h = ferrotel.Histogram("app_odd_seconds", "Odd.", ["v"], buckets=(1,), registry=registry)
    h.labels(NASTY_VALUE).observe(0.5)

    body = render(registry, fmt)
    # Every sample and metadata line is one line: no raw newline leaked from a value.
    lines = body.decode().splitlines()
    assert sum(1 for line in lines if line.startswith("app_requests_total")) == 3
    families = parse(body, fmt)

    fam = families["app_requests"]
    assert fam.documentation == NASTY_HELP
    assert values(fam, "app_requests_total") == {
        key({"path": NASTY_VALUE, "other": ""}): 2.0,
        key({"path": '\\"', "other": "\n"}): 3.0,
        key({"path": "\\n", "other": '\\"\\'}): 4.0,
    }
    assert families["app_multi_line"].documentation == "line one\nline two\n\nline four \\n"
    assert bucket_counts(families["app_odd_seconds"], {"v": NASTY_VALUE}) == {"1.0": 1.0, "+Inf": 1.0}


@pytest.mark.parametrize("fmt", FORMATS)
def test_prefix_and_default_labels(fmt: str) -> None:
    registry = ferrotel.Registry(prefix="myapp_", default_labels={"env": "prod", "region": 'e"u\n1'})
    c = ferrotel.Counter("requests_total", "Requests.", ["method"], registry=registry)
    c.labels("GET").inc(5)
    h = ferrotel.Histogram("latency_seconds", "Latency.", buckets=(1,), registry=registry)
    h.observe(2)

    families = roundtrip(registry, fmt)
    base = {"env": "prod", "region": 'e"u\n1'}
    assert values(families["myapp_requests"], "myapp_requests_total") == {key({**base, "method": "GET"}): 5.0}
    assert bucket_counts(families["myapp_latency_seconds"], base) == {"1.0": 0.0, "+Inf": 1.0}
    assert values(families["myapp_latency_seconds"], "myapp_latency_seconds_count") == {key(base): 1.0}
    assert registry.get_sample_value("myapp_requests_total", {**base, "method": "GET"}) == 5.0


def test_get_sample_value_agrees_with_exposition(registry: ferrotel.Registry) -> None:
    c = ferrotel.Counter("app_requests_total", "Requests.", ["path"], registry=registry)
    c.labels(NASTY_VALUE).inc(3)
    h = ferrotel.Histogram("app_latency_seconds", "Latency.", buckets=(0.5, 1), registry=registry)
    h.observe(0.7)
    families = roundtrip(registry, OPENMETRICS)
    for fam in families.values():
        for s in fam.samples:
            assert registry.get_sample_value(s.name, s.labels) == s.value, s
    assert registry.get_sample_value("app_requests_total", {"path": "nope"}) is None


# --------------------------------------------------------------------------------------------
# content negotiation and compression


def small_registry() -> ferrotel.Registry:
    registry = ferrotel.Registry()
    c = ferrotel.Counter("app_requests_total", "Requests.", ["path"], registry=registry)
    c.labels("/").inc(3, exemplar={"trace_id": "abc"})
    ferrotel.Gauge("app_up", "Up.", registry=registry).set(1)
    ferrotel.Histogram("app_latency_seconds", "Latency.", registry=registry).observe(0.2)
    return registry


PROMETHEUS_ACCEPT = (
    "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,"
    "text/plain;version=0.0.4;q=0.5,*/*;q=0.1"
)


@pytest.mark.parametrize(
    "accept",
    [
        "application/openmetrics-text",
        "application/openmetrics-text; version=1.0.0; charset=utf-8",
        "application/openmetrics-text;version=0.0.1",
        PROMETHEUS_ACCEPT,
        "text/html, application/openmetrics-text; version=1.0.0",
    ],
)
def test_render_negotiates_openmetrics(accept: str) -> None:
    registry = small_registry()
    body, content_type, encoding = registry.render(accept, None)
    assert content_type == CONTENT_TYPE_OPENMETRICS
    assert encoding is None
    assert body.endswith(b"# EOF\n")
    assert body.count(b"# EOF") == 1
    assert body == ferrotel.generate_openmetrics(registry)
    parse(body, OPENMETRICS)


@pytest.mark.parametrize(
    "accept", [None, "", "text/plain", "text/plain; version=0.0.4", "*/*", "application/json"]
)
def test_render_defaults_to_text004(accept: str | None) -> None:
    registry = small_registry()
    body, content_type, encoding = registry.render(accept, None)
    assert content_type == CONTENT_TYPE_TEXT004
    assert encoding is None
    assert b"# EOF" not in body
    assert b"_created" not in body
    assert body == ferrotel.generate_latest(registry)
    parse(body, TEXT004)


def test_render_without_arguments_is_text004() -> None:
    registry = small_registry()
    body, content_type, encoding = registry.render()
    assert (content_type, encoding) == (CONTENT_TYPE_TEXT004, None)
    assert body == ferrotel.generate_latest(registry)


@pytest.mark.parametrize("accept", [None, "application/openmetrics-text"])
@pytest.mark.parametrize("accept_encoding", ["gzip", "gzip, deflate, br", "deflate, gzip;q=1.0", "br,gzip"])
def test_render_gzip(accept: str | None, accept_encoding: str) -> None:
    registry = small_registry()
    plain, plain_type, _ = registry.render(accept, None)
    body, content_type, encoding = registry.render(accept, accept_encoding)
    assert encoding == "gzip"
    assert content_type == plain_type
    assert body[:2] == b"\x1f\x8b"
    assert gzip.decompress(body) == plain


@pytest.mark.parametrize("accept_encoding", [None, "", "identity", "br", "deflate, br"])
def test_render_no_gzip_unless_asked(accept_encoding: str | None) -> None:
    registry = small_registry()
    body, _, encoding = registry.render(None, accept_encoding)
    assert encoding is None
    assert body == ferrotel.generate_latest(registry)


def test_content_type_constants_match_render() -> None:
    registry = small_registry()
    assert registry.render(None, None)[1] == ferrotel.CONTENT_TYPE_LATEST
    assert registry.render("application/openmetrics-text", None)[1] == ferrotel.CONTENT_TYPE_OPENMETRICS


def http_get(port: int, headers: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", "/metrics", headers=headers)
        response = conn.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        conn.close()


def test_http_server_negotiates_and_compresses() -> None:
    registry = small_registry()
    with ferrotel.start_http_server(0, addr="127.0.0.1", registry=registry) as server:
        assert server.port > 0
        status, headers, body = http_get(server.port, {})
        assert status == 200
        assert headers["content-type"] == CONTENT_TYPE_TEXT004
        assert "content-encoding" not in headers
        assert body == ferrotel.generate_latest(registry)

        status, headers, body = http_get(
            server.port, {"Accept": PROMETHEUS_ACCEPT, "Accept-Encoding": "gzip"}
        )
        assert status == 200
        assert headers["content-type"] == CONTENT_TYPE_OPENMETRICS
        assert headers["content-encoding"] == "gzip"
        assert gzip.decompress(body) == ferrotel.generate_openmetrics(registry)


# --------------------------------------------------------------------------------------------
# the same metrics through prometheus_client


def record_everything(lib: ModuleType, registry: Any) -> None:
    """Builds one of each metric type and records the same values, with ferrotel or prometheus_client."""
    c = lib.Counter("app_requests_total", "Requests handled.", ["method", "path"], registry=registry)
    c.labels("GET", "/").inc(3, exemplar={"trace_id": "abc"})
    c.labels(method="POST", path=NASTY_VALUE).inc(2.5)
    c.labels("PUT", "/never")
    lib.Counter("app_plain", NASTY_HELP, registry=registry).inc()
    lib.Counter("app_labelled_but_unused_total", "No children.", ["x"], registry=registry)

    g = lib.Gauge(
        "temperature", "Temperature.", namespace="ns", subsystem="sub", unit="celsius", registry=registry
    )
    g.set(21.5)
    g.inc(1)
    g.dec(0.25)
    q = lib.Gauge("app_queue_length", "Queue length.", ["queue"], registry=registry)
    q.labels("a").set(-3)
    q.labels("b").set(1e20)
    q.labels("c").set(float("inf"))
    q.labels("d").set(float("nan"))
    lib.Gauge("app_untouched", "Never set.", registry=registry)

    h = lib.Histogram(
        "app_latency_seconds", "Latency.", ["route"], buckets=(0.01, 0.1, 1, 10), registry=registry
    )
    for v in (0.005, 0.01, 0.05, 0.5, 5, 50):
        h.labels("/a").observe(v)
    h.labels("/b").observe(0.05, exemplar={"trace_id": "def"})
    d = lib.Histogram("app_work_seconds", "Work.", registry=registry)
    for v in (0.003, 0.3, 3, 30):
        d.observe(v)
    lib.Histogram("app_idle_seconds", "Never observed.", registry=registry)

    s = lib.Summary("app_payload_bytes", "Payload sizes.", ["direction"], registry=registry)
    s.labels("in").observe(100)
    s.labels("in").observe(28)
    s.labels("out").observe(0)

    lib.Info("app_build", "Build information.", registry=registry).info({"version": "1.2.3", "commit": "abc"})
    lib.Info("app_plugin", "Plugins.", ["plugin"], registry=registry).labels(NASTY_VALUE).info({"v": "2"})

    lib.Enum("app_state", "Lifecycle.", states=["starting", "running", "stopped"], registry=registry).state(
        "running"
    )
    w = lib.Enum("app_worker", "Workers.", ["worker"], states=["idle", "busy"], registry=registry)
    w.labels("w1").state("busy")
    w.labels("w2")


def value_key(v: float) -> float | str:
    return "NaN" if math.isnan(v) else v


def comparable(families: Iterable[Metric], fmt: str) -> dict[str, tuple[Any, ...]]:
    """Families as comparable tuples: created values and exemplar timestamps left out."""
    out: dict[str, tuple[Any, ...]] = {}
    for fam in families:
        samples: set[tuple[Any, ...]] = set()
        for s in fam.samples:
            if s.name.endswith("_created"):
                assert fmt == OPENMETRICS, s
                samples.add((s.name, key(s.labels), "created"))
                continue
            exemplar = None
            if s.exemplar is not None:
                exemplar = (key(s.exemplar.labels), s.exemplar.value, s.exemplar.timestamp is not None)
            samples.add((s.name, key(s.labels), value_key(s.value), exemplar))
        out[fam.name] = (fam.type, fam.documentation, fam.unit, frozenset(samples))
    return out


def prometheus_client_families(fmt: str) -> list[Metric]:
    registry = prometheus_client.CollectorRegistry()
    record_everything(prometheus_client, registry)
    if fmt == TEXT004:
        text = prometheus_client.generate_latest(registry).decode()
        families = list(parse_text004_text(text))
        # prometheus_client writes creation times as extra *_created gauges; ferrotel does not.
        return [f for f in families if not f.name.endswith("_created")]
    text = pc_openmetrics.generate_latest(registry).decode()  # type: ignore[no-untyped-call]
    return list(parse_openmetrics_text(text))  # type: ignore[no-untyped-call]


@pytest.mark.parametrize("fmt", FORMATS)
def test_same_samples_as_prometheus_client(registry: ferrotel.Registry, fmt: str) -> None:
    record_everything(ferrotel, registry)
    ours = comparable(roundtrip(registry, fmt).values(), fmt)
    theirs = comparable(prometheus_client_families(fmt), fmt)
    assert set(ours) == set(theirs)
    for name in theirs:
        o_type, o_doc, o_unit, o_samples = ours[name]
        t_type, t_doc, t_unit, t_samples = theirs[name]
        assert (o_type, o_doc, o_unit) == (t_type, t_doc, t_unit), name
        assert o_samples == t_samples, (
            f"{name}: only ferrotel: {sorted(map(repr, o_samples - t_samples))}; "
            f"only prometheus_client: {sorted(map(repr, t_samples - o_samples))}"
        )


@pytest.mark.parametrize("fmt", FORMATS)
def test_same_family_order_as_prometheus_client(registry: ferrotel.Registry, fmt: str) -> None:
    record_everything(ferrotel, registry)
    ours = [f.name for f in roundtrip(registry, fmt).values()]
    theirs = [f.name for f in prometheus_client_families(fmt)]
    assert ours == theirs


@pytest.mark.parametrize("fmt", FORMATS)
def test_bucket_le_labels_match_prometheus_client_for_large_and_small_bounds(fmt: str) -> None:
    """``le`` is a label, so its text is part of the series identity in Prometheus 2.x: a
    different spelling of the same bound after switching from prometheus_client creates new
    series. prometheus_client (like the Go client) writes 1e+06 and 1e-05."""
    buckets = (1e-5, 2.5e-4, 0.001, 123456.0, 1e6, 2.5e7, 1e16)
    ours = ferrotel.Registry()
    ferrotel.Histogram("app_size_bytes", "Sizes.", buckets=buckets, registry=ours).observe(3)
    theirs = prometheus_client.CollectorRegistry()
    prometheus_client.Histogram("app_size_bytes", "Sizes.", buckets=buckets, registry=theirs).observe(3)
    if fmt == TEXT004:
        their_body = prometheus_client.generate_latest(theirs)
    else:
        their_body = pc_openmetrics.generate_latest(theirs)  # type: ignore[no-untyped-call]

    our_le = list(bucket_counts(parse(render(ours, fmt), fmt)["app_size_bytes"], {}))
    their_le = list(bucket_counts(parse(their_body, fmt)["app_size_bytes"], {}))
    assert our_le == their_le


def test_prometheus_client_bridge_sees_the_same_samples(registry: ferrotel.Registry) -> None:
    """ferrotel's Registry.collect() yields prometheus_client Metric objects; rendering them with
    prometheus_client's own OpenMetrics writer must describe the same samples as ferrotel's."""
    record_everything(ferrotel, registry)
    target = prometheus_client.CollectorRegistry()
    target.register(registry)
    bridged = pc_openmetrics.generate_latest(target)  # type: ignore[no-untyped-call]
    via_bridge = comparable(parse(bridged, OPENMETRICS).values(), OPENMETRICS)
    direct = comparable(roundtrip(registry, OPENMETRICS).values(), OPENMETRICS)
    assert via_bridge == direct


def test_histogram_nan_observation_is_not_in_finite_buckets(registry: ferrotel.Registry) -> None:
    """A bucket counts observations ``<= le``; NaN compares false with every bound, so it may only
    land in ``+Inf`` (as the Go client does) or nowhere (as prometheus_client does).

    Read back from 0.0.4 only: a NaN ``_sum`` makes the OpenMetrics exposition one that
    prometheus_client's strict parser rejects ("Counter-like samples cannot be NaN"), exactly as
    prometheus_client's own exposition of the same histogram is."""
    h = ferrotel.Histogram("app_ratio", "Ratios.", buckets=(1, 10), registry=registry)
    h.observe(5)
    h.observe(float("nan"))
    got = bucket_counts(roundtrip(registry, TEXT004)["app_ratio"], {})
    assert got["1.0"] == 0.0
    assert got["10.0"] == 1.0
    assert got["+Inf"] >= got["10.0"]
    assert got["+Inf"] == registry.get_sample_value("app_ratio_count")
    assert registry.get_sample_value("app_ratio_bucket", {"le": "1.0"}) == 0.0
