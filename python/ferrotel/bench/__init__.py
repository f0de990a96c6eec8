"""Overhead benchmarks: each operation timed for ferrotel and for the library it replaces, in
the same process, reported as ns per operation and the ratio (anchor / ferrotel).

    python -m ferrotel bench                  # the whole table
    python -m ferrotel bench --quick          # fewer repeats, for a quick look
    python -m ferrotel bench --signal logs    # one signal

The log cases compare against structlog, python-json-logger and picologging when they are
installed (``pip install ferrotel[test]``); cases whose anchor is missing are left out.

The cases live in one module per signal (``metrics``, ``traces``, ``logs``, ``http``); this one
times them and prints the table. ``benches/`` runs the same cases under pytest-benchmark.
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import sys
import timeit
from dataclasses import dataclass

from . import http, logs, metrics, traces
from ._common import Case, Namespace, Side, shutdown_anchors

__all__ = [
    "ADDED_TIMINGS",
    "CASES",
    "Case",
    "Namespace",
    "Row",
    "Side",
    "machine",
    "main",
    "run",
    "shutdown_anchors",
    "table",
    "time_side",
]

#: Every case, in the table's order: one signal after the other.
CASES: list[Case] = [*metrics.CASES, *traces.CASES, *logs.CASES, *http.CASES]


def time_side(side: Side, number: int, repeat: int) -> float:
    """Best of ``repeat`` timings of ``number`` runs of the statement, in ns per run."""
    namespace = side.setup()
    timer = timeit.Timer(side.stmt, globals=namespace)
    timer.timeit(max(1, number // 10))
    best = min(timer.repeat(repeat=repeat, number=number)) / number * 1e9
    shutdown_anchors()
    return best


@dataclass(frozen=True)
class Row:
    case: Case
    ferrotel_ns: float
    anchor_ns: float
    baseline_ns: float = 0.0

    @property
    def ratio(self) -> float:
        """NaN when ferrotel's side came out no slower than the bare app: the run's noise was
        larger than what ferrotel adds, and no ratio can be read from it."""
        added = self.ferrotel_ns - self.baseline_ns
        if added <= 0:
            return math.nan
        return (self.anchor_ns - self.baseline_ns) / added


#: Timings per setup for the cases that subtract a bare app's timing.
ADDED_TIMINGS = 5


def run(cases: list[Case], repeat: int = 7) -> list[Row]:
    rows = []
    for case in cases:
        # Interleave the sides so drift on a shared machine hits them alike.
        f_times, a_times, b_times = [], [], []
        # A cost added to an app is the difference of two timings of the app (~40 µs a request
        # for Flask), a few µs out of it: a stray slow or fast best of the bare app moves it by
        # as much. So these take twice the repeats, each the best of five timings of one setup.
        rounds, inner = (repeat * 2, ADDED_TIMINGS) if case.baseline is not None else (repeat, 1)
        for _ in range(rounds):
            f_times.append(time_side(case.ferrotel, case.number, inner) / case.per_stmt)
            a_times.append(time_side(case.anchor, case.number, inner) / case.per_stmt)
            if case.baseline is not None:
                b_times.append(time_side(case.baseline, case.number, inner) / case.per_stmt)
        rows.append(Row(case, min(f_times), min(a_times), min(b_times) if b_times else 0.0))
    return rows


def _fmt_ns(ns: float) -> str:
    return f"{ns / 1e6:,.2f} ms" if ns >= 1e6 else f"{ns:,.1f} ns"


def _fmt_ratio(ratio: float) -> str:
    return "n/a (noise)" if math.isnan(ratio) else f"{ratio:.1f}×"


def table(rows: list[Row]) -> str:
    lines = [
        "| signal | operation | ferrotel | anchor | anchor library | ratio |",
        "| --- | --- | ---: | ---: | --- | ---: |",
    ]
    for r in rows:
        f_ns, a_ns, name = r.ferrotel_ns, r.anchor_ns, r.case.name
        if r.case.baseline is not None:
            f_ns, a_ns = f_ns - r.baseline_ns, a_ns - r.baseline_ns
            name = f"{name} (added to {_fmt_ns(r.baseline_ns)} per request)"
        library = r.case.anchor.library
        lines.append(
            f"| {r.case.signal} | {name} | {_fmt_ns(f_ns)} | {_fmt_ns(a_ns)} | {library}"
            f" | {_fmt_ratio(r.ratio)} |"
        )
    return "\n".join(lines)


def machine() -> str:
    return (
        f"Python {platform.python_version()} ({platform.python_implementation()}), "
        f"{platform.system()} {platform.machine()}, {os.cpu_count()} CPUs"
    )


def _dropped_logs() -> float:
    """Log records dropped so far: a timed log call must have handed its record to the writer."""
    import ferrotel

    return sum(
        s.value
        for m in ferrotel.REGISTRY.collect()
        if m.name == "ferrotel_dropped"
        for s in m.samples
        if s.name.endswith("_total") and s.labels.get("signal") == "logs"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ferrotel bench", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats")
    parser.add_argument("--signal", choices=sorted({c.signal for c in CASES}), help="only this signal")
    args = parser.parse_args(argv)
    cases = [c for c in CASES if args.signal in (None, c.signal)]
    for case in cases:
        if not case.available:
            print(f"left out {case.name!r}: needs {', '.join(case.requires)}", file=sys.stderr)
    cases = [c for c in cases if c.available]
    dropped_before = _dropped_logs()
    reps = 3 if args.quick else 7
    rows = run(cases, repeat=reps)
    dropped = _dropped_logs() - dropped_before
    print(f"ferrotel overhead benchmark — {machine()}")
    print(
        f"best of {reps} interleaved repeats ({2 * reps}, of {ADDED_TIMINGS} timings each, for costs"
        " added to an app), ns per operation;"
        " ratio = anchor / ferrotel\n"
    )
    print(table(rows))
    if "traces" in {c.signal for c in cases}:
        rate = traces.otlp_encode_rate()
        if rate is None:
            print(
                "left out the OTLP exporter thread's encode rate: this build of ferrotel._core has no"
                " _otlp_encode_rate",
                file=sys.stderr,
            )
        else:
            print(f"\nOTLP exporter thread: encodes {rate:,.0f} spans/s (protobuf, 512-span requests)")
    if dropped:
        print(f"\nWARNING: {dropped:.0f} log records were dropped: not every timed call handed one over")
    return 0


if __name__ == "__main__":
    sys.exit(main())
