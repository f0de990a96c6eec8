"""Pushing to a real Prometheus Pushgateway (Debian's prometheus-pushgateway) on loopback."""

from __future__ import annotations

import subprocess
import urllib.request
from collections.abc import Iterator

import ferrotel
import pytest
from conftest import find_free_port, server_binary
from helpers import wait_until
from prometheus_client.parser import text_string_to_metric_families


@pytest.fixture(scope="module")
def gateway() -> Iterator[str]:
    binary = server_binary("prometheus-pushgateway")
    port = find_free_port()
    url = f"http://127.0.0.1:{port}"
    process = subprocess.Popen(
        [binary, f"--web.listen-address=127.0.0.1:{port}"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:

        def ready() -> bool:
            if process.poll() is not None:
                pytest.fail(f"the Pushgateway exited with {process.returncode}")
            with urllib.request.urlopen(f"{url}/-/ready", timeout=2) as response:
                return response.status == 200

        wait_until(ready, timeout=30, interval=0.1, what="the Pushgateway to be ready", ignore=(OSError,))
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()


def gateway_samples(url: str, job: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    with urllib.request.urlopen(f"{url}/metrics", timeout=5) as response:
        text = response.read().decode()
    found = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.labels.get("job") == job:
                found[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return found


def pushed_plays(url: str, labels: tuple[tuple[str, str], ...]) -> float | None:
    return gateway_samples(url, "audotics").get(("song_plays_total", labels))


def test_push_pushadd_and_delete(gateway: str) -> None:
    registry = ferrotel.Registry()
    jobs = ferrotel.Counter("jobs_processed_total", "Jobs", ["queue"], registry=registry)
    jobs.labels("imports").inc(7)
    key = {"instance": "host/1"}  # a '/' is sent base64-encoded, as prometheus_client does
    ferrotel.push_to_gateway(gateway, job="batch", registry=registry, grouping_key=key)
    labels = (("instance", "host/1"), ("job", "batch"), ("queue", "imports"))
    assert gateway_samples(gateway, "batch")[("jobs_processed_total", labels)] == 7.0

    other = ferrotel.Registry()
    ferrotel.Gauge("last_success_unixtime", "Last success", registry=other).set(1234)
    ferrotel.pushadd_to_gateway(gateway, job="batch", registry=other, grouping_key=key)
    pushed = gateway_samples(gateway, "batch")
    assert pushed[("jobs_processed_total", labels)] == 7.0  # POST kept the other metrics
    assert pushed[("last_success_unixtime", (("instance", "host/1"), ("job", "batch")))] == 1234.0

    ferrotel.delete_from_gateway(gateway, job="batch", grouping_key=key)
    assert not any(name == "jobs_processed_total" for name, _ in gateway_samples(gateway, "batch"))


def test_gzip_no_timeout_and_a_custom_handler_reach_the_gateway(gateway: str) -> None:
    """prometheus_client's push arguments: compression="gzip" and timeout=None on ferrotel's own
    push; a grouping-key value with a space (sent base64, as 0.26 does); handler= called with
    the request ferrotel made."""
    from prometheus_client.exposition import default_handler

    registry = ferrotel.Registry()
    ferrotel.Gauge("batch_rows", "Rows", registry=registry).set(42)
    key = {"zone": "eu 1"}
    ferrotel.push_to_gateway(
        gateway, job="gz", registry=registry, grouping_key=key, timeout=None, compression="gzip"
    )
    pushed = gateway_samples(gateway, "gz")
    assert pushed[("batch_rows", (("instance", ""), ("job", "gz"), ("zone", "eu 1")))] == 42.0, pushed
    calls = []

    def handler(**request: object) -> object:
        calls.append(request["method"])
        return default_handler(**request)  # type: ignore[arg-type]

    ferrotel.delete_from_gateway(gateway, job="gz", grouping_key=key, handler=handler)
    assert calls == ["DELETE"]
    assert gateway_samples(gateway, "gz") == {}


def test_periodic_push_and_last_push_at_stop(gateway: str) -> None:
    registry = ferrotel.Registry()
    plays = ferrotel.Counter("song_plays_total", "Plays", registry=registry)
    plays.inc(3)
    pusher = ferrotel.PushGateway(gateway, "audotics", interval=0.2, registry=registry).start()
    labels = (("instance", ""), ("job", "audotics"))
    try:
        assert wait_until(lambda: pushed_plays(gateway, labels) == 3.0, interval=0.05, what="3 plays pushed")
        plays.inc(2)
        assert wait_until(lambda: pushed_plays(gateway, labels) == 5.0, interval=0.05, what="5 plays pushed")
    finally:
        plays.inc(10)
        assert pusher.stop() is True
    # The last push happened at stop(), with the value at that moment.
    assert gateway_samples(gateway, "audotics")[("song_plays_total", labels)] == 15.0
    ferrotel.delete_from_gateway(gateway, job="audotics")


def test_unreachable_gateway_is_counted_not_raised_by_the_periodic_pusher() -> None:
    failures = {"exporter": "pushgateway"}
    before = ferrotel.REGISTRY.get_sample_value("ferrotel_export_failures_total", failures) or 0.0
    dead = f"http://127.0.0.1:{find_free_port()}"
    pusher = ferrotel.PushGateway(dead, "job", interval=60, registry=ferrotel.Registry(), timeout=1.0).start()
    try:
        assert pusher.push(timeout=10) is False
    finally:
        pusher.stop(timeout=10)
    after = ferrotel.REGISTRY.get_sample_value("ferrotel_export_failures_total", failures)
    assert after is not None and after >= before + 1
    with pytest.raises(OSError, match="127.0.0.1"):
        ferrotel.push_to_gateway(dead, job="job", registry=ferrotel.Registry(), timeout=1.0)


def test_bad_arguments_fail_at_definition() -> None:
    with pytest.raises(ValueError, match="ftp://x"):
        ferrotel.PushGateway("ftp://x", "job")
    with pytest.raises(ValueError, match="job_name"):
        ferrotel.PushGateway("http://127.0.0.1:9091", "")
    with pytest.raises(ValueError, match="PATCH"):
        ferrotel.PushGateway("http://127.0.0.1:9091", "job", method="PATCH")
    with pytest.raises(ValueError, match="interval"):
        ferrotel.PushGateway("http://127.0.0.1:9091", "job", interval=0)
