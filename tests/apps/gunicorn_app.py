"""A Flask app instrumented with ferrotel, configured at import: with ``gunicorn --preload``
that happens in the master, before the workers fork."""

from __future__ import annotations

import os

import ferrotel
import flask
from ferrotel.logs import OtlpLogSink
from ferrotel.middleware import WSGIMiddleware
from ferrotel.tracing import OTLPSpanExporter

receiver = os.environ["RECEIVER"]
ferrotel.tracing.configure(
    service_name="gunicorn-app", exporters=[OTLPSpanExporter(f"{receiver}/v1/traces")], schedule_delay=0.2
)
ferrotel.logs.configure(console=False, otlp=OtlpLogSink(f"{receiver}/v1/logs", flush_interval=0.2))

flask_app = flask.Flask(__name__)


@flask_app.get("/work/<int:n>")
def work(n: int) -> dict[str, int]:
    with ferrotel.get_tracer("app").span("work", attributes={"worker.pid": os.getpid()}):
        ferrotel.get_logger("app").info("worked", worker_pid=os.getpid(), n=n)
    return {"pid": os.getpid()}


flask_app.wsgi_app = WSGIMiddleware(flask_app.wsgi_app, log_requests=False)  # type: ignore[method-assign]
app = flask_app
