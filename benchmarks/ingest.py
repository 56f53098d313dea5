"""Ingest benchmark: sync a generated `files` export end to end through the installed command.

    python benchmarks/ingest.py [--records 1000000] [--small 250000] [--runs 3]
        [--store duckdb|postgres|both] [--compare] [--update-benchmarks-md]

Generates each export once with crm_connect.sample (every entity, realistic columns), then runs
`crm-connect sync` in a child process into a fresh store, ``--runs`` times per size: a DuckDB
file, and/or a database on a throwaway PostgreSQL server started for the run (Debian's
binaries, as tests/pg_server.py starts it). Reports the median records/s end to end and the
child's peak resident memory (largest of the sync process and its workers); peak memory that
does not grow with the export's size is the point of the second size.

``--compare`` runs each sync twice in turn, bulk validation (the default) and record-by-record
pydantic validation (``CRM_CONNECT_VALIDATION=records``, the path before bulk validation),
and reports the ratio pair by pair: pairs keep the ratio fair on a machine whose load drifts.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from crm_connect.sample import BASE_COUNTS, write_sample_export

CLI = str(Path(sys.executable).parent / "crm-connect")
ROOT = Path(__file__).resolve().parent.parent
HEADING = "Ingest (files connector → DuckDB and Postgres)"


def make_export(records: int, workdir: Path) -> tuple[Path, int, float]:
    """The export folder, its record count and its size in MB."""
    # Users are capped (a CRM has hundreds of users, not millions): scale the other entities.
    scale = records / (sum(BASE_COUNTS.values()) - BASE_COUNTS["users"])
    folder = workdir / f"export-{records}"
    counts = write_sample_export(folder, scale=scale, seed=11)
    size_mb = sum(p.stat().st_size for p in folder.iterdir()) / 2**20
    return folder, sum(counts.values()), size_mb


@contextmanager
def postgres() -> Iterator[Any]:
    sys.path.insert(0, str(ROOT / "tests"))
    from pg_server import MISSING, PostgresServer, find_binaries

    binaries = find_binaries()
    if binaries is None:
        raise SystemExit(MISSING)
    server = PostgresServer.start(binaries)
    try:
        yield server
    finally:
        server.stop()


def sync_once(export: Path, workdir: Path, store_url: str | None,
              env: dict[str, str]) -> dict[str, float]:
    """One `crm-connect sync` of ``export`` into a fresh store: seconds and peak MB."""
    run = Path(tempfile.mkdtemp(prefix="run-", dir=workdir))
    store = f'[store]\nurl = "{store_url}"\n\n' if store_url else ""
    (run / "crm-connect.toml").write_text(
        f'{store}[connections.bench]\nconnector = "files"\npath = "{export}"\n')
    started = time.perf_counter()
    child = subprocess.Popen([CLI, "sync"], cwd=run, stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE, env={**os.environ, **env})
    _, status, usage = os.wait4(child.pid, 0)
    seconds = time.perf_counter() - started
    if status != 0:
        raise SystemExit(f"sync failed: {child.stderr.read().decode() if child.stderr else ''}")
    shutil.rmtree(run, ignore_errors=True)
    # wait4 reports the child and the descendants it reaped: the largest of them is the peak.
    return {"seconds": seconds, "peak_mb": usage.ru_maxrss / 1024,  # Linux reports KiB
            "cpu": usage.ru_utime + usage.ru_stime}


def measure(store: str, export: Path, records: int, workdir: Path, runs: int, compare: bool,
            server: Any) -> dict[str, Any]:
    modes = ["bulk", "records"] if compare else ["bulk"]
    found: dict[str, list[dict[str, float]]] = {mode: [] for mode in modes}
    for index in range(runs):
        for mode in modes:
            url = None
            env = {"CRM_CONNECT_VALIDATION": mode}
            if server is not None:
                url = server.create_database(f"bench_{mode}_{records}_{index}")
                env["CRM_CONNECT_STORE_PASSWORD"] = server.password
            result = sync_once(export, workdir, url, env)
            found[mode].append(result)
            print(f"  {store} {records:,} {mode}: {result['seconds']:.1f} s, "
                  f"{result['cpu']:.1f} CPU s, "
                  f"{records / result['seconds']:,.0f} records/s, {result['peak_mb']:.0f} MB",
                  flush=True)
    summary: dict[str, Any] = {"store": store, "records": records, "modes": {}}
    for mode, results in found.items():
        seconds = [r["seconds"] for r in results]
        summary["modes"][mode] = {"seconds": statistics.median(seconds),
                         "low": min(seconds), "high": max(seconds),
                         "cpu": statistics.median(r["cpu"] for r in results),
                         "peak_mb": statistics.median(r["peak_mb"] for r in results)}
    if compare:
        pairs = list(zip(found["bulk"], found["records"], strict=True))
        ratios = [b["seconds"] / a["seconds"] for a, b in pairs]
        summary["ratio"] = (statistics.median(ratios), min(ratios), max(ratios))
        summary["cpu_ratio"] = statistics.median(b["cpu"] / a["cpu"] for a, b in pairs)
    return summary


def report(results: list[dict[str, Any]], sizes: dict[int, float], runs: int) -> str:
    load = os.getloadavg()[0]
    lines = [
        f"Measured {dt.date.today().isoformat()} on {platform.machine()}, "
        f"{os.cpu_count()} cores, Python {platform.python_version()}, "
        "`python benchmarks/ingest.py`: the files connector's default page size (20,000), "
        f"every entity, a fresh store per run, median of {runs} "
        f"run{'s' if runs > 1 else ''} (range in brackets). The machine "
        f"was shared with other engineers' work (load average {load:.1f} at the end), so the "
        "absolute figures are low; the ratios, taken pair by pair, are the comparison.",
        "",
        "| store | records | export | validation | wall time | records/s | CPU time | "
        "records/CPU s | peak RSS |",
        "|---|---:|---:|---|---:|---:|---:|---:|---:|",
    ]
    for result in results:
        records = result["records"]
        for mode, figures in result["modes"].items():
            label = "bulk" if mode == "bulk" else "per record (before)"
            lines.append(
                f"| {result['store']} | {records:,} | {sizes[records]:.0f} MB | {label} | "
                f"{figures['seconds']:.1f} s ({figures['low']:.1f}-{figures['high']:.1f}) | "
                f"{records / figures['seconds']:,.0f} | {figures['cpu']:.1f} s | "
                f"{records / figures['cpu']:,.0f} | {figures['peak_mb']:.0f} MB |")
    ratios = [r for r in results if "ratio" in r]
    if ratios:
        lines.append("")
        for result in ratios:
            median, low, high = result["ratio"]
            lines.append(f"- {result['store']}, {result['records']:,} records: bulk "
                         f"validation is {median:.2f}x as fast as per-record validation "
                         f"({low:.2f}x-{high:.2f}x pair by pair) and needs "
                         f"{1 / result['cpu_ratio']:.2f}x its CPU time.")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--small", type=int, default=250_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--store", choices=["duckdb", "postgres", "both"], default="both")
    parser.add_argument("--compare", action="store_true")
    parser.add_argument("--update-benchmarks-md", action="store_true")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="crm-ingest-"))
    stores = ["duckdb", "postgres"] if args.store == "both" else [args.store]
    results: list[dict[str, Any]] = []
    sizes: dict[int, float] = {}
    try:
        exports = {}
        for records in (args.small, args.records):
            folder, total, size = make_export(records, workdir)
            exports[total], sizes[total] = folder, size
        for store in stores:
            with (postgres() if store == "postgres" else _nothing()) as server:
                for total, folder in exports.items():
                    results.append(measure(store, folder, total, workdir, args.runs,
                                           args.compare, server))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    text = report(results, sizes, args.runs)
    print(text)
    if args.update_benchmarks_md:
        update_section(ROOT / "BENCHMARKS.md", HEADING, text)


@contextmanager
def _nothing() -> Iterator[None]:
    yield None


def update_section(path: Path, heading: str, body: str) -> None:
    """Replace (or add) the `## heading` section of BENCHMARKS.md."""
    text = path.read_text() if path.exists() else "# Benchmarks\n"
    marker = f"## {heading}\n"
    if marker in text:
        before, rest = text.split(marker, 1)
        after = rest.split("\n## ", 1)
        tail = "\n## " + after[1] if len(after) == 2 else ""
        text = before + marker + "\n" + body + "\n" + tail
    else:
        text = text.rstrip("\n") + "\n\n" + marker + "\n" + body + "\n"
    path.write_text(text)


if __name__ == "__main__":
    main()
