"""The guide's DefaultMetrics: process and Python runtime metrics, as prometheus_client names them."""

from __future__ import annotations

import gc
import sys
import threading

import ferrotel
import prometheus_client
from prometheus_client.parser import text_string_to_metric_families


def samples(registry: ferrotel.Registry) -> dict[str, dict[tuple[tuple[str, str], ...], float]]:
    out: dict[str, dict[tuple[tuple[str, str], ...], float]] = {}
    for family in text_string_to_metric_families(ferrotel.generate_latest(registry).decode()):
        for s in family.samples:
            out.setdefault(s.name, {})[tuple(sorted(s.labels.items()))] = s.value
    return out


def test_default_metrics_match_prometheus_client_process_collector() -> None:
    registry = ferrotel.Registry()
    ferrotel.DefaultMetrics(registry).register()
    ferrotel.DefaultMetrics(registry).register()  # registering twice is harmless
    theirs = prometheus_client.CollectorRegistry()
    prometheus_client.ProcessCollector(registry=theirs)
    ours = samples(registry)
    expected = {
        s.name: s.value
        for f in text_string_to_metric_families(prometheus_client.generate_latest(theirs).decode())
        for s in f.samples
    }
    assert ours["process_start_time_seconds"][()] == expected["process_start_time_seconds"]
    assert ours["process_max_fds"][()] == expected["process_max_fds"]
    assert abs(ours["process_open_fds"][()] - expected["process_open_fds"]) <= 2
    assert ours["process_cpu_seconds_total"][()] >= expected["process_cpu_seconds_total"] - 0.02
    assert (
        abs(ours["process_resident_memory_bytes"][()] - expected["process_resident_memory_bytes"]) < 64 << 20
    )
    assert ours["process_virtual_memory_bytes"][()] > 0


def test_threads_gc_and_python_info_are_read_at_scrape_time() -> None:
    registry = ferrotel.Registry()
    ferrotel.DefaultMetrics(registry).register()
    before = samples(registry)
    stop = threading.Event()
    extra = [threading.Thread(target=stop.wait) for _ in range(3)]
    for t in extra:
        t.start()
    try:
        gc.collect(0)
        gc.collect(2)
        after = samples(registry)
    finally:
        stop.set()
        for t in extra:
            t.join()
    assert after["process_threads"][()] >= before["process_threads"][()] + 3
    collections = after["python_gc_collections_total"]
    assert (
        collections[(("generation", "2"),)]
        >= before["python_gc_collections_total"][(("generation", "2"),)] + 1
    )
    assert (
        collections[(("generation", "0"),)]
        >= before["python_gc_collections_total"][(("generation", "0"),)] + 1
    )
    info = after["python_info"]
    ((labels, value),) = info.items()
    assert value == 1.0
    assert dict(labels)["version"] == ".".join(map(str, sys.version_info[:3]))


def test_default_registry_has_process_metrics_like_prometheus_client() -> None:
    assert ferrotel.REGISTRY.get_sample_value("process_max_fds") is not None
    assert (
        ferrotel.REGISTRY.get_sample_value(
            "python_info",
            {
                "implementation": "CPython",
                "major": "3",
                "minor": str(sys.version_info[1]),
                "patchlevel": str(sys.version_info[2]),
                "version": ".".join(map(str, sys.version_info[:3])),
            },
        )
        == 1.0
    )
