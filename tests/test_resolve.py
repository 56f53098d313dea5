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

from conftest import run_cli_process
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


def test_the_matching_engine_leaves_no_spill_folder_next_to_the_store(org: Path) -> None:
    assert (org / "crm.duckdb").is_file()
    assert not list(org.glob(".crm-connect-resolve-*"))


def test_golden_fields_follow_the_configured_source_order(org: Path) -> None:
    rows = _query(org, "SELECT cluster_id, source, name FROM resolved_entities "
                  "WHERE entity = 'accounts' AND cluster_size > 1")
    names = {}
    for row in rows:
        names.setdefault(row["cluster_id"], set()).add(row["name"])
    assert names and all(len(values) == 1 for values in names.values())


@pytest.fixture
def copy(org: Path, tmp_path: Path) -> Path:
    """A copy of the resolved org (exports and store) that a test may change."""
    shutil.copytree(org, tmp_path / "org")
    return tmp_path / "org"


def _rewrite(path: Path, change: Any) -> None:
    """Rewrite a CSV export, ``change(rows)`` editing its rows in place."""
    with path.open(newline="") as handle:
        reader = csv.DictReader(handle)
        fields, rows = list(reader.fieldnames or ()), list(reader)
    extra = change(rows) or []
    fields += [name for name in extra if name not in fields]
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)


def _resolve(folder: Path, *args: str) -> dict[str, list[str]]:
    """Run sync then resolve; the summary's row per entity."""
    synced = run_cli_process("sync", cwd=folder)
    assert synced.returncode == 0, synced.stderr
    done = run_cli_process("resolve", *args, cwd=folder, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    return {line.split()[0]: line.split()[1:] for line in done.stdout.splitlines()
            if line.split()[:1] and line.split()[0] in ("accounts", "contacts", "leads")}


def _members(clusters: dict[tuple[str, str], str]) -> dict[str, set[tuple[str, str]]]:
    groups: dict[str, set[tuple[str, str]]] = {}
    for member, cluster in clusters.items():
        groups.setdefault(cluster, set()).add(member)
    return groups


def test_resolving_again_changes_nothing_and_scores_no_pair(copy: Path) -> None:
    before = {e: _clusters(copy, e) for e in ("accounts", "contacts", "leads")}
    summary = _resolve(copy)
    # columns: records, clusters, changed, pairs scored, links, to review
    assert all(row[2] == "0" and row[3] == "0" for row in summary.values()), summary
    assert {e: _clusters(copy, e) for e in before} == before


def test_an_edited_record_is_rescored_alone_and_other_clusters_keep_their_ids(
        copy: Path) -> None:
    before = _clusters(copy, "contacts")
    edited = ("crm_b", "")

    def edit(rows: list[dict[str, str]]) -> None:
        nonlocal edited
        row = rows[0]
        row["first_name"], row["email"] = "Zebulon", "zebulon.quixote@example.org"
        row["phone"] = ""
        row["updated_at"] = "2026-11-30T10:00:00Z"
        edited = ("crm_b", row["id"])

    _rewrite(copy / "crm_b" / "contacts.csv", edit)
    summary = _resolve(copy)
    assert summary["contacts"][2] == "1" and summary["accounts"][2] == "0", summary
    after = _clusters(copy, "contacts")
    old_cluster = before[edited]
    untouched = {m: c for m, c in before.items() if c != old_cluster}
    assert {m: after[m] for m in untouched} == untouched
    assert after[edited] not in set(untouched.values())


def test_after_a_sync_only_the_changed_records_and_their_candidates_are_rescored(
        copy: Path) -> None:
    """Three contacts get another person's phone number in one CRM: the next run reuses the
    trained model, scores only the pairs those three block with (the phone brings each a new
    candidate), links none of them to the stranger, and every other cluster keeps its id."""
    before = _clusters(copy, "contacts")
    with (copy / "crm_a" / "contacts.csv").open(newline="") as handle:
        strangers = list(csv.DictReader(handle))[-3:]
    edited: list[tuple[str, str]] = []

    def edit(rows: list[dict[str, str]]) -> None:
        for row, stranger in zip(rows[:3], strangers, strict=True):
            row["phone"], row["updated_at"] = stranger["phone"], "2026-11-30T10:00:00Z"
            edited.append(("crm_b", row["id"]))

    _rewrite(copy / "crm_b" / "contacts.csv", edit)
    # columns: records, clusters, changed, pairs scored, links, to review
    again = _resolve(copy, "--entity", "contacts")["contacts"]
    assert again[2] == "3", again
    after = _clusters(copy, "contacts")
    for member, stranger in zip(edited, strangers, strict=True):
        assert after[member] != after[("crm_a", stranger["id"])]
    touched = {before[member] for member in edited}
    untouched = {m: c for m, c in before.items() if c not in touched}
    assert {m: after[m] for m in untouched} == untouched
    full = _resolve(copy, "--entity", "contacts", "--full")["contacts"]
    assert full[2] == full[0], full  # --full retrains and rescores every record
    rescored, everything = int(again[3].replace(",", "")), int(full[3].replace(",", ""))
    assert 3 <= rescored <= everything // 10, (again, full)


def test_a_deleted_record_leaves_its_cluster_which_keeps_its_id(copy: Path) -> None:
    before = _clusters(copy, "accounts")
    groups = _members(before)
    cluster, members = next((c, m) for c, m in sorted(groups.items()) if len(m) == 2
                            and {s for s, _ in m} == {"crm_a", "crm_b"})
    gone = next(m for m in members if m[0] == "crm_b")
    stays = next(m for m in members if m[0] == "crm_a")

    def delete(rows: list[dict[str, str]]) -> list[str]:
        for row in rows:
            row["is_deleted"] = "true" if row["id"] == gone[1] else "false"
            if row["id"] == gone[1]:
                row["updated_at"] = "2026-12-01T00:00:00Z"  # newer than the last sync
        return ["is_deleted"]

    _rewrite(copy / "crm_b" / "accounts.csv", delete)
    _resolve(copy)
    after = _clusters(copy, "accounts")
    assert gone not in after
    assert after[stays] == cluster


def test_a_record_merged_away_in_its_crm_follows_the_survivor(copy: Path) -> None:
    before = _clusters(copy, "accounts")
    survivor = ("crm_a", "A0000000")
    loser = next(m for m, c in sorted(before.items())
                 if m[0] == "crm_a" and c != before[survivor])

    def merge(rows: list[dict[str, str]]) -> list[str]:
        for row in rows:
            merged = row["id"] == loser[1]
            row["is_deleted"] = "true" if merged else "false"
            row["merged_into_id"] = survivor[1] if merged else ""
            if merged:
                row["updated_at"] = "2026-12-01T00:00:00Z"
        return ["is_deleted", "merged_into_id"]

    _rewrite(copy / "crm_a" / "accounts.csv", merge)
    _resolve(copy)
    after = _clusters(copy, "accounts")
    assert after[loser] == after[survivor] == before[survivor]
    row = _query(copy, "SELECT merged_into_id FROM resolved_entities "
                 f"WHERE source = 'crm_a' AND id = '{loser[1]}'")
    assert row == [{"merged_into_id": survivor[1]}]


def test_a_reviewers_decisions_win_over_the_model_in_every_later_run(copy: Path) -> None:
    links = _query(copy, "SELECT source_l, id_l, source_r, id_r FROM entity_links "
                   "WHERE entity = 'accounts' AND decided_by LIKE 'splink:%' "
                   "AND review_status = 'accepted' ORDER BY id_l LIMIT 1")
    assert links, "the fixture has model-decided account links"
    pair = links[0]
    decisions = copy / "decisions.csv"
    with decisions.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["entity", "source_l", "id_l", "source_r", "id_r", "decision"])
        writer.writerow(["accounts", pair["source_l"], pair["id_l"], pair["source_r"],
                         pair["id_r"], "no-match"])
    _resolve(copy, "--decisions", str(decisions), "--entity", "accounts")
    for _ in range(2):  # the decision is kept: a later run without the file honours it
        after = _clusters(copy, "accounts")
        assert after[(pair["source_l"], pair["id_l"])] != after[(pair["source_r"],
                                                                 pair["id_r"])]
        _resolve(copy, "--entity", "accounts", "--full")


def test_resolve_on_a_postgres_store_gives_the_duckdb_clusters(
        org: Path, postgres_server: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
        ) -> None:
    """The same exports, stored in Postgres: resolve reads and writes through the store
    contract only, so the clusters are the DuckDB store's."""
    import uuid

    from crm_connect.pgstore import PASSWORD_ENV

    monkeypatch.setenv(PASSWORD_ENV, postgres_server.password)
    url = postgres_server.create_database(f"r_{uuid.uuid4().hex[:12]}")
    folder = tmp_path / "pg"
    for source in ("crm_a", "crm_b"):
        shutil.copytree(FIXTURE / source, folder / source)
    (folder / "crm-connect.toml").write_text(f'[store]\nurl = "{url}"\n\n{CONFIG}')
    _resolve(folder, "--entity", "accounts")
    store = open_store(url, base_dir=folder, read_only=True)
    try:
        rows = store.query_arrow("SELECT source, id, cluster_id FROM resolved_entities "
                                 "WHERE entity = 'accounts'").to_pylist()
    finally:
        store.close()
    on_postgres = _members({(r["source"], r["id"]): r["cluster_id"] for r in rows})
    on_duckdb = _members(_clusters(org, "accounts"))
    assert sorted(map(sorted, on_postgres.values())) == sorted(map(sorted,
                                                                   on_duckdb.values()))


@pytest.mark.parametrize(("host", "key"), [
    ("shop.example.co.uk", "example.co.uk"),
    ("www.acme.example.com", "acme.example.com"),
    ("acme.example.org", "acme.example.org"),
    ("example.com", None),
    ("co.uk", None),
])
def test_the_company_domain_key_is_the_registrable_domain(host: str, key: str | None) -> None:
    from crm_connect.resolve.normalise import registrable_domain

    assert registrable_domain(host) == key
