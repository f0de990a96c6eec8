"""One worker of a multiprocess deployment, for ferrotel or prometheus_client alike (the
multiprocess directory comes from PROMETHEUS_MULTIPROC_DIR): it records the same numbers either
way, prints its pid, and then exits or (with ``stay``) lives until its stdin closes.

    python multiprocess_worker.py ferrotel|prometheus_client INDEX exit|stay
"""

from __future__ import annotations

import os
import sys
import time

MODES = (
    "all",
    "liveall",
    "min",
    "livemin",
    "max",
    "livemax",
    "sum",
    "livesum",
    "mostrecent",
    "livemostrecent",
)


def main() -> None:
    library, index, then = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    if library == "ferrotel":
        import ferrotel as lib
    else:
        import prometheus_client as lib  # type: ignore[no-redef]
    jobs = lib.Counter("jobs_total", "Jobs done", ["kind"])
    latency = lib.Histogram("latency_seconds", "Latency", ["route"], buckets=[0.1, 1.0])
    sizes = lib.Summary("size_bytes", "Sizes")
    gauges = [lib.Gauge(f"level_{mode}", f"Level ({mode})", ["k"], multiprocess_mode=mode) for mode in MODES]
    jobs.labels("a").inc(index + 1)
    jobs.labels("b").inc(0.5)
    latency.labels("/").observe(0.05 * (index + 1))
    latency.labels("/").observe(2.0)
    sizes.observe(10.0 * (index + 1))
    time.sleep(0.01)  # `mostrecent` goes by the time of the last set
    for gauge in gauges:
        gauge.labels("x").set(index * 10 + 1)
    print(os.getpid(), flush=True)
    if then == "stay":
        sys.stdin.read()


if __name__ == "__main__":
    main()
