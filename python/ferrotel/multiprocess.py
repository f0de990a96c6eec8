"""prometheus_client's multiprocess mode, for gunicorn and ``uvicorn --workers``: every worker keeps
its counters, gauges, histograms and summaries in a memory-mapped file of its own in one directory,
and a scrape of any worker merges them all.

Set ``PROMETHEUS_MULTIPROC_DIR`` (or ``FERROTEL_MULTIPROC_DIR``, or
``MetricsConfig(multiprocess_dir=...)``) to an empty directory before the workers start. Then the
default ``REGISTRY`` — so ``start_http_server``, ``make_wsgi_app``, ``make_asgi_app`` and the
middleware's metrics — shows the merged numbers. In gunicorn's configuration file::

    from ferrotel.multiprocess import mark_process_dead

    def child_exit(server, worker):
        mark_process_dead(worker.pid)

``MultiProcessCollector(registry)`` puts the merged files in another registry, as prometheus_client
users are used to. Each update is one atomic operation on the mapped file, from Rust.

The mode needs a Unix system (``flock`` and shared ``mmap``): on Windows a directory named in the
environment is ignored with a warning (each process keeps its own metrics), and one named in the
configuration or given to ``enable`` is refused with an error naming the platform.
"""

from __future__ import annotations

import os
import platform
import sys
import threading

from . import _core, _env
from ._core import Registry

__all__ = ["MultiProcessCollector", "directory", "enable", "mark_process_dead"]


def _supported() -> bool:
    """Whether this platform has the mode: Unix, not Windows."""
    return _core._multiprocess_supported()


def _unsupported_message() -> str:
    """Why the mode is refused on this platform."""
    system = platform.system() or sys.platform
    return f"the multiprocess mode is not available on {system}: it needs a Unix system (flock, mmap)"


def _path(path: str | os.PathLike[str] | None) -> str | None:
    if path is not None:
        return os.fspath(path)
    return _env.multiproc_dir() or directory()


class MultiProcessCollector(_core.MultiProcessCollector):
    """The merged files of ``path`` (default: the environment's directory), registered in
    ``registry`` unless it is None."""

    def __new__(
        cls, registry: Registry | None, path: str | os.PathLike[str] | None = None
    ) -> MultiProcessCollector:
        resolved = _path(path)
        if not resolved or not os.path.isdir(resolved):
            raise ValueError("env PROMETHEUS_MULTIPROC_DIR is not set or not a directory")
        self = super().__new__(cls, resolved)
        if registry is not None:
            registry.register(self)
        return self


def mark_process_dead(pid: int, path: str | os.PathLike[str] | None = None) -> None:
    """Folds the file of process ``pid``, which has ended, into the directory's archive: its
    counters, histograms and summaries still count; its ``live…`` gauges no longer do."""
    resolved = _path(path)
    if resolved is None:
        raise ValueError("mark_process_dead: no multiprocess directory (PROMETHEUS_MULTIPROC_DIR is not set)")
    if _forking_thread == threading.get_ident():
        _deferred.append((pid, resolved))
        return
    _core._mark_process_dead(pid, resolved)


# gunicorn before 24 (23 is the last release for Python 3.9) calls its child_exit hook, and so
# mark_process_dead, from its SIGCHLD handler. Python runs a signal handler between any two
# bytecodes of the main thread: inside os.fork() too, while the other at-fork hooks run and
# ferrotel's own hooks hold its locks. There mark_process_dead would wait forever for a lock its
# own thread holds; it waits for the end of the fork instead. These wrap ferrotel's fork hooks.
_forking_thread: int | None = None
_deferred: list[tuple[int, str]] = []


def _before_fork() -> None:
    global _forking_thread
    _forking_thread = threading.get_ident()
    _core._before_fork()


def _after_fork_in_parent() -> None:
    global _forking_thread
    _core._after_fork_in_parent()
    _forking_thread = None
    while _deferred:
        pid, path = _deferred.pop(0)
        _core._mark_process_dead(pid, path)


def _after_fork_in_child() -> None:
    global _forking_thread
    _core._after_fork_in_child()
    _forking_thread = None
    _deferred.clear()  # the parent's dead processes: the parent folds them


def directory() -> str | None:
    """The directory metrics write to, or None when each process keeps its own."""
    active = _core._multiprocess_active()
    return None if active is None else os.fspath(active)


def enable(path: str | os.PathLike[str]) -> None:
    """Turns the multiprocess mode on: metrics declared so far, and from now on, write to this
    process's file in ``path``. A second call must name the same directory."""
    if not _supported():
        raise OSError(_unsupported_message())
    current = directory()
    if current is not None:
        if os.path.realpath(current) != os.path.realpath(path):
            raise ValueError(
                f"multiprocess_dir: the multiprocess mode already uses {current!r}, not {os.fspath(path)!r}"
            )
        return
    _core._multiprocess_dir(os.fspath(path))


def _enable_from_environment() -> None:
    """At import: the drop-in for prometheus_client's environment variable."""
    path = _env.multiproc_dir()
    if path is None:
        return
    if not _supported():
        names = " / ".join(_env.MULTIPROC_DIR_VARIABLES)
        _env.warn(f"{names}: {_unsupported_message()}; each process keeps its own metrics")
        return
    if not os.path.isdir(path):
        names = " / ".join(_env.MULTIPROC_DIR_VARIABLES)
        _env.warn(f"{names}: {path!r} is not a directory; each process keeps its own metrics")
        return
    _core._multiprocess_dir(path)
