"""``python -m ferrotel demo``: the guide's music service with ferrotel metrics, serving
``/metrics`` on loopback while it drives traffic against itself. Needs no outside server."""

from __future__ import annotations

import argparse
import time
import urllib.request

from ferrotel import Registry, start_http_server

from .music import MusicService


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ferrotel demo", description=__doc__)
    parser.add_argument("--port", type=int, default=9464, help="metrics port (0 picks a free one)")
    parser.add_argument("--duration", type=float, default=5.0, help="seconds to run; 0 runs until Ctrl-C")
    args = parser.parse_args(argv)

    registry = Registry(default_labels={"service": "audotics-demo"})
    service = MusicService(registry)
    server = start_http_server(args.port, registry=registry)
    url = f"http://127.0.0.1:{server.port}/metrics"
    print(f"ferrotel demo: metrics at {url}")
    requests = 0
    deadline = time.monotonic() + args.duration if args.duration > 0 else float("inf")
    try:
        while time.monotonic() < deadline:
            for route in ("/songs/{song_id}/play", "/users/{user_id}/recommendations"):
                service.handle("GET", route)
                requests += 1
            service.listeners.set(service.random.randrange(50, 150))
            time.sleep(0.001)
    except KeyboardInterrupt:
        pass
    with urllib.request.urlopen(url, timeout=5) as response:
        body = response.read().decode()
    print(f"served {requests} simulated requests; a scrape of {url} reads:\n")
    print("\n".join(line for line in body.splitlines() if not line.startswith("#") and "bucket" not in line))
    server.shutdown()
    return 0
