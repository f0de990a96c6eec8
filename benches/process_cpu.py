"""CPU time of the whole process (every thread) and wall time of the application's thread per
Flask request, with ferrotel's WSGI middleware and without: what the bench's wall-time figure
leaves to ferrotel's background threads (the recording of ended requests, the log writer, the
span exporter). The two apps are the bench's own (`ferrotel.bench.http.flask_side`).

    python benches/process_cpu.py [rounds]
"""

from __future__ import annotations

import sys
import time

import ferrotel
from ferrotel.bench.http import flask_side

REQUESTS = 2000


def main(rounds: int) -> None:
    # The ferrotel side's setup configures its tracing and logging, so it goes last.
    serve = {name: flask_side(name).setup()["serve"] for name in ("bare", "ferrotel")}
    cpu: dict[str, list[float]] = {name: [] for name in serve}
    wall: dict[str, list[float]] = {name: [] for name in serve}
    for run in serve.values():
        run(500)
    for _ in range(rounds):
        for name, run in serve.items():
            cpu0, wall0 = time.process_time(), time.perf_counter()
            run(REQUESTS)
            wall1 = time.perf_counter()
            ferrotel.REGISTRY.collect()  # every queued request recorded before the CPU clock is read
            cpu1 = time.process_time()
            cpu[name].append((cpu1 - cpu0) / REQUESTS * 1e9)
            wall[name].append((wall1 - wall0) / REQUESTS * 1e9)
    for label, times in (("CPU, every thread", cpu), ("wall, application's thread", wall)):
        # Best of the rounds, as the bench takes: the least disturbed by the machine.
        bare = min(times["bare"])
        added = min(times["ferrotel"]) - bare
        print(f"{label}: bare Flask {bare:,.0f} ns per request, ferrotel adds {added:,.0f} ns")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 15)
