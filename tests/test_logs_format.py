"""Formats: every JSON line against the ECS logging spec (as tests/schemas/ecs-logging.schema.json
writes it down), `pretty`, injection of line breaks and control characters, and redaction."""

from __future__ import annotations

import functools
import json
import logging
import re
from datetime import datetime
from typing import Any

import ferrotel
import pytest
from ferrotel.logs import MASK_EMAILS, FileSink
from helpers import schema_validator

# The ECS logging spec's rules (elastic/ecs-logging spec/spec.json) as a JSON Schema of our own.
ECS_SCHEMA = "ecs-logging.schema.json"


@functools.cache
def ecs_validator() -> Any:
    return schema_validator(ECS_SCHEMA)


def assert_ecs(line: str) -> dict[str, Any]:
    """One JSON line against every rule of the spec: required fields, types, dotted top-level
    names (never nested objects) for `top_level_field` fields (all in the schema), timestamps
    that Python reads back, and the field order (the schema's `x-field-order`)."""
    validator = ecs_validator()
    schema = validator.schema
    record: dict[str, Any] = json.loads(line)
    errors = sorted(validator.iter_errors(record), key=lambda e: list(e.path))
    assert not errors, "\n".join(f"{list(e.path)}: {e.message}" for e in errors)
    for name, field in schema["properties"].items():
        if field.get("format") == "date-time" and name in record:
            assert record[name].endswith("Z"), record[name]
            # fromisoformat reads a `Z` from 3.11 on; as +00:00 on every version
            datetime.fromisoformat(record[name][:-1] + "+00:00")
    present = [name for name in schema["x-field-order"] if name in record]
    assert list(record)[: len(present)] == present
    return record


def test_the_ecs_schema_rejects_what_it_should():
    """The checks are live: each rule of the spec turns a valid line into an invalid one."""
    valid = {"@timestamp": "2024-05-01T12:00:00.123456Z", "log.level": "info", "message": "m"}
    valid |= {"ecs.version": "8.11.0", "labels": {"team": "music"}, "log.origin.file.line": 3}
    assert_ecs(json.dumps(valid))
    invalid = [
        {k: v for k, v in valid.items() if k != "ecs.version"},  # required
        valid | {"@timestamp": "2024-05-01T12:00:00+02:00"},  # UTC, with a Z
        valid | {"@timestamp": "2024-13-01T12:00:00Z"},  # a real date-time
        valid | {"log.origin.file.line": "3"},  # types
        valid | {"log": {"level": "info"}},  # top_level_field: never a nested object
        valid | {"labels": {"team.name": "music"}},  # labels keys are sanitized
        {"log.level": "info", **valid},  # field order
    ]
    for record in invalid:
        with pytest.raises(AssertionError):
            assert_ecs(json.dumps(record))


def test_every_kind_of_record_validates_against_the_ecs_logging_spec(log_file):
    log = ferrotel.get_logger("music.users")
    log.info("plain")
    log.debug("with context", user_id=42, path="/songs", ratio=0.5, tags=["a"], meta={"k": None})
    with ferrotel.log_context(request_id="r1"):
        log.bind(tenant="t").warning("bound and scoped")
    try:
        raise ValueError("bad input")
    except ValueError:
        log.exception("failed")
    log.log({"level": "critical", "message": "guide form", "context": {"email": "a@b.c"}})
    stdlib = logging.getLogger("ferrotel.test.ecs")
    stdlib.addHandler(ferrotel.logs.Handler())
    stdlib.propagate = False
    try:
        stdlib.error("stdlib %s", "record", extra={"order_id": 3}, exc_info=ValueError("x"))
    finally:
        stdlib.handlers.clear()
    if hasattr(ferrotel, "get_tracer"):
        with ferrotel.get_tracer("t").span("op"):
            log.info("in a span")
    lines = log_file.text().splitlines()
    assert len(lines) == 7 if hasattr(ferrotel, "get_tracer") else 6
    records = [assert_ecs(line) for line in lines]
    failed = records[3]
    assert failed["error.type"] == "ValueError" and failed["error.message"] == "bad input"
    assert records[5]["log.origin.file.line"] > 0 and records[5]["error.type"] == "ValueError"
    assert all(r["ecs.version"] == "8.11.0" for r in records)


def test_a_context_key_spelled_like_an_ecs_field_cannot_overwrite_it(log_file):
    ferrotel.get_logger("x").bind(**{"log.level": "fake", "@timestamp": "never"}).error("real")
    (line,) = log_file.text().splitlines()
    record = assert_ecs(line)
    assert record["log.level"] == "error"
    assert record["context.log.level"] == "fake" and record["context.@timestamp"] == "never"


INJECTIONS = [
    'ok\n{"@timestamp":"2020-01-01T00:00:00Z","log.level":"info","message":"forged"}',
    "carriage\rreturn",
    "line\u2028separator\u2029paragraph\x85next-line",
    "nul\x00bell\x07escape\x1b[31mred\x1b[0m del\x7f",
    'quote" backslash\\ tab\t',
]


def test_json_lines_cannot_be_split_or_forged(log_file):
    log = ferrotel.get_logger("x")
    for text in INJECTIONS:
        log.info(text, value=text, **{text: "as a key"})
    raw = log_file.path.read_bytes() if ferrotel.flush() else b""
    lines = raw.decode().splitlines()  # splitlines() breaks on \u2028, \x85 and friends too
    assert len(lines) == len(INJECTIONS)
    for line, text in zip(lines, INJECTIONS):  # the same length: asserted above
        record = assert_ecs(line)
        assert record["message"] == record["value"] == text
        assert record[text] == "as a key"
        assert all(ord(c) >= 0x20 and c not in "\x7f\x85\u2028\u2029" for c in line)


@pytest.fixture
def pretty_file(tmp_path):
    path = tmp_path / "pretty.log"
    ferrotel.logs.configure("debug", "pretty", file=FileSink(path))
    yield path
    ferrotel.logs.configure(console=False)


def test_pretty_lines_cannot_be_split_or_coloured_by_values(pretty_file):
    log = ferrotel.get_logger("x")
    for text in INJECTIONS:
        log.info(text, value=text)
    ferrotel.flush()
    lines = pretty_file.read_text().splitlines()
    assert len(lines) == len(INJECTIONS)
    assert all(re.match(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z INFO +x  ", line) for line in lines)
    assert "\x1b" not in pretty_file.read_text()
    assert r"\n{" in lines[0] and r"\x1b[31m" in lines[3] and r"\u2028" in lines[2]


def test_pretty_shows_message_context_and_indented_stack_trace(pretty_file):
    log = ferrotel.get_logger("users")
    log.info("Creating new user", email="jane@example.com", source="sign up", count=3)
    try:
        raise RuntimeError("db down\nINFO forged line")
    except RuntimeError:
        log.exception("failed")
    ferrotel.flush()
    first, *error = pretty_file.read_text().splitlines()
    expected = 'INFO     users  Creating new user  email=jane@example.com source="sign up" count=3'
    assert first.endswith(expected)
    assert (
        'ERROR    users  failed  error.type=RuntimeError error.message="db down\\nINFO forged line"'
        in error[0]
    )
    assert error[1:] and all(line.startswith("    ") for line in error[1:])


def test_sensitive_keys_are_redacted_by_default(log_file):
    ferrotel.get_logger("x").info(
        "login",
        password="hunter2",
        api_key="k",
        Authorization="Bearer abc",
        headers={"Set-Cookie": "s=1", "accept": "json"},
        refreshToken="t",
        user="jane",
    )
    (record,) = log_file.lines()
    for key in ("password", "api_key", "Authorization", "refreshToken"):
        assert record[key] == "[REDACTED]"
    assert record["headers"] == {"Set-Cookie": "[REDACTED]", "accept": "json"}
    assert record["user"] == "jane"
    assert "hunter2" not in log_file.text()


def test_redaction_keys_and_patterns_are_configurable(tmp_path):
    path = tmp_path / "app.log"
    ferrotel.logs.configure(
        file=FileSink(path),
        redact_keys=["card_number"],
        redact_defaults=False,
        redact_patterns=[MASK_EMAILS, re.compile(r"SECRET-\d+", re.IGNORECASE)],
    )
    try:
        ferrotel.get_logger("x").info(
            "mail jane.doe@example.com about secret-42",
            cardNumber="4111",
            password="not a default any more",
            email="jane.doe@example.com",
            nested=["bob@mail.example.org"],
        )
        ferrotel.flush()
        (record,) = [json.loads(line) for line in path.read_text().splitlines()]
    finally:
        ferrotel.logs.configure(console=False)
    assert record["message"] == "mail j***@example.com about [REDACTED]"
    assert record["cardNumber"] == "[REDACTED]"
    assert record["password"] == "not a default any more"
    assert record["email"] == "j***@example.com"
    assert record["nested"] == ["b***@mail.example.org"]
