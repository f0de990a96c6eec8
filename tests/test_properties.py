"""Fuzzing as a habit (issue #16): property-based tests over the Python API's inputs.

Whatever the input, recording never raises into the caller (defining a metric may raise
``ValueError`` or ``TypeError``, nothing else), and the output stays valid: the exposition parses
with prometheus_client's parsers, each log line with ``json.loads``, each OTLP request with
opentelemetry-proto. The example count is bounded by the hypothesis profile in conftest.py.

Bugs found outside the logs are marked ``xfail(strict=True)`` with what fails, for their owners:
when one is fixed, its test passes, and the strict marker asks for the marker's removal.
"""

from __future__ import annotations

import json
import logging
import math
import re
from collections.abc import Iterator
from typing import Any

import ferrotel
import pytest
from ferrotel.logs import FileSink, Handler
from hypothesis import HealthCheck, Phase, assume, example, given, settings
from hypothesis import strategies as st
from prometheus_client.openmetrics.parser import text_string_to_metric_families as parse_openmetrics
from prometheus_client.parser import text_string_to_metric_families as parse_text

# The fixtures configure a pipeline once per test, for all of its examples.
once_per_test = settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
# A known bug (marked xfail for its owner): the first failing example is enough, unshrunk.
known_bug = settings(phases=[Phase.explicit, Phase.generate], report_multiple_bugs=False)

# --- strategies ------------------------------------------------------------------------------------

# Any Python text, lone surrogates included (what os.fsdecode and surrogateescape produce).
any_text = st.text(st.characters(exclude_categories=()), max_size=40)
# Text that is valid Unicode (no lone surrogates).
clean_text = st.text(max_size=40)
SURROGATE = st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF)
# Text holding at least one lone surrogate.
surrogate_text = st.tuples(clean_text, SURROGATE, clean_text).map("".join)

metric_name = st.from_regex(r"[a-zA-Z_][a-zA-Z0-9_]{0,20}", fullmatch=True)
label_name = st.from_regex(r"[a-zA-Z][a-zA-Z0-9_]{0,10}", fullmatch=True)

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


# --- metrics ---------------------------------------------------------------------------------------

METRIC_CLASSES = [
    ferrotel.Counter,
    ferrotel.Gauge,
    ferrotel.Histogram,
    ferrotel.Summary,
    ferrotel.Info,
    ferrotel.Enum,
]


def define(cls: type, name: str, labelnames: list[str], registry: ferrotel.Registry, doc: str = "doc") -> Any:
    if cls is ferrotel.Enum:
        return cls(name, doc, labelnames, registry=registry, states=["a", "b"])
    return cls(name, doc, labelnames, registry=registry)


def refused_clearly(define: Any) -> None:
    """Calls ``define()``: it may refuse with a ValueError or TypeError of ferrotel's own (not
    a codec's UnicodeEncodeError, which is a ValueError naming no setting), nothing else."""
    try:
        define()
    except (ValueError, TypeError) as exc:
        assert not isinstance(exc, UnicodeError), repr(exc)


@given(st.sampled_from(METRIC_CLASSES), clean_text, clean_text, st.lists(clean_text, max_size=3))
def test_defining_a_metric_raises_only_value_or_type_errors(cls, name, doc, labelnames):
    refused_clearly(lambda: define(cls, name, labelnames, ferrotel.Registry(), doc))


@given(st.lists(st.floats() | st.integers(), max_size=5))
def test_histogram_buckets_are_accepted_or_refused_clearly(buckets):
    refused_clearly(lambda: ferrotel.Histogram("h", "doc", buckets=buckets, registry=ferrotel.Registry()))


@given(clean_text, st.dictionaries(clean_text, clean_text, max_size=3), st.integers(0, 2**64 - 1))
def test_registry_settings_are_accepted_or_refused_clearly(prefix, default_labels, limit):
    refused_clearly(
        lambda: ferrotel.Registry(prefix=prefix, default_labels=default_labels, cardinality_limit=limit)
    )


@pytest.mark.xfail(strict=True, reason="issue #16: cardinality_limit=-1 (or 2**64) raises OverflowError")
@known_bug
@given(st.integers(max_value=-1) | st.integers(min_value=2**64))
def test_a_negative_cardinality_limit_is_refused_with_value_error(limit):
    refused_clearly(lambda: ferrotel.Registry(cardinality_limit=limit))


@pytest.mark.xfail(
    strict=True,
    reason="issue #16: a surrogate in a metric name or its documentation raises UnicodeEncodeError",
)
@known_bug
@given(st.sampled_from(METRIC_CLASSES), surrogate_text, st.lists(label_name, max_size=2))
def test_a_surrogate_metric_name_is_refused_with_value_error(cls, name, labelnames):
    refused_clearly(lambda: define(cls, name, labelnames, ferrotel.Registry()))


@pytest.mark.xfail(strict=True, reason="issue #16: a surrogate in a label name raises UnicodeEncodeError")
@known_bug
@given(st.sampled_from(METRIC_CLASSES), metric_name, surrogate_text)
def test_a_surrogate_label_name_is_refused_with_value_error(cls, name, labelname):
    refused_clearly(lambda: define(cls, name, [labelname], ferrotel.Registry()))


def exposed_samples(registry: ferrotel.Registry) -> list[Any]:
    """The samples of both expositions, each parsed back by prometheus_client."""
    text = ferrotel.generate_latest(registry).decode()
    openmetrics = ferrotel.generate_openmetrics(registry).decode()
    samples = [s for family in parse_text(text) for s in family.samples]
    om_samples = [s for family in parse_openmetrics(openmetrics) for s in family.samples]
    assert len(om_samples) >= len(samples) > 0
    return samples


def value_of(samples: list[Any], suffix: str, labels: dict[str, str]) -> float:
    (value,) = [s.value for s in samples if s.name.endswith(suffix) and s.labels == labels]
    return float(value)


label_sets = st.lists(label_name, min_size=1, max_size=3, unique=True).flatmap(
    lambda names: st.tuples(st.just(names), st.lists(clean_text, min_size=len(names), max_size=len(names)))
)


@given(metric_name, label_sets, st.floats(min_value=0, allow_infinity=False), st.floats(allow_nan=False))
def test_recorded_label_values_and_numbers_come_back_from_the_exposition(name, label_set, amount, value):
    names, values = label_set
    assume(not any(n.startswith("__") for n in names))
    registry = ferrotel.Registry()
    counter = ferrotel.Counter(name, "doc", names, registry=registry)
    gauge = ferrotel.Gauge(name + "_g", "doc", names, registry=registry)
    counter.labels(*values).inc(amount)
    gauge.labels(*values).set(value)
    samples = exposed_samples(registry)
    labels = dict(zip(names, values, strict=True))
    assert value_of(samples, "_total", labels) == amount
    assert value_of(samples, "_g", labels) == value


@given(st.lists(st.floats(allow_nan=False, allow_infinity=False, min_value=0), min_size=1, max_size=5))
def test_histogram_and_summary_expositions_stay_valid_for_finite_observations(observations):
    registry = ferrotel.Registry()
    histogram = ferrotel.Histogram("h", "doc", registry=registry)
    summary = ferrotel.Summary("s", "doc", registry=registry)
    for x in observations:
        histogram.observe(x)
        summary.observe(x)
    samples = exposed_samples(registry)
    assert value_of(samples, "h_count", {}) == len(observations)
    assert value_of(samples, "s_count", {}) == len(observations)


@pytest.mark.xfail(
    strict=True,
    reason="issue #16: a negative observation makes a histogram's or summary's _sum negative, "
    "observe(inf) then observe(-inf) makes it NaN: invalid OpenMetrics",
)
@known_bug
@given(st.lists(st.floats(allow_nan=False), min_size=1, max_size=5).filter(lambda xs: any(x < 0 for x in xs)))
@example([math.inf, -math.inf])
def test_histogram_and_summary_expositions_stay_valid_for_any_observation(observations):
    registry = ferrotel.Registry()
    histogram = ferrotel.Histogram("h", "doc", registry=registry)
    summary = ferrotel.Summary("s", "doc", registry=registry)
    for x in observations:
        histogram.observe(x)
        summary.observe(x)
    exposed_samples(registry)


class Unreadable:
    def __float__(self) -> float:
        raise RuntimeError("no number today")


@pytest.mark.xfail(
    strict=True,
    reason="issue #16: a set_function callback that raises or returns a non-number fails the whole scrape",
)
@known_bug
@given(st.sampled_from([None, "text", Unreadable(), [1.0]]) | st.builds(RuntimeError))
def test_a_failing_gauge_callback_leaves_the_rest_of_the_scrape(result):
    registry = ferrotel.Registry()
    ferrotel.Counter("kept", "doc", registry=registry).inc()

    def callback() -> Any:
        if isinstance(result, Exception):
            raise result
        return result

    ferrotel.Gauge("g", "doc", registry=registry).set_function(callback)
    assert value_of(exposed_samples(registry), "kept_total", {}) == 1


@pytest.mark.xfail(strict=True, reason="issue #16: a surrogate in a label value raises at record time")
@known_bug
@given(surrogate_text)
def test_a_surrogate_label_value_is_recorded_without_raising(value):
    registry = ferrotel.Registry()
    counter = ferrotel.Counter("c", "doc", ["l"], registry=registry)
    counter.labels(value).inc()
    exposed_samples(registry)


# --- traces ----------------------------------------------------------------------------------------

attribute_values = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | clean_text
    | st.binary(max_size=8)
    | st.lists(st.integers(-(2**63), 2**63 - 1), max_size=3)
    | st.lists(clean_text, max_size=3)
    | st.lists(st.one_of(st.integers(), clean_text, st.none()), max_size=3)
    | st.dictionaries(clean_text, st.integers(), max_size=2)
)
attributes = st.dictionaries(clean_text, attribute_values, max_size=4)


@pytest.fixture
def spans(memory_exporter) -> Iterator[Any]:
    memory_exporter.clear()
    yield memory_exporter


@once_per_test
@given(clean_text, attributes, clean_text, attributes, clean_text, attribute_values)
def test_spans_record_any_attributes_and_events(spans, name, attrs, event, event_attrs, key, value):
    spans.clear()
    tracer = ferrotel.get_tracer("properties")
    with tracer.span(name, attributes=attrs) as span:
        span.add_event(event, event_attrs)
        span.set_attribute(key, value)
        span.set_status("error", event)
    (finished,) = spans.get_finished_spans()
    assert finished["name"] == name


@pytest.mark.xfail(
    strict=True,
    reason="issue #16: a surrogate in a span name, event name or attribute key raises UnicodeEncodeError",
)
@settings(known_bug, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(surrogate_text, surrogate_text)
def test_spans_record_surrogate_names_and_keys(spans, name, text):
    tracer = ferrotel.get_tracer("properties")
    with tracer.span(name) as span:
        span.add_event(text)
        span.set_attribute(text, 1)
        span.update_name(text)


@pytest.fixture
def otlp_spans(receiver, reset_tracing) -> Iterator[Any]:
    """Tracing to a loopback OTLP/HTTP collector; only ``ferrotel.flush()`` exports."""
    ferrotel.tracing.configure(
        service_name="properties",
        exporters=[ferrotel.tracing.OTLPSpanExporter(receiver.url("/v1/traces"))],
        schedule_delay=60,
        sampler="parentbased_always_on",
    )
    yield receiver


@once_per_test
@given(clean_text, attributes, clean_text, attributes)
def test_otlp_span_payloads_parse_with_opentelemetry_proto(otlp_spans, name, attrs, event, event_attrs):
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    before = len(otlp_spans.snapshot())
    with ferrotel.get_tracer("properties").span(name, attributes=attrs) as span:
        span.add_event(event, event_attrs)
    assert ferrotel.flush(10.0)
    (request,) = otlp_spans.snapshot()[before:]
    payload = ExportTraceServiceRequest.FromString(request.body)
    (exported,) = [s for r in payload.resource_spans for sc in r.scope_spans for s in sc.spans]
    assert exported.name == name
    assert [e.name for e in exported.events] == [event]


# --- propagation -----------------------------------------------------------------------------------

TRACEPARENT = re.compile(r"00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})")
HEADER_NAMES = ["traceparent", "tracestate", "baggage", "b3", "x-b3-traceid", "x-b3-spanid", "x-b3-sampled"]
hex_digits = st.text("0123456789abcdef", min_size=1, max_size=34)
traceparent_like = st.tuples(
    st.sampled_from(["00", "01", "ff", "0"]), hex_digits, hex_digits, st.sampled_from(["00", "01", "03", "x"])
).map("-".join)
header_values = any_text | traceparent_like | st.lists(any_text, max_size=3).map(",".join)
carriers = st.dictionaries(st.sampled_from(HEADER_NAMES) | any_text, header_values, max_size=5)


@given(carriers)
def test_extract_never_raises_and_what_it_extracts_injects_back(carrier):
    context = ferrotel.propagation.extract(carrier)
    ferrotel.propagation.extract_baggage(carrier)
    if context is None:
        return
    out: dict[str, str] = {}
    ferrotel.propagation.inject(out, context)
    match = TRACEPARENT.fullmatch(out["traceparent"])
    assert match, out
    assert (match[1], match[2]) == (context.trace_id, context.span_id)
    assert ferrotel.propagation.extract(out) == context


@given(st.integers(1, 2**128 - 1), st.integers(1, 2**64 - 1), st.sampled_from([0, 1]))
def test_a_valid_traceparent_round_trips(trace_id, span_id, flags):
    header = f"00-{trace_id:032x}-{span_id:016x}-{flags:02x}"
    context = ferrotel.propagation.extract({"traceparent": header})
    assert context is not None
    assert (context.trace_id, context.span_id, context.trace_flags) == (
        f"{trace_id:032x}",
        f"{span_id:016x}",
        flags,
    )
    out: dict[str, str] = {}
    ferrotel.propagation.inject(out, context)
    assert out["traceparent"] == header


# --- logs ------------------------------------------------------------------------------------------


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


def lossy(text: str) -> str:
    """Text as the logs keep it: lone surrogates replaced."""
    return text.encode("utf-8", "surrogatepass").decode("utf-8", "replace")


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
