"""Real pre-fork servers from PyPI on loopback, in the multiprocess mode (PROMETHEUS_MULTIPROC_DIR):
a scrape through any worker's ``/metrics`` counts every request of every worker, through a
SIGKILL, through ``max_requests`` recycling (the directory's file count stays bounded), with a
corrupt file in the directory; gunicorn (sync workers, WSGI middleware) and ``uvicorn --workers``
(ASGI middleware)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import pytest
from conftest import find_free_port
from helpers import wait_until
from prometheus_client.parser import text_string_to_metric_families

APPS = Path(__file__).parent / "apps"
WORKERS = 4
DROPS = 'ferrotel_dropped_total{reason="multiprocess_read",signal="metrics"}'


@contextmanager
def server(args: list[str], directory: Path, port: int, hold_file: Path | None = None) -> Iterator[None]:
    """Runs ``python -m <args>`` with the multiprocess directory set, until it answers on ``port``."""
    env = {
        **os.environ,
        "PROMETHEUS_MULTIPROC_DIR": str(directory),
        "HOLD_FILE": str(hold_file or directory.parent / "hold"),
        "PYTHONPATH": str(APPS) + os.pathsep + os.environ.get("PYTHONPATH", ""),
    }
    process = subprocess.Popen(
        [sys.executable, "-m", *args], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    try:

        def up() -> bool:
            if process.poll() is not None:
                pytest.fail(f"{args[0]} did not start: {process.stderr.read() if process.stderr else ''}")
            get(port, "/ready")  # left out of the metrics, as health checks are
            return True

        wait_until(up, timeout=60, interval=0.2, what=f"{args[0]} to answer", ignore=(OSError,))
        yield
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.communicate()


def gunicorn(directory: Path, port: int, *extra: str) -> list[str]:
    return [
        "gunicorn",
        "-c",
        str(APPS / "gunicorn_multiprocess.conf.py"),
        "-w",
        str(WORKERS),
        "-b",
        f"127.0.0.1:{port}",
        *extra,
        "multiprocess_app:wsgi",
    ]


def get(port: int, path: str) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=30) as response:
        return str(response.read().decode())


def scrape(port: int) -> dict[str, float]:
    """Every sample of one scrape, keyed as the text format writes it (labels sorted)."""
    out = {}
    for family in text_string_to_metric_families(get(port, "/metrics")):
        for s in family.samples:
            labels = ",".join(f'{k}="{v}"' for k, v in sorted(s.labels.items()))
            out[f"{s.name}{{{labels}}}" if labels else s.name] = s.value
    return out


def total(samples: dict[str, float], name: str, path: str | None = None) -> float:
    """The sum of the samples called ``name`` (of one ``path`` label, when given)."""
    return sum(
        v for k, v in samples.items() if k.split("{")[0] == name and (path is None or f'path="{path}"' in k)
    )


def load(port: int, requests: int, threads: int = 8) -> Counter[str]:
    """Sends ``requests`` GET /work; how many got an answer, by the pid that answered, and
    how many failed (under "failed")."""

    def one(_: int) -> str:
        try:
            return get(port, "/work")
        except OSError:
            return "failed"

    with ThreadPoolExecutor(max_workers=threads) as pool:
        return Counter(pool.map(one, range(requests)))


def answered(served: Counter[str]) -> int:
    return sum(n for pid, n in served.items() if pid != "failed")


def counted(port: int, expected: int, path: str | None = "/work") -> dict[str, float]:
    """A scrape that shows ``expected`` requests in ``http_requests_total``. The middleware counts
    a request when the server closes its response (gunicorn's sync worker does that just after
    the last byte is sent), so the client may have its answer a moment before the count lands:
    the scrape is retried for a few seconds. A lost or doubled count never settles, and fails."""
    return wait_until(
        lambda: s if total(s := scrape(port), "http_requests_total", path) == expected else None,
        what=f"{expected} requests in the scrape",
    )


@pytest.mark.parametrize("preload", [False, True], ids=["", "preload"])
def test_gunicorn_workers_share_one_metrics(tmp_path: Path, preload: bool) -> None:
    # --preload: the middleware's metrics are made in the master, before the workers fork.
    directory = tmp_path / "metrics"
    directory.mkdir()
    port = find_free_port()
    with server(gunicorn(directory, port, *["--preload"] * preload), directory, port):
        served = load(port, 2_000)
        assert answered(served) == 2_000, served
        assert len(served) >= 2, f"the requests all went to one worker: {served}"
        counted(port, 2_000)
        for _ in range(WORKERS):  # whichever worker answers the scrape
            samples = scrape(port)
            assert total(samples, "http_requests_total", "/work") == 2_000
            assert total(samples, "http_request_duration_seconds_count") == 2_000
            assert samples.get('http_request_duration_seconds_bucket{le="+Inf"}') == 2_000
        # A corrupt file: the scrape still answers, with every process's numbers, and counts it.
        (directory / "ferrotel_4000000.mmap").write_bytes(b"not ours" * 64)
        samples = scrape(port)
        assert total(samples, "http_requests_total", "/work") == 2_000
        assert samples.get(DROPS, 0) >= 1
        pids = {k.split('pid="')[1].split('"')[0] for k in samples if k.startswith("process_open_fds{")}
        assert len(pids) == WORKERS + preload, samples  # the master has a file too, with --preload


def test_a_killed_workers_answered_requests_still_count(tmp_path: Path) -> None:
    directory = tmp_path / "metrics"
    directory.mkdir()
    hold_file = tmp_path / "hold"
    port = find_free_port()
    with server(gunicorn(directory, port), directory, port, hold_file):
        before = load(port, 200)
        held_answer: list[str] = []

        def hold() -> None:
            try:
                held_answer.append(get(port, "/hold"))
            except OSError:
                held_answer.append("failed")

        held = threading.Thread(target=hold)
        held.start()
        victim = int(
            wait_until(lambda: hold_file.exists() and hold_file.read_text(), what="a worker to hold")
        )
        during = Counter[str]()
        loader = threading.Thread(target=lambda: during.update(load(port, 400)))
        loader.start()
        time.sleep(0.2)
        os.kill(victim, signal.SIGKILL)
        loader.join()
        held.join()
        after = load(port, 200)
        assert str(victim) in before + during, "the killed worker had answered nothing"
        assert str(victim) not in after, "the killed worker still answers"
        originals = set(before) | {str(victim), "failed"}

        def replaced() -> bool:
            """gunicorn has replaced the killed worker: a new pid answers (every answer counted)."""
            if set(during + after) - originals:
                return True
            after.update(load(port, 50))
            return False

        wait_until(replaced, timeout=30, what="a new worker to answer")
        assert held_answer == ["failed"]
        counted(port, answered(before + during + after))


def test_recycled_workers_keep_the_directory_and_the_scrape_bounded(tmp_path: Path) -> None:
    directory = tmp_path / "metrics"
    directory.mkdir()
    port = find_free_port()
    recycling = ("--max-requests", "30", "--max-requests-jitter", "10")
    with server(gunicorn(directory, port, *recycling), directory, port):
        scrape_times, file_counts, served = [], [], Counter[str]()
        for _ in range(6):
            served += load(port, 150)
            file_counts.append(len(list(directory.iterdir())))
            started = time.perf_counter()
            scrape(port)
            scrape_times.append(time.perf_counter() - started)
            counted(port, answered(served))
        workers = len(served) - int("failed" in served)
        milliseconds = [round(t * 1e3, 1) for t in scrape_times]
        print(f"\n{workers} workers served; files after each round {file_counts}; scrape ms {milliseconds}")
        assert workers > 2 * WORKERS, "the workers were not recycled"
        assert max(file_counts) <= WORKERS + 2, file_counts


def test_uvicorn_workers_share_one_metrics(tmp_path: Path) -> None:
    directory = tmp_path / "metrics"
    directory.mkdir()
    port = find_free_port()
    args = ["uvicorn", "--workers", "3", "--port", str(port), "--no-access-log", "multiprocess_app:asgi"]
    with server(args, directory, port):
        served = load(port, 600)
        assert answered(served) == 600, served
        assert len(served) >= 2, f"the requests all went to one worker: {served}"
        samples = counted(port, 600, None)
        assert total(samples, "http_request_duration_seconds_count") == 600
