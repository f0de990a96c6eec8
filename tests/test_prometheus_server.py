"""A real Prometheus scrapes ferrotel, and the values recorded come back from its query API.

Two scrape jobs point at the same ferrotel registry:

* ``ferrotel_openmetrics``: ferrotel's own ``start_http_server`` endpoint. Prometheus asks for
  OpenMetrics and gzip, so this is the OpenMetrics path (with exemplars, kept by Prometheus's
  exemplar storage).
* ``ferrotel_text``: ``make_wsgi_app`` behind a wsgiref server, with the ``Accept`` header
  dropped, so Prometheus gets (gzipped) text 0.0.4.

Everything listens on 127.0.0.1 only. Prometheus is always terminated (then killed if need be).
"""

from __future__ import annotations

import json
import math
import subprocess
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import ferrotel
import pytest
from helpers import wait_until

JOBS = ("ferrotel_openmetrics", "ferrotel_text")
STARTUP_TIMEOUT = 60.0
POLL_TIMEOUT = 60.0  # shared by all the tests of the module, counted from Prometheus being ready
MIN_POLL = 5.0  # but every test polls for at least this long (a few scrapes)
POLL_INTERVAL = 0.5
HTTP_TIMEOUT = 5.0

ODD_PATH = 'odd "path" \\ with\nnewline ü'
# A Prometheus 3 (UTF-8) metric and label name: quoted for a scraper that asks for
# escaping=allow-utf-8, escaped to underscores for one that does not.
UTF8_NAME, UTF8_LABEL, UTF8_COUNT = "app.utf8.requests", "user.tier", 2.0

# What is recorded, and so what Prometheus must report.
REQUESTS = {("GET", "/"): 3.0, ("POST", "/upload"): 1.5, ("GET", ODD_PATH): 2.0}
IN_FLIGHT = 7.25
LATENCY_BUCKETS = (0.1, 1.0, 10.0)
LATENCIES = (0.05, 0.5, 0.5, 5.0, 50.0)
PAYLOAD = (100.0, 28.0)


class QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base signature
        pass


@dataclass
class Scraped:
    base_url: str
    log_path: Path
    process: subprocess.Popen[bytes]
    deadline: float = 0.0  # time.monotonic() after which polling gives up
    recorded: tuple[float, float] = (0.0, 0.0)  # time.time() before and after recording

    def poll_timeout(self) -> float:
        """Seconds left to poll: until the module's deadline, but never less than MIN_POLL."""
        return max(self.deadline - time.monotonic(), MIN_POLL)

    def api(self, path: str, **params: str) -> Any:
        url = f"{self.base_url}{path}?{urllib.parse.urlencode(params)}"
        with urllib.request.urlopen(url, timeout=HTTP_TIMEOUT) as response:
            payload = json.loads(response.read())
        assert payload["status"] == "success", payload
        return payload["data"]

    def query(self, promql: str) -> dict[frozenset[tuple[str, str]], float]:
        """An instant vector as ``{labels without __name__/job/instance: value}``."""
        data = self.api("/api/v1/query", query=promql)
        assert data["resultType"] == "vector", data
        out: dict[frozenset[tuple[str, str]], float] = {}
        for series in data["result"]:
            labels = {k: v for k, v in series["metric"].items() if k not in ("__name__", "job", "instance")}
            out[frozenset(labels.items())] = float(series["value"][1])
        return out

    def targets(self) -> Any:
        return self.api("/api/v1/targets")

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-4000:]
        except OSError:
            return ""


def record(registry: ferrotel.Registry) -> None:
    requests = ferrotel.Counter("app_requests_total", "Requests.", ["method", "path"], registry=registry)
    for (method, path), amount in REQUESTS.items():
        exemplar = {"trace_id": f"trace-{method}"} if path == "/" else None
        requests.labels(method, path).inc(amount, exemplar=exemplar)
    ferrotel.Gauge("app_in_flight", "In flight.", registry=registry).set(IN_FLIGHT)
    latency = ferrotel.Histogram(
        "app_latency_seconds", "Latency.", ["route"], buckets=LATENCY_BUCKETS, registry=registry
    )
    for v in LATENCIES:
        latency.labels("/api").observe(v)
    payload = ferrotel.Summary("app_payload_bytes", "Payload.", registry=registry)
    for v in PAYLOAD:
        payload.observe(v)
    ferrotel.Info("app_build", "Build.", registry=registry).info({"version": "1.2.3"})
    ferrotel.Enum("app_state", "State.", states=["starting", "running"], registry=registry).state("running")
    ferrotel.Counter(UTF8_NAME, "UTF-8 name.", [UTF8_LABEL], registry=registry).labels("gold").inc(UTF8_COUNT)


def prometheus_version(binary: str) -> tuple[int, ...]:
    """``prometheus --version``: "prometheus, version 2.42.0+ds (...)" -> (2, 42, 0)."""
    out = subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=30)
    text = (out.stdout + out.stderr).split("version", 1)[1].split()[0]
    return tuple(int(part) for part in text.split("+")[0].split("-")[0].split("."))


def stores_utf8_names(version: tuple[int, ...]) -> bool:
    return version >= (3, 0, 0)


def text_only_app(registry: ferrotel.Registry) -> Callable[..., Any]:
    inner = ferrotel.make_wsgi_app(registry)

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        environ.pop("HTTP_ACCEPT", None)  # force the 0.0.4 text format
        return inner(environ, start_response)

    return app


def poll(check: Callable[[], Any], timeout: float, what: str) -> Any:
    """``wait_until`` at POLL_INTERVAL, an unreachable Prometheus API meaning "not yet"."""
    return wait_until(check, timeout=timeout, interval=POLL_INTERVAL, what=what, ignore=(OSError,))


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=15)


@pytest.fixture(scope="module")
def scraped(
    server_binary: Callable[[str], str],
    free_port_factory: Callable[[], int],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Scraped]:
    prometheus = server_binary("prometheus")
    workdir = tmp_path_factory.mktemp("prometheus")

    registry = ferrotel.Registry()
    before = time.time()
    record(registry)
    recorded = (before, time.time())
    metrics_server = ferrotel.start_http_server(0, addr="127.0.0.1", registry=registry)
    wsgi: WSGIServer | None = None
    wsgi_thread: threading.Thread | None = None
    process: subprocess.Popen[bytes] | None = None
    log_file = None
    try:
        wsgi = make_server("127.0.0.1", 0, text_only_app(registry), handler_class=QuietHandler)
        wsgi_thread = threading.Thread(target=wsgi.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
        wsgi_thread.start()

        targets = {
            "ferrotel_openmetrics": f"127.0.0.1:{metrics_server.port}",
            "ferrotel_text": f"127.0.0.1:{wsgi.server_address[1]}",
        }
        config = {
            "global": {"scrape_interval": "1s", "scrape_timeout": "1s", "evaluation_interval": "1s"},
            "scrape_configs": [
                {"job_name": job, "metrics_path": "/metrics", "static_configs": [{"targets": [target]}]}
                for job, target in targets.items()
            ],
        }
        config_path = workdir / "prometheus.yml"
        config_path.write_text(json.dumps(config, indent=2))  # JSON is YAML
        port = free_port_factory()
        log_path = workdir / "prometheus.log"
        log_file = log_path.open("wb")
        process = subprocess.Popen(
            [
                prometheus,
                f"--config.file={config_path}",
                f"--storage.tsdb.path={workdir / 'data'}",
                f"--web.listen-address=127.0.0.1:{port}",
                "--enable-feature=exemplar-storage",
                "--log.level=info",
            ],
            cwd=workdir,
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
        result = Scraped(
            base_url=f"http://127.0.0.1:{port}", log_path=log_path, process=process, recorded=recorded
        )

        def ready() -> int:
            if process is not None and process.poll() is not None:
                pytest.fail(f"prometheus exited with {process.returncode}:\n{result.log()}")
            with urllib.request.urlopen(f"{result.base_url}/-/ready", timeout=HTTP_TIMEOUT) as response:
                assert response.status == 200, response.status
                return response.status

        poll(ready, STARTUP_TIMEOUT, "prometheus to be ready")
        result.deadline = time.monotonic() + POLL_TIMEOUT

        def scraped_once() -> Any:
            up = result.api("/api/v1/query", query="up")["result"]
            assert {series["metric"]["job"] for series in up} == set(JOBS), up
            return up

        # Both targets scraped at least once (whether successfully is for the tests to say).
        poll(scraped_once, result.poll_timeout(), "both targets to be scraped")
        yield result
    finally:
        if process is not None:
            stop(process)
        if log_file is not None:
            log_file.close()
        try:
            if wsgi is not None:
                if wsgi_thread is not None and wsgi_thread.is_alive():
                    wsgi.shutdown()  # blocks until serve_forever returns, so only when it runs
                    wsgi_thread.join(timeout=10)
                wsgi.server_close()
        finally:
            metrics_server.shutdown()


def wait_for_query(
    scraped: Scraped, promql: str, expected: dict[frozenset[tuple[str, str]], float]
) -> dict[frozenset[tuple[str, str]], float]:
    """Polls until the query answers exactly ``expected`` (values compared with a tolerance)."""

    def check() -> dict[frozenset[tuple[str, str]], float]:
        got = scraped.query(promql)
        same = set(got) == set(expected) and all(
            math.isclose(got[k], v, rel_tol=1e-9, abs_tol=1e-12) for k, v in expected.items()
        )
        assert same, got
        return got

    try:
        return poll(check, scraped.poll_timeout(), f"{promql} == {expected}")  # type: ignore[no-any-return]
    except AssertionError:
        # Say why, if the scrape itself is failing.
        health = [
            (t["labels"].get("job"), t["health"], t["lastError"])
            for t in scraped.targets().get("activeTargets", [])
        ]
        pytest.fail(
            f"{promql}: expected {expected}, last answer {scraped.query(promql)}; targets: {health}",
            pytrace=False,
        )


def labels(**kw: str) -> frozenset[tuple[str, str]]:
    return frozenset(kw.items())


@pytest.mark.parametrize("job", JOBS)
def test_targets_are_up(scraped: Scraped, job: str) -> None:
    wait_for_query(scraped, f'up{{job="{job}"}}', {labels(): 1.0})
    targets = [t for t in scraped.targets()["activeTargets"] if t["labels"]["job"] == job]
    assert len(targets) == 1
    assert targets[0]["health"] == "up", targets[0]
    assert targets[0]["lastError"] == ""
    assert targets[0]["scrapeUrl"].startswith("http://127.0.0.1:")


@pytest.mark.parametrize("job", JOBS)
def test_counter_with_labels(scraped: Scraped, job: str) -> None:
    expected = {labels(method=m, path=p): v for (m, p), v in REQUESTS.items()}
    wait_for_query(scraped, f'app_requests_total{{job="{job}"}}', expected)


@pytest.mark.parametrize("job", JOBS)
def test_gauge(scraped: Scraped, job: str) -> None:
    wait_for_query(scraped, f'app_in_flight{{job="{job}"}}', {labels(): IN_FLIGHT})


@pytest.mark.parametrize("job", JOBS)
def test_histogram(scraped: Scraped, job: str) -> None:
    route = labels(route="/api")
    wait_for_query(scraped, f'app_latency_seconds_count{{job="{job}"}}', {route: float(len(LATENCIES))})
    wait_for_query(scraped, f'app_latency_seconds_sum{{job="{job}"}}', {route: sum(LATENCIES)})

    def buckets() -> dict[frozenset[tuple[str, str]], float]:
        found = scraped.query(f'app_latency_seconds_bucket{{job="{job}"}}')
        assert len(found) == 4, found
        return found

    got = poll(buckets, scraped.poll_timeout(), "four latency buckets")
    by_bound = {float(dict(k)["le"]): v for k, v in got.items()}
    assert {k - {("le", dict(k)["le"])} for k in got} == {route}
    expected = {b: float(sum(1 for v in LATENCIES if v <= b)) for b in (*LATENCY_BUCKETS, math.inf)}
    assert by_bound == expected
    # A PromQL computation over the buckets works: the median falls in the (0.1, 1] bucket.

    def median_of_buckets() -> dict[frozenset[tuple[str, str]], float]:
        found = scraped.query(f'histogram_quantile(0.5, app_latency_seconds_bucket{{job="{job}"}})')
        assert len(found) == 1, found
        return found

    median = poll(median_of_buckets, scraped.poll_timeout(), "the median")
    (value,) = median.values()
    assert 0.1 < value <= 1.0


@pytest.mark.parametrize("job", JOBS)
def test_summary_info_enum(scraped: Scraped, job: str) -> None:
    wait_for_query(scraped, f'app_payload_bytes_count{{job="{job}"}}', {labels(): float(len(PAYLOAD))})
    wait_for_query(scraped, f'app_payload_bytes_sum{{job="{job}"}}', {labels(): sum(PAYLOAD)})
    wait_for_query(scraped, f'app_build_info{{job="{job}"}}', {labels(version="1.2.3"): 1.0})
    wait_for_query(
        scraped,
        f'app_state{{job="{job}"}}',
        {labels(app_state="starting"): 0.0, labels(app_state="running"): 1.0},
    )


@pytest.mark.parametrize("job", JOBS)
def test_utf8_metric_name_is_scraped(scraped: Scraped, job: str, server_binary: Callable[[str], str]) -> None:
    """Every Prometheus scrapes a target with a UTF-8 name: one that asks for
    escaping=allow-utf-8 (Prometheus 3, through OpenMetrics) gets the name quoted and stores it
    as it is; any other (Prometheus 2, or the job that drops Accept) gets it escaped to
    underscores, as prometheus_client writes it."""
    quoted = job == "ferrotel_openmetrics" and stores_utf8_names(
        prometheus_version(server_binary("prometheus"))
    )
    if quoted:
        promql = f'{{"{UTF8_NAME}_total",job="{job}"}}'
        expected = {frozenset({(UTF8_LABEL, "gold")}): UTF8_COUNT}
    else:
        promql = f'{UTF8_NAME.replace(".", "_")}_total{{job="{job}"}}'
        expected = {labels(**{UTF8_LABEL.replace(".", "_"): "gold"}): UTF8_COUNT}
    wait_for_query(scraped, promql, expected)


def test_utf8_metric_name_reaches_prometheus_3_quoted(
    scraped: Scraped, server_binary: Callable[[str], str]
) -> None:
    version = prometheus_version(server_binary("prometheus"))
    if not stores_utf8_names(version):
        pytest.skip(
            f"Prometheus {'.'.join(map(str, version))} keeps only legacy metric names (UTF-8 names came "
            f"in Prometheus 3.0): it asks for no escaping, so {UTF8_NAME!r} reaches it escaped to "
            "underscores, which test_utf8_metric_name_is_scraped checks"
        )
    job = "ferrotel_openmetrics"
    wait_for_query(
        scraped, f'{{"{UTF8_NAME}_total",job="{job}"}}', {frozenset({(UTF8_LABEL, "gold")}): UTF8_COUNT}
    )


def test_exemplars_reach_prometheus(scraped: Scraped) -> None:
    """Exemplars travel in OpenMetrics only; Prometheus's exemplar storage keeps them."""
    job = "ferrotel_openmetrics"
    wait_for_query(
        scraped,
        f'app_requests_total{{job="{job}",path="/"}}',
        {
            labels(method="GET", path="/"): 3.0,
        },
    )

    def check() -> dict[tuple[str | None, str | None], list[tuple[Any, float, float]]]:
        now = time.time()
        data = scraped.api(
            "/api/v1/query_exemplars",
            query=f'app_requests_total{{job="{job}"}}',
            start=str(now - 3600),
            end=str(now + 60),
        )
        found = {
            (series["seriesLabels"].get("method"), series["seriesLabels"].get("path")): [
                (e["labels"], float(e["value"]), float(e["timestamp"])) for e in series["exemplars"]
            ]
            for series in data
        }
        assert found.get(("GET", "/")), found
        return found

    found = poll(check, scraped.poll_timeout(), "the counter's exemplar")
    assert set(found) == {("GET", "/")}, found
    assert {(json.dumps(lbls, sort_keys=True), v) for lbls, v, _ in found[("GET", "/")]} == {
        (json.dumps({"trace_id": "trace-GET"}), 3.0)
    }
    # The exemplar keeps the time it was recorded at (not the scrape's), as Prometheus read it.
    before, after = scraped.recorded
    for _, _, timestamp in found[("GET", "/")]:
        assert before - 1 <= timestamp <= after + 1
