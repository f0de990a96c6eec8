"""``python -m ferrotel demo`` as a first-time user meets it: on a terminal it runs until Ctrl-C
and says what to look at; in a script it ends by itself; a busy port is a one-line message; its
temporary folder of logs and spans is removed unless ``--keep`` is given."""

from __future__ import annotations

import os
import re
import select
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from conftest import find_free_port
from ferrotel.demo import SCRIPT_DURATION

DEMO = [sys.executable, "-m", "ferrotel", "demo"]


def demo_env(tmp_path: Path) -> dict[str, str]:
    """The demo's temporary folder goes under ``tmp_path`` (``tempfile`` reads TMPDIR)."""
    env = {k: v for k, v in os.environ.items() if "MULTIPROC_DIR" not in k.upper()}
    temp = tmp_path / "tmp"
    temp.mkdir(exist_ok=True)
    return {**env, "TMPDIR": str(temp)}


def demo_folders(tmp_path: Path) -> list[Path]:
    return sorted((tmp_path / "tmp").glob("ferrotel-demo-*"))


def test_a_busy_port_is_a_one_line_message_naming_port_0(tmp_path: Path) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        done = subprocess.run(
            [*DEMO, "--port", str(port), "--duration", "1"],
            env=demo_env(tmp_path),
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert f"port {port} is in use on 127.0.0.1" in lines[0]
    assert "--port 0" in lines[0]
    assert demo_folders(tmp_path) == []  # nothing was created before the port was checked


def test_not_on_a_terminal_it_ends_by_itself_and_removes_its_folder(tmp_path: Path) -> None:
    # No --duration: stdout is a pipe here, so the fixed default applies and the demo ends.
    done = subprocess.run(
        [*DEMO, "--port", "0"], env=demo_env(tmp_path), capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    folder = re.search(r"^removed (\S+)", done.stdout, re.M)
    assert folder, done.stdout
    assert Path(folder.group(1)).parent == tmp_path / "tmp"
    assert not Path(folder.group(1)).exists()
    assert demo_folders(tmp_path) == []
    assert re.search(r"^\d+ log lines in ", done.stdout, re.M)


def test_keep_keeps_the_folder_of_logs_and_spans(tmp_path: Path) -> None:
    done = subprocess.run(
        [*DEMO, "--port", "0", "--duration", "1", "--keep"],
        env=demo_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    [folder] = demo_folders(tmp_path)
    assert re.search(rf"^kept {re.escape(str(folder))}$", done.stdout, re.M), done.stdout
    assert (folder / "audotics.log").read_text().strip()
    assert (folder / "spans.jsonl").read_text().strip()


def test_an_out_folder_is_the_users_and_is_kept(tmp_path: Path) -> None:
    out = tmp_path / "out"
    done = subprocess.run(
        [*DEMO, "--port", "0", "--duration", "1", "--out", str(out)],
        env=demo_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert (out / "audotics.log").exists() and (out / "spans.jsonl").exists()
    assert "removed" not in done.stdout
    assert demo_folders(tmp_path) == []


class Terminal:
    """The demo under a pseudo-terminal: its stdout and stderr are a tty; what it writes is read
    from the other end, with a deadline."""

    def __init__(self, args: list[str], env: dict[str, str]) -> None:
        master, slave = os.openpty()
        self.master = master
        self.process = subprocess.Popen(
            args, stdin=slave, stdout=slave, stderr=slave, env=env, close_fds=True
        )
        os.close(slave)
        self.text = ""

    def read_until(self, pattern: str, timeout: float) -> re.Match[str]:
        deadline = time.monotonic() + timeout
        while True:
            found = re.search(pattern, self.text, re.M)
            if found:
                return found
            left = deadline - time.monotonic()
            if left <= 0 or not self.read(left):
                pytest.fail(f"the demo never printed {pattern!r}; it printed:\n{self.text}")

    def read(self, timeout: float) -> bool:
        """Reads what is there within ``timeout``; False at the end of the output."""
        ready, _, _ = select.select([self.master], [], [], timeout)
        if not ready:
            return True
        try:
            chunk = os.read(self.master, 65536)
        except OSError:  # EIO: every writer has closed the terminal
            return False
        self.text += chunk.decode(errors="replace").replace("\r\n", "\n")
        return bool(chunk)

    def read_to_end(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.read(deadline - time.monotonic()):
            pass

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(timeout=30)
        os.close(self.master)


@pytest.mark.skipif(not hasattr(os, "openpty"), reason="needs a pseudo-terminal (Unix)")
def test_on_a_terminal_it_runs_until_ctrl_c_and_says_what_to_look_at(tmp_path: Path) -> None:
    port = find_free_port()
    terminal = Terminal([*DEMO, "--port", str(port)], demo_env(tmp_path))
    try:
        started = r"^ferrotel demo: the Audotics music service at (http://\S+), with traffic \(Ctrl-C stops"
        service = terminal.read_until(started, timeout=60)
        terminal.read_until(r"^What to look at next:", timeout=10)
        guide = terminal.read_until(r"static_configs: .*\n", timeout=10).string
        metrics_url = f"http://127.0.0.1:{port}/metrics"
        assert metrics_url in guide
        assert f"curl -s {metrics_url}" in guide
        assert f"{service.group(1)}/songs/42/play" in guide
        assert f'targets: ["127.0.0.1:{port}"]' in guide
        assert "audotics.log" in guide and "spans.jsonl" in guide
        # Past the fixed duration a script gets, it still runs: /metrics answers, with traffic.
        time.sleep(SCRIPT_DURATION + 1)
        assert terminal.process.poll() is None, terminal.text
        with urllib.request.urlopen(metrics_url, timeout=10) as response:
            scrape = response.read().decode()
        assert re.search(r"^song_plays_total\{", scrape, re.M)

        terminal.process.send_signal(signal.SIGINT)
        terminal.read_to_end(timeout=60)
        terminal.process.wait(timeout=30)
    finally:
        terminal.close()
    assert terminal.process.returncode == 0, terminal.text
    assert "Traceback" not in terminal.text
    assert re.search(r"^served \d+ requests", terminal.text, re.M), terminal.text
    assert re.search(r"^removed \S+", terminal.text, re.M), terminal.text
    assert demo_folders(tmp_path) == []
