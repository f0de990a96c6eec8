"""The logging API: level methods, bind, log_context, the guide's log(entry) form, exceptions,
enrichment, trace correlation, and configuration errors."""

from __future__ import annotations

import asyncio
import math
import socket
import threading

import ferrotel
import pytest
from ferrotel.logs import ElasticsearchSink, FileSink

# fast, and the whole module: part of the wheel smoke run (scripts/test-wheels.sh on 3.10-3.12)
pytestmark = pytest.mark.wheel_smoke


def test_each_level_method_writes_its_level_with_context(log_file):
    log = ferrotel.get_logger("users")
    log.debug("d", n=1)
    log.info("i", n=2)
    log.warning("w", n=3)
    log.error("e", n=4)
    log.critical("c", n=5)
    lines = log_file.lines()
    assert [(r["log.level"], r["message"], r["n"]) for r in lines] == [
        ("debug", "d", 1),
        ("info", "i", 2),
        ("warning", "w", 3),
        ("error", "e", 4),
        ("critical", "c", 5),
    ]
    assert {r["log.logger"] for r in lines} == {"users"}


def test_calls_below_the_level_are_not_written(tmp_path):
    path = tmp_path / "app.log"
    ferrotel.logs.configure("warning", file=FileSink(path))
    log = ferrotel.get_logger("x")
    try:
        log.debug("no")
        log.info("no")
        log.warning("yes")
        assert not log.is_enabled_for("info")
        assert log.is_enabled_for("error")
        ferrotel.flush()
        assert [line for line in path.read_text().splitlines() if '"no"' in line] == []
        assert '"yes"' in path.read_text()
    finally:
        ferrotel.logs.configure(console=False)


def test_bind_returns_a_child_logger_and_leaves_the_parent_alone(log_file):
    parent = ferrotel.get_logger("svc")
    child = parent.bind(request_id="r1", user_id=7)
    grandchild = child.bind(user_id=8)
    parent.info("parent")
    child.info("child", extra="x")
    grandchild.info("grandchild", request_id="r2")
    parent_line, child_line, grandchild_line = log_file.lines()
    assert "request_id" not in parent_line
    assert (child_line["request_id"], child_line["user_id"], child_line["extra"]) == ("r1", 7, "x")
    assert (grandchild_line["request_id"], grandchild_line["user_id"]) == ("r2", 8)
    assert grandchild.name == "svc"


def test_log_context_scopes_fields_to_the_block(log_file):
    log = ferrotel.get_logger("svc")
    with ferrotel.log_context(request_id="r1", stage="outer"):
        log.info("outer")
        with ferrotel.log_context(stage="inner"):
            log.info("inner")
        log.bind(stage="bound").info("bound wins over the block")
        log.info("call wins", stage="call")
    log.info("after")
    outer, inner, bound, call, after = log_file.lines()
    assert (outer["request_id"], outer["stage"]) == ("r1", "outer")
    assert (inner["request_id"], inner["stage"]) == ("r1", "inner")
    assert bound["stage"] == "bound"
    assert call["stage"] == "call"
    assert "request_id" not in after and "stage" not in after


def test_log_context_follows_threads_and_asyncio_tasks(log_file):
    log = ferrotel.get_logger("svc")

    async def handle(request_id: str) -> None:
        with ferrotel.log_context(request_id=request_id):
            await asyncio.sleep(0)
            log.info("handled")

    async def main() -> None:
        await asyncio.gather(*(handle(f"r{i}") for i in range(5)))

    asyncio.run(main())

    def worker(i: int) -> None:
        with ferrotel.log_context(thread=i):
            log.info("in thread")

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    lines = log_file.lines()
    assert sorted(r["request_id"] for r in lines if r["message"] == "handled") == [f"r{i}" for i in range(5)]
    assert sorted(r["thread"] for r in lines if r["message"] == "in thread") == [0, 1, 2, 3]


def test_the_guides_log_entry_form(log_file):
    log = ferrotel.get_logger("UserService")
    log.log(
        {
            "level": "info",
            "message": "Creating new user",
            "context": {"email": "jane@example.com", "source": "signup"},
        }
    )
    log.log({"level": "error", "message": "Failed to create user", "context": {"error": "duplicate"}})
    log.log({"level": "debug", "message": "below the level? no: the fixture logs debug"})
    first, second, third = log_file.lines()
    assert first["log.level"] == "info" and first["message"] == "Creating new user"
    assert (first["email"], first["source"]) == ("jane@example.com", "signup")
    assert second["log.level"] == "error" and second["error"] == "duplicate"
    assert third["log.level"] == "debug"


def test_a_malformed_log_entry_is_still_logged_and_never_raises(log_file):
    log = ferrotel.get_logger("x")
    log.log({"level": "verbose", "message": "unknown level"})
    log.log({"message": "no level", "context": "not a dict"})
    log.log("not a dict at all")  # type: ignore[arg-type]
    lines = log_file.lines()
    assert [(r["log.level"], r["message"]) for r in lines] == [
        ("info", "unknown level"),
        ("info", "no level"),
        ("info", "not a dict at all"),
    ]
    assert lines[1]["context"] == "not a dict"


def test_exception_adds_the_error_fields(log_file):
    log = ferrotel.get_logger("x")

    def fail() -> None:
        raise KeyError("song 42")

    try:
        fail()
    except KeyError:
        log.exception("lookup failed", song_id=42)
    log.exception("outside any except block")
    error, plain = log_file.lines()
    assert error["log.level"] == "error"
    assert error["error.type"] == "KeyError"
    assert error["error.message"] == "'song 42'"
    assert error["error.stack_trace"].startswith("Traceback (most recent call last):")
    assert "in fail" in error["error.stack_trace"]
    assert error["song_id"] == 42
    assert "error.type" not in plain and plain["log.level"] == "error"


def test_error_type_names_the_module_of_non_builtin_exceptions(log_file):
    try:
        socket.getaddrinfo("", None, family=-12345)
    except Exception as exc:
        expected = f"{type(exc).__module__}.{type(exc).__qualname__}"
        ferrotel.get_logger("x").exception("resolve")
    (line,) = log_file.lines()
    assert line["error.type"] == expected.removeprefix("builtins.")


class Unprintable:
    def __str__(self) -> str:
        raise RuntimeError("no str")

    def __repr__(self) -> str:
        raise RuntimeError("no repr")


class OnlyRepr:
    def __str__(self) -> str:
        raise RuntimeError("no str")

    def __repr__(self) -> str:
        return "<OnlyRepr>"


def test_values_that_are_not_json_types_fall_back_safely(log_file):
    cyclic: list[object] = [1]
    cyclic.append(cyclic)
    log = ferrotel.get_logger("x")
    log.info(
        Unprintable(),
        bad=Unprintable(),
        only_repr=OnlyRepr(),
        nan=math.nan,
        inf=-math.inf,
        huge=10**40,
        nested={"a": (1, 2.5, None, True), 3: {"b": b"bytes"}},
        cyclic=cyclic,
        items={1, 2},
        surrogate="\ud800x",
    )
    (line,) = log_file.lines()
    assert line["message"] == "<unprintable Unprintable>"
    assert line["bad"] == "<unprintable Unprintable>"
    assert line["only_repr"] == "<OnlyRepr>"
    assert (line["nan"], line["inf"], line["huge"]) == ("nan", "-inf", str(10**40))
    assert line["nested"] == {"a": [1, 2.5, None, True], "3": {"b": "b'bytes'"}}
    assert line["cyclic"] == [1, "<cycle>"]
    assert line["items"] == "{1, 2}"
    assert line["surrogate"].endswith("x")


def test_enrichment_comes_from_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("SERVICE_NAME", "music-api")
    monkeypatch.delenv("OTEL_SERVICE_NAME", raising=False)
    monkeypatch.delenv("ENVIRONMENT", raising=False)
    monkeypatch.setenv("NODE_ENV", "production")
    monkeypatch.setenv("APP_VERSION", "1.4.2")
    path = tmp_path / "app.log"
    ferrotel.logs.configure(file=FileSink(path))
    try:
        ferrotel.get_logger("x").info("enriched")
        ferrotel.flush()
        (text,) = path.read_text().splitlines()
    finally:
        ferrotel.logs.configure(console=False)
    assert '"service.name":"music-api"' in text
    assert '"service.environment":"production"' in text
    assert '"service.version":"1.4.2"' in text
    assert f'"host.hostname":"{socket.gethostname()}"' in text


def test_enrichment_arguments_win_over_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("SERVICE_NAME", "from-env")
    monkeypatch.setenv("ENVIRONMENT", "staging")
    path = tmp_path / "app.log"
    ferrotel.logs.configure(
        file=FileSink(path), service="music-api", environment="production", version="2", hostname="web-1"
    )
    try:
        ferrotel.get_logger("x").info("enriched")
        ferrotel.flush()
        (text,) = path.read_text().splitlines()
    finally:
        ferrotel.logs.configure(console=False)
    for field in (
        '"service.name":"music-api"',
        '"service.environment":"production"',
        '"host.hostname":"web-1"',
    ):
        assert field in text


@pytest.mark.skipif(not hasattr(ferrotel, "get_tracer"), reason="tracing not merged yet")
def test_records_carry_the_current_spans_ids(log_file):
    tracer = ferrotel.get_tracer("test")
    log = ferrotel.get_logger("x")
    log.info("outside")
    with tracer.span("outer") as outer:
        log.info("in outer")
        with tracer.span("inner") as inner:
            log.info("in inner")
    outside, in_outer, in_inner = log_file.lines()
    assert "trace.id" not in outside and "span.id" not in outside
    assert in_outer["trace.id"] == outer.context.trace_id
    assert in_outer["span.id"] == outer.context.span_id
    assert in_inner["trace.id"] == inner.context.trace_id == outer.context.trace_id
    assert in_inner["span.id"] == inner.context.span_id != outer.context.span_id
    assert len(in_inner["trace.id"]) == 32 and len(in_inner["span.id"]) == 16
    assert in_inner["trace.id"] == in_inner["trace.id"].lower()


@pytest.mark.parametrize(
    ("kwargs", "error", "named"),
    [
        ({"level": "verbose"}, ValueError, "verbose"),
        ({"level": True}, TypeError, "True"),
        ({"format": "xml"}, ValueError, "xml"),
        ({"console": "stdlog"}, ValueError, "stdlog"),
        ({"redact_patterns": ["(unclosed"]}, ValueError, "(unclosed"),
        ({"redact_patterns": [42]}, TypeError, "42"),
        ({"redact_keys": "password"}, TypeError, "password"),
        ({"file": "/nonexistent-dir/app.log"}, ValueError, "/nonexistent-dir/app.log"),
    ],
)
def test_bad_configuration_raises_naming_the_value(kwargs, error, named):
    with pytest.raises(error, match=None) as info:
        ferrotel.logs.configure(**kwargs)
    assert named in str(info.value)


@pytest.mark.parametrize(
    ("build", "error", "named"),
    [
        (lambda: FileSink("x.log", max_files=0), ValueError, "max_files"),
        (lambda: FileSink("x.log", max_size="ten MB"), ValueError, "ten MB"),
        (lambda: FileSink("x.log", max_size=[1]), TypeError, "max_size"),
        (lambda: ElasticsearchSink("localhost:9200"), ValueError, "localhost:9200"),
        (lambda: ElasticsearchSink("http://es:9200", op_type="update"), ValueError, "update"),
        (lambda: ElasticsearchSink("http://es:9200", username="elastic"), ValueError, "password"),
        (lambda: ElasticsearchSink("http://es:9200", flush_interval=0), ValueError, "flush_interval"),
    ],
)
def test_bad_sink_arguments_raise_naming_the_value(build, error, named):
    with pytest.raises(error) as info:
        build()
    assert named in str(info.value)


def test_elasticsearch_node_defaults_to_elasticsearch_url(monkeypatch):
    monkeypatch.setenv("ELASTICSEARCH_URL", "http://es.internal:9200/")
    assert ElasticsearchSink(index="audotics-logs").node == "http://es.internal:9200"
    monkeypatch.delenv("ELASTICSEARCH_URL")
    with pytest.raises(ValueError, match="ELASTICSEARCH_URL"):
        ElasticsearchSink(index="audotics-logs")


def test_a_failed_configuration_keeps_the_previous_one(log_file):
    with pytest.raises(ValueError):
        ferrotel.logs.configure("info", file=FileSink(log_file.path), redact_patterns=["(unclosed"])
    ferrotel.get_logger("x").debug("still at debug, still in the file")
    assert [r["message"] for r in log_file.lines()] == ["still at debug, still in the file"]
