"""Collects each case's two timings and prints the ratio table at the end of the run."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from ferrotel import bench

RESULTS: dict[str, dict[str, float]] = {}


@pytest.fixture
def record_result() -> Any:
    def record(case: bench.Case, side: str, ns_per_op: float) -> None:
        RESULTS.setdefault(case.key, {})[side] = ns_per_op

    return record


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: Any) -> None:
    rows = [
        bench.Row(case, RESULTS[case.key]["ferrotel"], RESULTS[case.key]["anchor"])
        for case in bench.CASES
        if {"ferrotel", "anchor"} <= RESULTS.get(case.key, {}).keys()
    ]
    if not rows or config.getoption("benchmark_disable", False):
        return
    terminalreporter.write_sep("=", "ferrotel / anchor ratios (min ns per operation)")
    terminalreporter.write_line(bench.machine())
    terminalreporter.write_line(bench.table(rows))
    out = os.environ.get("FERROTEL_BENCH_JSON")
    if out:
        Path(out).write_text(
            json.dumps(
                [
                    {
                        "operation": r.case.name,
                        "ferrotel_ns": r.ferrotel_ns,
                        "anchor_ns": r.anchor_ns,
                        "ratio": r.ratio,
                    }
                    for r in rows
                ],
                indent=2,
            )
        )
