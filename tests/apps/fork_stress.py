"""Forks FORKS times while the /metrics server renders a large registry for a scraping thread,
another thread renders it through generate_latest(), spans are exported to a JSON-lines file and
to stderr, and logs written to a rotating file and to stdout. Each child uses all of it (a new
label set, a render, a span, a log line, a flush) and exits; a child still running after
CHILD_TIMEOUT seconds is stuck, killed and counted. Prints one line, "RESULT " and a JSON object:
{"forks", "stuck", "failed", "scrapes", "renders"}."""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time
import urllib.request

import ferrotel
from ferrotel import logs, tracing

FORKS = int(sys.argv[2]) if len(sys.argv) > 2 else 200
CHILD_TIMEOUT = 10.0
workdir = sys.argv[1]

registry = ferrotel.Registry()
families = [
    ferrotel.Counter(f"stress_{i}", "A family with many series.", ["a", "b"], registry=registry)
    for i in range(20)
]
for family in families:
    for a in range(10):
        for b in range(10):
            family.labels(str(a), str(b)).inc()
hist = ferrotel.Histogram("stress_seconds", "Latency.", ["route"], registry=registry)

tracing.configure(
    service_name="fork-stress",
    exporters=[
        tracing.FileSpanExporter(os.path.join(workdir, "spans.jsonl")),
        tracing.ConsoleSpanExporter("stderr"),
    ],
    schedule_delay=0.005,
)
tracer = tracing.get_tracer("stress")
logs.configure(
    console="stdout", file=logs.FileSink(os.path.join(workdir, "app.log"), max_size="1MB", max_files=2)
)
log = ferrotel.get_logger("stress")

server = ferrotel.start_http_server(0, registry=registry)
url = f"http://127.0.0.1:{server.port}/metrics"
stop = threading.Event()
counts = {"scrapes": 0, "renders": 0}


def scrape() -> None:
    while not stop.is_set():
        with urllib.request.urlopen(url, timeout=10) as response:
            response.read()
        counts["scrapes"] += 1


def render() -> None:
    while not stop.is_set():
        ferrotel.generate_latest(registry)
        counts["renders"] += 1


def produce() -> None:
    i = 0
    while not stop.is_set():
        with tracer.span("work", attributes={"i": i}):
            log.info("working", i=i)
            hist.labels(str(i % 50)).observe(0.01)
        i += 1
        time.sleep(0.002)


threads = [threading.Thread(target=f, daemon=True) for f in (scrape, render, produce)]
for thread in threads:
    thread.start()
time.sleep(0.2)


def child() -> None:
    try:
        families[0].labels(f"child-{os.getpid()}", "x").inc()
        body = ferrotel.generate_latest(registry)
        assert b"stress_0_total" in body
        with tracer.span("child"):
            log.info("child", pid=os.getpid())
        ferrotel.flush(timeout=5.0)
        os._exit(0)
    except BaseException:  # noqa: BLE001 - any failure is the child's exit code
        os._exit(3)


stuck = failed = 0
for n in range(FORKS):
    pid = os.fork()
    if pid == 0:
        child()
    deadline = time.monotonic() + CHILD_TIMEOUT
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            if os.waitstatus_to_exitcode(status) != 0:
                failed += 1
            break
        if time.monotonic() > deadline:
            stuck += 1
            print(f"stuck child {pid} at fork {n}", file=sys.stderr, flush=True)
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            break
        time.sleep(0.002)
    time.sleep(0.003)

stop.set()
for thread in threads:
    thread.join(timeout=10)
server.shutdown()
print("RESULT " + json.dumps({"forks": FORKS, "stuck": stuck, "failed": failed, **counts}), flush=True)
