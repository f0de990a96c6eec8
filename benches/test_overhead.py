"""Every case of ``ferrotel.bench`` under pytest-benchmark, ferrotel and its anchor side by side.

    pytest benches/ --benchmark-group-by=param:case

One benchmark round runs the statement ``case.number`` times in a compiled loop, so the figure
is the cost of the operation itself, not of a Python call around it.
"""

from __future__ import annotations

from typing import Any

import pytest
from ferrotel import bench


def _loop(side: bench.Side, number: int) -> Any:
    namespace = side.setup()
    body = "\n".join("        " + line for line in side.stmt.splitlines())
    source = f"def run():\n    for _ in range({number}):\n{body}\n"
    exec(compile(source, f"<bench {side.library}>", "exec"), namespace)
    return namespace["run"]


@pytest.mark.parametrize("side", ["ferrotel", "anchor"])
@pytest.mark.parametrize("case", bench.CASES, ids=[c.key for c in bench.CASES])
def test_overhead(benchmark: Any, record_result: Any, case: bench.Case, side: str) -> None:
    for module in case.requires:
        pytest.importorskip(module)
    run = _loop(getattr(case, side), case.number)
    benchmark.group = case.key
    benchmark.pedantic(run, rounds=7 if case.number > 10 else 3, warmup_rounds=1)
    bench.shutdown_anchors()
    if benchmark.stats is not None:
        record_result(case, side, benchmark.stats.stats.min / case.number * 1e9)
