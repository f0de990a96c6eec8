"""The size-rotated file: rotation by bytes, at most `max_files` files, and every line written
exactly once, whole, even from many threads at once."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import ferrotel
import pytest
from ferrotel.logs import FileSink

THREADS = 4
PER_THREAD = 500


@pytest.fixture
def configure_file(tmp_path):
    def configure(max_size: int | str, max_files: int) -> Path:
        path = tmp_path / "app.log"
        ferrotel.logs.configure(file=FileSink(path, max_size=max_size, max_files=max_files))
        return path

    yield configure
    ferrotel.logs.configure(console=False)


def files_oldest_first(path: Path) -> list[Path]:
    backups = sorted(path.parent.glob(path.name + ".*"), key=lambda p: int(p.suffix[1:]), reverse=True)
    return [*backups, path] if path.exists() else backups


def log_from_threads(message: str = "line") -> None:
    def worker(thread: int) -> None:
        log = ferrotel.get_logger("rotation").bind(thread=thread)
        for seq in range(PER_THREAD):
            log.info(message, seq=seq)

    threads = [threading.Thread(target=worker, args=(t,)) for t in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert ferrotel.flush(10.0)


def test_rotation_keeps_every_line_once_whole_and_in_order(configure_file):
    path = configure_file(max_size=4096, max_files=10_000)
    log_from_threads()
    files = files_oldest_first(path)
    assert len(files) > 10, "writing 2000 lines into 4 KiB files rotates many times"
    seen: dict[int, list[int]] = {t: [] for t in range(THREADS)}
    for file in files:
        data = file.read_bytes()
        assert len(data) <= 4096
        assert data.endswith(b"\n"), f"{file.name} ends inside a line"
        for line in data.decode().splitlines():
            record = json.loads(line)  # a split or interleaved line would not parse
            seen[record["thread"]].append(record["seq"])
    for thread, seqs in seen.items():
        assert seqs == list(range(PER_THREAD)), f"thread {thread} lost, repeated or reordered lines"


def test_never_more_than_max_files_and_the_newest_lines_survive(configure_file):
    path = configure_file(max_size="2KB", max_files=3)
    log_from_threads()
    files = files_oldest_first(path)
    assert [f.name for f in files] == ["app.log.2", "app.log.1", "app.log"]
    assert sorted(p.name for p in path.parent.iterdir()) == ["app.log", "app.log.1", "app.log.2"]
    lines = [json.loads(line) for f in files for line in f.read_text().splitlines()]
    assert all(f.stat().st_size <= 2048 for f in files)
    by_thread: dict[int, list[int]] = {}
    for record in lines:
        by_thread.setdefault(record["thread"], []).append(record["seq"])
    for seqs in by_thread.values():
        # What survives of each thread is a run of its newest lines, in order, without gaps.
        assert seqs == list(range(seqs[0], PER_THREAD))


def test_a_line_longer_than_max_size_gets_a_file_of_its_own(configure_file):
    path = configure_file(max_size=200, max_files=5)
    log = ferrotel.get_logger("x")
    log.info("short")
    log.info("long", blob="x" * 500)
    log.info("after")
    ferrotel.flush()
    contents = [f.read_text() for f in files_oldest_first(path)]
    assert [c.count("\n") for c in contents] == [1, 1, 1]
    assert '"blob"' in contents[1] and '"after"' in contents[2]


def test_one_file_only_starts_over_when_full(configure_file):
    path = configure_file(max_size=300, max_files=1)
    log = ferrotel.get_logger("x")
    for i in range(20):
        log.info("entry", i=i)
    ferrotel.flush()
    assert [p.name for p in path.parent.iterdir()] == ["app.log"]
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert lines and lines[-1]["i"] == 19 and path.stat().st_size <= 300


def test_existing_content_counts_towards_max_size(tmp_path, configure_file):
    path = tmp_path / "app.log"
    path.write_text("x" * 950 + "\n")
    configure_file(max_size=1000, max_files=2)
    ferrotel.get_logger("x").info("does not fit after the old content")
    ferrotel.flush()
    assert (tmp_path / "app.log.1").read_text() == "x" * 950 + "\n"
    assert "does not fit" in path.read_text()
