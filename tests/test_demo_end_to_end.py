"""The README's first command end to end: the demo, scraped by a real Prometheus and pushing to
a real Pushgateway (Debian packages), read back through their HTTP APIs."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from conftest import find_free_port, server_binary
from helpers import wait_until
from prometheus_client.parser import text_string_to_metric_families

DEMO_SECONDS = 12


def http_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=5) as response:
        return json.loads(response.read())


def wait_ready(url: str, process: subprocess.Popen[bytes], what: str, timeout: float = 60) -> None:
    def ready() -> bool:
        if process.poll() is not None:
            pytest.fail(f"{what} exited with {process.returncode}")
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status == 200

    wait_until(ready, timeout=timeout, interval=0.2, what=f"{what} to be ready", ignore=(OSError,))


def stop(process: subprocess.Popen[Any]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=15)


def test_demo_scraped_by_prometheus_and_pushed_to_the_pushgateway(tmp_path: Path) -> None:
    prometheus = server_binary("prometheus")
    pushgateway = server_binary("prometheus-pushgateway")
    metrics_port, prometheus_port, gateway_port = find_free_port(), find_free_port(), find_free_port()
    config = {
        "global": {"scrape_interval": "1s", "scrape_timeout": "1s"},
        "scrape_configs": [
            {"job_name": "demo", "static_configs": [{"targets": [f"127.0.0.1:{metrics_port}"]}]}
        ],
    }
    (tmp_path / "prometheus.yml").write_text(json.dumps(config))
    processes: list[subprocess.Popen[Any]] = []
    try:
        gateway = subprocess.Popen(
            [pushgateway, f"--web.listen-address=127.0.0.1:{gateway_port}"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        processes.append(gateway)
        prom = subprocess.Popen(
            [
                prometheus,
                f"--config.file={tmp_path / 'prometheus.yml'}",
                f"--storage.tsdb.path={tmp_path / 'data'}",
                f"--web.listen-address=127.0.0.1:{prometheus_port}",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        processes.append(prom)
        gateway_url, prometheus_url = (
            f"http://127.0.0.1:{gateway_port}",
            f"http://127.0.0.1:{prometheus_port}",
        )
        wait_ready(f"{gateway_url}/-/ready", gateway, "the Pushgateway")
        wait_ready(f"{prometheus_url}/-/ready", prom, "Prometheus")

        demo = subprocess.Popen(
            [
                sys.executable, "-m", "ferrotel", "demo",
                "--port", str(metrics_port),
                "--duration", str(DEMO_SECONDS),
                "--out", str(tmp_path / "out"),
                "--pushgateway", gateway_url,
                "--push-interval", "1",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )  # fmt: skip
        processes.append(demo)

        # While the demo runs, Prometheus scrapes it: read the values back through its API.
        query = 'sum(http_requests_total{path="/songs/{song_id}/play",status="200"})'

        def scraped_requests() -> float:  # 0.0 (not yet) until the demo is scraped
            result = http_json(f"{prometheus_url}/api/v1/query?" + urllib.parse.urlencode({"query": query}))
            values = result["data"]["result"]
            return float(values[0]["value"][1]) if values else 0.0

        scraped = wait_until(
            scraped_requests,
            timeout=DEMO_SECONDS + 30,
            interval=0.5,
            what="Prometheus to read http_requests_total from the demo",
        )
        assert scraped > 0, "Prometheus never read http_requests_total from the demo"
        plays = http_json(f"{prometheus_url}/api/v1/query?query=song_plays_total")["data"]["result"]
        assert {s["metric"]["genre"] for s in plays} <= {"rock", "jazz", "ambient"} and plays
        assert all(s["metric"]["service"] == "audotics-demo" for s in plays)

        out, err = demo.communicate(timeout=DEMO_SECONDS + 60)
        assert demo.returncode == 0, err
        # The demo printed its final scrape; its last push, at shutdown, carried the same values.
        printed = {
            m["genre"]: float(m["value"])
            for m in re.finditer(
                r'^song_plays_total\{[^}]*genre="(?P<genre>\w+)"[^}]*\} (?P<value>\S+)$', out, re.M
            )
        }
        assert printed
        with urllib.request.urlopen(f"{gateway_url}/metrics", timeout=5) as response:
            pushed_text = response.read().decode()
        pushed = {
            s.labels["genre"]: s.value
            for f in text_string_to_metric_families(pushed_text)
            for s in f.samples
            if s.name == "song_plays_total" and s.labels.get("job") == "audotics-demo"
        }
        assert pushed == printed
        # And it wrote its logs and spans where it said.
        logs = (tmp_path / "out" / "audotics.log").read_text().splitlines()
        spans = (tmp_path / "out" / "spans.jsonl").read_text().splitlines()
        assert any(json.loads(line)["message"] == "Song played" for line in logs)
        assert any(json.loads(line)["name"] == "GET /songs/{song_id}/play" for line in spans)
    finally:
        for process in reversed(processes):
            stop(process)
