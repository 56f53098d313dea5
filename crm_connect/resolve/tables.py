"""What ``resolve`` reads from and writes to the store, through the store contract only.

Tables written: ``resolved_entities`` (one row per resolved record: its cluster and the
cluster's golden fields), ``entity_links`` (the pairs that were linked or are up for review),
``resolve_decisions`` (a reviewer's match / no-match, kept across runs) and ``resolve_models``
(the trained model, reused by incremental runs).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, Protocol

import pyarrow as pa

__all__ = ["GOLDEN_FIELDS", "LINK_COLUMNS", "RESOLVED_COLUMNS", "ResolveStore",
           "load_decisions", "load_model", "load_previous", "load_records", "save_decisions",
           "save_model", "write_entity"]


class ResolveStore(Protocol):
    """The part of the store contract resolve reads and writes through: every
    :class:`~crm_connect.store_contract.Store` has it, and so has a folder of Parquet tables
    on Spark (:class:`crm_connect.resolve.spark.SparkLake`).  SQL is in DuckDB's dialect,
    parameters ``$1``, ``$2``..."""

    @property
    def location(self) -> str: ...

    def execute(self, sql: str, parameters: Sequence[Any] | None = None
                ) -> list[tuple[Any, ...]]: ...

    def query_arrow(self, sql: str, parameters: Sequence[Any] | None = None) -> pa.Table: ...

    def has_table(self, name: str) -> bool: ...

    def ensure_table(self, name: str, columns: Sequence[tuple[str, str]]) -> None: ...

    def append_arrow(self, name: str, rows: pa.Table, *, replace_on: Sequence[str] = ()
                     ) -> int: ...

GOLDEN_FIELDS: dict[str, tuple[str, ...]] = {
    "accounts": ("name", "domain", "industry", "segment", "phone", "street", "city",
                 "postal_code", "country"),
    "contacts": ("first_name", "last_name", "email", "phone", "street", "city", "postal_code",
                 "country", "lifecycle_stage"),
    "leads": ("first_name", "last_name", "email", "company", "phone", "street", "city",
              "postal_code", "country", "status"),
}
"""The fields each entity's golden record carries (a field the store lacks stays empty)."""

_ALL_GOLDEN = tuple(dict.fromkeys(f for fields in GOLDEN_FIELDS.values() for f in fields))

RESOLVED_COLUMNS: tuple[tuple[str, str], ...] = (
    ("entity", "VARCHAR NOT NULL"), ("source", "VARCHAR NOT NULL"), ("id", "VARCHAR NOT NULL"),
    ("cluster_id", "VARCHAR NOT NULL"), ("cluster_size", "BIGINT"),
    ("merged_into_id", "VARCHAR"), ("fingerprint", "VARCHAR"),
    *((name, "VARCHAR") for name in _ALL_GOLDEN))
LINK_COLUMNS: tuple[tuple[str, str], ...] = (
    ("entity", "VARCHAR NOT NULL"), ("source_l", "VARCHAR NOT NULL"),
    ("id_l", "VARCHAR NOT NULL"), ("source_r", "VARCHAR NOT NULL"),
    ("id_r", "VARCHAR NOT NULL"), ("match_probability", "DOUBLE"), ("decided_by", "VARCHAR"),
    ("review_status", "VARCHAR"))
DECISION_COLUMNS: tuple[tuple[str, str], ...] = (
    ("entity", "VARCHAR NOT NULL"), ("source_l", "VARCHAR NOT NULL"),
    ("id_l", "VARCHAR NOT NULL"), ("source_r", "VARCHAR NOT NULL"),
    ("id_r", "VARCHAR NOT NULL"), ("decision", "VARCHAR NOT NULL"))
MODEL_COLUMNS: tuple[tuple[str, str], ...] = (("entity", "VARCHAR NOT NULL"),
                                              ("model", "VARCHAR NOT NULL"))


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'



def load_records(store: ResolveStore, entity: str) -> pa.Table:
    """Every stored record of ``entity`` (deleted ones included), text columns as text."""
    if not store.has_table(entity):
        return pa.table({"source": pa.array([], pa.string()), "id": pa.array([], pa.string())})
    present = set(store.query_arrow(f"SELECT * FROM {_quote(entity)} WHERE 1 = 0").column_names)
    wanted = ["source", "id", "is_deleted", "updated_at", "merged_into_id", "linked_crm",
              "linked_id", "name", "email", "company", *GOLDEN_FIELDS[entity]]
    columns = [name for name in dict.fromkeys(wanted) if name in present]
    select = ", ".join(_quote(name) for name in columns)
    return store.query_arrow(
        f"SELECT {select} FROM {_quote(entity)} ORDER BY source, id")


def load_previous(store: ResolveStore, entity: str) -> tuple[pa.Table | None, pa.Table | None]:
    """The last run's rows of ``resolved_entities`` and ``entity_links`` for ``entity``."""
    rows = links = None
    if store.has_table("resolved_entities"):
        rows = store.query_arrow(
            "SELECT source, id, cluster_id, fingerprint FROM resolved_entities "
            "WHERE entity = $1", [entity])
    if store.has_table("entity_links"):
        links = store.query_arrow(
            "SELECT source_l, id_l, source_r, id_r, match_probability, decided_by, "
            "review_status FROM entity_links WHERE entity = $1", [entity])
    return rows, links


def write_entity(store: ResolveStore, entity: str, resolved: pa.Table, links: pa.Table) -> None:
    """Replace ``entity``'s rows of ``resolved_entities`` and ``entity_links``."""
    store.ensure_table("resolved_entities", RESOLVED_COLUMNS)
    store.ensure_table("entity_links", LINK_COLUMNS)
    _replace(store, "resolved_entities", entity, resolved, RESOLVED_COLUMNS)
    _replace(store, "entity_links", entity, links, LINK_COLUMNS)


def _replace(store: ResolveStore, table: str, entity: str, rows: pa.Table,
             columns: Sequence[tuple[str, str]]) -> None:
    """All of ``entity``'s rows of ``table`` become ``rows`` (an upsert on ``entity``: stored
    rows of that entity go first, in the same transaction)."""
    full = {}
    for name, _ in columns:
        full[name] = rows.column(name) if name in rows.column_names else pa.nulls(
            rows.num_rows, pa.string())
    table_rows = pa.table(full)
    if table_rows.num_rows == 0:
        # replace_on needs a row to name the entity: one placeholder row, then removed.
        store.execute(f"DELETE FROM {table} WHERE entity = $1", [entity])
        return
    store.append_arrow(table, table_rows, replace_on=("entity",))


def load_decisions(store: ResolveStore, entity: str
                   ) -> dict[tuple[tuple[str, str], tuple[str, str]], str]:
    """The reviewer's decisions for ``entity``: the (ordered) pair of records -> ``match`` or
    ``no-match``."""
    if not store.has_table("resolve_decisions"):
        return {}
    rows = store.query_arrow(
        "SELECT source_l, id_l, source_r, id_r, decision FROM resolve_decisions "
        "WHERE entity = $1", [entity]).to_pylist()
    return {_pair((r["source_l"], r["id_l"]), (r["source_r"], r["id_r"])): r["decision"]
            for r in rows}


def _pair(left: tuple[str, str], right: tuple[str, str]
          ) -> tuple[tuple[str, str], tuple[str, str]]:
    return (left, right) if left <= right else (right, left)


def save_decisions(store: ResolveStore, rows: Sequence[dict[str, str]]) -> int:
    """Upsert decisions (later ones win); returns how many were stored."""
    if not rows:
        return 0
    store.ensure_table("resolve_decisions", DECISION_COLUMNS)
    ordered = []
    for row in rows:
        left, right = _pair((row["source_l"], row["id_l"]), (row["source_r"], row["id_r"]))
        ordered.append({"entity": row["entity"], "source_l": left[0], "id_l": left[1],
                        "source_r": right[0], "id_r": right[1], "decision": row["decision"]})
    unique = {tuple(r[k] for k in ("entity", "source_l", "id_l", "source_r", "id_r")): r
              for r in ordered}
    table = pa.Table.from_pylist(list(unique.values()))
    return store.append_arrow("resolve_decisions", table,
                              replace_on=("entity", "source_l", "id_l", "source_r", "id_r"))


def load_model(store: ResolveStore, entity: str) -> dict[str, Any] | None:
    if not store.has_table("resolve_models"):
        return None
    rows = store.query_arrow("SELECT model FROM resolve_models WHERE entity = $1",
                             [entity]).to_pylist()
    return json.loads(rows[0]["model"]) if rows else None


def save_model(store: ResolveStore, entity: str, model: dict[str, Any]) -> None:
    store.ensure_table("resolve_models", MODEL_COLUMNS)
    store.append_arrow("resolve_models", pa.table({
        "entity": [entity], "model": [json.dumps(model)]}), replace_on=("entity",))
