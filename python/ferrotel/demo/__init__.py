"""``python -m ferrotel demo``: the guide's Audotics music service, instrumented with ferrotel.

It serves its API and ``/metrics`` on loopback, drives traffic against itself, writes JSON logs
and spans to local files, and prints where each one is. Embedded defaults only: no outside
server is needed (``--pushgateway`` adds pushes to one).
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import ferrotel
from ferrotel.config import (
    Config,
    FileOutput,
    LoggingConfig,
    LogOutputs,
    MetricsConfig,
    PushGatewayConfig,
    TracingConfig,
    TracingExporters,
)
from ferrotel.middleware import WSGIMiddleware

from .music import MusicService


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the stdlib's name
        pass


def _drive(base: str, stop: threading.Event, counts: dict[str, int]) -> None:
    rng = random.Random(11)
    while not stop.is_set():
        if rng.random() < 0.6:
            path = f"/songs/{rng.randrange(1, 500)}/play"
        else:
            path = f"/users/{rng.randrange(1, 100)}/recommendations"
        try:
            with urllib.request.urlopen(base + path, timeout=5) as response:
                response.read()
        except urllib.error.HTTPError as error:
            error.read()
        except OSError:
            counts["failed"] = counts.get("failed", 0) + 1
        counts["requests"] = counts.get("requests", 0) + 1
        time.sleep(0.002)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ferrotel demo", description=__doc__)
    parser.add_argument("--port", type=int, default=9464, help="/metrics port on 127.0.0.1 (0: a free one)")
    parser.add_argument("--duration", type=float, default=5.0, help="seconds of traffic; 0 runs until Ctrl-C")
    parser.add_argument("--out", type=Path, default=None, help="folder for the log and span files")
    parser.add_argument("--pushgateway", default=None, help="also push to this Pushgateway URL")
    parser.add_argument("--push-interval", type=float, default=5.0, help="seconds between pushes")
    args = parser.parse_args(argv)

    out = args.out or Path(tempfile.mkdtemp(prefix="ferrotel-demo-"))
    out.mkdir(parents=True, exist_ok=True)
    log_file, span_file = out / "audotics.log", out / "spans.jsonl"
    push = (
        PushGatewayConfig(args.pushgateway, "audotics-demo", args.push_interval) if args.pushgateway else None
    )
    ferrotel.configure(
        Config(
            service_name="audotics-demo",
            service_version=ferrotel.__version__,
            environment="demo",
            metrics=MetricsConfig(default_labels={"service": "audotics-demo"}, push_gateway=push),
            logging=LoggingConfig(outputs=LogOutputs(console=False, file=FileOutput(str(log_file)))),
            tracing=TracingConfig(exporters=TracingExporters(file=str(span_file))),
        )
    )
    service = MusicService(ferrotel.REGISTRY)
    metrics = ferrotel.start_http_server(args.port)
    app = WSGIMiddleware(service.wsgi)
    server: WSGIServer = make_server("127.0.0.1", 0, app, handler_class=_QuietHandler)
    threading.Thread(target=server.serve_forever, name="demo-api", daemon=True).start()
    base = f"http://127.0.0.1:{server.server_port}"
    metrics_url = f"http://127.0.0.1:{metrics.port}/metrics"
    print(f"ferrotel demo: the Audotics music service at {base}")
    print(f"  metrics: {metrics_url}")
    print(f"  logs:    {log_file}")
    print(f"  spans:   {span_file}")
    if push:
        print(f"  pushes:  {push.url} every {push.interval:g} s (job {push.job_name})")
    sys_stdout_flush()

    stop = threading.Event()
    counts: dict[str, int] = {}
    driver = threading.Thread(target=_drive, args=(base, stop, counts), name="demo-traffic", daemon=True)
    driver.start()
    try:
        if args.duration > 0:
            stop.wait(args.duration)
        else:
            while True:
                time.sleep(1)
    except KeyboardInterrupt:
        pass
    stop.set()
    driver.join(timeout=10)
    with urllib.request.urlopen(metrics_url, timeout=5) as response:
        scrape = response.read().decode()
    server.shutdown()
    ferrotel.shutdown(10)
    metrics.shutdown()
    shown = [
        line
        for line in scrape.splitlines()
        if line.startswith(("http_requests_total", "song_plays_total", "recommendation"))
        and "_bucket" not in line
        and "_created" not in line
    ]
    print(f"\nserved {counts.get('requests', 0)} requests; from {metrics_url}:")
    print("\n".join(shown))
    spans = span_file.read_text().splitlines() if span_file.exists() else []
    logs = log_file.read_text().splitlines() if log_file.exists() else []
    print(f"\n{len(logs)} log lines in {log_file}; the last one:")
    print(logs[-1] if logs else "(none)")
    print(f"\n{len(spans)} spans in {span_file}; the last one:")
    print(json.dumps(json.loads(spans[-1]), indent=None)[:400] if spans else "(none)")
    return 0


def sys_stdout_flush() -> None:
    import sys

    sys.stdout.flush()
