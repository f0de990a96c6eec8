"""The real Prometheus scrapes gunicorn's workers in the multiprocess mode: whichever worker
answers, ``sum(http_requests_total)`` is every request the workers served."""

from __future__ import annotations

import json
import subprocess
import urllib.parse
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from conftest import find_free_port
from helpers import stop, wait_until
from test_multiprocess_servers import answered, counted, gunicorn, load, server


def query(base_url: str, promql: str) -> Any:
    url = f"{base_url}/api/v1/query?{urllib.parse.urlencode({'query': promql})}"
    with urllib.request.urlopen(url, timeout=5) as response:
        payload = json.loads(response.read())
    assert payload["status"] == "success", payload
    return payload["data"]["result"]


def test_prometheus_sums_every_workers_requests(server_binary: Callable[[str], str], tmp_path: Path) -> None:
    prometheus = server_binary("prometheus")
    directory = tmp_path / "metrics"
    directory.mkdir()
    port, prometheus_port = find_free_port(), find_free_port()
    config = {
        "global": {"scrape_interval": "1s", "scrape_timeout": "1s"},
        "scrape_configs": [{"job_name": "gunicorn", "static_configs": [{"targets": [f"127.0.0.1:{port}"]}]}],
    }
    (tmp_path / "prometheus.yml").write_text(json.dumps(config))  # JSON is YAML
    with server(gunicorn(directory, port), directory, port):
        served = load(port, 300)
        assert answered(served) == 300, served
        counted(port, 300)  # every count has landed before Prometheus's first scrape
        with (tmp_path / "prometheus.log").open("wb") as log:
            process = subprocess.Popen(
                [
                    prometheus,
                    f"--config.file={tmp_path / 'prometheus.yml'}",
                    f"--storage.tsdb.path={tmp_path / 'data'}",
                    f"--web.listen-address=127.0.0.1:{prometheus_port}",
                ],
                cwd=tmp_path,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
            try:
                base_url = f"http://127.0.0.1:{prometheus_port}"

                def value(promql: str) -> float:
                    result = query(base_url, promql)
                    return float(result[0]["value"][1]) if result else 0.0

                # Five scrapes, each answered by whichever worker gunicorn gave the connection.
                wait_until(
                    lambda: value('count_over_time(up{job="gunicorn"}[1m])') >= 5,
                    timeout=90,
                    interval=0.5,
                    what="five scrapes",
                    ignore=(OSError,),
                )
                assert value('sum(http_requests_total{path="/work"})') == 300
                every_scrape = 'sum(http_requests_total{path="/work"})[1m:1s]'
                assert (
                    value(f"min_over_time({every_scrape})") == value(f"max_over_time({every_scrape})") == 300
                )
            finally:
                stop(process)
