"""One ``resolve`` run over one entity: rules, model, decisions, clusters, golden records.

An incremental run (a model and a previous result are stored) scores only the pairs that
involve a record whose match keys changed (new, edited, or undeleted) against every record;
the model links between unchanged records are carried over.  Deleted records leave their
cluster; a record merged away in its CRM (deleted, with ``merged_into_id``) follows the
survivor's cluster.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from crm_connect.config import ResolveSettings
from crm_connect.resolve import clusters, golden, links, model, normalise, tables
from crm_connect.resolve.links import Link

__all__ = ["EntityResult", "resolve_entity"]

logger = logging.getLogger(__name__)

Pair = tuple[tuple[str, str], tuple[str, str]]


@dataclass
class EntityResult:
    entity: str
    records: int = 0
    clusters: int = 0
    changed: int = 0
    pairs_scored: int = 0
    links: int = 0
    pending_review: list[dict[str, Any]] = field(default_factory=list)
    trained: bool = False


def _fingerprints(keys: pa.Table) -> list[str]:
    joined = pc.binary_join_element_wise(
        *[keys.column(name) for name in sorted(keys.column_names)], "\x1f",
        null_handling="replace", null_replacement="")
    return [str(value) for value in joined.to_pylist()]


def _carried_links(previous: pa.Table | None, at: Mapping[tuple[str, str], int],
                   unchanged: set[int]) -> list[Link]:
    """The previous run's model links between two records that did not change."""
    if previous is None:
        return []
    model_made = pc.starts_with(pc.fill_null(previous.column("decided_by"), ""), "splink:")
    rows = previous.filter(model_made)
    kept = []
    for source_l, id_l, source_r, id_r, probability, decided_by in zip(
            *(rows.column(name).to_pylist() for name in (
                "source_l", "id_l", "source_r", "id_r", "match_probability", "decided_by")),
            strict=True):
        left, right = at.get((source_l, id_l)), at.get((source_r, id_r))
        if left in unchanged and right in unchanged and left is not None and right is not None:
            kept.append(Link(min(left, right), max(left, right), float(probability),
                             decided_by))
    return kept


def _scratch_parent(store: tables.ResolveStore) -> Path | None:
    """The folder of a store kept in a file (splink spills next to it), else ``None``."""
    place = Path(store.location)
    return place.parent if place.is_file() else None


def resolve_entity(store: tables.ResolveStore, entity: str, settings: ResolveSettings,
                   connectors: Mapping[str, str], *, full: bool = False,
                   progress: Callable[[str], None] = lambda _: None,
                   memory_limit: str | None = None) -> EntityResult:
    """Resolve ``entity`` and write its rows of ``resolved_entities`` and ``entity_links``.

    ``memory_limit`` caps the matching engine's memory (the store's own limit, when set)."""
    result = EntityResult(entity)
    everything = tables.load_records(store, entity)
    deleted = everything.column("is_deleted") if "is_deleted" in everything.column_names \
        else pa.array([False] * everything.num_rows)
    live = everything.filter(pc.invert(pc.fill_null(deleted, False)))
    members = list(zip(live.column("source").to_pylist(), live.column("id").to_pylist(),
                       strict=True))
    at = {member: position for position, member in enumerate(members)}
    result.records = live.num_rows
    progress(f"{entity}: {live.num_rows:,} records, match keys")
    keys = normalise.match_keys(entity, live)
    prints = _fingerprints(keys)
    previous_rows, previous_links = (None, None) if full else tables.load_previous(store,
                                                                                    entity)
    previous_ids: dict[tuple[str, str], str] = {}
    changed = list(range(live.num_rows))
    if previous_rows is not None and previous_rows.num_rows:
        held = list(zip(previous_rows.column("source").to_pylist(),
                        previous_rows.column("id").to_pylist(), strict=True))
        previous_ids = dict(zip(held, previous_rows.column("cluster_id").to_pylist(),
                                strict=True))
        before = dict(zip(held, previous_rows.column("fingerprint").to_pylist(), strict=True))
        changed = [p for p, member in enumerate(members) if before.get(member) != prints[p]]
    result.changed = len(changed)
    rule = links.rule_links(entity, keys) + links.linked_id_links(live, connectors)
    saved = None if full else tables.load_model(store, entity)
    scored: list[Link] = []
    if live.num_rows > 1 and changed:
        progress(f"{entity}: scoring {len(changed):,} changed records")
        incremental = saved is not None and previous_ids and len(changed) < live.num_rows
        with tempfile.TemporaryDirectory(prefix=".crm-connect-resolve-",
                                         dir=_scratch_parent(store)) as spill:
            outcome = model.score_pairs(
                entity, keys, review_threshold=settings.review_threshold,
                model=saved if incremental else None, changed=changed if incremental else None,
                scratch=model.Scratch(Path(spill), memory_limit))
        result.pairs_scored, result.trained = outcome.pairs_scored, not incremental
        scored = outcome.links
        if not incremental:
            tables.save_model(store, entity, outcome.model)
    unchanged = set(range(live.num_rows)) - set(changed)
    scored += _carried_links(previous_links, at, unchanged)
    decisions = tables.load_decisions(store, entity)
    decided: list[Link] = []
    cannot: list[tuple[int, int]] = []
    overruled: set[tuple[int, int]] = set()
    for (left, right), decision in decisions.items():
        if left in at and right in at:
            pair = (min(at[left], at[right]), max(at[left], at[right]))
            overruled.add(pair)
            if decision == "match":
                decided.append(Link(*pair, 1.0, "review"))
            else:
                cannot.append(pair)
    sure = [link for link in scored if link.probability >= settings.match_threshold
            and (link.left, link.right) not in overruled]
    sure.sort(key=lambda link: -link.probability)
    rule = [link for link in rule if (link.left, link.right) not in overruled]
    roots, refused = clusters.connected_components(live.num_rows, decided + rule + sure, cannot)
    cluster_of = clusters.cluster_ids(entity, roots, members, previous_ids)
    refused_pairs = {(link.left, link.right) for link in refused}
    pending = [link for link in scored if link.probability < settings.match_threshold
               and (link.left, link.right) not in overruled]
    statuses = (["decided"] * len(decided) + ["no-match"] * len(cannot)
                + ["accepted"] * (len(rule) + len(sure)) + ["pending"] * len(pending))
    every = [*decided, *(Link(*pair, 0.0, "review") for pair in cannot), *rule, *sure,
             *pending]
    for number, link in enumerate(every):
        if statuses[number] == "accepted" and (link.left, link.right) in refused_pairs:
            statuses[number] = "refused"
    link_table = _link_table(entity, every, statuses, members)
    result.links = sum(status in ("accepted", "decided") for status in statuses)
    result.pending_review = _review_rows(
        link_table.filter(pc.equal(link_table.column("review_status"), "pending")).to_pylist(),
        live, at)
    resolved = _resolved_rows(entity, everything, live, members, cluster_of, prints, settings)
    result.clusters = len(set(cluster_of))
    tables.write_entity(store, entity, resolved, link_table)
    return result


def _link_table(entity: str, every: Sequence[Link], statuses: Sequence[str],
                members: Sequence[tuple[str, str]]) -> pa.Table:
    """The ``entity_links`` rows of ``every`` link, built column by column."""
    left = [members[link.left] for link in every]
    right = [members[link.right] for link in every]
    columns: dict[str, list[Any]] = {
        "entity": [entity] * len(every), "source_l": [m[0] for m in left],
        "id_l": [m[1] for m in left], "source_r": [m[0] for m in right],
        "id_r": [m[1] for m in right],
        "match_probability": [link.probability for link in every],
        "decided_by": [link.decided_by for link in every], "review_status": list(statuses)}
    return pa.table(columns, schema=pa.schema([
        (name, pa.float64() if name == "match_probability" else pa.string())
        for name, _ in tables.LINK_COLUMNS]))


def _review_rows(link_rows: Sequence[dict[str, Any]], live: pa.Table,
                 at: Mapping[tuple[str, str], int]) -> list[dict[str, Any]]:
    shown = [name for name in ("name", "first_name", "last_name", "email", "company", "domain",
                               "phone", "city", "country") if name in live.column_names]
    pending = [row for row in link_rows if row["review_status"] == "pending"]
    sides = {"l": [at[(row["source_l"], row["id_l"])] for row in pending],
             "r": [at[(row["source_r"], row["id_r"])] for row in pending]}
    taken = {(name, side): live.column(name).take(pa.array(positions, pa.int64())).cast(
        pa.string()).to_pylist() for name in shown for side, positions in sides.items()}
    return [{**row, **{f"{name}_{side}": taken[(name, side)][number]
                       for name in shown for side in sides}}
            for number, row in enumerate(pending)]


def _resolved_rows(entity: str, everything: pa.Table, live: pa.Table,
                   members: Sequence[tuple[str, str]], cluster_of: Sequence[str],
                   prints: Sequence[str], settings: ResolveSettings) -> pa.Table:
    fields = tables.GOLDEN_FIELDS[entity]
    values = golden.golden_fields(live, fields, cluster_of, settings.survivorship,
                                  settings.fields)
    sizes: dict[str, int] = {}
    for cid in cluster_of:
        sizes[cid] = sizes.get(cid, 0) + 1
    rows: dict[str, list[Any]] = {
        "entity": [entity] * len(members), "source": [m[0] for m in members],
        "id": [m[1] for m in members], "cluster_id": list(cluster_of),
        "cluster_size": [sizes[c] for c in cluster_of], "merged_into_id": [None] * len(members),
        "fingerprint": list(prints), **values}
    position = {member: p for p, member in enumerate(members)}
    if "merged_into_id" in everything.column_names:
        for row in everything.filter(pc.fill_null(everything.column("is_deleted"), False)
                                     ).select(["source", "id", "merged_into_id"]).to_pylist():
            survivor = position.get((row["source"], row["merged_into_id"] or ""))
            if survivor is None:
                continue  # merged into a record that is gone too: it leaves like a delete
            for _name, column in rows.items():
                column.append(column[survivor])
            rows["id"][-1], rows["merged_into_id"][-1] = row["id"], row["merged_into_id"]
            rows["fingerprint"][-1] = None
    schema = pa.schema([(name, pa.int64() if name == "cluster_size" else pa.string())
                        for name in rows])
    return pa.table(rows, schema=schema)
