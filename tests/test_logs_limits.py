"""Payloads of any shape cost a bounded amount per record (issue #16): a container already on
the path is ``"<cycle>"``, and past the depth, value or text budget the rest is a
``"<truncated: …>"`` marker. The record is always written, and what was cut is counted in
``ferrotel_dropped_total{signal="logs",reason="payload_cycle"|"payload_truncated"}``."""

from __future__ import annotations

import logging
import re

import ferrotel
from ferrotel.logs import Handler

CYCLE = "<cycle>"
MAX_VALUES = 10_000  # values converted per record (rust/logs/convert.rs)
MAX_TEXT = 1 << 20  # bytes of text kept per record


def items_cut(marker: object) -> int:
    match = re.fullmatch(r"<truncated: (\d+) items>", str(marker))
    assert match, f"not a truncation marker: {marker!r}"
    return int(match.group(1))


def test_a_list_holding_itself_is_a_cycle_marker_not_an_exponential_expansion(log_file, log_drops):
    before = log_drops("payload_cycle")
    n: list[object] = []
    n.extend([n] * 6)
    ferrotel.get_logger("t").info("m", payload=n, after="kept")
    (line,) = log_file.lines()
    assert line["payload"] == [CYCLE] * 6
    assert line["after"] == "kept"
    assert log_drops("payload_cycle") - before == 6


def test_cycles_through_dicts_and_tuples_are_cut_where_they_close(log_file):
    d: dict[str, object] = {"name": "d"}
    inner: list[object] = [d]
    d["inner"] = (1, inner)
    shared = [1, 2]
    ferrotel.get_logger("t").info("m", d=d, twice=[shared, shared])
    (line,) = log_file.lines()
    assert line["d"] == {"name": "d", "inner": [1, [CYCLE]]}
    # The same list twice side by side is no cycle.
    assert line["twice"] == [[1, 2], [1, 2]]


def test_a_wide_shared_dag_is_cut_at_the_value_budget(log_file, log_drops):
    before = log_drops("payload_truncated")
    dag: object = 0
    for _ in range(30):
        dag = [dag] * 6  # 6**30 leaves when expanded, no cycle
    ferrotel.get_logger("t").info("m", dag=dag)
    (line,) = log_file.lines()
    text = log_file.path.read_text()
    assert "<truncated: " in text
    assert len(text) < 1_000_000
    assert log_drops("payload_truncated") > before
    assert line["message"] == "m"


def test_a_long_list_keeps_the_budget_and_says_how_many_items_were_left_out(log_file, log_drops):
    before = log_drops("payload_truncated")
    ferrotel.get_logger("t").info("m", numbers=list(range(50_000)))
    (line,) = log_file.lines()
    *kept, marker = line["numbers"]
    assert kept == list(range(len(kept)))
    assert len(kept) == MAX_VALUES - 1  # the list itself is one value
    assert items_cut(marker) == 50_000 - len(kept)
    assert log_drops("payload_truncated") - before == items_cut(marker)


def test_the_budget_is_per_record_across_fields_and_a_dict_names_what_it_left_out(log_file):
    half = MAX_VALUES // 2
    ferrotel.get_logger("t").info("m", a=list(range(half)), b={str(i): i for i in range(half)})
    ferrotel.get_logger("t").info("next record", c=list(range(10)))
    first, second = log_file.lines()
    assert len(first["a"]) == half
    b = first["b"]
    assert items_cut(b.pop("<truncated>")) == half - len(b)
    assert second["c"] == list(range(10))


def test_text_past_the_budget_is_cut_with_the_bytes_left_out(log_file, log_drops):
    before = log_drops("payload_truncated")
    log = ferrotel.get_logger("t")
    log.info("m", big="é" * MAX_TEXT)
    log.info("next record", small="x")
    first, second = log_file.lines()
    match = re.fullmatch(r"(é*)<truncated: (\d+) bytes>", first["big"])
    assert match, first["big"][-40:]
    kept = len(match.group(1).encode())
    assert MAX_TEXT - 8 <= kept <= MAX_TEXT
    assert kept + int(match.group(2)) == 2 * MAX_TEXT
    assert second["small"] == "x"
    assert log_drops("payload_truncated") - before == 1


def test_a_container_past_the_depth_is_a_marker_not_its_str(log_file):
    deep: object = {"leaf": 1}
    for _ in range(12):
        deep = {"d": deep}
    ferrotel.get_logger("t").info("m", deep=deep)
    (line,) = log_file.lines()
    value = line["deep"]
    for _ in range(8):
        value = value["d"]
    assert value == "<truncated: 1 items>"


def clearing(target: dict[str, object]) -> object:
    """A value whose ``str()`` replaces every entry of the dict it is converted from."""

    class Clears:
        def __str__(self) -> str:
            target.clear()
            target.update({f"new{i}": i for i in range(5)})
            return "cleared"

    return Clears()


def test_a_dict_changed_by_a_value_while_logged_does_not_raise(log_file):
    payload: dict[str, object] = {}
    payload.update(a=clearing(payload), b=2, c=3)
    context: dict[str, object] = {}
    context.update(a=clearing(context), b=2)
    log = ferrotel.get_logger("t")
    log.info("m", payload=payload)
    log.log({"message": "guide form", "context": context})
    first, second = log_file.lines()
    assert first["payload"] == {"a": "cleared"}
    assert (second["message"], second["a"]) == ("guide form", "cleared")


def test_the_stdlib_bridge_cuts_extras_the_same_way(log_file, log_drops):
    before = log_drops("payload_cycle")
    logger = logging.getLogger("ferrotel.tests.limits")
    handler = Handler()
    logger.addHandler(handler)
    logger.propagate = False
    try:
        n: list[object] = []
        n.extend([n] * 6)
        half = MAX_VALUES // 2 + 1
        logger.warning("m", extra={"payload": n, "a": list(range(half)), "b": list(range(half))})
    finally:
        logger.removeHandler(handler)
    (line,) = log_file.lines()
    assert line["payload"] == [CYCLE] * 6
    assert log_drops("payload_cycle") - before == 6
    # One budget for all of a record's extras: the second long list is the one cut.
    assert len(line["a"]) == half
    assert items_cut(line["b"][-1]) > 0
