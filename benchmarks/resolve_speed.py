"""Speed of ``crm-connect resolve`` on a large org, and of the run after an incremental sync.

    python benchmarks/resolve_org.py ORG --companies 200000 --no-leads   # ~870k contacts
    python benchmarks/resolve_speed.py ORG [--changed 1000]

ORG is a folder the generator wrote.  The script syncs it (when no store is there yet),
resolves contacts from scratch (``--full``), then edits ``--changed`` contacts of ``crm_b``
(a new phone, a newer ``updated_at``), syncs again and resolves again: that run scores only
the changed records against their candidates.  Wall time and peak memory of each resolve.
"""

from __future__ import annotations

import argparse
import csv
import importlib.util
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).parent


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("org", type=Path)
    parser.add_argument("--changed", type=int, default=1000)
    args = parser.parse_args()
    measure = _accuracy().run_measured
    cli = str(Path(sys.executable).with_name("crm-connect"))
    config = args.org / "crm-connect.toml"
    if not config.exists():
        config.write_text(_accuracy().CONFIG)
    if not (args.org / "crm.duckdb").exists():
        measure([cli, "sync"], args.org)
    full, full_peak = measure([cli, "resolve", "--entity", "contacts", "--full"], args.org)
    _edit(args.org / "crm_b" / "contacts.csv", args.changed)
    measure([cli, "sync"], args.org)
    again, again_peak = measure([cli, "resolve", "--entity", "contacts"], args.org)
    print("| run | wall time | peak memory |\n|---|---:|---:|")
    print(f"| full (train + score) | {full:.0f} s | {full_peak / 2**20:,.0f} MB |")
    print(f"| after {args.changed:,} changed | {again:.0f} s | {again_peak / 2**20:,.0f} MB |")


if __name__ == "__main__":
    main()
