"""Shared fixtures: external Prometheus binaries, free loopback ports, log files, tracing."""

from __future__ import annotations

import json
import os
import shutil
import socket
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import ferrotel
import pytest

# scripts/test-wheels.sh runs this suite against ferrotel installed from a wheel: a ferrotel
# imported from anywhere but that venv's site-packages (the checkout's python/, say) is a mistake.
if os.environ.get("FERROTEL_TEST_INSTALLED_WHEEL"):
    import sysconfig

    _site = Path(sysconfig.get_paths()["platlib"]).resolve()
    if _site not in Path(ferrotel.__file__).resolve().parents:
        raise RuntimeError(
            f"FERROTEL_TEST_INSTALLED_WHEEL is set, but ferrotel is {ferrotel.__file__}, not in {_site}"
        )

LOOPBACK = "127.0.0.1"

try:
    from hypothesis import settings
except ImportError:
    # A test extra that only tests/test_properties_*.py import: without it those modules alone fail
    # to load, and the rest of the suite still runs (an interpreter with an older build, say).
    pass
else:
    # The property-based tests run in the test command with a bounded number of examples each;
    # HYPOTHESIS_PROFILE=thorough searches longer when hunting.
    settings.register_profile("ferrotel", max_examples=200, deadline=None)
    settings.register_profile("thorough", max_examples=5_000, deadline=None)
    settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ferrotel"))


def server_binary(name: str) -> str:
    """The path of an external binary (``promtool``, ``prometheus``, ``prometheus-pushgateway``).

    When it is not on ``PATH`` the calling test is skipped, except in CI (``CI`` set in the
    environment), where a missing binary is a broken test environment and the test fails.
    """
    path = shutil.which(name)
    if path is not None:
        return path
    message = (
        f"the {name!r} binary is not on PATH; install it (Debian/Ubuntu: apt-get install "
        f"{'prometheus' if name == 'promtool' else name}) to run this test"
    )
    if os.environ.get("CI"):
        pytest.fail(f"CI is set but {message}", pytrace=False)
    pytest.skip(message)


@pytest.fixture(name="server_binary", scope="session")
def server_binary_fixture() -> Callable[[str], str]:
    """``server_binary("promtool")`` -> path, skipping (or failing under CI) when it is missing."""
    return server_binary


def find_free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((LOOPBACK, 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture
def free_port() -> int:
    """A free TCP port on the loopback interface."""
    return find_free_port()


@pytest.fixture(scope="session")
def free_port_factory() -> Callable[[], int]:
    """``free_port_factory()`` -> a free loopback port, for fixtures wider than one test."""
    return find_free_port


@pytest.fixture
def registry() -> ferrotel.Registry:
    """A fresh, empty ferrotel registry (never the process-wide default REGISTRY)."""
    return ferrotel.Registry()


@pytest.fixture
def no_created() -> Iterator[None]:
    """``_created`` series off in ferrotel and in prometheus_client, back on afterwards: without
    them both write the same text 0.0.4 (where ferrotel leaves its own out)."""
    import prometheus_client

    ferrotel.disable_created_metrics()
    prometheus_client.disable_created_metrics()
    yield
    ferrotel.enable_created_metrics()
    prometheus_client.enable_created_metrics()


class LogFile:
    """A file that ferrotel's log pipeline writes to; ``lines()`` flushes and reads it back."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def text(self) -> str:
        assert ferrotel.flush(10.0), "the log pipeline did not flush within 10 s"
        return self.path.read_text(encoding="utf-8") if self.path.exists() else ""

    def lines(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.text().splitlines()]


@pytest.fixture
def log_file(tmp_path: Path) -> Iterator[LogFile]:
    """Logs configured to write ECS JSON at level debug to a fresh file (and nowhere else)."""
    path = tmp_path / "app.log"
    ferrotel.logs.configure("debug", file=ferrotel.logs.FileSink(path))
    yield LogFile(path)
    ferrotel.logs.configure(console=False)


@pytest.fixture
def log_drops() -> Callable[[str], float]:
    """``log_drops(reason)`` -> ``ferrotel_dropped_total{signal="logs", reason=...}`` so far."""

    def drops(reason: str) -> float:
        labels = {"signal": "logs", "reason": reason}
        return ferrotel.REGISTRY.get_sample_value("ferrotel_dropped_total", labels) or 0.0

    return drops


# --- tracing ---------------------------------------------------------------------------------------


@pytest.fixture
def reset_tracing():
    """Leaves the process-wide tracing pipeline and propagators as a fresh process has them."""
    yield
    ferrotel.tracing.configure(
        exporters=[], sampler="parentbased_always_on", propagators=["tracecontext", "baggage"]
    )


@pytest.fixture
def memory_exporter(reset_tracing):
    """Tracing configured to record every span in memory (synchronously), sampling everything."""
    exporter = ferrotel.tracing.InMemorySpanExporter()
    ferrotel.tracing.configure(
        service_name="test-service", exporters=[exporter], sampler="parentbased_always_on"
    )
    return exporter


@pytest.fixture
def tracer() -> ferrotel.Tracer:
    return ferrotel.get_tracer("tests", "1.2.3")


@pytest.fixture
def receiver_factory() -> Iterator[Callable[..., Any]]:
    """``receiver_factory(default=...)`` -> a new ``helpers.LoopbackReceiver`` on 127.0.0.1 (its
    answers a ``Response`` or a function of the request); every one is closed after the test."""
    from helpers import LoopbackReceiver

    receivers: list[LoopbackReceiver] = []

    def make(default: Any = None) -> LoopbackReceiver:
        receivers.append(LoopbackReceiver(default))
        return receivers[-1]

    yield make
    for r in receivers:
        r.close()


@pytest.fixture
def receiver(receiver_factory):
    """A loopback HTTP receiver (tests/helpers.py) that records what exporters send and answers
    200, or what the test scripts with ``respond()``/``default``."""
    return receiver_factory()
