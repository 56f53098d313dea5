"""``crm-connect resolve`` through the installed command on a real DuckDB file: accuracy on
the seeded two-CRM fixture (benchmarks/resolve_org.py wrote it, with its truth), stable
cluster ids, incremental runs, deletes, merges and a reviewer's decisions."""

from __future__ import annotations

import csv
import importlib.util
import shutil
import sys
from pathlib import Path
from typing import Any

import pytest

from crm_connect.config import open_store

FIXTURE = Path(__file__).parent / "fixtures" / "resolve"
GENERATOR = Path(__file__).parent.parent / "benchmarks" / "resolve_org.py"
CONFIG = """[connections.crm_a]
connector = "files"
path = "crm_a/"

[connections.crm_b]
connector = "files"
path = "crm_b/"
"""


def _generator() -> Any:
    spec = importlib.util.spec_from_file_location("resolve_org", GENERATOR)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def org(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The fixture synced into a DuckDB file and resolved once."""
    from conftest import run_cli_process

    folder = tmp_path_factory.mktemp("org")
    for source in ("crm_a", "crm_b"):
        shutil.copytree(FIXTURE / source, folder / source)
    (folder / "crm-connect.toml").write_text(CONFIG)
    synced = run_cli_process("sync", cwd=folder)
    assert synced.returncode == 0, synced.stderr
    resolved = run_cli_process("resolve", "--review", "review.csv", cwd=folder, timeout=600)
    assert resolved.returncode == 0, resolved.stdout + resolved.stderr
    assert "Traceback" not in resolved.stderr
    return folder


def _query(folder: Path, sql: str) -> list[dict[str, Any]]:
    store = open_store("duckdb:///crm.duckdb", base_dir=folder, read_only=True)
    try:
        return store.query_arrow(sql).to_pylist()  # type: ignore[no-any-return]
    finally:
        store.close()


def _clusters(folder: Path, entity: str) -> dict[tuple[str, str], str]:
    rows = _query(folder, "SELECT source, id, cluster_id FROM resolved_entities "
                  f"WHERE entity = '{entity}'")
    return {(row["source"], row["id"]): row["cluster_id"] for row in rows}


def _truth(entity: str) -> dict[tuple[str, str], str]:
    with (FIXTURE / "truth.csv").open(newline="") as handle:
        return {(row["source"], row["id"]): row["truth"] for row in csv.DictReader(handle)
                if row["entity"] == entity}


@pytest.mark.parametrize("entity", ["accounts", "contacts"])
def test_resolve_finds_the_same_companies_and_people_across_two_crms(org: Path,
                                                                     entity: str) -> None:
    scores = _generator().pairwise_scores(_truth(entity), _clusters(org, entity))
    assert scores["precision"] >= 0.95, scores
    assert scores["recall"] >= 0.9, scores
    assert scores["f1"] >= 0.93, scores


def test_every_live_record_has_one_row_and_links_say_what_decided(org: Path) -> None:
    counts = _query(org, "SELECT entity, count(*) AS n, count(DISTINCT cluster_id) AS c "
                    "FROM resolved_entities GROUP BY entity ORDER BY entity")
    stored = {e: _query(org, f"SELECT count(*) AS n FROM {e}")[0]["n"]
              for e in ("accounts", "contacts", "leads")}
    assert {row["entity"]: row["n"] for row in counts} == stored
    assert all(row["c"] < row["n"] for row in counts)  # some records did merge
    deciders = {row["decided_by"].split(":")[0] for row in _query(
        org, "SELECT DISTINCT decided_by FROM entity_links")}
    assert {"email", "domain", "linked_id", "splink"} <= deciders


def test_golden_fields_follow_the_configured_source_order(org: Path) -> None:
    rows = _query(org, "SELECT cluster_id, source, name FROM resolved_entities "
                  "WHERE entity = 'accounts' AND cluster_size > 1")
    names = {}
    for row in rows:
        names.setdefault(row["cluster_id"], set()).add(row["name"])
    assert names and all(len(values) == 1 for values in names.values())
