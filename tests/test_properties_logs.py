"""Property-based tests (issue #16) over log messages and fields: JSON lines (keys unique), the
stdlib bridge, pretty lines, OTLP payloads. See tests/strategies.py."""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Iterator
from typing import Any

import ferrotel
import pytest
from ferrotel.logs import FileSink, Handler
from hypothesis import example, given
from hypothesis import strategies as st
from strategies import any_text, clean_text, lossy, once_per_test

scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | any_text
    | st.binary(max_size=10)
    | st.complex_numbers()
    | st.decimals()
)
# Nested payloads of every JSON-ish shape and some that are not.
payloads = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.lists(inner, max_size=4).map(tuple)
        | st.dictionaries(any_text | st.integers() | st.booleans() | st.none(), inner, max_size=4)
        | st.frozensets(st.integers(), max_size=3)
    ),
    max_leaves=12,
)


@st.composite
def cyclic_payloads(draw: st.DrawFn) -> Any:
    """A nested payload in which one list or dict also holds the payload itself."""
    inner = draw(st.lists(payloads, min_size=1, max_size=3))
    top: list[Any] = [inner]
    containers: list[Any] = [top]

    def collect(value: Any) -> None:
        if isinstance(value, (list, dict)):
            containers.append(value)
            for child in value.values() if isinstance(value, dict) else value:
                collect(child)

    collect(inner)
    target = draw(st.sampled_from(containers))
    if isinstance(target, dict):
        target[draw(clean_text)] = top
    else:
        target.append(top)
    return top


class Tail:
    """The lines a file sink wrote since the last call."""

    def __init__(self, path: Any) -> None:
        self.path = path
        self.offset = 0

    def lines(self) -> list[str]:
        assert ferrotel.flush(10.0)
        with open(self.path, "rb") as f:
            f.seek(self.offset)
            data = f.read()
        self.offset += len(data)
        return data.decode().splitlines()

    def records(self) -> list[dict[str, Any]]:
        return [json.loads(line, object_pairs_hook=unique_keys) for line in self.lines()]


def unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    keys = [k for k, _ in pairs]
    assert len(keys) == len(set(keys)), f"a repeated key in {keys}"
    return dict(pairs)


@pytest.fixture
def log_tail(tmp_path) -> Iterator[Tail]:
    path = tmp_path / "app.log"
    # No redaction: the test compares every value it logged.
    ferrotel.logs.configure("debug", file=FileSink(path), redact_defaults=False)
    yield Tail(path)
    ferrotel.logs.configure(console=False)


def expected(value: Any, depth: int = 0) -> Any:
    """What a payload becomes in a JSON line (within the limits the strategies keep to)."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):
        return value if -(2**63) <= value < 2**63 else str(value)
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, str):
        return lossy(value)
    if isinstance(value, (list, tuple)) and depth < 8:
        return [expected(v, depth + 1) for v in value]
    if isinstance(value, dict) and depth < 8:
        return {lossy(k) if isinstance(k, str) else str(k): expected(v, depth + 1) for k, v in value.items()}
    return lossy(str(value))


def distinct_keys(value: Any) -> bool:
    """No dict in the payload has two keys with the same text (``1`` and ``"1"``)."""
    if isinstance(value, (list, tuple)):
        return all(distinct_keys(v) for v in value)
    if isinstance(value, dict):
        texts = [lossy(k) if isinstance(k, str) else str(k) for k in value]
        return len(texts) == len(set(texts)) and all(distinct_keys(v) for v in value.values())
    return True


# ferrotel's own fields (rust/logs/format.rs): a context key spelled the same goes under `context.`.
RESERVED = {
    "@timestamp", "log.level", "message", "ecs.version", "log.logger", "service.name",
    "service.version", "service.environment", "host.hostname", "trace.id", "span.id",
    "error.type", "error.message", "error.stack_trace", "log.origin.file.name",
    "log.origin.file.line", "log.origin.function",
}  # fmt: skip
field_names = (
    any_text | st.sampled_from(sorted(RESERVED)) | st.sampled_from(sorted(RESERVED)).map("context.".__add__)
)
# Keyword arguments: `message` is the message itself.
kwarg_names = field_names.filter(lambda k: k != "message")


def compared(key: str, value: Any) -> bool:
    """Whether the line has ``value`` under ``key`` as it was given (not renamed, not merged)."""
    return (
        key not in RESERVED and lossy(key) == key and not key.startswith("context.") and distinct_keys(value)
    )


@once_per_test
@given(any_text, st.dictionaries(kwarg_names, payloads, max_size=4))
@example("reserved", {"trace.id": 1, "context.trace.id": 2})
@example("keys alike", {"nested": {1: "int", "1": "str", "1#2": "suffix"}, chr(0xDCE9): 1, chr(0xDCEA): 2})
def test_any_message_and_fields_make_one_json_line_that_says_what_was_logged(log_tail, message, fields):
    ferrotel.get_logger("properties").info(message, **fields)
    (record,) = log_tail.records()  # every object's keys unique
    assert record["message"] == lossy(message)
    for key, value in fields.items():
        if compared(key, value):
            assert record[key] == expected(value), key


@once_per_test
@given(cyclic_payloads())
def test_cyclic_payloads_are_logged_with_a_cycle_marker(log_tail, payload):
    ferrotel.get_logger("properties").warning("cyclic", payload=payload)
    (record,) = log_tail.records()
    assert "<cycle>" in json.dumps(record["payload"])


@once_per_test
@given(any_text, st.lists(payloads, max_size=3), st.dictionaries(field_names, payloads, max_size=3))
@example(
    "%s",
    ["arg"],
    {"message.": 1, "error.message": 2, "context.error.message": 3, chr(0xDCE9): 4, chr(0xDCEA): 5},
)
def test_the_stdlib_bridge_takes_any_message_args_and_extra(log_tail, message, args, extra):
    reserved = set(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}
    extra = {k: v for k, v in extra.items() if k not in reserved}
    logger = logging.getLogger("ferrotel.tests.properties")
    handler = Handler()
    logger.addHandler(handler)
    logger.propagate = False
    try:
        logger.warning(message, *args, extra=extra)
    finally:
        logger.removeHandler(handler)
    (record,) = log_tail.records()  # every object's keys unique
    for key, value in extra.items():
        if compared(key, value):
            assert record[key] == expected(value), key


@once_per_test
@given(any_text, st.dictionaries(field_names, payloads, max_size=4), st.sampled_from(["info", "error"]))
@example("guide", {"message": 1, "context.message": 2}, "info")
def test_the_guide_form_and_bound_loggers_take_anything(log_tail, message, context, level):
    log = ferrotel.get_logger("properties").bind(**context)
    log.log({"level": level, "message": message, "context": context})
    with ferrotel.log_context(**context):
        log.log(message)
    first, second = log_tail.records()
    assert first["log.level"] == level
    assert second["message"] == lossy(str(message))


@pytest.fixture
def pretty_tail(tmp_path) -> Iterator[Tail]:
    path = tmp_path / "pretty.log"
    ferrotel.logs.configure("debug", "pretty", file=FileSink(path))
    yield Tail(path)
    ferrotel.logs.configure(console=False)


@once_per_test
@given(any_text, st.dictionaries(kwarg_names, payloads, max_size=3))
def test_a_pretty_record_is_one_line(pretty_tail, message, fields):
    ferrotel.get_logger("properties").info(message, **fields)
    assert len(pretty_tail.lines()) == 1


@pytest.fixture
def otlp_logs(receiver) -> Iterator[Any]:
    ferrotel.logs.configure(
        "debug", otlp=ferrotel.logs.OtlpLogSink(receiver.url("/v1/logs"), flush_interval=60)
    )
    yield receiver
    ferrotel.logs.configure(console=False)


@once_per_test
@given(any_text, st.dictionaries(kwarg_names, payloads, max_size=4))
def test_otlp_log_payloads_parse_with_opentelemetry_proto(otlp_logs, message, fields):
    from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest

    before = len(otlp_logs.snapshot())
    ferrotel.get_logger("properties").info(message, **fields)
    assert ferrotel.flush(10.0)
    (request,) = otlp_logs.snapshot()[before:]
    payload = ExportLogsServiceRequest.FromString(request.body)
    (record,) = [r for rl in payload.resource_logs for sl in rl.scope_logs for r in sl.log_records]
    assert record.body.string_value == lossy(message)
    assert {kv.key for kv in record.attributes} >= {lossy(k) for k in fields}
