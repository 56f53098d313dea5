"""Speed of ``crm-connect resolve`` on a large org, and of the run after an incremental sync.

    python benchmarks/resolve_org.py ORG --companies 230000 --no-leads   # ~1M contacts
    python benchmarks/resolve_speed.py ORG [--changed 1000]

ORG is a folder the generator wrote.  The script syncs it (when no store is there yet),
resolves contacts from scratch (``--full``), then edits ``--changed`` contacts of ``crm_b``
(a new phone, a newer ``updated_at``), syncs again and resolves again: that run scores only
the changed records against their candidates.  Each resolve runs under ``/usr/bin/time -v``:
wall time, CPU time, peak resident memory, with the pairs scored and clusters it reported
and the load average when it finished (the machine may be shared).
"""

from __future__ import annotations

import argparse
import csv
import importlib.util
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).parent
TIME = "/usr/bin/time"


def _accuracy() -> Any:
    spec = importlib.util.spec_from_file_location("resolve_accuracy", HERE /
                                                  "resolve_accuracy.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def _edit(path: Path, count: int) -> None:
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        fields, rows = list(reader.fieldnames or ()), list(reader)
    step = max(1, len(rows) // count)
    for number in range(0, min(len(rows), step * count), step):
        rows[number]["phone"] = f"+49 30 {number % 10_000_000:07d}"
        rows[number]["updated_at"] = "2026-12-01T00:00:00Z"
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)


def _timed(command: list[str], cwd: Path) -> dict[str, Any]:
    """Run ``command`` under ``/usr/bin/time -v``; its figures and its summary row."""
    done = subprocess.run([TIME, "-v", *command], cwd=cwd, capture_output=True, text=True,
                          check=False)
    if done.returncode:
        raise SystemExit(f"{' '.join(command)} failed:\n{done.stdout}\n{done.stderr}")
    figures = dict(line.strip().rsplit(": ", 1) for line in done.stderr.splitlines()
                   if ": " in line)
    wall = 0.0
    for part in figures["Elapsed (wall clock) time (h:mm:ss or m:ss)"].split(":"):
        wall = wall * 60 + float(part)
    row = next(line.split() for line in done.stdout.splitlines()
               if line.split()[:1] == ["contacts"])
    return {"wall": wall, "user": float(figures["User time (seconds)"]),
            "system": float(figures["System time (seconds)"]),
            "peak_mb": int(figures["Maximum resident set size (kbytes)"]) / 1024,
            "changed": row[3], "pairs": row[4], "clusters": row[2],
            "load": os.getloadavg()[0]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("org", type=Path)
    parser.add_argument("--changed", type=int, default=1000)
    args = parser.parse_args()
    cli = str(Path(sys.executable).with_name("crm-connect"))
    config = args.org / "crm-connect.toml"
    if not config.exists():
        config.write_text(_accuracy().CONFIG)
    if not (args.org / "crm.duckdb").exists():
        subprocess.run([cli, "sync"], cwd=args.org, check=True, capture_output=True)
    full = _timed([cli, "resolve", "--entity", "contacts", "--full"], args.org)
    _edit(args.org / "crm_b" / "contacts.csv", args.changed)
    subprocess.run([cli, "sync"], cwd=args.org, check=True, capture_output=True)
    again = _timed([cli, "resolve", "--entity", "contacts"], args.org)
    print("| run | wall | CPU (user + system) | peak memory | changed | pairs scored "
          "| clusters | load average |\n|---|---:|---:|---:|---:|---:|---:|---:|")
    for name, run in (("full (train + score)", full),
                      (f"after {args.changed:,} changed", again)):
        print(f"| {name} | {run['wall']:.0f} s | {run['user']:.0f} s + {run['system']:.0f} s "
              f"| {run['peak_mb']:,.0f} MB | {run['changed']} | {run['pairs']} "
              f"| {run['clusters']} | {run['load']:.1f} |")


if __name__ == "__main__":
    main()
