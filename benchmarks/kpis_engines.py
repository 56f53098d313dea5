#!/usr/bin/env python3
"""Time the whole KPI catalogue on DuckDB, Postgres and Spark local over the same data.

    python benchmarks/kpis_engines.py --scale 0.1                 # every engine
    python benchmarks/kpis_engines.py --scale 0.1 --engine spark  # one of them

The synthetic org of ``benchmarks/kpis.py`` (scale 1.0: 5.7M rows) is generated into a DuckDB
file, then each engine gets the same rows its own way:

- *duckdb*: the generated file, opened read-only as the store;
- *postgres*: a throwaway server (``tests/pg_server.py``: Debian's binaries, loopback,
  fsync off), a store opened on a new database and every table loaded through the store
  contract's bulk path (``append_arrow``: COPY), 100,000 rows a batch;
- *spark*: ``export_parquet`` (what ``crm-connect export --format parquet`` runs) writes the
  tables as Parquet, and a local SparkSession (2 cores, 2 shuffle partitions, no UI) reads
  them through :class:`~crm_connect.metrics.spark.SparkTables`.

Each engine runs in a fresh process, which times the whole catalogue (42 KPIs, 12 monthly
periods) and the same ``--by source``, ``--repeat`` times each, and reports the medians, the
data's size (rows, MB on disk), the peak RSS of this Python process and of the engine's own
process (the Spark JVM, the Postgres backend serving the store's connection).  Prints a
Markdown table for BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))
sys.path.insert(0, str(ROOT / "tests"))

from kpis import AS_OF, FULL, generate, peak_mb  # noqa: E402

ENGINES = ("duckdb", "postgres", "spark")
BATCH = 100_000
COMMON: dict[str, Any] = dict(grain="month", as_of=AS_OF, end="2026-06-30", periods=12,
                              rates={"EUR": 1.08})


def process_peak_mb(pid: int) -> float | None:
    """Another process's peak RSS (``VmHWM``), or ``None`` where it cannot be read."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def time_catalogue(source: Any, repeat: int) -> dict[str, Any]:
    """The catalogue and the catalogue ``--by source``, ``repeat`` runs each."""
    from crm_connect.metrics import compute_kpis

    runs: dict[str, Callable[[], Any]] = {
        "catalogue": lambda: compute_kpis(source, **COMMON),
        "by_source": lambda: compute_kpis(source, by=["source"], **COMMON),
    }
    result: dict[str, Any] = {}
    for name, run in runs.items():
        times, rows = [], 0
        for _ in range(repeat):
            started = time.perf_counter()
            rows = len(run())
            times.append(time.perf_counter() - started)
        result[name] = {"median": statistics.median(times), "best": min(times),
                        "first": times[0], "rows": rows}
    return result


def table_rows(store: Any) -> dict[str, int]:
    from crm_connect.schema import ENTITIES

    return {entity: int(store.execute(f'SELECT count(*) FROM "{entity}"')[0][0])
            for entity in ENTITIES if store.has_table(entity)}


def on_duckdb(path: Path, repeat: int) -> dict[str, Any]:
    from crm_connect.store import DuckDBStore

    with DuckDBStore.open(f"duckdb:///{path}", base_dir=path.parent, read_only=True) as store:
        result = time_catalogue(store, repeat)
        result["rows"] = sum(table_rows(store).values())
    result.update(size_mb=path.stat().st_size / 2**20, size_what="DuckDB file",
                  python_peak_mb=peak_mb(), engine_peak_mb=None)
    return result


def on_postgres(path: Path, url: str, repeat: int) -> dict[str, Any]:
    from crm_connect.pgstore import PostgresStore
    from crm_connect.store import DuckDBStore

    started = time.perf_counter()
    with DuckDBStore.open(f"duckdb:///{path}", base_dir=path.parent, read_only=True) as duck, \
            PostgresStore.open(url, base_dir=path.parent) as pg:
        for entity, count in table_rows(duck).items():
            if count:
                rows = duck.query_arrow(f'SELECT * FROM "{entity}"')
                for offset in range(0, rows.num_rows, BATCH):
                    pg.append_arrow(entity, rows.slice(offset, BATCH))
                del rows
    loaded = time.perf_counter() - started
    with PostgresStore.open(url, base_dir=path.parent, read_only=True) as store:
        store.execute("ANALYZE")
        backend = int(store.execute("SELECT pg_backend_pid()")[0][0])
        result = time_catalogue(store, repeat)
        result["rows"] = sum(table_rows(store).values())
        size = int(store.execute("SELECT pg_database_size(current_database())")[0][0])
        result.update(size_mb=size / 2**20, size_what="database", load_seconds=loaded,
                      python_peak_mb=peak_mb(), engine_peak_mb=process_peak_mb(backend))
    return result


def on_spark(path: Path, folder: Path, repeat: int) -> dict[str, Any]:
    from crm_connect.export import export_parquet
    from crm_connect.metrics.spark import SparkTables, local_session
    from crm_connect.store import DuckDBStore

    started = time.perf_counter()
    with DuckDBStore.open(f"duckdb:///{path}", base_dir=path.parent, read_only=True) as duck:
        summary = export_parquet(duck, folder)
    exported = time.perf_counter() - started
    session = local_session(cores=2, shuffle_partitions=2, memory="2g")
    try:
        result = time_catalogue(SparkTables(session, folder), repeat)
        jvm = session.sparkContext._gateway.proc.pid
        result.update(rows=summary.rows, size_mb=summary.bytes / 2**20, size_what="Parquet",
                      load_seconds=exported, python_peak_mb=peak_mb(),
                      engine_peak_mb=process_peak_mb(jvm))
    finally:
        session.stop()
    return result


def run_engine(engine: str, path: Path, repeat: int, work: Path) -> dict[str, Any]:
    """One engine in a fresh process (its peak RSS its own); the server for Postgres."""
    command = [sys.executable, __file__, "--phase", engine, "--db", str(path),
               "--repeat", str(repeat)]
    env = dict(os.environ)
    server = None
    if engine == "postgres":
        from pg_server import (  # type: ignore[import-not-found]
            MISSING,
            PostgresServer,
            find_binaries,
        )

        binaries = find_binaries()
        if binaries is None:
            raise SystemExit(MISSING)
        server = PostgresServer.start(binaries)
        command += ["--url", server.create_database(f"kpis_{uuid.uuid4().hex[:8]}")]
        env["CRM_CONNECT_STORE_PASSWORD"] = server.password
    if engine == "spark":
        command += ["--tables", str(work / "lake")]
    try:
        done = subprocess.run(command, capture_output=True, text=True, check=False, env=env)
    finally:
        if server is not None:
            server.stop()
    if done.returncode != 0:
        raise SystemExit(f"{engine} failed:\n{done.stderr}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def phase(args: argparse.Namespace) -> dict[str, Any]:
    path = Path(args.db)
    if args.phase == "duckdb":
        return on_duckdb(path, args.repeat)
    if args.phase == "postgres":
        return on_postgres(path, args.url, args.repeat)
    return on_spark(path, Path(args.tables), args.repeat)


def table(results: dict[str, dict[str, Any]], scale: float, repeat: int) -> str:
    def peak(result: dict[str, Any]) -> str:
        engine = result["engine_peak_mb"]
        return f"{result['python_peak_mb']:.0f}" + (f" + {engine:.0f}" if engine else "")

    lines = [f"| engine (scale {scale:g}) | rows | data (MB) | catalogue (s) | --by source (s) "
             f"| peak RSS (MB) |", "|---|---:|---:|---:|---:|---:|"]
    for engine, r in results.items():
        lines.append(f"| {engine} | {r['rows']:,} | {r['size_mb']:.0f} ({r['size_what']}) | "
                     f"{r['catalogue']['median']:.2f} | {r['by_source']['median']:.2f} | "
                     f"{peak(r)} |")
    lines.append(f"\nMedians of {repeat} runs; peak RSS is the Python process, plus the "
                 "engine's own process (Postgres backend, Spark JVM) where there is one.")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--scale", type=float, default=0.1)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--engine", action="append", choices=ENGINES,
                        help="an engine to time (repeatable; default: all three)")
    parser.add_argument("--db", help="DuckDB file to (re)use (default: a temporary one)")
    parser.add_argument("--phase", choices=ENGINES, help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--tables", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.phase:  # a child process: one engine, the result as JSON on the last line
        print(json.dumps(phase(args)))
        return 0

    from crm_connect.store import DuckDBStore

    counts = {k: max(3, int(v * args.scale)) for k, v in FULL.items()}
    results: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        path = (Path(args.db) if args.db else work / "bench.duckdb").resolve()
        if not path.exists():
            store = DuckDBStore.open(f"duckdb:///{path}", base_dir=work)
            generate(store.con, counts)
            store.execute("CHECKPOINT")
            store.close()
        print(f"{dt.datetime.now(dt.UTC):%H:%M} generated {sum(counts.values()):,} rows; "
              f"load average {os.getloadavg()[0]:.1f}", file=sys.stderr, flush=True)
        for engine in args.engine or ENGINES:
            results[engine] = r = run_engine(engine, path, args.repeat, work)
            print(f"{engine}: catalogue {r['catalogue']['median']:.2f} s median "
                  f"(first {r['catalogue']['first']:.2f} s), --by source "
                  f"{r['by_source']['median']:.2f} s; load average {os.getloadavg()[0]:.1f}",
                  file=sys.stderr, flush=True)
    print(table(results, args.scale, args.repeat))
    return 0


if __name__ == "__main__":
    sys.exit(main())
