"""``benchmarks/kpis_engines.py``: the catalogue timed on DuckDB and on Postgres over the same
generated org, at a tiny scale (Spark's run is the same code path on its own engine and
costs minutes of JVM start-up and planning, so it is left to the benchmark itself)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from pg_server import MISSING, find_binaries

SCRIPT = Path(__file__).parent.parent / "benchmarks" / "kpis_engines.py"


def test_the_engines_benchmark_times_duckdb_and_postgres_on_the_same_rows() -> None:
    if find_binaries() is None:
        if os.environ.get("CI") == "true":
            pytest.fail(MISSING + " (CI must run it: .ci/run installs it)")
        pytest.skip(MISSING)
    result = subprocess.run([sys.executable, str(SCRIPT), "--scale", "0.002", "--repeat", "1",
                             "--engine", "duckdb", "--engine", "postgres"],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    rows = {line.split("|")[1].strip(): [cell.strip() for cell in line.split("|")[2:-1]]
            for line in result.stdout.splitlines() if line.startswith("| ")}
    assert set(rows) == {"engine (scale 0.002)", "duckdb", "postgres"}
    # The same rows on both engines, loaded through the Postgres store's bulk path.
    assert rows["duckdb"][0] == rows["postgres"][0] == "11,338"
    assert "(database)" in rows["postgres"][1] and "+" in rows["postgres"][4]
