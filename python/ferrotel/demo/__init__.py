"""``python -m ferrotel demo``: the guide's Audotics music service, instrumented with ferrotel.

It serves its API and ``/metrics`` on loopback, drives traffic against itself, writes JSON logs
and spans to local files, and prints where each one is. Embedded defaults only: no outside
server is needed (``--pushgateway`` adds pushes to one).
"""

from __future__ import annotations

import argparse
import errno
import json
import os
import random
import shutil
import socket
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import ferrotel
from ferrotel import MetricsServer
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


#: Seconds of traffic when stdout is not a terminal and ``--duration`` is not given, so scripts
#: and tests that run the demo end.
SCRIPT_DURATION = 5.0


def _port_in_use(port: int) -> bool:
    """Whether something holds ``port`` on 127.0.0.1 (asked after the server could not bind it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError as error:
            return error.errno == errno.EADDRINUSE
    return False


def _guide(base: str, metrics_port: int, out: Path, push: PushGatewayConfig | None, duration: float) -> str:
    """What to look at next, printed once the service is up."""
    metrics_url = f"http://127.0.0.1:{metrics_port}/metrics"
    stop = "Ctrl-C stops it" if duration <= 0 else f"for {duration:g} s; --duration 0 runs until Ctrl-C"
    pushes = f"  pushes    {push.url} every {push.interval:g} s (job {push.job_name})\n" if push else ""
    return f"""ferrotel demo: the Audotics music service at {base}, with traffic ({stop})

What to look at next:
  open      {metrics_url}
            {base}/songs/42/play
            {base}/users/7/recommendations
  curl      curl -s {metrics_url} | grep -E '^(song_plays|http_requests)_total'
  logs      tail -f {out / "audotics.log"}
  spans     tail -f {out / "spans.jsonl"}
{pushes}  Prometheus, in prometheus.yml:
    scrape_configs:
      - job_name: ferrotel-demo
        static_configs: [{{targets: ["127.0.0.1:{metrics_port}"]}}]"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ferrotel demo", description=__doc__)
    parser.add_argument("--port", type=int, default=9464, help="/metrics port on 127.0.0.1 (0: a free one)")
    parser.add_argument(
        "--duration",
        type=float,
        default=None,
        help=f"seconds of traffic, then a summary; 0 runs until Ctrl-C (default: until Ctrl-C on a "
        f"terminal, {SCRIPT_DURATION:g} s otherwise)",
    )
    parser.add_argument("--out", type=Path, default=None, help="folder for the log and span files (kept)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder of logs and spans")
    parser.add_argument("--pushgateway", default=None, help="also push to this Pushgateway URL")
    parser.add_argument("--push-interval", type=float, default=5.0, help="seconds between pushes")
    args = parser.parse_args(argv)
    duration: float = args.duration
    if duration is None:
        duration = 0.0 if sys.stdout.isatty() else SCRIPT_DURATION

    # The port first: a busy one is a one-line message, before anything is written.
    try:
        metrics = ferrotel.start_http_server(args.port)
    except OSError as error:
        if args.port and _port_in_use(args.port):
            print(
                f"ferrotel demo: port {args.port} is in use on 127.0.0.1; "
                "run with --port 0 to pick a free one, or --port N",
                file=sys.stderr,
            )
        else:
            print(f"ferrotel demo: {error}", file=sys.stderr)
        return 2

    temporary = args.out is None
    out: Path = args.out or Path(tempfile.mkdtemp(prefix="ferrotel-demo-"))
    try:
        return _run(args, metrics, out, duration)
    except KeyboardInterrupt:
        # Ctrl-C while starting, or a second one during the summary: the conventional 128 + SIGINT.
        print("\nferrotel demo: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # Whoever read the output stopped (`| head`): nothing more is written there.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    finally:
        metrics.shutdown()
        if temporary and args.keep:
            _say(f"\nkept {out}")
        elif temporary:
            shutil.rmtree(out, ignore_errors=True)
            _say(f"\nremoved {out} (--keep keeps it)")


def _say(line: str) -> None:
    """Prints a last line, if stdout still has a reader."""
    try:
        print(line, flush=True)
    except BrokenPipeError:
        pass


def _run(args: argparse.Namespace, metrics: MetricsServer, out: Path, duration: float) -> int:
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
    app = WSGIMiddleware(service.wsgi)
    server: WSGIServer = make_server("127.0.0.1", 0, app, handler_class=_QuietHandler)
    threading.Thread(target=server.serve_forever, name="demo-api", daemon=True).start()
    base = f"http://127.0.0.1:{server.server_port}"
    metrics_url = f"http://127.0.0.1:{metrics.port}/metrics"
    print(_guide(base, metrics.port, out, push, duration), flush=True)

    stop = threading.Event()
    counts: dict[str, int] = {}
    driver = threading.Thread(target=_drive, args=(base, stop, counts), name="demo-traffic", daemon=True)
    driver.start()
    try:
        if duration > 0:
            stop.wait(duration)
        else:
            while True:
                time.sleep(1)
    except KeyboardInterrupt:
        # Ctrl-C is how the demo is stopped: a summary follows, and the exit code is 0.
        pass
    stop.set()
    driver.join(timeout=10)
    with urllib.request.urlopen(metrics_url, timeout=5) as response:
        scrape = response.read().decode()
    server.shutdown()
    ferrotel.shutdown(10)
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
    print(json.dumps(json.loads(spans[-1]), indent=None)[:400] if spans else "(none)", flush=True)
    return 0
