"""The multiprocess mode's semantics, against prometheus_client's own multiprocess mode: the same
workers (two ended, one alive) give the same merged samples; files of ended processes fold into
one archive; a fork after declaring metrics counts nothing twice; a corrupt file is left out and
counted. Each worker is a real process: the mode is chosen per process."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import ferrotel
import prometheus_client.multiprocess
import pytest
from ferrotel._env import ConfigurationWarning
from ferrotel.multiprocess import MultiProcessCollector, mark_process_dead

WORKER = Path(__file__).parent / "apps" / "multiprocess_worker.py"
READ_DROPS = {"signal": "metrics", "reason": "multiprocess_read"}


def run_workers(library: str, directory: Path) -> tuple[list[int], subprocess.Popen[str]]:
    """Two workers that have ended (and are marked dead, as gunicorn's child_exit does) and a
    third still running: their pids, and the running one."""
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(directory)}
    env.pop("FERROTEL_MULTIPROC_DIR", None)
    pids = []
    for index in range(2):
        done = subprocess.run(
            [sys.executable, str(WORKER), library, str(index), "exit"],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        pids.append(int(done.stdout))
    live = subprocess.Popen(
        [sys.executable, str(WORKER), library, "2", "stay"],
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert live.stdout is not None
    pids.append(int(live.stdout.readline()))
    mark = (
        prometheus_client.multiprocess.mark_process_dead
        if library == "prometheus_client"
        else mark_process_dead
    )
    for pid in pids[:2]:
        mark(pid, str(directory))
    return pids, live


def samples(metrics: Any, pids: list[int]) -> set[tuple[str, tuple[tuple[str, str], ...], float]]:
    """Every sample, with pid labels turned into the worker's index (sums rounded: the order
    of additions differs)."""
    index = {str(pid): f"worker{i}" for i, pid in enumerate(pids)}
    return {
        (
            s.name,
            tuple(sorted((k, index.get(v, v) if k == "pid" else v) for k, v in s.labels.items())),
            round(s.value, 9),
        )
        for m in metrics
        for s in m.samples
    }


def test_the_merged_samples_are_prometheus_clients(tmp_path: Path) -> None:
    theirs_dir, ours_dir = tmp_path / "prometheus_client", tmp_path / "ferrotel"
    theirs_dir.mkdir()
    ours_dir.mkdir()
    their_pids, their_live = run_workers("prometheus_client", theirs_dir)
    our_pids, our_live = run_workers("ferrotel", ours_dir)
    try:
        expected = samples(
            prometheus_client.multiprocess.MultiProcessCollector(None, str(theirs_dir)).collect(), their_pids
        )
        collector = MultiProcessCollector(None, ours_dir)
        got = samples(collector.collect(), our_pids)
        assert got == expected, (sorted(got - expected), sorted(expected - got))
        # The ended workers' files are folded into the archive, and the numbers stay.
        files = sorted(p.name for p in ours_dir.iterdir())
        assert files == sorted(["ferrotel_archive.mmap", f"ferrotel_{our_pids[2]}.mmap"])
        assert samples(collector.collect(), our_pids) == expected
    finally:
        for live in (their_live, our_live):
            live.communicate(timeout=30)
    # All ended now: folded at the next scrape; `live…` gauges gone, totals kept.
    after = samples(MultiProcessCollector(None, ours_dir).collect(), our_pids)
    assert [p.name for p in ours_dir.iterdir()] == ["ferrotel_archive.mmap"]
    assert ("jobs_total", (("kind", "a"),), 6.0) in after
    assert not [s for s in after if s[0].startswith("level_live")]


def run_python(code: str, directory: Path, **env: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        env={**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(directory), **env},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_metrics_declared_before_a_fork_count_in_the_childs_file_once(tmp_path: Path) -> None:
    # gunicorn --preload: the master declares (and here even counts) before forking workers.
    out = run_python(
        """
        import os, urllib.request, ferrotel
        jobs = ferrotel.Counter("jobs_total", "Jobs")
        latency = ferrotel.Histogram("latency_seconds", "Latency", buckets=[1.0])
        jobs.inc(5)
        latency.observe(0.5)
        children = []
        for _ in range(2):
            pid = os.fork()
            if pid == 0:
                jobs.inc(3)
                latency.observe(0.5)
                os._exit(0)
            children.append(pid)
        for pid in children:
            os.waitpid(pid, 0)
        jobs.inc(1)
        print(os.getpid())
        with ferrotel.start_http_server(0) as server:
            url = f"http://127.0.0.1:{server.port}/metrics"
            print([line for line in urllib.request.urlopen(url).read().decode().splitlines() if " " in line
                   and line.startswith(("jobs_total", "latency_seconds_count"))])
        print(sorted(os.listdir(os.environ["PROMETHEUS_MULTIPROC_DIR"])))
        """,
        tmp_path,
    )
    pid, totals, files = out.splitlines()
    assert totals == str(["jobs_total 12.0", "latency_seconds_count 3.0"])
    assert files == str([f"ferrotel_{pid}.mmap", "ferrotel_archive.mmap"])


def test_a_process_killed_while_it_writes_leaves_a_file_that_reads(tmp_path: Path) -> None:
    writer = subprocess.Popen(
        [
            sys.executable,
            "-c",
            textwrap.dedent(
                """
                import itertools, sys, ferrotel
                jobs = ferrotel.Counter("jobs_total", "Jobs", ["n"])
                latency = ferrotel.Histogram("latency_seconds", "Latency", ["n"])
                print("ready", flush=True)
                for n in itertools.count():  # new label sets (appends) and updates, without end
                    jobs.labels(str(n % 5000)).inc()
                    latency.labels(str(n % 700)).observe(0.2)
                """
            ),
        ],
        env={**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)},
        stdout=subprocess.PIPE,
        text=True,
    )
    assert writer.stdout is not None and writer.stdout.readline() == "ready\n"
    time.sleep(1.0)
    writer.kill()
    writer.wait(timeout=30)
    before = ferrotel.REGISTRY.get_sample_value("ferrotel_dropped_total", READ_DROPS) or 0.0
    families = {m.name: m for m in MultiProcessCollector(None, tmp_path).collect()}
    after = ferrotel.REGISTRY.get_sample_value("ferrotel_dropped_total", READ_DROPS) or 0.0
    assert after == before
    jobs = sum(s.value for s in families["jobs"].samples)
    counts = sum(s.value for s in families["latency_seconds"].samples if s.name == "latency_seconds_count")
    assert jobs > 0 and abs(jobs - counts) <= 1, (jobs, counts)  # killed between the two at most
    assert [p.name for p in tmp_path.iterdir()] == ["ferrotel_archive.mmap"]


def test_process_metrics_are_per_worker_with_a_pid_label(tmp_path: Path) -> None:
    out = run_python(
        """
        import os, ferrotel
        ferrotel.Counter("jobs_total", "Jobs").inc()
        print(os.getpid())
        print(ferrotel.generate_latest().decode())
        """,
        tmp_path,
    )
    pid, text = out.split("\n", 1)
    assert f'process_cpu_seconds_total{{pid="{pid}"}}' in text
    assert f'process_open_fds{{pid="{pid}"}}' in text
    assert "jobs_total 1.0" in text


def test_a_corrupt_truncated_or_foreign_file_is_left_out_and_counted(tmp_path: Path) -> None:
    pids, live = run_workers("ferrotel", tmp_path)
    try:
        good = tmp_path / f"ferrotel_{pids[2]}.mmap"
        (tmp_path / "ferrotel_4000000.mmap").write_bytes(b"garbage" * 100)
        content = good.read_bytes()
        committed = int.from_bytes(content[32:40], sys.byteorder)  # the header's length
        (tmp_path / "ferrotel_4000001.mmap").write_bytes(content[: committed // 2])
        (tmp_path / "ferrotel_4000002.mmap").write_bytes(b"")
        before = ferrotel.REGISTRY.get_sample_value("ferrotel_dropped_total", READ_DROPS) or 0.0
        got = samples(MultiProcessCollector(None, tmp_path).collect(), pids)
        after = ferrotel.REGISTRY.get_sample_value("ferrotel_dropped_total", READ_DROPS) or 0.0
        assert ("jobs_total", (("kind", "a"),), 6.0) in got
        assert ("latency_seconds_count", (("route", "/"),), 6.0) in got
        assert after - before == 3
    finally:
        live.communicate(timeout=30)


def test_the_directory_comes_from_the_environment_or_the_configuration(tmp_path: Path) -> None:
    code = """
        import os, ferrotel
        from ferrotel.config import MetricsConfig
        if os.environ.get("CONFIGURE"):
            ferrotel.configure(metrics=MetricsConfig(multiprocess_dir=os.environ["CONFIGURE"]))
        ferrotel.Counter("jobs_total", "Jobs").inc()
        print(ferrotel.multiprocess.directory())
        """
    for name in ("PROMETHEUS_MULTIPROC_DIR", "FERROTEL_MULTIPROC_DIR", "prometheus_multiproc_dir"):
        directory = tmp_path / name
        directory.mkdir()
        env = {k: v for k, v in os.environ.items() if "MULTIPROC_DIR" not in k.upper()}
        done = subprocess.run(
            [sys.executable, "-c", textwrap.dedent(code)],
            env={**env, name: str(directory)},
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.stdout.strip() == str(directory.resolve()), done.stderr
        assert [p.name.startswith("ferrotel_") for p in directory.iterdir()] == [True]
    configured = tmp_path / "configured"
    configured.mkdir()
    out = run_python(
        code, tmp_path / "FERROTEL_MULTIPROC_DIR", PROMETHEUS_MULTIPROC_DIR="", CONFIGURE=str(configured)
    )
    assert out.strip() == str(configured.resolve())


def test_a_missing_directory_is_a_warning_at_import_and_an_error_in_configure(tmp_path: Path) -> None:
    missing = tmp_path / "missing"
    done = subprocess.run(
        [sys.executable, "-c", "import ferrotel; print(ferrotel.multiprocess.directory())"],
        env={**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(missing)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.stdout.strip() == "None"
    assert "is not a directory" in done.stderr
    with pytest.raises(ValueError, match="metrics.multiprocess_dir"):
        ferrotel.config.build({"metrics": {"multiprocess_dir": str(missing)}})
    with pytest.raises(ValueError, match="not set or not a directory"):
        MultiProcessCollector(None, missing)


def test_where_the_mode_is_missing_the_environment_is_a_warning_and_the_configuration_an_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Windows has no flock or shared mmap: simulated here, as the Python side sees it.
    monkeypatch.setattr(ferrotel.multiprocess, "_supported", lambda: False)
    monkeypatch.setattr(ferrotel.multiprocess.platform, "system", lambda: "Windows")
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    monkeypatch.delenv("FERROTEL_MULTIPROC_DIR", raising=False)
    assert ferrotel.multiprocess.directory() is None
    with pytest.warns(ConfigurationWarning, match="multiprocess mode is not available on Windows"):
        ferrotel.multiprocess._enable_from_environment()
    with pytest.warns(ConfigurationWarning, match="each process keeps its own metrics"):
        settings = ferrotel.config.environment_settings({"PROMETHEUS_MULTIPROC_DIR": str(tmp_path)})
    assert "multiprocess_dir" not in settings.get("metrics", {})
    with pytest.raises(
        ValueError, match="metrics.multiprocess_dir: the multiprocess mode is not available on Windows"
    ):
        ferrotel.config.build({"metrics": {"multiprocess_dir": str(tmp_path)}})
    with pytest.raises(OSError, match="not available on Windows"):
        ferrotel.multiprocess.enable(tmp_path)
    assert ferrotel.multiprocess.directory() is None
    assert list(tmp_path.iterdir()) == []
