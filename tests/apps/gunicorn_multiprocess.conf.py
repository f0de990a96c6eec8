"""gunicorn's configuration for the multiprocess tests: what the README tells users to write."""

from ferrotel.multiprocess import mark_process_dead


def child_exit(server, worker):  # type: ignore[no-untyped-def]
    mark_process_dead(worker.pid)
