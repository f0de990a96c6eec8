"""Mistakes raise ValueError/TypeError naming the offending value; a Rust panic is a Python exception."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import ferrotel
import ferrotel.validation
import pytest


@pytest.fixture
def registry() -> ferrotel.Registry:
    return ferrotel.Registry()


@pytest.fixture
def legacy():
    """Names follow the legacy rule (UTF-8 names are valid by default, as in Prometheus 3)."""
    ferrotel.validation.enable_legacy_validation()
    yield
    ferrotel.validation.disable_legacy_validation()


def raises_naming(call, offending: str, exc=(ValueError, TypeError)) -> BaseException:
    """Runs ``call``; it must raise ``exc`` with ``offending`` in the message."""
    with pytest.raises(exc) as info:
        call()
    message = str(info.value)
    assert offending in message, f"{offending!r} not named in {type(info.value).__name__}: {message!r}"
    return info.value


# --- names ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", [ferrotel.Counter, ferrotel.Gauge, ferrotel.Histogram, ferrotel.Summary])
def test_empty_metric_name(registry, kind):
    with pytest.raises(ValueError) as info:
        kind("", "doc", registry=registry)
    assert "empty" in str(info.value)


@pytest.mark.parametrize("name", ["1abc", "a-b", "with space", "é"])
@pytest.mark.parametrize("kind", [ferrotel.Counter, ferrotel.Gauge, ferrotel.Histogram, ferrotel.Summary])
def test_invalid_metric_name(registry, legacy, kind, name):
    raises_naming(lambda: kind(name, "doc", registry=registry), name, ValueError)


def test_invalid_namespace_is_reported_in_the_full_name(registry, legacy):
    raises_naming(lambda: ferrotel.Counter("ok", "doc", namespace="bad-ns", registry=registry), "bad-ns")


def test_invalid_prefix(legacy):
    raises_naming(lambda: ferrotel.Registry(prefix="9lives_"), "9lives_", ValueError)


@pytest.mark.parametrize("label", ["a-b", "1st", "has space"])
def test_invalid_label_name(registry, legacy, label):
    raises_naming(
        lambda: ferrotel.Counter("c_total", "doc", ["ok", label], registry=registry), label, ValueError
    )


def test_reserved_label_name(registry):
    raises_naming(
        lambda: ferrotel.Counter("c_total", "doc", ["ok", "__reserved"], registry=registry),
        "__reserved",
        ValueError,
    )


def test_invalid_default_label_name(legacy):
    raises_naming(lambda: ferrotel.Registry(default_labels={"bad-label": "x"}), "bad-label", ValueError)


def test_duplicate_label_name(registry):
    raises_naming(lambda: ferrotel.Gauge("g", "doc", ["host", "host"], registry=registry), "host", ValueError)


def test_label_name_not_a_str(registry):
    raises_naming(lambda: ferrotel.Gauge("g", "doc", ["host", 42], registry=registry), "42", TypeError)


def test_labelnames_given_as_one_str(registry):
    raises_naming(lambda: ferrotel.Gauge("g", "doc", "host", registry=registry), "host", TypeError)


def test_le_is_reserved_for_histograms(registry):
    raises_naming(
        lambda: ferrotel.Histogram("h", "doc", ["route", "le"], registry=registry), "le", ValueError
    )


def test_quantile_is_reserved_for_summaries(registry):
    raises_naming(
        lambda: ferrotel.Summary("s", "doc", ["quantile"], registry=registry), "quantile", ValueError
    )


def test_enum_label_of_its_own_name(registry):
    raises_naming(
        lambda: ferrotel.Enum("phase", "doc", ["phase"], states=["a"], registry=registry), "phase", ValueError
    )


# --- label values --------------------------------------------------------------------------------


@pytest.fixture
def requests(registry):
    return ferrotel.Counter("requests_total", "doc", ["method", "path"], registry=registry)


def test_too_few_label_values(requests):
    error = raises_naming(lambda: requests.labels("PATCH"), "PATCH", ValueError)
    assert "method" in str(error) and "path" in str(error)


def test_too_many_label_values(requests):
    error = raises_naming(lambda: requests.labels("GET", "/", "surplus_value"), "surplus_value", ValueError)
    assert "method" in str(error) and "path" in str(error)


def test_remove_with_wrong_number_of_values(requests):
    raises_naming(lambda: requests.remove("lonely_value"), "lonely_value", ValueError)


def test_wrong_label_name_by_keyword(requests):
    raises_naming(lambda: requests.labels(method="GET", pth="/"), "pth", ValueError)


def test_missing_label_name_by_keyword(requests):
    error = raises_naming(lambda: requests.labels(method="GET"), "path", ValueError)
    assert "requests" in str(error)


def test_mixing_positional_and_keyword_label_values(requests):
    with pytest.raises(ValueError):
        requests.labels("GET", path="/")


def test_labels_on_metric_without_labels(registry):
    c = ferrotel.Counter("plain_total", "doc", registry=registry)
    raises_naming(lambda: c.labels("x"), "plain", ValueError)


class Unprintable:
    def __str__(self) -> str:
        raise RuntimeError("no text for this one")


def test_label_value_whose_str_fails_creates_nothing(registry, requests):
    """Label values of any type are ``str(value)``, as in prometheus_client; when that raises,
    the exception is the caller's and no series is made."""
    with pytest.raises(RuntimeError, match="no text"):
        requests.labels("GET", Unprintable())
    with pytest.raises(RuntimeError, match="no text"):
        requests.labels(method="GET", path=Unprintable())
    assert ferrotel.generate_latest(registry).decode().count("requests_total{") == 0


# --- values --------------------------------------------------------------------------------------


@pytest.mark.parametrize("amount", [-1, -0.5, -2.25, float("-inf")])
def test_negative_counter_increment(registry, amount):
    c = ferrotel.Counter("c_total", "doc", registry=registry)
    error = raises_naming(lambda: c.inc(amount), str(amount), ValueError)
    assert "c" in str(error)
    assert registry.get_sample_value("c_total") == 0.0


@pytest.mark.parametrize("bad", ["12", "abc", [1], object()])
def test_non_numeric_values(registry, bad):
    shown = repr(bad)
    c = ferrotel.Counter("c_total", "doc", registry=registry)
    g = ferrotel.Gauge("g", "doc", registry=registry)
    h = ferrotel.Histogram("h", "doc", registry=registry)
    s = ferrotel.Summary("s", "doc", registry=registry)
    for call in (
        lambda: c.inc(bad),
        lambda: g.inc(bad),
        lambda: g.dec(bad),
        lambda: g.set(bad),
        lambda: h.observe(bad),
        lambda: s.observe(bad),
    ):
        raises_naming(call, shown, TypeError)
    assert registry.get_sample_value("c_total") == 0.0
    assert registry.get_sample_value("h_count") == 0.0


def test_gauge_set_function_not_callable(registry):
    g = ferrotel.Gauge("g", "doc", registry=registry)
    raises_naming(lambda: g.set_function("not callable"), "not callable", (ValueError, TypeError))


def test_info_value_not_a_str(registry):
    i = ferrotel.Info("build", "doc", registry=registry)
    raises_naming(lambda: i.info({"version": 3}), "version", TypeError)
    raises_naming(lambda: i.info({"__reserved": "x"}), "__reserved", ValueError)


def test_exemplar_too_long(registry):
    c = ferrotel.Counter("c_total", "doc", registry=registry)
    with pytest.raises(ValueError) as info:
        c.inc(1, exemplar={"trace_id": "x" * 200})
    assert "128" in str(info.value)


# --- registration --------------------------------------------------------------------------------


def test_duplicate_registration_same_name(registry):
    ferrotel.Counter("orders_processed_total", "doc", registry=registry)
    raises_naming(
        lambda: ferrotel.Counter("orders_processed_total", "doc", registry=registry),
        "orders_processed",
        ValueError,
    )


def test_duplicate_registration_clashing_sample_names(registry):
    ferrotel.Histogram("render_seconds", "doc", registry=registry)
    # a gauge named like one of the histogram's samples would collide in the exposition
    raises_naming(
        lambda: ferrotel.Gauge("render_seconds_count", "doc", registry=registry), "render_seconds_count"
    )


def test_registering_the_same_metric_twice(registry):
    c = ferrotel.Counter("orders_processed_total", "doc", registry=registry)
    raises_naming(lambda: registry.register(c), "orders_processed", ValueError)


def test_same_name_in_different_registries_is_fine():
    ferrotel.Counter("orders_processed_total", "doc", registry=ferrotel.Registry())
    ferrotel.Counter("orders_processed_total", "doc", registry=ferrotel.Registry())


def test_register_object_without_collect(registry):
    raises_naming(lambda: registry.register(42), "42", TypeError)


def test_registry_argument_of_wrong_type():
    raises_naming(lambda: ferrotel.Counter("c_total", "doc", registry="elsewhere"), "elsewhere", TypeError)


def test_cardinality_limit_zero():
    raises_naming(lambda: ferrotel.Registry(cardinality_limit=0), "0", ValueError)


# --- buckets and states --------------------------------------------------------------------------


@pytest.mark.parametrize("buckets, shown", [([1, 0.5, 2], "0.5"), ([0.1, 0.1], "0.1"), ([5, 1], "5")])
def test_unsorted_histogram_buckets(registry, buckets, shown):
    raises_naming(
        lambda: ferrotel.Histogram("h", "doc", buckets=buckets, registry=registry), shown, ValueError
    )


def test_histogram_bucket_not_a_number(registry):
    raises_naming(lambda: ferrotel.Histogram("h", "doc", buckets=[0.1, "fast"], registry=registry), "fast")


def test_histogram_bucket_nan(registry):
    raises_naming(lambda: ferrotel.Histogram("h", "doc", buckets=[float("nan")], registry=registry), "NaN")


def test_enum_with_unknown_state(registry):
    e = ferrotel.Enum("phase", "doc", states=["starting", "running"], registry=registry)
    error = raises_naming(lambda: e.state("exploded"), "exploded", ValueError)
    assert "running" in str(error)
    assert registry.get_sample_value("phase", {"phase": "starting"}) == 1.0


def test_enum_without_states(registry):
    raises_naming(lambda: ferrotel.Enum("phase", "doc", states=[], registry=registry), "phase", ValueError)


def test_failed_definition_registers_nothing(registry):
    with pytest.raises(ValueError):
        ferrotel.Histogram("h", "doc", ["le"], registry=registry)
    with pytest.raises(ValueError):
        ferrotel.Histogram("h", "doc", buckets=[2, 1], registry=registry)
    # the name is still free
    ferrotel.Histogram("h", "doc", registry=registry)


# --- Rust panics ---------------------------------------------------------------------------------


def test_panic_is_a_python_exception_and_the_interpreter_survives(registry):
    with pytest.raises(ferrotel.PanicException) as info:
        ferrotel._core._debug_panic("deliberate panic 7c1e")
    assert "deliberate panic 7c1e" in str(info.value)
    # ferrotel still works afterwards
    c = ferrotel.Counter("after_panic_total", "doc", registry=registry)
    c.inc()
    assert registry.get_sample_value("after_panic_total") == 1.0
    with pytest.raises(ferrotel.PanicException):
        ferrotel._core._debug_panic("again")
    assert b"after_panic_total 1.0" in ferrotel.generate_latest(registry)


def run_python(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=60,
        env={"RUST_BACKTRACE": "0", "PATH": "/usr/bin:/bin"},
    )


def test_uncaught_panic_in_subprocess_is_a_normal_traceback_exit():
    proc = run_python(
        """
        import ferrotel
        ferrotel._core._debug_panic("subprocess panic 91ab")
        """
    )
    # 1 is Python's exit status for an uncaught exception; a signal would be negative, abort 134.
    assert proc.returncode == 1, proc.stderr
    assert "Traceback (most recent call last)" in proc.stderr
    assert "PanicException" in proc.stderr
    assert "subprocess panic 91ab" in proc.stderr


def test_caught_panic_in_subprocess_then_clean_exit():
    proc = run_python(
        """
        import ferrotel
        try:
            ferrotel._core._debug_panic("caught 55")
        except ferrotel.PanicException as exc:
            print("caught:", exc)
        r = ferrotel.Registry()
        ferrotel.Counter("x_total", "doc", registry=r).inc()
        print(ferrotel.generate_latest(r).decode())
        """
    )
    assert proc.returncode == 0, proc.stderr
    assert "caught: caught 55" in proc.stdout
    assert "x_total 1.0" in proc.stdout
