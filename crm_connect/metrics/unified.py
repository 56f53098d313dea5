"""KPIs over unified customers (``kpis --unify``): the prepared relations re-keyed by the
clusters ``crm-connect resolve`` wrote to the ``resolved_entities`` table.

``resolved_entities`` has one row per resolved record: ``entity`` (accounts, contacts,
leads), ``source``, ``id`` and ``cluster_id`` (stable across runs).  Under ``--unify`` the
engine reads the same KPI definitions over unified relations instead of the plain ones, so
the query stays one tree rendered for DuckDB, Postgres or Spark:

* every record gets a ``cluster_key``: ``c|<cluster_id>`` when resolve put it in a cluster,
  else ``r|<source>|<id>`` (a record without a cluster row is a cluster of its own);
* a ``count`` over a relation with a ``cluster_key`` (accounts, leads) becomes a count of
  distinct clusters, so a customer known to two CRMs counts once wherever the catalogue counts
  customers, accounts or leads (S, E, N, churned, retention, ARPU, CLV, CAC, conversion);
* the dates that place a cluster in a period are the cluster's, the same on each of its
  records (window functions over the cluster): it was created at its earliest member's
  ``created_at`` and became a customer at its earliest member's ``customer_since`` (on the
  record, else the member's first won deal); it churned when every member that was a customer
  has churned, at the latest of their ``churned_at``;
* a deal's ``account_key`` is its account's cluster, and ``account_first_won_at`` the first won
  deal of any of the cluster's accounts: revenue and deals are summed per cluster (the totals
  do not change, the number of customers they are divided by does);
* other conditions stay the record's: a lead cluster converted, or was contacted, when any of
  its records was; a customer is marketing-originated when any member's originating lead is.

Breakdowns: a cluster counts once in each value its records have (``--by source``: once in
every source it has records in), and once in the total, so the total of a unified count is
not the sum of its per-source rows.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from crm_connect.errors import ConfigError
from crm_connect.metrics.relations import Column, Join, Relation
from crm_connect.metrics.sqltree import parse, render

__all__ = ["CLUSTER_KEY", "RESOLVED_TABLE", "Resolution", "check_resolved", "read_resolution",
           "resolution_lines", "unified_relation"]

RESOLVED_TABLE = "resolved_entities"
"""The table ``crm-connect resolve`` writes (entity, source, id, cluster_id, golden fields)."""

CLUSTER_KEY = "cluster_key"
"""The column of a unified relation naming the record's cluster."""

RESOLVED_ENTITIES = ("accounts", "contacts", "leads")
"""Entities resolve clusters."""

_RESOLVED_ALIAS = "rz"


def _key_sql(source: str, record_id: str) -> str:
    """The cluster key of a record (``source``, ``record_id``: SQL) joined to
    ``resolved_entities`` as ``rz``."""
    return (f"CASE WHEN {_RESOLVED_ALIAS}.cluster_id IS NOT NULL THEN 'c|' || "
            f"{_RESOLVED_ALIAS}.cluster_id ELSE 'r|' || {source} || '|' || {record_id} END")


def _resolved_join(entity: str, source: str, record_id: str) -> Join:
    return Join(RESOLVED_TABLE, _RESOLVED_ALIAS,
                f"{_RESOLVED_ALIAS}.entity = '{entity}' AND {_RESOLVED_ALIAS}.source = {source} "
                f"AND {_RESOLVED_ALIAS}.id = {record_id}")


def _base_sql(relation: Relation, name: str) -> tuple[str, tuple[str, ...]]:
    """A column's SQL over the relation's table and the joins it needs."""
    column = relation.columns[name]
    if column.money is not None:  # pragma: no cover - no clustered date is money
        raise ValueError(f"column {name!r} is money")
    return column.sql or f"{relation.alias}.{name}", column.joins


def _over(key: str) -> str:
    return f"OVER (PARTITION BY {key})"


def _clustered(relation: Relation, earliest: Sequence[str], churn: str | None) -> Relation:
    """``relation`` (one of resolved entities) with a cluster key and cluster dates."""
    alias = relation.alias
    key = _key_sql(f"{alias}.source", f"{alias}.id")
    joins = {**relation.joins, _RESOLVED_ALIAS: _resolved_join(relation.table,
                                                               f"{alias}.source",
                                                               f"{alias}.id")}
    columns = dict(relation.columns)
    columns[CLUSTER_KEY] = Column(key, (_RESOLVED_ALIAS,))
    for name in earliest:
        sql, needs = _base_sql(relation, name)
        columns[name] = Column(f"MIN({sql}) {_over(key)}", (*needs, _RESOLVED_ALIAS))
    if churn is not None:
        since, since_joins = _base_sql(relation, "customer_since")
        churned, churned_joins = _base_sql(relation, churn)
        # Churned once every member that was a customer has churned, at the latest churn.
        columns[churn] = Column(
            f"CASE WHEN COUNT(CASE WHEN {since} IS NOT NULL AND {churned} IS NULL THEN 1 END) "
            f"{_over(key)} = 0 THEN MAX(CASE WHEN {since} IS NOT NULL THEN {churned} END) "
            f"{_over(key)} END", (*since_joins, *churned_joins, _RESOLVED_ALIAS))
    return dataclasses.replace(relation, columns=columns, joins=joins)


def _deals(relation: Relation) -> Relation:
    """Deals with their account's cluster as ``account_key`` and the cluster's first won
    deal as ``account_first_won_at``."""
    alias = relation.alias
    account = f"{alias}.account_id"
    key = _key_sql(f"{alias}.source", account)
    joins = {**relation.joins, _RESOLVED_ALIAS: _resolved_join("accounts", f"{alias}.source",
                                                               account)}
    columns = dict(relation.columns)
    columns["account_key"] = Column(f"CASE WHEN {account} IS NOT NULL THEN {key} END",
                                    (_RESOLVED_ALIAS,))
    won = (f"CASE WHEN {alias}.is_won AND {alias}.closed_at IS NOT NULL "
           f"THEN {alias}.closed_at END")
    columns["account_first_won_at"] = Column(
        f"CASE WHEN {account} IS NOT NULL THEN MIN({won}) {_over(key)} END",
        (_RESOLVED_ALIAS,))
    return dataclasses.replace(relation, columns=columns, joins=joins)


_UNIFIERS: dict[str, Callable[[Relation], Relation]] = {
    "accounts": lambda r: _clustered(r, ("created_at", "customer_since"), "churned_at"),
    "leads": lambda r: _clustered(r, ("created_at",), None),
    "deals": _deals,
}
_CACHE: dict[int, tuple[Relation, Relation]] = {}
"""id of a relation to (that relation, its unified form)."""


def unified_relation(relation: Relation) -> Relation:
    """The unified form of a built-in relation (accounts, leads, deals); any other relation
    as it is (its records are summed per cluster already: nothing in it is a customer)."""
    unify = _UNIFIERS.get(relation.name)
    if unify is None or relation.table != relation.name:
        return relation
    cached = _CACHE.get(id(relation))
    if cached is None or cached[0] is not relation:
        cached = _CACHE[id(relation)] = (relation, unify(relation))
    return cached[1]


def check_resolved(store: Any) -> None:
    """Refuse ``--unify`` on a store where ``crm-connect resolve`` never ran."""
    if not store.has_table(RESOLVED_TABLE):
        command = "crm-connect resolve"
        if getattr(store, "dialect", None) == "spark":  # the tables of a Parquet folder
            command += f" --engine spark --tables {getattr(store, 'directory', 'DIR')}"
        raise ConfigError(
            f"--unify counts each resolved customer once, but the store {store.location} has "
            f"no {RESOLVED_TABLE} table yet: run `{command}` first (or leave out "
            "--unify, or set [reporting] unify = false)")


@dataclass(frozen=True)
class Resolution:
    """How many records of one entity resolved into how many clusters."""

    entity: str
    records: int
    clusters: int
    sources: int

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def read_resolution(store: Any) -> list[Resolution]:
    """Records and clusters of each resolved entity the store holds (not deleted), through
    the store contract, in the store's dialect."""
    found = []
    for entity in RESOLVED_ENTITIES:
        if not store.has_table(entity):
            continue
        key = _key_sql("x.source", "x.id")
        tree = parse(f"SELECT COUNT(*) AS records, COUNT(DISTINCT {key}) AS clusters, "
                     "COUNT(DISTINCT x.source) AS sources "
                     f"FROM {entity} x LEFT JOIN {RESOLVED_TABLE} {_RESOLVED_ALIAS} "
                     f"ON {_RESOLVED_ALIAS}.entity = '{entity}' AND "
                     f"{_RESOLVED_ALIAS}.source = x.source AND {_RESOLVED_ALIAS}.id = x.id "
                     "WHERE NOT x.is_deleted")
        row = store.query_arrow(render(tree, store.dialect)).to_pylist()[0]
        records, clusters, sources = (int(row[name] or 0)
                                      for name in ("records", "clusters", "sources"))
        if records:
            found.append(Resolution(entity, records, clusters, sources))
    return found


_NOUNS = {"accounts": ("account", "customers"), "contacts": ("contact", "people"),
          "leads": ("lead", "leads")}


def resolution_lines(resolution: Sequence[Resolution]) -> list[str]:
    """What a person reads under the KPI table, one line per entity that fits 80 columns,
    e.g. "Unified: 7 account records from 2 sources are 5 customers."."""
    if not resolution:
        return ["Unified: the store holds no accounts, contacts or leads to resolve."]
    lines = []
    for item in resolution:
        noun, into = _NOUNS[item.entity]
        lines.append(f"Unified: {item.records:,} {noun} record{'' if item.records == 1 else 's'}"
                     f" from {item.sources} source{'' if item.sources == 1 else 's'} are "
                     f"{item.clusters:,} {into}.")
    return lines
