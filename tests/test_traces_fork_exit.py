"""fork(): parent and child both export, and nothing is exported twice (spans buffered before
the fork belong to the parent). Exit: spans still buffered when a process exits normally are
exported by the atexit flush."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import ferrotel
import pytest
from ferrotel import tracing
from helpers import reap
from tracing_helpers import exported_spans

pytestmark = [
    pytest.mark.usefixtures("reset_tracing"),
    pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork"),
]

CHILD_TIMEOUT = 30


def wait_child(pid: int) -> int:
    """The child's exit code; kills it and fails if it has not exited within CHILD_TIMEOUT."""
    return reap(pid, CHILD_TIMEOUT)


def in_child(body) -> int:
    """Forks; the child runs ``body()`` and exits at once (0 when it returned True), never
    going back into pytest. Returns the child's pid in the parent."""
    pid = os.fork()
    if pid == 0:  # pragma: no cover (runs in the child)
        code = 1
        try:
            code = 0 if body() else 2
        finally:
            os._exit(code)
    return pid


def read_lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def make(tracer, prefix: str, count: int) -> list[str]:
    ids = []
    for i in range(count):
        with tracer.span(f"{prefix}-{i}", attributes={"pid": os.getpid()}) as span:
            ids.append(span.context.span_id)
    return ids


def test_fork_both_export_over_otlp_and_nothing_twice(receiver, tracer):
    tracing.configure(
        service_name="fork-tests",
        exporters=[tracing.OTLPSpanExporter(receiver.url())],
        schedule_delay=60,  # nothing leaves the queue unless flushed
        export_timeout=10,
    )
    before = make(tracer, "before-fork", 5)

    def child() -> bool:
        make(tracer, "child", 3)
        return ferrotel.flush(10)

    pid = in_child(child)
    parent = make(tracer, "parent", 3)
    assert wait_child(pid) == 0

    # Only the child has flushed so far: what arrived is the child's, and none of the spans
    # buffered before the fork.
    from_child = exported_spans(receiver.snapshot())
    assert sorted(s.name for s in from_child) == ["child-0", "child-1", "child-2"]
    assert all(s.attributes["pid"] == pid for s in from_child)

    assert ferrotel.flush(10)
    spans = exported_spans(receiver.snapshot())
    ids = [s.span_id for s in spans]
    assert len(ids) == len(set(ids)), "a span was exported twice"
    assert sorted(ids) == sorted(before + parent + [s.span_id for s in from_child])
    for s in spans:
        expected_pid = pid if s.name.startswith("child") else os.getpid()
        assert s.attributes["pid"] == expected_pid, s.name
    # The child draws its own ids rather than repeating the parent's sequence.
    child_traces = {s.trace_id for s in from_child}
    parent_traces = {s.trace_id for s in spans if s.name.startswith("parent")}
    assert not child_traces & parent_traces


def test_fork_both_append_to_one_span_file(tmp_path, tracer):
    path = tmp_path / "spans.jsonl"
    tracing.configure(
        service_name="fork-tests", exporters=[tracing.FileSpanExporter(str(path))], schedule_delay=60
    )
    before = make(tracer, "before-fork", 4)

    def child() -> bool:
        make(tracer, "child", 6)
        return ferrotel.flush(10)

    pid = in_child(child)
    parent = make(tracer, "parent", 2)
    assert wait_child(pid) == 0
    assert ferrotel.flush(10)

    lines = read_lines(path)
    ids = [line["span_id"] for line in lines]
    assert len(ids) == len(set(ids)), "a span was exported twice"
    names = sorted(line["name"].rsplit("-", 1)[0] for line in lines)
    assert names == ["before-fork"] * 4 + ["child"] * 6 + ["parent"] * 2
    assert set(before + parent) <= set(ids)
    for line in lines:
        assert line["attributes"]["pid"] == (pid if line["name"].startswith("child") else os.getpid())


def test_child_configures_its_own_span_file_after_fork(tmp_path, tracer):
    parent_path, child_path = tmp_path / "parent.jsonl", tmp_path / "child.jsonl"
    tracing.configure(
        service_name="fork-tests", exporters=[tracing.FileSpanExporter(str(parent_path))], schedule_delay=60
    )
    before = make(tracer, "before-fork", 3)

    def child() -> bool:
        tracing.configure(
            service_name="forked-child",
            exporters=[tracing.FileSpanExporter(str(child_path))],
            schedule_delay=60,
        )
        make(tracer, "child", 2)
        return ferrotel.flush(10)

    pid = in_child(child)
    parent = make(tracer, "parent", 2)
    assert wait_child(pid) == 0
    assert ferrotel.flush(10)

    parent_lines, child_lines = read_lines(parent_path), read_lines(child_path)
    assert sorted(line["span_id"] for line in parent_lines) == sorted(before + parent)
    assert sorted(line["name"] for line in child_lines) == ["child-0", "child-1"]
    assert all(line["resource"]["service.name"] == "forked-child" for line in child_lines)


# --- exit ------------------------------------------------------------------------------------------

SCRIPT = """
import os, sys
import ferrotel
from ferrotel import tracing

exporter = {exporter}
tracing.configure(service_name="exit-test", exporters=[exporter], schedule_delay=600,
                  max_queue_size=4096, max_export_batch_size=512)
tracer = ferrotel.get_tracer("exit")
for i in range({count}):
    with tracer.span(f"span-{{i}}", attributes={{"i": i}}):
        pass
{ending}
"""

ENDINGS = {
    "normal": "",
    "sys.exit": "sys.exit(3)",
    "exception": "raise RuntimeError('the program failed')",
}
EXIT_CODES = {"normal": 0, "sys.exit": 3, "exception": 1}


def run_script(exporter: str, count: int, ending: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    code = SCRIPT.format(exporter=exporter, count=count, ending=ENDINGS[ending])
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize("ending", list(ENDINGS))
def test_exit_flushes_the_span_file(tmp_path, ending):
    path = tmp_path / "exit.jsonl"
    result = run_script(f"tracing.FileSpanExporter({str(path)!r})", 1500, ending, tmp_path)
    assert result.returncode == EXIT_CODES[ending], result.stderr
    lines = read_lines(path)
    assert len(lines) == 1500
    assert sorted(line["attributes"]["i"] for line in lines) == list(range(1500))
    assert len({line["span_id"] for line in lines}) == 1500


@pytest.mark.parametrize("ending", ["normal", "exception"])
def test_exit_flushes_to_otlp(receiver, tmp_path, ending):
    result = run_script(f"tracing.OTLPSpanExporter({receiver.url()!r})", 700, ending, tmp_path)
    assert result.returncode == EXIT_CODES[ending], result.stderr
    spans = exported_spans(receiver.snapshot())
    assert len(spans) == 700
    assert sorted(s.attributes["i"] for s in spans) == list(range(700))
    assert all(s.resource["service.name"] == "exit-test" for s in spans)


def test_exit_flushes_the_console_exporter(tmp_path):
    result = run_script("tracing.ConsoleSpanExporter()", 300, "normal", tmp_path)
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    assert sorted(line["attributes"]["i"] for line in lines) == list(range(300))
