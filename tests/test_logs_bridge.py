"""The stdlib bridge: `logging` records (extra, exc_info, stack_info) through ferrotel's
pipeline, and `install()` routing the root logger, so libraries' logging is the same JSON."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import ferrotel
import pytest
from ferrotel.logs import Handler


@pytest.fixture
def root() -> Iterator[logging.Logger]:
    """The root logger, given back afterwards with its handlers and level as they were."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield root
    root.handlers[:] = handlers
    root.setLevel(level)


def test_install_routes_libraries_logging_through_ferrotel(log_file, root):
    handler = ferrotel.logs.install()
    assert root.handlers == [handler]
    assert root.level == logging.DEBUG  # the fixture configured ferrotel at debug
    logging.getLogger("urllib3.connectionpool").info(
        "Starting new HTTPS connection (%d): %s", 1, "api.example.com"
    )
    logging.getLogger("app").warning("order placed", extra={"order_id": 7, "items": ["a"], "password": "x"})
    connection, order = log_file.lines()
    assert connection["log.logger"] == "urllib3.connectionpool"
    assert connection["message"] == "Starting new HTTPS connection (1): api.example.com"
    assert connection["log.level"] == "info"
    assert connection["log.origin.file.name"] == "test_logs_bridge.py"
    assert connection["log.origin.function"] == "test_install_routes_libraries_logging_through_ferrotel"
    assert isinstance(connection["log.origin.file.line"], int)
    assert (order["order_id"], order["items"], order["password"]) == (7, ["a"], "[REDACTED]")
    for standard in ("args", "msg", "levelno", "pathname", "thread", "processName", "created"):
        assert standard not in order


def test_install_sets_the_root_level_when_asked(log_file, root):
    ferrotel.logs.install("warning")
    logging.getLogger("lib").info("filtered by the stdlib")
    logging.getLogger("lib").error("kept")
    assert [r["message"] for r in log_file.lines()] == ["kept"]


def test_exc_info_and_stack_info_become_fields(log_file, root):
    ferrotel.logs.install()
    log = logging.getLogger("app")
    try:
        {}["missing"]
    except KeyError:
        log.exception("lookup failed")
    log.info("where am I", stack_info=True)
    failed, stacked = log_file.lines()
    assert failed["log.level"] == "error"
    assert (failed["error.type"], failed["error.message"]) == ("KeyError", "'missing'")
    assert failed["error.stack_trace"].startswith("Traceback (most recent call last):")
    assert stacked["stack_info"].startswith("Stack (most recent call last):")
    assert "error.type" not in stacked


def test_a_formatted_exception_text_is_reused(log_file, root):
    record = logging.LogRecord(
        "app", logging.ERROR, __file__, 1, "boom", None, (ValueError, ValueError("v"), None)
    )
    record.exc_text = "Traceback (cached)\nValueError: v"
    ferrotel.logs.Handler().handle(record)
    (line,) = log_file.lines()
    assert line["error.stack_trace"] == "Traceback (cached)\nValueError: v"


def test_stdlib_records_get_log_context_and_the_ferrotel_level(log_file, root):
    ferrotel.logs.install(logging.DEBUG)
    ferrotel.logs.configure("warning", file=ferrotel.logs.FileSink(log_file.path))
    with ferrotel.log_context(request_id="r1"):
        logging.getLogger("app").info("below ferrotel's level")
        logging.getLogger("app").error("kept")
    (line,) = log_file.lines()
    assert (line["message"], line["request_id"]) == ("kept", "r1")


def test_handler_filters_and_level_still_apply(log_file):
    log = logging.getLogger("ferrotel.test.filters")
    log.propagate = False
    log.setLevel(logging.DEBUG)
    handler = Handler(logging.INFO)
    handler.addFilter(lambda record: "secret" not in record.getMessage())
    log.addHandler(handler)
    try:
        log.debug("below the handler's level")
        log.info("contains a secret")
        log.info("passes")
    finally:
        log.removeHandler(handler)
    assert [r["message"] for r in log_file.lines()] == ["passes"]


def test_odd_records_never_raise(log_file):
    log = logging.getLogger("ferrotel.test.odd")
    log.propagate = False
    log.setLevel(logging.DEBUG)
    log.addHandler(Handler())
    try:
        log.warning({"a": 1})
        log.warning("%s and %s", "one")  # the stdlib cannot format it
        log.warning("custom level", extra={"bad": object()})
        log.log(25, "between info and warning")
    finally:
        log.handlers.clear()
    lines = log_file.lines()
    assert lines[0]["message"] == "{'a': 1}"
    assert lines[1]["message"] == "%s and %s"
    assert lines[2]["bad"].startswith("<object object at")
    assert lines[3]["log.level"] == "info"
