"""Accuracy of ``crm-connect resolve`` on a generated two-CRM org with ground truth.

    python benchmarks/resolve_accuracy.py [--companies N] [--seed S] [--entity E ...]

Generates the org (benchmarks/resolve_org.py) in a temporary folder, syncs both exports into
a DuckDB file with the installed ``crm-connect`` command, resolves, and prints pairwise
precision, recall and F1 per entity as a Markdown table, with the time and peak memory of the
``resolve`` process.
"""

from __future__ import annotations

import argparse
import importlib.util
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import psutil

from crm_connect.config import open_store

HERE = Path(__file__).parent
CONFIG = """[connections.crm_a]
connector = "files"
path = "crm_a/"

[connections.crm_b]
connector = "files"
path = "crm_b/"
"""


def _generator() -> Any:
    spec = importlib.util.spec_from_file_location("resolve_org", HERE / "resolve_org.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def run_measured(command: list[str], cwd: Path) -> tuple[float, int]:
    """Run ``command``; its wall time and the peak resident memory of its process tree."""
    started = time.perf_counter()
    process = psutil.Popen(command, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    peak = 0
    while process.poll() is None:
        try:
            tree = [process, *process.children(recursive=True)]
            peak = max(peak, sum(p.memory_info().rss for p in tree))
        except psutil.Error:
            pass
        time.sleep(0.2)
    out, err = process.communicate()
    if process.returncode:
        raise SystemExit(f"{' '.join(command)} failed:\n{out.decode()}\n{err.decode()}")
    return time.perf_counter() - started, peak


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--companies", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=19)
    parser.add_argument("--entity", action="append", default=None)
    args = parser.parse_args()
    generator = _generator()
    cli = str(Path(sys.executable).with_name("crm-connect"))
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        org = generator.write_org(root, companies=args.companies, seed=args.seed)
        (root / "crm-connect.toml").write_text(CONFIG)
        run_measured([cli, "sync"], root)
        entities = args.entity or ["accounts", "contacts", "leads"]
        took, peak = run_measured(
            [cli, "resolve", *(f"--entity={e}" for e in entities)], root)
        store = open_store("duckdb:///crm.duckdb", base_dir=root, read_only=True)
        try:
            rows = store.query_arrow(
                "SELECT entity, source, id, cluster_id FROM resolved_entities").to_pylist()
        finally:
            store.close()
    print(f"{args.companies:,} companies, seed {args.seed}: resolve took {took:.1f} s, "
          f"peak memory {peak / 2**20:,.0f} MB\n")
    print("| entity | records | true pairs | precision | recall | F1 |")
    print("|---|---:|---:|---:|---:|---:|")
    for entity in entities:
        truth = {(s, i): key for (e, s, i), key in org.truth.items() if e == entity}
        clusters = {(r["source"], r["id"]): r["cluster_id"] for r in rows
                    if r["entity"] == entity}
        scores = generator.pairwise_scores(truth, clusters)
        print(f"| {entity} | {len(truth):,} | {scores['true_pairs']:,} | "
              f"{scores['precision']:.3f} | {scores['recall']:.3f} | {scores['f1']:.3f} |")


if __name__ == "__main__":
    main()
