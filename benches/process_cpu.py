"""CPU time of the whole process (every thread) and wall time of the application's thread per
Flask request, with ferrotel's WSGI middleware and without: what the bench's wall-time figure
leaves to ferrotel's background threads (the recording of ended requests, the log writer, the
span exporter).

    python benches/process_cpu.py [rounds]
"""

from __future__ import annotations

import io
import os
import sys
import tempfile
import time
from typing import Any

import ferrotel
from ferrotel.middleware import WSGIMiddleware
from ferrotel.tracing import DiscardSpanExporter, configure

REQUESTS = 2000


def flask_app() -> Any:
    from flask import Flask

    app = Flask("cpu")

    @app.get("/songs/<int:song_id>")
    def song(song_id: int) -> str:
        return "ok"

    return app.wsgi_app


ENVIRON = {
    "REQUEST_METHOD": "GET",
    "PATH_INFO": "/songs/42",
    "SCRIPT_NAME": "",
    "QUERY_STRING": "",
    "SERVER_NAME": "127.0.0.1",
    "SERVER_PORT": "8000",
    "SERVER_PROTOCOL": "HTTP/1.1",
    "HTTP_HOST": "127.0.0.1",
    "wsgi.url_scheme": "http",
    "wsgi.input": io.BytesIO(b""),
    "wsgi.errors": io.StringIO(),
    "wsgi.version": (1, 0),
    "wsgi.multithread": False,
    "wsgi.multiprocess": False,
    "wsgi.run_once": False,
}


def start_response(status: str, headers: Any, exc_info: Any = None) -> None:
    return None


def serve(app: Any, count: int) -> None:
    for _ in range(count):
        body = app(dict(ENVIRON), start_response)
        for _chunk in body:
            pass
        body.close()


def main(rounds: int) -> None:
    configure(service_name="cpu", exporters=[DiscardSpanExporter()])
    with tempfile.TemporaryDirectory() as logs:
        ferrotel.logs.configure(console=False, file=os.path.join(logs, "requests.log"))
        registry = ferrotel.Registry()
        apps = {"bare": flask_app(), "ferrotel": WSGIMiddleware(flask_app(), registry=registry)}
        cpu: dict[str, list[float]] = {k: [] for k in apps}
        wall: dict[str, list[float]] = {k: [] for k in apps}
        for app in apps.values():
            serve(app, 500)
        for _ in range(rounds):
            for name, app in apps.items():
                cpu0, wall0 = time.process_time(), time.perf_counter()
                serve(app, REQUESTS)
                wall1 = time.perf_counter()
                registry.collect()  # every queued request recorded before the CPU clock is read
                cpu1 = time.process_time()
                cpu[name].append((cpu1 - cpu0) / REQUESTS * 1e9)
                wall[name].append((wall1 - wall0) / REQUESTS * 1e9)
        for label, times in (("CPU, every thread", cpu), ("wall, application's thread", wall)):
            # Best of the rounds, as the bench takes: the least disturbed by the machine.
            bare = min(times["bare"])
            added = min(times["ferrotel"]) - bare
            print(f"{label}: bare Flask {bare:,.0f} ns per request, ferrotel adds {added:,.0f} ns")
        ferrotel.shutdown(5.0)


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 15)
