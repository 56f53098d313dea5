"""A sync that cannot finish: the store's disk fills up, the sync is stopped with a signal, or
its worker processes are killed.  What was stored stays, the real cause is reported, and the
next run resumes without loss."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pytest

CLI = str(Path(sys.executable).parent / "crm-connect")
LEAK = "leaked semaphore"


def table(db: Path, sql: str) -> list[tuple[Any, ...]]:
    with duckdb.connect(str(db), read_only=True) as con:
        return con.execute(sql).fetchall()


def _contacts_export(root: Path, rows: int, page_size: int, store: Path | None = None) -> None:
    folder = root / "exports"
    folder.mkdir()
    with (folder / "contacts.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "email", "first_name", "last_name", "updated_at"])
        for n in range(rows):
            writer.writerow([f"C{n}", f"person.{n}.{n * 7919 % 100003}@example-{n % 97}.com",
                             f"First{n * 31 % 10007}x{n}", f"Last{n * 17 % 9973}y{n}",
                             f"2026-01-{1 + n % 28:02d}T10:00:00Z"])
    config = f'[connections.big]\nconnector = "files"\npath = "exports/"\npage_size = {page_size}\n'
    if store is not None:
        config = f'[store]\nurl = "duckdb:///{store}"\n' + config
    (root / "crm-connect.toml").write_text(config)


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 3 MB tmpfs: a real filesystem that runs out of space (needs root to mount)."""
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", str(mount)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here (needs root): {done.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", str(mount)], check=True)


@pytest.mark.slow
@pytest.mark.parametrize("workers", ["0", "2"])
def test_a_full_disk_is_reported_as_such_and_the_next_run_resumes(
        tmp_path: Path, small_disk: Path, workers: str) -> None:
    db = small_disk / "crm.duckdb"
    rows = 30_000
    _contacts_export(tmp_path, rows, page_size=2000, store=db)
    env = {**os.environ, "CRM_CONNECT_WORKERS": workers}
    full = subprocess.run([CLI, "sync"], cwd=tmp_path, capture_output=True, text=True, env=env)
    assert full.returncode == 1, full.stdout + full.stderr
    # The cause, where, and that the page was not half stored; not what the rollback said.
    assert f"no space left on device at {db}" in full.stderr
    assert "nothing of this page was stored" in full.stderr
    assert "no transaction is active" not in full.stderr + full.stdout
    assert "Traceback" not in full.stderr
    status, error = table(db, "SELECT status, error FROM sync_runs")[0]
    assert status == "failed" and f"no space left on device at {db}" in error
    # What was stored before is intact and the checkpoint covers exactly that.
    stored = table(db, "SELECT count(*), count(DISTINCT id) FROM contacts")[0]
    assert 0 < stored[0] < rows and stored[0] == stored[1]
    state = json.loads(table(db, "SELECT state FROM sync_state")[0][0])
    assert state["resume"]["line"] == stored[0] + 1  # the header is line 1

    subprocess.run(["mount", "-o", "remount,size=64m", str(small_disk)], check=True)
    resumed = subprocess.run([CLI, "sync"], cwd=tmp_path, capture_output=True, text=True,
                             env=env)
    assert resumed.returncode == 0, resumed.stderr
    assert table(db, "SELECT count(*), count(DISTINCT id) FROM contacts")[0] == (rows, rows)


def _start_sync(root: Path, pages: int) -> subprocess.Popen[str]:
    """Start ``crm-connect -v sync`` with two workers; return once ``pages`` pages are stored."""
    process = subprocess.Popen([CLI, "-v", "sync"], cwd=root, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, text=True,
                               env={**os.environ, "CRM_CONNECT_WORKERS": "2"})
    assert process.stderr is not None
    stored = 0
    deadline = time.monotonic() + 120
    while stored < pages and time.monotonic() < deadline:
        if "stored " in process.stderr.readline():
            stored += 1
    assert stored == pages, "the sync never reported progress"
    return process


def _workers(pid: int) -> list[Any]:
    import psutil

    children = psutil.Process(pid).children()
    return [child for child in children
            if "resource_tracker" not in " ".join(child.cmdline())]


@pytest.mark.slow
@pytest.mark.parametrize("stop", ["SIGTERM", "SIGINT", "worker killed"])
def test_a_stopped_sync_leaves_no_leaked_semaphores_and_resumes(tmp_path: Path,
                                                                 stop: str) -> None:
    rows = 60_000
    _contacts_export(tmp_path, rows, page_size=1000)
    process = _start_sync(tmp_path, pages=3)
    workers = _workers(process.pid)
    assert len(workers) == 2
    if stop == "worker killed":
        os.kill(workers[0].pid, signal.SIGKILL)
    else:
        process.send_signal(getattr(signal, stop))
    assert process.stderr is not None
    # Read to the end: the resource tracker, the last process to exit, writes the warning.
    err = process.stderr.read()
    process.wait(timeout=60)
    assert LEAK not in err, err[-2000:]
    assert "Traceback" not in err, err[-2000:]
    db = tmp_path / "crm.duckdb"
    if stop == "worker killed":
        assert process.returncode == 1
        assert "a validation worker process stopped unexpectedly" in err
        assert table(db, "SELECT status FROM sync_runs") == [("failed",)]
    else:
        assert process.returncode == 130
        assert "Interrupted" in err
        assert table(db, "SELECT status FROM sync_runs") == [("interrupted",)]
    stored = table(db, "SELECT count(*) FROM contacts")[0][0]
    state = json.loads(table(db, "SELECT state FROM sync_state")[0][0])
    assert stored >= 3000 and state["resume"]["line"] == stored + 1

    resumed = subprocess.run([CLI, "sync"], cwd=tmp_path, capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr
    assert LEAK not in resumed.stderr
    assert table(db, "SELECT count(*), count(DISTINCT id) FROM contacts")[0] == (rows, rows)
