"""The console sink shares stdout with the application (issue #16): through a pipe, each of its
JSON lines stays one line, never split by the application's own ``print()`` in another thread."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import threading

N_LOGS = 20_000
N_PRINTS = 4_000
# Long, but within one atomic pipe write (PIPE_BUF, 4096 bytes): the application's own lines
# then stay whole too, and any corruption seen is the sink's.
PRINT_WIDTH = 3_000

SCRIPT = textwrap.dedent(
    f"""
    import sys, threading, ferrotel
    # Each print() is then one write(2) of one whole line (unbuffered, as with -u or
    # PYTHONUNBUFFERED, print() writes its text and its newline in two, and any other writer,
    # ferrotel or not, can land between them).
    sys.stdout.reconfigure(line_buffering=True, write_through=False)
    ferrotel.logs.configure("info", console="stdout")
    log = ferrotel.get_logger("app")

    def logs():
        for i in range({N_LOGS}):
            log.info("line", i=i, pad="p" * 200)

    thread = threading.Thread(target=logs)
    thread.start()
    for i in range({N_PRINTS}):
        print(f"print {{i:06d}} " + "x" * {PRINT_WIDTH})
    thread.join()
    ferrotel.flush()
    labels = {{"signal": "logs", "reason": "queue_full"}}
    print(int(ferrotel.REGISTRY.get_sample_value("ferrotel_dropped_total", labels) or 0), file=sys.stderr)
    """
)


def printed(i: int) -> bytes:
    return f"print {i:06d} ".encode() + b"x" * PRINT_WIDTH


def test_console_json_lines_stay_whole_beside_the_applications_prints():
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}
    proc = subprocess.Popen(
        [sys.executable, "-c", SCRIPT], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env
    )
    watchdog = threading.Timer(120, proc.kill)
    watchdog.start()
    try:
        seen_prints: set[int] = set()
        logged: set[int] = set()
        broken: list[bytes] = []
        assert proc.stdout is not None
        # Read line by line, slower than the process writes, so the pipe fills as in production.
        for raw in proc.stdout:
            line = raw.rstrip(b"\n")
            if line.startswith(b"print ") and line == printed(int(line[6:12])):
                seen_prints.add(int(line[6:12]))
                continue
            try:
                record = json.loads(line)
                logged.add(record["i"])
            except (ValueError, KeyError, TypeError):
                broken.append(line)
        _, err = proc.communicate(timeout=60)
    finally:
        watchdog.cancel()
    assert proc.returncode == 0, err.decode()
    assert [line[:120] for line in broken[:5]] == [], f"{len(broken)} lines broken"
    assert seen_prints == set(range(N_PRINTS))
    dropped = int(err.decode().strip().splitlines()[-1])
    assert len(logged) + dropped == N_LOGS
    assert len(logged) > 0
