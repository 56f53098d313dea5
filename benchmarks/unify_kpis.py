#!/usr/bin/env python3
"""What ``kpis --unify`` costs: the whole catalogue over resolved clusters against the plain
catalogue, on the synthetic org of ``benchmarks/kpis.py``.

    python benchmarks/unify_kpis.py prepare /tmp/unify.duckdb --scale 0.25
    farm-bench -n 5 -- python benchmarks/unify_kpis.py run /tmp/unify.duckdb --unify \\
        --vs 'python benchmarks/unify_kpis.py run /tmp/unify.duckdb'

``prepare`` generates the org (three sources) and the ``resolved_entities`` table a resolver
would write: the accounts and leads of ``sf_prod`` and ``hs_marketing`` merged in pairs (row i
with row i + 1), those of ``finance`` singletons, so 2/3 of the records are in two-record
clusters.  ``run`` computes the whole catalogue for 12 months once, in a fresh process, and
prints how many rows it gave and how many records resolved into how many clusters.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from kpis import AS_OF, FULL, generate

_CLUSTERS = """
INSERT INTO resolved_entities (entity, source, id, cluster_id)
SELECT '{entity}', source, id,
       '{prefix}' || CAST(n - n % 3 + CASE WHEN n % 3 = 2 THEN 2 ELSE 0 END AS VARCHAR)
FROM (SELECT source, id, CAST(substr(id, {skip}) AS BIGINT) AS n FROM {entity})
"""


def prepare(path: Path, scale: float) -> None:
    from crm_connect.store import DuckDBStore

    counts = {k: max(3, int(v * scale)) for k, v in FULL.items()}
    with tempfile.TemporaryDirectory() as tmp:
        store = DuckDBStore.open(f"duckdb:///{path}", base_dir=Path(tmp))
        started = time.perf_counter()
        generate(store.con, counts)
        store.ensure_table("resolved_entities", [
            ("entity", "VARCHAR"), ("source", "VARCHAR"), ("id", "VARCHAR"),
            ("cluster_id", "VARCHAR")])
        store.execute(_CLUSTERS.format(entity="accounts", prefix="AC", skip=2))
        store.execute(_CLUSTERS.format(entity="leads", prefix="LC", skip=2))
        store.execute("CHECKPOINT")
        store.close()
    print(f"generated {sum(counts.values()):,} rows and their clusters in "
          f"{time.perf_counter() - started:.1f} s", file=sys.stderr)


def run(path: Path, unify: bool, by: list[str]) -> None:
    from crm_connect.metrics import compute_kpis, read_resolution
    from crm_connect.store import DuckDBStore

    with DuckDBStore.open(f"duckdb:///{path}", base_dir=path.parent, read_only=True) as store:
        rows = compute_kpis(store, grain="month", as_of=AS_OF, end="2026-06-30", periods=12,
                            rates={"EUR": 1.08}, by=by, unify=unify)
        resolution = read_resolution(store) if unify else []
    print(f"{len(rows)} rows; " + "; ".join(
        f"{item.entity}: {item.records:,} records, {item.clusters:,} clusters"
        for item in resolution))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    commands = parser.add_subparsers(dest="command", required=True)
    prepared = commands.add_parser("prepare")
    prepared.add_argument("db", type=Path)
    prepared.add_argument("--scale", type=float, default=0.25)
    running = commands.add_parser("run")
    running.add_argument("db", type=Path)
    running.add_argument("--unify", action="store_true")
    running.add_argument("--by", action="append", default=[])
    args = parser.parse_args()
    if args.command == "prepare":
        prepare(args.db.resolve(), args.scale)
    else:
        run(args.db.resolve(), args.unify, args.by)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
