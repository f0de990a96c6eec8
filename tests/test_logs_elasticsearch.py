"""The Elasticsearch sink against a loopback receiver that implements `_bulk` as Elasticsearch
documents it, failure answers included: a whole-request 503 with Retry-After, `errors: true`
with per-item 429 (and 400) statuses, and a node that is down."""

from __future__ import annotations

import base64
import json
import socket
import threading
from collections.abc import Callable, Iterator
from typing import Any

import ferrotel
import pytest
from ferrotel.logs import ElasticsearchSink
from helpers import LoopbackReceiver, Recorded, Response, wait_until

MAX_WAIT = 30.0


class BulkEndpoint:
    """`POST /_bulk` (NDJSON action/document pairs) as Elasticsearch answers it, plugged into the
    shared loopback receiver. The answers given script the next requests: "503" (whole request
    refused), "429-half" (every other item refused with 429), "400-first" (the first item
    rejected as unparseable); then everything is stored."""

    def __init__(self, receiver: LoopbackReceiver, answers: list[str]) -> None:
        self.receiver = receiver
        self.answers = list(answers)
        self.documents: list[dict[str, Any]] = []
        self.requests: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        receiver.default = self.answer

    @property
    def url(self) -> str:
        return self.receiver.base_url

    def wait_for(self, count: int) -> list[dict[str, Any]]:
        def stored() -> list[dict[str, Any]]:
            with self.lock:
                return list(self.documents) if len(self.documents) >= count else []

        return wait_until(stored, timeout=MAX_WAIT, what=f"{count} documents")

    def answer(self, request: Recorded) -> Response:
        lines = request.body.decode().splitlines()
        assert len(lines) % 2 == 0, "a bulk body is action/document pairs"
        pairs = [(json.loads(a), json.loads(d)) for a, d in zip(lines[::2], lines[1::2])]
        with self.lock:
            answer = self.answers.pop(0) if self.answers else "ok"
            self.requests.append(
                {
                    "path": request.path,
                    "content_type": request.headers.get("content-type"),
                    "authorization": request.headers.get("authorization"),
                    "bytes": len(request.raw),
                    "actions": [a for a, _ in pairs],
                    "answer": answer,
                }
            )
            if answer == "503":
                return reply(503, {"error": "unavailable"}, {"Retry-After": "1"})
            items = []
            for i, (action, document) in enumerate(pairs):
                ((op, meta),) = action.items()
                if (answer == "429-half" and i % 2 == 0) or (answer == "400-first" and i == 0):
                    status = 429 if answer == "429-half" else 400
                    error = "es_rejected_execution_exception" if status == 429 else "mapper_parsing_exception"
                    items.append({op: {"_index": meta["_index"], "status": status, "error": {"type": error}}})
                else:
                    self.documents.append({"_op": op, "_index": meta["_index"], **document})
                    items.append({op: {"_index": meta["_index"], "status": 201, "result": "created"}})
        errors = any(item[next(iter(item))]["status"] >= 300 for item in items)
        return reply(200, {"took": 1, "errors": errors, "items": items})


def reply(status: int, payload: dict[str, Any], headers: dict[str, str] | None = None) -> Response:
    return Response(
        status, {"Content-Type": "application/json", **(headers or {})}, json.dumps(payload).encode()
    )


@pytest.fixture
def bulk_receiver(receiver_factory: Callable[..., LoopbackReceiver]) -> Iterator[Callable[..., BulkEndpoint]]:
    def start(*answers: str) -> BulkEndpoint:
        return BulkEndpoint(receiver_factory(), list(answers))

    yield start
    ferrotel.logs.configure(console=False)


def export_failures() -> float:
    labels = {"exporter": "elasticsearch"}
    return ferrotel.REGISTRY.get_sample_value("ferrotel_export_failures_total", labels) or 0.0


def test_every_record_arrives_exactly_once_through_503_and_per_item_429(bulk_receiver):
    es = bulk_receiver("503", "429-half", "429-half")
    ferrotel.logs.configure(elasticsearch=ElasticsearchSink(es.url, "audotics-logs", flush_interval=0.1))
    log = ferrotel.get_logger("music")
    for i in range(40):
        log.info("record", n=i)
    documents = es.wait_for(40)
    assert ferrotel.flush(MAX_WAIT)
    assert sorted(d["n"] for d in es.documents) == list(range(40))
    assert {d["_index"] for d in documents} == {"audotics-logs"}
    assert {d["_op"] for d in documents} == {"create"}, "data streams take only create"
    assert [r["answer"] for r in es.requests[:3]] == ["503", "429-half", "429-half"]
    assert all(r["path"] == "/_bulk" and r["content_type"] == "application/x-ndjson" for r in es.requests)
    assert {d["log.level"] for d in documents} == {"info"} and all("@timestamp" in d for d in documents)


def test_items_rejected_for_good_are_counted_and_the_rest_stored(bulk_receiver, log_drops):
    es = bulk_receiver("400-first")
    failures, dropped = export_failures(), log_drops("export_failed")
    ferrotel.logs.configure(elasticsearch=ElasticsearchSink(es.url, flush_interval=0.1))
    log = ferrotel.get_logger("music")
    for i in range(5):
        log.info("record", n=i)
    assert ferrotel.flush(MAX_WAIT)
    assert sorted(d["n"] for d in es.documents) == [1, 2, 3, 4]
    assert export_failures() == failures + 1
    assert log_drops("export_failed") == dropped + 1


def test_batches_are_bounded_by_count_and_bytes(bulk_receiver):
    es = bulk_receiver()
    sink = ElasticsearchSink(es.url, max_batch=10, max_bytes=3000, flush_interval=0.1)
    ferrotel.logs.configure(elasticsearch=sink)
    log = ferrotel.get_logger("music")
    for i in range(45):
        log.info("record", n=i, padding="p" * 100)
    es.wait_for(45)
    assert all(len(r["actions"]) <= 10 for r in es.requests)
    assert all(r["bytes"] <= 3000 for r in es.requests)
    assert sum(len(r["actions"]) for r in es.requests) == 45


def test_a_record_is_sent_after_the_flush_interval_without_a_flush(bulk_receiver):
    es = bulk_receiver()
    ferrotel.logs.configure(elasticsearch=ElasticsearchSink(es.url, flush_interval=0.2))
    ferrotel.get_logger("music").warning("on its own")
    (document,) = es.wait_for(1)
    assert document["message"] == "on its own"


@pytest.mark.parametrize(
    ("auth", "expected"),
    [
        (
            {"username": "elastic", "password": "changeme"},
            "Basic " + base64.b64encode(b"elastic:changeme").decode(),
        ),
        ({"api_key": "VnVhQ2ZHY0JDZGJrUW0tZTVhT3g6dWkybHAyYXhUTm1zeWFrdzl0dk5udw=="}, None),
    ],
)
def test_basic_and_api_key_auth(bulk_receiver, auth, expected):
    es = bulk_receiver()
    ferrotel.logs.configure(
        elasticsearch=ElasticsearchSink(es.url, op_type="index", flush_interval=0.1, **auth)
    )
    ferrotel.get_logger("x").info("authenticated")
    (document,) = es.wait_for(1)
    assert document["_op"] == "index"
    assert es.requests[0]["authorization"] == (expected or f"ApiKey {auth['api_key']}")


def test_a_down_node_costs_the_application_nothing_but_counted_drops(log_drops):
    with socket.socket() as probe:  # a port nothing listens on: connections are refused
        probe.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{probe.getsockname()[1]}"
    failures, queue_full = export_failures(), log_drops("queue_full")
    sink = ElasticsearchSink(url, max_queue=100, max_batch=10, flush_interval=0.05, timeout=0.5)
    ferrotel.logs.configure(elasticsearch=sink, console=False)
    try:
        log = ferrotel.get_logger("x")
        for i in range(5_000):
            log.info("while elasticsearch is down", n=i)
        # Bounded: at most the queue and one batch in the exporter's hands; the rest dropped and counted.
        assert log_drops("queue_full") - queue_full >= 5_000 - 100 - 10
        wait_until(
            lambda: export_failures() > failures, timeout=MAX_WAIT, interval=0.05, what="an export failure"
        )
        assert export_failures() > failures
    finally:
        ferrotel.logs.configure(console=False)
