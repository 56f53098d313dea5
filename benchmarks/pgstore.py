"""Postgres store benchmark: ingest through `crm-connect sync`, then the KPI catalogue inside
Postgres, beside the same on DuckDB.

    python benchmarks/pgstore.py [--records 250000] [--update-benchmarks-md]

Starts a throwaway PostgreSQL server (tests/pg_server.py: Debian's binaries, loopback,
fsync off as in the tests), generates a `files` export with crm_connect.sample, syncs it into
Postgres and into a DuckDB file with the installed command (records/s end to end, the sync
process's peak resident memory), then times the whole KPI catalogue (`compute_kpis`, twelve
months, every KPI) on each store.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "benchmarks"))

from ingest import update_section  # noqa: E402
from pg_server import PostgresServer, find_binaries  # noqa: E402

from crm_connect.config import open_store  # noqa: E402
from crm_connect.metrics import compute_kpis  # noqa: E402
from crm_connect.sample import BASE_COUNTS, write_sample_export  # noqa: E402

CLI = str(Path(sys.executable).parent / "crm-connect")
AS_OF = "2026-11-17T00:00:00Z"


def sync(folder: Path, url: str, env: dict[str, str]) -> dict[str, float]:
    (folder / "crm-connect.toml").write_text(
        f'[store]\nurl = "{url}"\n\n[connections.bench]\nconnector = "files"\n'
        f'path = "{folder.parent / "exports"}"\npage_size = 10000\n')
    started = time.perf_counter()
    child = subprocess.Popen([CLI, "sync"], cwd=folder, stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE, env={**os.environ, **env})
    _, status, usage = os.wait4(child.pid, 0)
    seconds = time.perf_counter() - started
    if status != 0:
        raise SystemExit(f"sync failed: {child.stderr.read().decode() if child.stderr else ''}")
    return {"seconds": seconds, "peak_mb": usage.ru_maxrss / 1024}


def catalogue_seconds(url: str, base_dir: Path, repeat: int) -> float:
    store = open_store(url, base_dir=base_dir, read_only=True)
    try:
        best = float("inf")
        for _ in range(repeat):
            started = time.perf_counter()
            rows = compute_kpis(store, as_of=AS_OF, periods=12, rates={"EUR": 1.08})
            best = min(best, time.perf_counter() - started)
        assert rows
        return best
    finally:
        store.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--records", type=int, default=250_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--update-benchmarks-md", action="store_true")
    args = parser.parse_args()
    binaries = find_binaries()
    if binaries is None:
        raise SystemExit("no PostgreSQL binaries: apt-get install -y postgresql")
    workdir = Path(tempfile.mkdtemp(prefix="crm-pgbench-"))
    server = PostgresServer.start(binaries)
    results: dict[str, Any] = {}
    try:
        scale = args.records / (sum(BASE_COUNTS.values()) - BASE_COUNTS["users"])
        total = sum(write_sample_export(workdir / "exports", scale=scale, seed=11).values())
        env = {"CRM_CONNECT_STORE_PASSWORD": server.password}
        os.environ.update(env)
        stores = {"Postgres": server.create_database(f"bench_{uuid.uuid4().hex[:8]}"),
                  "DuckDB": "duckdb:///crm.duckdb"}
        for name, url in stores.items():
            folder = workdir / name
            folder.mkdir()
            results[name] = sync(folder, url, env)
            results[name]["kpis"] = catalogue_seconds(url, folder, args.repeat)
    finally:
        server.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    lines = [
        f"Measured {dt.date.today().isoformat()} on {platform.machine()}, {os.cpu_count()} "
        f"cores, Python {platform.python_version()}, `python benchmarks/pgstore.py --records "
        f"{args.records}`: {total:,} records of every entity, page size 10,000; Postgres "
        "15 on loopback (a throwaway server, fsync off); the catalogue is every KPI over twelve "
        f"months, best of {args.repeat}.",
        "",
        "| store | sync wall time | records/s | sync peak memory (RSS) | KPI catalogue |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, r in results.items():
        lines.append(f"| {name} | {r['seconds']:.1f} s | {total / r['seconds']:,.0f} "
                     f"| {r['peak_mb']:.0f} MB | {r['kpis']:.2f} s |")
    lines += ["", "Postgres loads each page with COPY (CSV written by pyarrow) into a temporary "
              "table and upserts it with INSERT ... ON CONFLICT; the catalogue is the "
              "engine's DuckDB SQL rendered for Postgres by sqlglot. Both stores sync in the "
              "same run on the same machine: compare the rows with each other (a loaded "
              "machine slows both alike)."]
    text = "\n".join(lines)
    print(text)
    if args.update_benchmarks_md:
        update_section(ROOT / "BENCHMARKS.md", "Postgres store (ingest and KPI catalogue)", text)


if __name__ == "__main__":
    main()
