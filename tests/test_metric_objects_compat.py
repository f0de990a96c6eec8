"""prometheus_client's metric-object API on ferrotel's metrics: remove_by_labels, reset(),
label values of any type, Info's checks, the timer's duration, `_created` switched off and on,
signatures kept by the decorators, error texts, repr()."""

from __future__ import annotations

import asyncio
import inspect
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import ferrotel
import prometheus_client
import prometheus_client.metrics
import pytest


def both() -> Iterator[tuple[Any, Any]]:
    yield prometheus_client, prometheus_client.CollectorRegistry()
    yield ferrotel, ferrotel.Registry()


def series(registry: Any, name: str) -> set[tuple[tuple[str, str], ...]]:
    return {tuple(sorted(s.labels.items())) for m in registry.collect() for s in m.samples if s.name == name}


# --- remove_by_labels ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "labels",
    [{"method": "GET"}, {"path": "/a"}, {"method": "GET", "path": "/b"}, {"status": 200}, {}],
    ids=repr,
)
def test_remove_by_labels_removes_every_partial_match(labels: dict[str, Any]) -> None:
    seen = []
    for lib, registry in both():
        c = lib.Counter("requests", "Requests", ["method", "path", "status"], registry=registry)
        for method, path in (("GET", "/a"), ("GET", "/b"), ("POST", "/a"), ("POST", "/b")):
            c.labels(method, path, 200).inc()
        c.labels("GET", "/a", 500).inc()
        c.remove_by_labels(labels)
        seen.append(series(registry, "requests_total"))
    assert seen[0] == seen[1]


def test_remove_by_labels_errors() -> None:
    for lib, registry in both():
        c = lib.Counter("requests", "Requests", ["method"], registry=registry)
        with pytest.raises(ValueError, match="Unknown label names"):
            c.remove_by_labels({"verb": "GET"})
        with pytest.raises(TypeError):
            c.remove_by_labels([("method", "GET")])
        with pytest.raises(ValueError, match="No label names were set"):
            lib.Gauge("plain", "Plain", registry=registry).remove_by_labels({"a": "b"})


# --- reset() and _created --------------------------------------------------------------------------


def test_reset_restarts_created() -> None:
    registry = ferrotel.Registry()
    c = ferrotel.Counter("jobs", "Jobs", registry=registry)
    c.inc(5)
    first = registry.get_sample_value("jobs_created")
    time.sleep(0.01)
    c.reset()
    assert registry.get_sample_value("jobs_total") == 0.0
    assert registry.get_sample_value("jobs_created") > first


def created_names(registry: Any) -> set[str]:
    return {s.name for m in registry.collect() for s in m.samples if s.name.endswith("_created")}


def test_disable_and_enable_created_metrics(no_created: None) -> None:
    seen = []
    for lib, registry in both():
        lib.Counter("c", "C", registry=registry).inc()
        lib.Histogram("h", "H", registry=registry).observe(1)
        lib.Summary("s", "S", ["k"], registry=registry).labels("v").observe(1)
        lib.disable_created_metrics()
        off = created_names(registry)
        lib.enable_created_metrics()
        seen.append((off, created_names(registry)))
    assert seen[0] == seen[1] == (set(), {"c_created", "h_created", "s_created"})
    ferrotel.disable_created_metrics()
    assert b"_created" not in ferrotel.generate_openmetrics(ferrotel.REGISTRY)


def test_prometheus_disable_created_series_environment_variable() -> None:
    code = """
import ferrotel
r = ferrotel.Registry()
ferrotel.Counter("c", "C", registry=r).inc()
print(sorted(s.name for m in r.collect() for s in m.samples))
"""
    env = {**os.environ, "PROMETHEUS_DISABLE_CREATED_SERIES": "True"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60)
    assert out.stdout.strip() == "['c_total']", out.stderr


# --- label values ----------------------------------------------------------------------------------


class Color:
    def __str__(self) -> str:
        return "red"


@pytest.mark.parametrize(
    "value", [None, True, 3.0, 10**30, -7, Color(), b"bytes", ("a", 1)], ids=lambda v: type(v).__name__
)
def test_label_values_of_any_type_are_str_as_in_prometheus_client(value: Any) -> None:
    seen = []
    for lib, registry in both():
        lib.Gauge("g", "G", ["v"], registry=registry).labels(value).set(1)
        lib.Gauge("k", "K", ["v"], registry=registry).labels(v=value).set(1)
        seen.append((series(registry, "g"), series(registry, "k")))
    assert seen[0] == seen[1] == ({(("v", str(value)),)}, {(("v", str(value)),)})


def test_none_label_value_is_the_string_none() -> None:
    registry = ferrotel.Registry()
    c = ferrotel.Counter("c", "C", ["user"], registry=registry)
    c.labels(None).inc()
    assert registry.get_sample_value("c_total", {"user": "None"}) == 1.0
    assert c.labels(None) is c.labels("None")
    c.remove(None)
    assert registry.get_sample_value("c_total", {"user": "None"}) is None


# --- Info ------------------------------------------------------------------------------------------


def test_info_rejects_none_values_and_label_clashes() -> None:
    for lib, registry in both():
        i = lib.Info("build", "Build", ["component"], registry=registry)
        with pytest.raises(ValueError, match="Label value cannot be None"):
            i.labels("api").info({"version": None})
        with pytest.raises(ValueError, match="Overlapping labels for Info metric"):
            i.labels("api").info({"component": "x"})


# --- the timer -------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["Histogram", "Summary", "Gauge"])
def test_timer_exposes_its_duration(kind: str) -> None:
    for lib, registry in both():
        metric = getattr(lib, kind)("t", "T", registry=registry)
        with metric.time() as timer:
            assert timer.duration is None
            time.sleep(0.002)
        assert timer.duration >= 0.002


def test_timer_labels_picks_the_child_after_the_fact() -> None:
    for lib, registry in both():
        h = lib.Histogram("t", "T", ["route"], registry=registry)
        with h.time() as timer:
            timer.labels("/songs")
        assert registry.get_sample_value("t_count", {"route": "/songs"}) == 1.0
        with pytest.raises(ValueError, match="missing label values"):
            with h.time():
                pass


# --- decorators keep signatures --------------------------------------------------------------------


def plain(a: int, b: str = "x", *args: Any, c: float = 1.0, **kw: Any) -> str:
    return f"{a}{b}"


async def coroutine(a: int, b: str = "x", *, c: float = 1.0) -> str:
    return f"{a}{b}"


def generator(n: int, step: int = 1) -> Iterator[int]:
    yield from range(0, n, step)


DECORATORS = {
    "time": lambda lib, r: lib.Histogram("h", "H", registry=r).time(),
    "count_exceptions": lambda lib, r: lib.Counter("c", "C", registry=r).count_exceptions(),
    "track_inprogress": lambda lib, r: lib.Gauge("g", "G", registry=r).track_inprogress(),
}


@pytest.mark.parametrize("func", [plain, coroutine, generator], ids=lambda f: f.__name__)
@pytest.mark.parametrize("decorator", sorted(DECORATORS))
def test_decorators_keep_the_signature(decorator: str, func: Any) -> None:
    ours = DECORATORS[decorator](ferrotel, ferrotel.Registry())(func)
    theirs = DECORATORS[decorator](prometheus_client, prometheus_client.CollectorRegistry())(func)
    assert inspect.signature(ours) == inspect.signature(theirs) == inspect.signature(func)
    assert inspect.getfullargspec(ours) == inspect.getfullargspec(theirs) == inspect.getfullargspec(func)
    assert ours.__name__ == func.__name__ and ours.__wrapped__ is func


def test_decorated_coroutines_and_generators_are_measured_to_their_end() -> None:
    """ferrotel measures the whole await and the whole iteration (prometheus_client measures the
    call that makes the coroutine or generator); the wrapper is one of the same kind."""
    registry = ferrotel.Registry()
    g = ferrotel.Gauge("g", "G", registry=registry)
    seen = []

    @g.track_inprogress()
    def gen(n: int) -> Iterator[int]:
        for i in range(n):
            seen.append(registry.get_sample_value("g"))
            yield i

    @g.track_inprogress()
    async def coro() -> float | None:
        await asyncio.sleep(0)
        return registry.get_sample_value("g")

    assert inspect.isgeneratorfunction(gen) and inspect.iscoroutinefunction(coro)
    assert list(gen(3)) == [0, 1, 2]
    assert seen == [1.0, 1.0, 1.0]
    assert asyncio.run(coro()) == 1.0
    assert registry.get_sample_value("g") == 0.0


# --- error texts -----------------------------------------------------------------------------------


MISTAKES = {
    "missing label values": lambda lib, r: lib.Counter("c", "C", ["a"], registry=r).inc(),
    "no label names": lambda lib, r: lib.Counter("c", "C", registry=r).labels("x"),
    "label count": lambda lib, r: lib.Counter("c", "C", ["a", "b"], registry=r).labels("x"),
    "label names": lambda lib, r: lib.Counter("c", "C", ["a"], registry=r).labels(b="x"),
    "args and kwargs": lambda lib, r: lib.Counter("c", "C", ["a", "b"], registry=r).labels("x", b="y"),
    "negative counter": lambda lib, r: lib.Counter("c", "C", registry=r).inc(-1),
    "buckets order": lambda lib, r: lib.Histogram("h", "H", buckets=(2, 1), registry=r),
    "no states": lambda lib, r: lib.Enum("e", "E", states=[], registry=r),
    "enum label": lambda lib, r: lib.Enum("e", "E", ["e"], states=["a"], registry=r),
    "multiprocess mode": lambda lib, r: lib.Gauge("g", "G", multiprocess_mode="wrong", registry=r),
    "unit on info": lambda lib, r: lib.Info("i", "I", unit="seconds", registry=r),
    "reserved label": lambda lib, r: lib.Counter("c", "C", ["__x"], registry=r),
    "reserved le": lambda lib, r: lib.Histogram("h", "H", ["le"], registry=r),
    "empty name": lambda lib, r: lib.Counter("", "C", registry=r),
    "chained labels": lambda lib, r: lib.Counter("c", "C", ["a"], registry=r).labels("x").labels("y"),
    "remove count": lambda lib, r: lib.Counter("c", "C", ["a", "b"], registry=r).remove("x"),
}


def message_start(text: str) -> str:
    """prometheus_client's wording up to the value it names."""
    for stop in ("(", ": ", " {", "{"):
        text = text.split(stop)[0]
    return text.strip()


@pytest.mark.parametrize("mistake", sorted(MISTAKES))
def test_error_texts_start_as_prometheus_clients(mistake: str) -> None:
    messages = []
    for lib, registry in both():
        with pytest.raises(ValueError) as caught:
            MISTAKES[mistake](lib, registry)
        messages.append(str(caught.value))
    theirs, ours = messages
    start = message_start(
        theirs.replace("counter:c", "").replace("Reserved label methe fric", "Reserved label metric")
    )
    assert start and start in ours, (theirs, ours)


def test_missing_label_values_names_the_metric_and_its_labels() -> None:
    c = ferrotel.Counter("requests", "Requests", ["method"], registry=None)
    with pytest.raises(ValueError, match=r"^counter metric is missing label values: .*requests.*method"):
        c.inc()


# --- repr ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["Counter", "Gauge", "Histogram", "Summary", "Info", "Enum"])
def test_repr_and_str_name_ferrotels_class(kind: str) -> None:
    kwargs: dict[str, Any] = {"states": ["a"]} if kind == "Enum" else {}
    ours = getattr(ferrotel, kind)("m", "M", registry=None, **kwargs)
    theirs = getattr(prometheus_client, kind)("m", "M", registry=None, **kwargs)
    assert repr(ours) == f"ferrotel.{kind}(m)"
    assert repr(theirs) == f"prometheus_client.metrics.{kind}(m)"
    assert str(ours) == str(theirs)
