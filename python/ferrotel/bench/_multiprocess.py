"""Multiprocess-mode cases: ferrotel's and prometheus_client's multiprocess modes in the same
process. Neither library's mode is switched for the whole run: each side's setup makes its
metrics in the mode (ferrotel through ``_core._multiprocess_dir``, prometheus_client through its
``values.MultiProcessValue``) and puts the mode back, so the other cases stay single-process.

The scrape cases fork 8 workers, each writing 1,000 counter series to its file and then waiting
(alive, as gunicorn's workers are) until the next setup or the end of the run."""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from ._common import Case, Namespace, Side

PROCESSES = 8
SERIES = 1_000
LABELS = ("method", "path", "status")

# mkdtemp and rmtree(ignore_errors=True) at exit: TemporaryDirectory's ignore_cleanup_errors is
# new in 3.10
_ROOT = tempfile.mkdtemp(prefix="ferrotel-bench-mp-")
atexit.register(shutil.rmtree, _ROOT, ignore_errors=True)
_WORKERS: list[tuple[int, int]] = []  # (pid, write end of its stop pipe)


def _directory() -> str:
    return tempfile.mkdtemp(dir=_ROOT)


@contextmanager
def _ferrotel_mode(directory: str) -> Iterator[Any]:
    import ferrotel
    from ferrotel import _core

    _core._multiprocess_dir(directory, attach_existing=False)
    try:
        yield ferrotel
    finally:
        _core._multiprocess_dir(None)


@contextmanager
def _prometheus_mode(directory: str) -> Iterator[Any]:
    import prometheus_client
    from prometheus_client import values

    saved = values.ValueClass
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = directory  # read as each value's file is opened
    values.ValueClass = values.MultiProcessValue()  # type: ignore[no-untyped-call]
    try:
        yield prometheus_client
    finally:
        values.ValueClass = saved
        del os.environ["PROMETHEUS_MULTIPROC_DIR"]


def _mode(library: str) -> Callable[[str], Any]:
    return _ferrotel_mode if library == "ferrotel" else _prometheus_mode


def _metric_side(library: str, kind: str, stmt: str, **kwargs: Any) -> Side:
    def setup() -> Namespace:
        with _mode(library)(_directory()) as lib:
            registry = lib.Registry() if library == "ferrotel" else lib.CollectorRegistry()
            m = getattr(lib, kind)("mp_bench", "Multiprocess bench", LABELS, registry=registry, **kwargs)
            return {"m": m, "child": m.labels("GET", "/songs/{song_id}", "200")}

    return Side(library, setup, stmt)


def _single_side(kind: str, stmt: str, **kwargs: Any) -> Side:
    """ferrotel's own single-process child: the mode's cost next to no mode at all."""

    def setup() -> Namespace:
        import ferrotel

        m = getattr(ferrotel, kind)(
            "sp_bench", "Single-process bench", LABELS, registry=ferrotel.Registry(), **kwargs
        )
        return {"child": m.labels("GET", "/songs/{song_id}", "200")}

    return Side("ferrotel, one process", setup, stmt)


def _stop_workers() -> None:
    while _WORKERS:
        pid, stop = _WORKERS.pop()
        os.close(stop)
        os.waitpid(pid, 0)


atexit.register(_stop_workers)


def _worker(library: str, directory: str, ready: int, stop: int, inherited: list[int]) -> None:
    """In a forked child: 1,000 series in this process's file, then wait to be stopped (the
    write ends of the stop pipes it inherited closed, so closing its own ends the wait)."""
    try:
        for fd in inherited:
            os.close(fd)
        with _mode(library)(directory) as lib:
            registry = lib.Registry() if library == "ferrotel" else lib.CollectorRegistry()
            counter = lib.Counter("bench_requests", "Requests", LABELS, registry=registry)
            for j in range(SERIES):
                counter.labels("GET", f"/route/{j}", "200").inc(j)
            os.write(ready, b"x")
            os.read(stop, 1)
    finally:
        os._exit(0)


def _scrape_side(library: str) -> Side:
    def setup() -> Namespace:
        _stop_workers()
        directory = _directory()
        ready_r, ready_w = os.pipe()
        for _ in range(PROCESSES):
            stop_r, stop_w = os.pipe()
            pid = os.fork()
            if pid == 0:
                _worker(library, directory, ready_w, stop_r, [stop_w, *(w for _, w in _WORKERS)])
            os.close(stop_r)
            _WORKERS.append((pid, stop_w))
        for _ in range(PROCESSES):
            os.read(ready_r, 1)
        os.close(ready_r)
        os.close(ready_w)
        if library == "ferrotel":
            import ferrotel
            import ferrotel.multiprocess

            registry: Any = ferrotel.Registry()
            ferrotel.multiprocess.MultiProcessCollector(registry, directory)
            return {"generate_latest": ferrotel.generate_latest, "registry": registry}
        import prometheus_client
        import prometheus_client.multiprocess

        registry = prometheus_client.CollectorRegistry()
        prometheus_client.multiprocess.MultiProcessCollector(registry, directory)  # type: ignore[no-untyped-call]
        return {"generate_latest": prometheus_client.generate_latest, "registry": registry}

    return Side(library, setup, "generate_latest(registry)")


def _cases() -> Iterator[Case]:
    for name, kind, stmt, kwargs in (
        ("kept child .inc()", "Counter", "child.inc()", {}),
        (
            "Histogram.observe() 5 buckets",
            "Histogram",
            "child.observe(0.3)",
            {"buckets": (0.1, 0.5, 1.0, 2.0, 5.0)},
        ),
    ):
        ours = _metric_side("ferrotel", kind, stmt, **kwargs)
        yield Case(
            "metrics", f"multiprocess {name}", ours, _metric_side("prometheus_client", kind, stmt, **kwargs)
        )
        yield Case("metrics", f"multiprocess {name}", ours, _single_side(kind, stmt, **kwargs))
    yield Case(
        "metrics",
        f"multiprocess scrape, {PROCESSES} live files × {SERIES:,} series",
        _scrape_side("ferrotel"),
        _scrape_side("prometheus_client"),
        number=3,
    )


MULTIPROCESS_CASES: list[Case] = list(_cases())
