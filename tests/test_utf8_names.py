"""Prometheus 3 names: UTF-8 metric and label names are accepted by default and written as the
exposition formats and prometheus_client write them (quoted for a scraper that asked for
`escaping=allow-utf-8`, rewritten for one that did not); a legacy validation mode brings back the
old rule, switchable as in prometheus_client."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import ferrotel
import ferrotel.validation
import prometheus_client
import prometheus_client.validation
import pytest
from prometheus_client.openmetrics.exposition import generate_latest as pc_openmetrics
from prometheus_client.openmetrics.parser import text_string_to_metric_families as parse_openmetrics

ESCAPINGS = ["allow-utf-8", "underscores", "dots", "values"]


@pytest.fixture(autouse=True)
def _no_created(no_created: None) -> None:
    """ferrotel leaves `_created` out of text 0.0.4; without it both write the same bytes."""


def record(lib: Any, registry: Any) -> None:
    lib.Counter("my.requests", "Requests by user", ["user.id"], registry=registry).labels(7).inc()
    lib.Gauge("héllo wörld", "Non-ASCII", registry=registry).set(1)
    lib.Gauge("plain_name", "Legacy", ["zone"], registry=registry).labels("a").set(2)
    lib.Enum("job.state", "State", states=["idle", "busy"], registry=registry).state("busy")


@pytest.fixture
def registries() -> tuple[ferrotel.Registry, prometheus_client.CollectorRegistry]:
    ours, theirs = ferrotel.Registry(), prometheus_client.CollectorRegistry()
    record(ferrotel, ours)
    record(prometheus_client, theirs)
    return ours, theirs


@pytest.mark.parametrize("escaping", ESCAPINGS)
def test_text_format_names_as_prometheus_client_writes_them(registries: Any, escaping: str) -> None:
    ours, theirs = registries
    assert ferrotel.generate_latest(ours, escaping) == prometheus_client.generate_latest(theirs, escaping)


@pytest.mark.parametrize("escaping", ["allow-utf-8", "underscores"])
def test_openmetrics_names_as_prometheus_client_writes_them(registries: Any, escaping: str) -> None:
    ours, theirs = registries
    assert ferrotel.generate_openmetrics(ours, escaping) == pc_openmetrics(theirs, escaping)


def test_default_exposition_escapes_names_to_underscores(registries: Any) -> None:
    ours, _ = registries
    text = ferrotel.generate_latest(ours).decode()
    assert 'my_requests_total{user_id="7"} 1.0' in text
    assert "h_llo_w_rld 1.0" in text


def test_quoted_names_parse_back(registries: Any) -> None:
    ours, _ = registries
    body = ferrotel.generate_openmetrics(ours, "allow-utf-8").decode()
    assert '{"my.requests_total","user.id"="7"} 1.0' in body
    families = {f.name: f for f in parse_openmetrics(body)}
    assert families["my.requests"].samples[0].labels == {"user.id": "7"}
    assert families["héllo wörld"].samples[0].value == 1.0


@pytest.mark.parametrize(
    ("accept", "content_type", "quoted"),
    [
        (
            "application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.6,text/plain;version=0.0.4;q=0.3",
            "application/openmetrics-text; version=1.0.0; charset=utf-8; escaping=allow-utf-8",
            True,
        ),
        (
            "text/plain;version=1.0.0;escaping=allow-utf-8",
            "text/plain; version=1.0.0; charset=utf-8; escaping=allow-utf-8",
            True,
        ),
        ("application/openmetrics-text;version=1.0.0", ferrotel.CONTENT_TYPE_OPENMETRICS, False),
        (None, ferrotel.CONTENT_TYPE_PLAIN_0_0_4, False),
    ],
)
def test_scrapes_negotiate_the_escaping(
    registries: Any, accept: str | None, content_type: str, quoted: bool
) -> None:
    ours, _ = registries
    body, got_type, _ = ours.render(accept, None)
    assert got_type == content_type
    assert (b'"my.requests_total"' in body) is quoted


def test_get_sample_value_and_collect_use_the_utf8_names(registries: Any) -> None:
    ours, theirs = registries
    assert ours.get_sample_value("my.requests_total", {"user.id": "7"}) == 1.0
    assert ours.get_sample_value("job.state", {"job.state": "busy"}) == 1.0
    assert {m.name for m in ours.collect()} == {m.name for m in theirs.collect()}


@pytest.fixture
def legacy() -> Iterator[None]:
    ferrotel.validation.enable_legacy_validation()
    prometheus_client.validation.enable_legacy_validation()
    yield
    ferrotel.validation.disable_legacy_validation()
    prometheus_client.validation.disable_legacy_validation()


@pytest.mark.parametrize(
    "declare",
    [
        lambda lib: lib.Counter("my.requests", "R", registry=None),
        lambda lib: lib.Counter("requests", "R", ["user.id"], registry=None),
        lambda lib: lib.Gauge("1abc", "G", registry=None),
    ],
)
def test_legacy_validation_mode(legacy: None, declare: Any) -> None:
    assert ferrotel.validation.get_legacy_validation()
    for lib in (prometheus_client, ferrotel):
        with pytest.raises(ValueError, match="(?i)invalid"):
            declare(lib)
    ferrotel.validation.disable_legacy_validation()
    declare(ferrotel)


def test_legacy_validation_from_the_environment() -> None:
    code = """
import ferrotel, ferrotel.validation
assert ferrotel.validation.get_legacy_validation()
try:
    ferrotel.Counter("my.requests", "R", registry=None)
except ValueError as e:
    print("refused:", e)
"""
    env = {**os.environ, "PROMETHEUS_LEGACY_NAME_VALIDATION": "true"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60)
    assert out.stdout.startswith("refused: invalid metric name my.requests"), out.stderr
