"""Helpers shared by the whole suite: ``wait_until`` (polling with a bounded wait), ``reap`` (a
forked child's exit code, bounded), ``LoopbackReceiver`` (a scriptable HTTP receiver on
127.0.0.1 that records what exporters send) and ``schema_validator`` (the JSON Schemas in
tests/schemas/, which the tests need and which live in the repository)."""

from __future__ import annotations

import functools
import gzip
import json
import os
import signal
import subprocess
import threading
import time
import traceback
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, TypeVar, Union

LOOPBACK = "127.0.0.1"
SCHEMAS = Path(__file__).resolve().parent / "schemas"

T = TypeVar("T")


# --- waiting ---------------------------------------------------------------------------------------


def wait_until(
    predicate: Callable[[], T],
    timeout: float = 10.0,
    interval: float = 0.02,
    what: str = "the condition",
    ignore: tuple[type[BaseException], ...] = (),
) -> T:
    """Calls ``predicate`` until it returns something true, and returns that.

    A false answer, an ``AssertionError`` raised by the predicate, or one of the ``ignore``
    exceptions (e.g. ``OSError`` while a server starts) means "not yet". When ``timeout``
    seconds pass first, raises an ``AssertionError`` naming ``what`` was awaited and the last
    answer (or error) seen. Any other exception, ``pytest.fail`` included, ends the wait at once.
    """
    start = time.monotonic()
    deadline = start + timeout
    while True:
        try:
            result = predicate()
        except (AssertionError, *ignore) as exc:
            last: Any = exc
        else:
            if result:
                return result
            last = result
        if time.monotonic() >= deadline:
            waited = time.monotonic() - start
            raise AssertionError(f"gave up after {waited:.1f} s waiting for {what}; last seen: {last!r}")
        time.sleep(interval)


def reap(pid: int, timeout: float = 30.0) -> int:
    """The exit code of child ``pid``; kills it (and fails) if it has not exited within ``timeout``."""

    def exited() -> tuple[int, int] | None:
        done, status = os.waitpid(pid, os.WNOHANG)
        return (done, status) if done else None

    try:
        _, status = wait_until(exited, timeout=timeout, what=f"the forked child {pid} to exit")
    except AssertionError:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        raise
    return os.waitstatus_to_exitcode(status)


def stop(process: subprocess.Popen[Any], timeout: float = 15.0) -> None:
    """Terminates a server started by a test; kills it if it has not ended within ``timeout``."""
    process.terminate()
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=timeout)


# --- the loopback receiver -------------------------------------------------------------------------


@dataclass
class Recorded:
    """One request as the receiver saw it, and what it answered."""

    method: str
    path: str
    headers: dict[str, str]  # names lower-cased
    raw: bytes  # as sent (possibly gzip)
    body: bytes  # after Content-Encoding: gzip
    at: float  # time.monotonic() on arrival
    status: int = 0  # what the receiver answered

    @property
    def accepted(self) -> bool:
        return 200 <= self.status < 300

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Response:
    """A scripted answer."""

    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    delay: float = 0.0  # seconds to stall before answering
    gate: threading.Event | None = None  # if set, answer only once the test sets it (30 s at most)


# How a receiver answers: a fixed Response, or a function of the request (the protocol's logic).
# (typing.Union: the alias is evaluated at import, and 3.9 has no `|` between types.)
Answer = Union[Response, Callable[[Recorded], Response]]


class LoopbackReceiver:
    """A threaded ``http.server`` on 127.0.0.1 that records every request.

    Each request is answered with the next answer scripted by ``respond()``, else with
    ``default``. An answer is a ``Response`` or a function ``Recorded -> Response``: the
    protocol-specific behaviour (Elasticsearch ``_bulk`` items, OTLP, Zipkin) lives in the test
    module that needs it, as such a function. Answers are computed one request at a time.
    """

    def __init__(self, default: Answer | None = None) -> None:
        self.default: Answer = default if default is not None else Response()
        self.requests: list[Recorded] = []
        self._script: deque[Answer] = deque()
        self._lock = threading.Lock()
        self._closed = threading.Event()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def _handle(self) -> None:
                receiver._handle(self)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _handle  # noqa: N815 (http.server's names)

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                pass

        self.server = ThreadingHTTPServer((LOOPBACK, 0), Handler)
        self.server.daemon_threads = True
        self.port: int = self.server.server_address[1]
        self._thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    def url(self, path: str = "/v1/traces") -> str:
        return f"http://{LOOPBACK}:{self.port}{path}"

    @property
    def base_url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    def respond(self, *answers: Answer) -> None:
        """Answers the next requests with ``answers``, in order, then with ``default``."""
        with self._lock:
            self._script.extend(answers)

    @staticmethod
    def _read_body(handler: BaseHTTPRequestHandler) -> bytes:
        if handler.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int(handler.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    handler.rfile.readline()
                    break
                chunks.append(handler.rfile.read(size))
                handler.rfile.readline()
            return b"".join(chunks)
        length = int(handler.headers.get("Content-Length") or 0)
        return handler.rfile.read(length)

    def _handle(self, handler: BaseHTTPRequestHandler) -> None:
        raw = self._read_body(handler)
        headers = {k.lower(): v for k, v in handler.headers.items()}
        body = gzip.decompress(raw) if headers.get("content-encoding", "").lower() == "gzip" else raw
        request = Recorded(handler.command, handler.path, headers, raw, body, time.monotonic())
        with self._lock:
            answer = self._script.popleft() if self._script else self.default
            try:
                response = answer(request) if callable(answer) else answer
            except Exception:  # noqa: BLE001 (a broken answer function shows in the 500's body)
                response = Response(500, body=traceback.format_exc().encode())
            request.status = response.status
            self.requests.append(request)
        if response.delay:
            self._closed.wait(response.delay)
        if response.gate is not None:
            response.gate.wait(30)
        try:
            handler.send_response(response.status)
            for name, value in response.headers.items():
                handler.send_header(name, value)
            handler.send_header("Content-Length", str(len(response.body)))
            handler.end_headers()
            handler.wfile.write(response.body)
        except OSError:
            pass  # the client gave up (its timeout); nothing to answer

    def snapshot(self) -> list[Recorded]:
        with self._lock:
            return list(self.requests)

    def accepted(self) -> list[Recorded]:
        return [r for r in self.snapshot() if r.accepted]

    def close(self) -> None:
        self._closed.set()
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(timeout=10)

    def __enter__(self) -> LoopbackReceiver:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


# --- JSON Schemas ----------------------------------------------------------------------------------


def _formats(schema: Any) -> Iterator[str]:
    if isinstance(schema, dict):
        if isinstance(schema.get("format"), str):
            yield schema["format"]
        for value in schema.values():
            yield from _formats(value)
    elif isinstance(schema, list):
        for value in schema:
            yield from _formats(value)


@functools.cache
def load_schema(name: str) -> dict[str, Any]:
    """``tests/schemas/<name>``, checked against its metaschema. A missing file is a failure."""
    import jsonschema

    path = SCHEMAS / name
    if not path.is_file():
        raise AssertionError(f"the schema {name} is missing: it belongs in the repository, at {path}")
    schema: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    jsonschema.validators.validator_for(schema).check_schema(schema)
    return schema


def schema_validator(name: str, definition: str | None = None) -> Any:
    """A validator for ``tests/schemas/<name>`` (or for its ``$defs/<definition>``), checking
    formats too; fails if this environment cannot check one of the formats the schema uses."""
    import jsonschema

    schema = load_schema(name)
    cls = jsonschema.validators.validator_for(schema)
    checker = cls.FORMAT_CHECKER
    unchecked = set(_formats(schema)) - set(checker.checkers)
    assert not unchecked, f"{name}: jsonschema cannot check the formats {sorted(unchecked)} here"
    if definition is not None:
        assert definition in schema.get("$defs", {}), f"{name} has no $defs/{definition}"
        schema = {"$schema": schema["$schema"], "$defs": schema["$defs"], "$ref": f"#/$defs/{definition}"}
    return cls(schema, format_checker=checker)
