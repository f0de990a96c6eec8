"""Metrics cases: ferrotel against prometheus_client."""

from __future__ import annotations

from typing import Any

from ._common import Case, Namespace, Side
from ._multiprocess import MULTIPROCESS_CASES


def _ferrotel_registry() -> Any:
    import ferrotel

    return ferrotel.Registry()


def _prom_registry() -> Any:
    import prometheus_client

    return prometheus_client.CollectorRegistry()


def _metric(library: str, kind: str, *args: Any, **kwargs: Any) -> Any:
    if library == "ferrotel":
        import ferrotel as lib

        kwargs.setdefault("registry", _ferrotel_registry())
    else:
        import prometheus_client as lib  # type: ignore[no-redef]

        kwargs.setdefault("registry", _prom_registry())
    return getattr(lib, kind)(*args, **kwargs)


def _metric_side(library: str, kind: str, stmt: str, *args: Any, **kwargs: Any) -> Side:
    def setup() -> Namespace:
        m = _metric(library, kind, *args, **kwargs)
        return {"m": m, "child": m.labels("GET", "/songs/{song_id}", "200") if m._labelnames else m}

    return Side(library, setup, stmt)


def _render_side(library: str) -> Side:
    def setup() -> Namespace:
        if library == "ferrotel":
            import ferrotel as lib

            registry = _ferrotel_registry()
        else:
            import prometheus_client as lib  # type: ignore[no-redef]

            registry = _prom_registry()
        counters = [
            lib.Counter(f"requests_{i}_total", "Requests", ["method", "path", "status"], registry=registry)
            for i in range(10)
        ]
        for i, counter in enumerate(counters):
            for j in range(1_000):
                counter.labels("GET", f"/route/{j}", str(200 + i)).inc(j)
        histograms = lib.Histogram("latency_seconds", "Latency", ["route"], registry=registry)
        for j in range(1_000):
            histograms.labels(f"/route/{j}").observe(j / 1000)
        return {"generate_latest": lib.generate_latest, "registry": registry}

    return Side(library, setup, "generate_latest(registry)")


def _metric_case(name: str, kind: str, stmt: str, *args: Any, **kwargs: Any) -> Case:
    return Case(
        "metrics",
        name,
        _metric_side("ferrotel", kind, stmt, *args, **kwargs),
        _metric_side("prometheus_client", kind, stmt, *args, **kwargs),
    )


LABELS = ("method", "path", "status")
HTTP_BUCKETS = (0.1, 0.5, 1.0, 2.0, 5.0)

CASES: list[Case] = [
    _metric_case("Counter.inc()", "Counter", "m.inc()", "c_total", "c"),
    _metric_case(
        "labels(3 values).inc()",
        "Counter",
        "m.labels('GET', '/songs/{song_id}', '200').inc()",
        "l_total",
        "l",
        LABELS,
    ),
    # Status codes are usually ints: each label value is str()-ed, as prometheus_client does.
    _metric_case(
        "labels(str, str, int).inc()",
        "Counter",
        "m.labels('GET', '/songs', 200).inc()",
        "li_total",
        "li",
        LABELS,
    ),
    _metric_case("kept child .inc()", "Counter", "child.inc()", "k_total", "k", LABELS),
    _metric_case(
        "Histogram.observe() 5 buckets", "Histogram", "m.observe(0.3)", "h5", "h", buckets=HTTP_BUCKETS
    ),
    _metric_case("Histogram.observe() default buckets", "Histogram", "m.observe(0.3)", "hd", "h"),
    _metric_case("Gauge.set()", "Gauge", "m.set(3.5)", "g", "g"),
    Case(
        "metrics",
        "render 10k counter series + 1k histograms",
        _render_side("ferrotel"),
        _render_side("prometheus_client"),
        number=3,
    ),
    *MULTIPROCESS_CASES,
]
