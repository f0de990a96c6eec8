"""Whole processes: the default stdout output, lines left in a file by a process that logs and
exits (atexit) or shuts down, colour only on a terminal, and fork."""

from __future__ import annotations

import json
import os
import pty
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

TIMEOUT = 60


def run(code: str, *, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        env={**os.environ, **(env or {})},
        check=True,
    )


def test_with_no_configuration_json_lines_go_to_stdout():
    result = run(
        """
        import ferrotel
        ferrotel.get_logger("app").info("hello", n=1)
        ferrotel.get_logger("app").debug("below the default level")
        """,
        env={"SERVICE_NAME": "music-api"},
    )
    (line,) = result.stdout.splitlines()
    record = json.loads(line)
    assert (record["message"], record["n"], record["log.level"]) == ("hello", 1, "info")
    assert record["service.name"] == "music-api"
    assert result.stderr == ""


def test_a_process_that_logs_and_exits_leaves_every_line_in_its_file(tmp_path):
    path = tmp_path / "app.log"
    run(
        f"""
        import threading, ferrotel
        from ferrotel.logs import FileSink
        sink = FileSink({str(path)!r}, max_size="64KB", max_files=100, max_queue=20_000)
        ferrotel.logs.configure(file=sink)
        log = ferrotel.get_logger("exit")
        def work(t):
            for i in range(2500):
                log.info("line", t=t, i=i)
        threads = [threading.Thread(target=work, args=(t,)) for t in range(4)]
        for t in threads: t.start()
        for t in threads: t.join()
        """
    )
    files = [path, *path.parent.glob("app.log.*")]
    records = [json.loads(line) for f in files for line in f.read_text().splitlines()]
    assert sorted((r["t"], r["i"]) for r in records) == [(t, i) for t in range(4) for i in range(2500)]


def test_shutdown_writes_what_is_buffered_and_later_records_are_dropped_and_counted(tmp_path):
    path = tmp_path / "app.log"
    result = run(
        f"""
        import os, ferrotel
        from ferrotel.logs import FileSink
        ferrotel.logs.configure(file=FileSink({str(path)!r}))
        log = ferrotel.get_logger("x")
        for i in range(1000):
            log.info("before shutdown", i=i)
        print(ferrotel.shutdown(10.0))
        log.info("after shutdown")
        labels = {{"signal": "logs", "reason": "shutdown"}}
        print(ferrotel.REGISTRY.get_sample_value("ferrotel_dropped_total", labels))
        os._exit(0)  # no atexit: what is in the file was written by shutdown()
        """
    )
    assert result.stdout.split() == ["True", "1.0"]
    lines = path.read_text().splitlines()
    assert [json.loads(line)["i"] for line in lines] == list(range(1000))


def test_pretty_output_is_coloured_on_a_terminal_only():
    code = textwrap.dedent(
        """
        import ferrotel
        ferrotel.logs.configure("info", "pretty")
        ferrotel.get_logger("tty").warning("coloured?", n=1)
        """
    )
    piped = run(code).stdout
    assert "coloured?" in piped and "\x1b[" not in piped

    leader, follower = pty.openpty()
    env = {k: v for k, v in os.environ.items() if k != "NO_COLOR"}
    with subprocess.Popen([sys.executable, "-c", code], stdout=follower, stderr=follower, env=env) as process:
        os.close(follower)
        output = b""
        while True:
            try:
                chunk = os.read(leader, 4096)
            except OSError:  # the terminal closes when the process ends
                break
            if not chunk:
                break
            output += chunk
        assert process.wait(TIMEOUT) == 0
    os.close(leader)
    text = output.decode()
    assert "coloured?" in text and "\x1b[33m" in text  # WARNING in yellow


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork()")
def test_a_forked_child_logs_through_its_own_writer(tmp_path):
    path = tmp_path / "app.log"
    run(
        f"""
        import os, ferrotel
        from ferrotel.logs import FileSink
        ferrotel.logs.configure(file=FileSink({str(path)!r}))
        log = ferrotel.get_logger("fork")
        log.info("parent before fork")
        ferrotel.flush()
        pid = os.fork()
        if pid == 0:
            log.info("child")
            ferrotel.flush()
            os._exit(0)
        os.waitpid(pid, 0)
        log.info("parent after fork")
        """
    )
    messages = [json.loads(line)["message"] for line in Path(path).read_text().splitlines()]
    assert sorted(messages) == ["child", "parent after fork", "parent before fork"]
