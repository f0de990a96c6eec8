"""The /metrics server cannot be knocked over by its clients: hundreds of idle connections, a
slowloris, oversized request heads, a client that pipelines and never reads, a moment without
file descriptors, and a fork. All traffic is on 127.0.0.1; every wait is bounded.

Servers whose threads, descriptors or memory are measured run in a subprocess of their own."""

from __future__ import annotations

import contextlib
import os
import resource
import select
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterable, Iterator

import ferrotel
import pytest
from helpers import LOOPBACK, reap, wait_until

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")

WAIT = 30.0  # the bound on any single wait; the server's own timeouts are 5 s (head) and 10 s (write)
REQUEST = b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"

SERVER = """
import ferrotel, resource, sys
if len(sys.argv) > 1:  # a lower open-file limit, hence a lower connection cap
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    resource.setrlimit(resource.RLIMIT_NOFILE, (int(sys.argv[1]), hard))
registry = ferrotel.Registry()
ferrotel.Counter("up_total", "Up", registry=registry).inc()
print(ferrotel.start_http_server(0, registry=registry).port, flush=True)
sys.stdin.read()  # serves until the test closes stdin
"""


def scrape(port: int) -> tuple[int, bytes]:
    with urllib.request.urlopen(f"http://{LOOPBACK}:{port}/metrics", timeout=WAIT) as response:
        return response.status, response.read()


@contextlib.contextmanager
def server_in_subprocess(*nofile: int) -> Iterator[tuple[int, int]]:
    """(pid, port) of a server in a process of its own, with `nofile` as its soft open-file limit."""
    args = [sys.executable, "-c", SERVER, *map(str, nofile)]
    proc = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    try:
        assert proc.stdout is not None
        yield proc.pid, int(proc.stdout.readline())
    finally:
        proc.kill()
        proc.wait(WAIT)


@pytest.fixture
def server_process() -> Iterator[tuple[int, int]]:
    with server_in_subprocess() as server:
        yield server


@pytest.fixture
def big_registry() -> ferrotel.Registry:
    """A registry whose exposition (~200 KB) fills socket buffers in a few responses."""
    registry = ferrotel.Registry()
    counter = ferrotel.Counter("requests_total", "Requests", ["path"], registry=registry)
    for i in range(4000):
        counter.labels(f"/a/fairly/long/path/number/{i}").inc()
    return registry


def status_of(pid: int, field: str) -> int:
    with open(f"/proc/{pid}/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith(f"{field}:"))


def fd_count(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def closed_by_server(sock: socket.socket) -> bool:
    """True once the server has closed `sock` (EOF or reset); drains whatever it sent first."""
    while select.select([sock], [], [], 0)[0]:
        try:
            if not sock.recv(65536):
                return True
        except (ConnectionResetError, BrokenPipeError):
            return True
    return False


@pytest.fixture(autouse=True)
def enough_descriptors() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < 4096 <= hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (4096, hard))


def test_500_idle_connections_leave_scrapes_answered_with_few_threads_and_fds(server_process):
    pid, port = server_process
    idle = []
    try:
        for _ in range(500):
            idle.append(socket.create_connection((LOOPBACK, port), timeout=WAIT))
        status, _ = scrape(port)
        threads = len(os.listdir(f"/proc/{pid}/task"))
        fds = fd_count(pid)
    finally:
        for sock in idle:
            sock.close()
    assert status == 200
    assert threads < 20
    assert fds < 500 + 64  # one descriptor per connection at most


def test_at_the_connection_cap_the_server_waits_for_a_free_slot_and_serves_on():
    # half a 128 open-file limit: at most 64 connections, and the idle ones close after 5 s
    cap = 64
    with server_in_subprocess(2 * cap) as (pid, port):
        idle = []
        try:
            for _ in range(cap + 16):  # those past the cap wait in the listen backlog
                idle.append(socket.create_connection((LOOPBACK, port), timeout=WAIT))
            wait_until(lambda: fd_count(pid) >= cap, timeout=WAIT, what="the server to reach its cap")
            time.sleep(0.5)  # time for a server without a cap to accept the rest
            fds = fd_count(pid)
            status, _ = scrape(port)
        finally:
            for sock in idle:
                sock.close()
    assert fds < cap + 12  # the cap, and the server's few other descriptors
    assert status == 200


def test_silent_trickling_and_idle_keep_alive_connections_are_closed(registry):
    with ferrotel.start_http_server(0, registry=registry) as server:
        silent = socket.create_connection((LOOPBACK, server.port), timeout=WAIT)
        trickle = socket.create_connection((LOOPBACK, server.port), timeout=WAIT)
        trickle.sendall(b"GET /metrics HTTP/1.1\r\nX-Slow: ")
        idle = socket.create_connection((LOOPBACK, server.port), timeout=WAIT)
        idle.sendall(REQUEST)  # answered, then the connection stays open, idle
        open_ = {"silent": silent, "trickle": trickle, "idle keep-alive": idle}
        deadline = time.monotonic() + WAIT
        while open_ and time.monotonic() < deadline:
            try:
                trickle.send(b"a")  # a header byte every 0.2 s: never a whole head
            except OSError:
                pass
            open_ = {name: sock for name, sock in open_.items() if not closed_by_server(sock)}
            time.sleep(0.2)
        for sock in (silent, trickle, idle):
            sock.close()
    assert not open_, f"still open after {WAIT} s: {sorted(open_)}"


def endless_header(total: int) -> Iterator[bytes]:
    yield b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Endless: "
    for _ in range(total // 65536):
        yield b"a" * 65536


def many_headers(count: int) -> Iterator[bytes]:
    yield b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n"
    yield b"".join(b"X-H%d: v\r\n" % i for i in range(count)) + b"\r\n"


def send_until_answered(sock: socket.socket, chunks: Iterable[bytes]) -> bytes:
    """Sends chunks until the server answers or closes; returns the answer's first bytes."""
    for chunk in chunks:
        if select.select([sock], [], [], 0)[0]:
            break
        try:
            sock.sendall(chunk)
        except (BrokenPipeError, ConnectionResetError):
            break
    try:
        return sock.recv(1024)
    except (ConnectionResetError, TimeoutError):
        return b""


@pytest.mark.parametrize(
    "head",
    [
        pytest.param(lambda: endless_header(64 << 20), id="64MB-header-line"),
        pytest.param(lambda: many_headers(1000), id="1000-headers"),
    ],
)
def test_oversized_request_head_gets_431_and_memory_stays_flat(server_process, head):
    pid, port = server_process
    assert scrape(port)[0] == 200
    rss_before = status_of(pid, "VmRSS")  # KiB
    with socket.create_connection((LOOPBACK, port), timeout=WAIT) as sock:
        answer = send_until_answered(sock, head())
    assert answer.startswith(b"HTTP/1.1 431"), answer[:100]
    assert status_of(pid, "VmRSS") - rss_before < 16 * 1024
    assert scrape(port)[0] == 200


def test_a_client_that_pipelines_and_never_reads_blocks_no_one(big_registry):
    with ferrotel.start_http_server(0, registry=big_registry) as server:
        greedy = socket.socket()
        greedy.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        greedy.settimeout(WAIT)
        greedy.connect((LOOPBACK, server.port))
        greedy.sendall(REQUEST * 200)  # ~40 MB of answers it will never read
        try:
            status, body = scrape(server.port)
            assert status == 200 and b"requests_total" in body

            def greedy_cut_off() -> bool:
                try:
                    greedy.send(b"\r\n", socket.MSG_DONTWAIT)
                except BlockingIOError:
                    return False
                except (BrokenPipeError, ConnectionResetError):
                    return True
                return False

            # the write timeout ends the stalled connection
            wait_until(greedy_cut_off, timeout=WAIT, interval=0.2, what="the stalled connection to close")
        finally:
            greedy.close()


CHILD_WITHOUT_FDS = """
import os, resource, sys, time, ferrotel
server = ferrotel.start_http_server(0)
print(server.port, flush=True)
resource.setrlimit(resource.RLIMIT_NOFILE, (256, resource.getrlimit(resource.RLIMIT_NOFILE)[1]))
held = []
try:
    while True:
        held.append(os.open(os.devnull, os.O_RDONLY))
except OSError:
    pass
print("exhausted", flush=True)
deadline = time.monotonic() + 20
while time.monotonic() < deadline and b'reason="accept_failed"' not in ferrotel.generate_latest():
    time.sleep(0.05)
for fd in held:
    os.close(fd)
print("freed", flush=True)
sys.stdin.read()
"""


def test_the_accept_loop_survives_running_out_of_file_descriptors():
    proc = subprocess.Popen(
        [sys.executable, "-c", CHILD_WITHOUT_FDS],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdout is not None
    try:
        port = int(proc.stdout.readline())
        assert proc.stdout.readline() == b"exhausted\n"
        # the kernel completes the handshake; the server's accept fails until fds are freed
        with socket.create_connection((LOOPBACK, port), timeout=WAIT) as waiting:
            waiting.sendall(REQUEST)
            assert proc.stdout.readline() == b"freed\n"
            assert waiting.recv(1024).startswith(b"HTTP/1.1 200")
        status, body = scrape(port)
        assert status == 200
        assert b'ferrotel_dropped_total{signal="metrics",reason="accept_failed"}' in body
    finally:
        proc.kill()
        _, stderr = proc.communicate(timeout=WAIT)
    assert stderr.count(b"could not accept a connection") == 1


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_fork_leaves_the_server_and_its_sockets_to_the_parent(registry):
    server = ferrotel.start_http_server(0, registry=registry)
    port = server.port
    kept_alive = socket.create_connection((LOOPBACK, port), timeout=WAIT)
    kept_alive.sendall(REQUEST)
    assert select.select([kept_alive], [], [], WAIT)[0]  # accepted and answered: open across the fork
    from_child, child_says = os.pipe()
    parent_done, parent_says = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover (runs in the child)
        code = 1
        try:
            os.close(parent_says)
            server.shutdown()  # the thread is the parent's: returns at once
            with ferrotel.start_http_server(0, registry=registry) as own:
                code = 0 if scrape(own.port)[0] == 200 else 2
        finally:
            os.write(child_says, b"%d" % code)
            os.read(parent_done, 1)  # lives on until the parent has checked its sockets
            os._exit(code)
    os.close(child_says)
    os.close(parent_done)
    try:
        assert select.select([from_child], [], [], WAIT)[0], "the child's shutdown() did not return"
        assert os.read(from_child, 8) == b"0", "the child could not serve on a server of its own"
        assert scrape(port)[0] == 200  # the parent still serves
        server.shutdown()
        # the child holds no copy of the parent's sockets: they close with the parent's
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection((LOOPBACK, port), timeout=WAIT).close()
        wait_until(
            lambda: closed_by_server(kept_alive), timeout=WAIT, what="the kept-alive connection to close"
        )
    finally:
        os.close(parent_says)  # lets the child exit
        os.close(from_child)
        kept_alive.close()
        server.shutdown()
    assert reap(pid, WAIT) == 0
