"""Writers on several threads end with exact totals; scrapes during the writes stay consistent."""

from __future__ import annotations

import gzip
import threading
import urllib.request

import ferrotel
import pytest
from prometheus_client.openmetrics.parser import text_string_to_metric_families as parse_openmetrics
from prometheus_client.parser import text_string_to_metric_families as parse_text

THREADS = 6
N = 20_000
# Exactly representable, so the histogram sum is exact whatever the order of additions.
OBSERVED = (0.25, 0.75, 3.0, 20.0)
BUCKETS = (0.5, 1.0, 5.0)


def check_histograms(families, seen_counts: list[float]) -> None:
    """+Inf equals _count and buckets are cumulative, for every histogram series."""
    for family in families:
        if family.type != "histogram":
            continue
        series: dict[tuple, dict[str, object]] = {}
        for s in family.samples:
            key = tuple(sorted((k, v) for k, v in s.labels.items() if k != "le"))
            entry = series.setdefault(key, {"buckets": []})
            if s.name.endswith("_bucket"):
                entry["buckets"].append((float(s.labels["le"]), s.value))
            elif s.name.endswith("_count"):
                entry["count"] = s.value
        for key, entry in series.items():
            buckets = sorted(entry["buckets"])
            assert buckets[-1][0] == float("inf"), (family.name, key)
            assert buckets[-1][1] == entry["count"], f"{family.name}{key}: +Inf {buckets[-1][1]} != {entry}"
            values = [v for _, v in buckets]
            assert values == sorted(values), f"{family.name}{key}: buckets not cumulative {buckets}"
            seen_counts.append(entry["count"])


def fetch(url: str, headers: dict[str, str] | None = None) -> tuple[str, str]:
    request = urllib.request.Request(url, headers=headers or {})
    with urllib.request.urlopen(request, timeout=30) as response:
        body = response.read()
        content_type = response.headers["Content-Type"]
        if response.headers.get("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
    return body.decode(), content_type


@pytest.mark.parametrize("threads", [4, THREADS, 8])
def test_concurrent_writers_exact_totals_and_consistent_scrapes(threads):
    registry = ferrotel.Registry()
    counter = ferrotel.Counter("work_total", "Work", registry=registry)
    labelled = ferrotel.Counter("work_by_kind_total", "Work by kind", ["kind"], registry=registry)
    histogram = ferrotel.Histogram("work_seconds", "Work time", buckets=BUCKETS, registry=registry)
    labelled_histogram = ferrotel.Histogram(
        "work_by_kind_seconds", "Work time by kind", ["kind"], buckets=BUCKETS, registry=registry
    )
    gauge = ferrotel.Gauge("work_in_progress", "In progress", registry=registry)

    start = threading.Barrier(threads + 2)
    writers_done = threading.Event()
    errors: list[BaseException] = []

    def writer(index: int) -> None:
        try:
            start.wait(timeout=30)
            own = labelled.labels("shared")  # kept child
            for i in range(N):
                counter.inc()
                own.inc()
                labelled.labels(kind="looked_up").inc()  # looked up every time
                histogram.observe(OBSERVED[i % len(OBSERVED)])
                labelled_histogram.labels(f"k{index % 2}").observe(OBSERVED[i % len(OBSERVED)])
                gauge.inc()
                gauge.dec()
        except BaseException as exc:  # noqa: BLE001 - reported by the main thread
            errors.append(exc)

    server = ferrotel.start_http_server(0, registry=registry)
    url = f"http://127.0.0.1:{server.port}/metrics"
    http_counts: list[float] = []
    http_scrapes = 0

    def http_scraper() -> None:
        nonlocal http_scrapes
        try:
            start.wait(timeout=30)
            variants = [
                ({}, parse_text),
                ({"Accept": "application/openmetrics-text; version=1.0.0"}, parse_openmetrics),
                ({"Accept-Encoding": "gzip"}, parse_text),
            ]
            while True:
                finished = writers_done.is_set()
                headers, parse = variants[http_scrapes % len(variants)]
                body, _ = fetch(url, headers)
                check_histograms(parse(body), http_counts)
                http_scrapes += 1
                if finished:
                    return
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    workers = [threading.Thread(target=writer, args=(i,)) for i in range(threads)]
    scraper = threading.Thread(target=http_scraper)
    try:
        for t in workers + [scraper]:
            t.start()
        start.wait(timeout=30)

        local_counts: list[float] = []
        local_scrapes = 0
        previous_total = 0.0
        while any(t.is_alive() for t in workers) or local_scrapes < 3:
            families = list(parse_text(ferrotel.generate_latest(registry).decode()))
            check_histograms(families, local_counts)
            total = registry.get_sample_value("work_total")
            assert previous_total <= total <= threads * N, "a counter went backwards or past its total"
            previous_total = total
            local_scrapes += 1
        for t in workers:
            t.join(timeout=120)
        writers_done.set()
        scraper.join(timeout=120)
        assert not scraper.is_alive() and not any(t.is_alive() for t in workers)
    finally:
        writers_done.set()
        server.shutdown()

    if errors:
        raise errors[0]

    total = threads * N
    assert registry.get_sample_value("work_total") == total
    assert registry.get_sample_value("work_by_kind_total", {"kind": "shared"}) == total
    assert registry.get_sample_value("work_by_kind_total", {"kind": "looked_up"}) == total
    assert registry.get_sample_value("work_in_progress") == 0.0
    assert registry.get_sample_value("work_seconds_count") == total
    per_value = total // len(OBSERVED)
    assert registry.get_sample_value("work_seconds_sum") == per_value * sum(OBSERVED)
    assert registry.get_sample_value("work_seconds_bucket", {"le": "0.5"}) == per_value
    assert registry.get_sample_value("work_seconds_bucket", {"le": "1.0"}) == 2 * per_value
    assert registry.get_sample_value("work_seconds_bucket", {"le": "5.0"}) == 3 * per_value
    assert registry.get_sample_value("work_seconds_bucket", {"le": "+Inf"}) == total
    by_kind = sum(
        registry.get_sample_value("work_by_kind_seconds_count", {"kind": k}) or 0 for k in ("k0", "k1")
    )
    assert by_kind == total

    assert local_scrapes >= 3 and http_scrapes >= 1
    # at least one scrape saw the histogram mid-run, so consistency was checked under writes
    assert any(0 < c < total for c in local_counts + http_counts), "no scrape overlapped the writes"
    assert all(0 <= c <= total for c in local_counts + http_counts)


def test_concurrent_first_use_of_a_label_set_makes_one_child():
    """Threads racing to create the same child all get the one child, and no increment is lost."""
    registry = ferrotel.Registry()
    counter = ferrotel.Counter("races_total", "Races", ["key"], registry=registry)
    threads = 8
    rounds = 200
    start = threading.Barrier(threads)
    children: list[list[object]] = [[] for _ in range(threads)]

    def worker(index: int) -> None:
        start.wait(timeout=30)
        for r in range(rounds):
            child = counter.labels(f"key{r}")
            child.inc()
            children[index].append(child)

    workers = [threading.Thread(target=worker, args=(i,)) for i in range(threads)]
    for t in workers:
        t.start()
    for t in workers:
        t.join(timeout=120)
    for r in range(rounds):
        assert registry.get_sample_value("races_total", {"key": f"key{r}"}) == threads
        assert len({id(children[i][r]) for i in range(threads)}) == 1


def test_cardinality_overflow_under_concurrency():
    """Racing threads never create more series than the limit, and nothing is lost in the fold."""
    limit = 10
    registry = ferrotel.Registry(cardinality_limit=limit)
    counter = ferrotel.Counter("users_total", "Users", ["user"], registry=registry)
    threads = 6
    per_thread = 50
    start = threading.Barrier(threads)

    def worker(index: int) -> None:
        start.wait(timeout=30)
        for i in range(per_thread):
            counter.labels(f"u{index}-{i}").inc()

    workers = [threading.Thread(target=worker, args=(i,)) for i in range(threads)]
    for t in workers:
        t.start()
    for t in workers:
        t.join(timeout=120)
    (family,) = parse_text(ferrotel.generate_latest(registry).decode())
    named = [s for s in family.samples if s.labels["user"] != "__ferrotel_overflow__"]
    assert len(named) == limit
    assert sum(s.value for s in family.samples) == threads * per_thread


def test_concurrent_register_and_scrape():
    """Registering and unregistering metrics while another thread scrapes never breaks a scrape."""
    registry = ferrotel.Registry()
    stop = threading.Event()
    errors: list[BaseException] = []

    def scraper() -> None:
        try:
            while not stop.is_set():
                list(parse_text(ferrotel.generate_latest(registry).decode()))
                registry.collect()
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    t = threading.Thread(target=scraper)
    t.start()
    try:
        for i in range(300):
            g = ferrotel.Gauge(f"g{i % 7}", "doc", registry=registry)
            g.set(i)
            registry.unregister(g)
    finally:
        stop.set()
        t.join(timeout=60)
    if errors:
        raise errors[0]
