"""Links between two records, and the deterministic rules that find the sure ones.

A :class:`Link` joins two records by their position in the entity's record table.  The rules
link records that share a normalised email (contacts, leads), a registrable company domain
(accounts), or that an integration tied together (``linked_crm`` / ``linked_id``).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc

__all__ = ["RULES", "Link", "linked_id_links", "rule_links"]

RULES: dict[str, tuple[str, ...]] = {
    "accounts": ("domain_key",),
    "contacts": ("email_key",),
    "leads": ("email_key",),
}
"""Per entity, the match keys whose equality alone decides a match."""

RULE_NAMES = {"domain_key": "domain", "email_key": "email"}


@dataclass(frozen=True)
class Link:
    """Records ``left`` and ``right`` (positions, ``left < right``) are the same, with
    ``probability``, decided by ``decided_by`` (a rule, ``splink:<comparisons>`` or
    ``review``)."""

    left: int
    right: int
    probability: float
    decided_by: str


def _groups(values: pa.ChunkedArray | pa.Array) -> Iterator[list[int]]:
    """Positions sharing one non-null value, for every value held by two records or more."""
    table = pa.table({"value": values, "at": pa.array(range(len(values)), pa.int64())})
    grouped = table.filter(table["value"].is_valid()).group_by("value").aggregate(
        [("at", "list")])
    for members in grouped.column("at_list").to_pylist():
        if len(members) > 1:
            yield sorted(members)


def rule_links(entity: str, keys: pa.Table) -> list[Link]:
    """Each record of a group sharing a rule's key, linked to the group's first record."""
    links: list[Link] = []
    for column in RULES[entity]:
        name = RULE_NAMES[column]
        for members in _groups(keys.column(column)):
            links.extend(Link(members[0], other, 1.0, name) for other in members[1:])
    return links


def linked_id_links(records: pa.Table, connectors: Mapping[str, str]) -> list[Link]:
    """Records that carry another CRM's id (``linked_crm`` names its connector, or its
    connection), linked to the record holding that id in a source of that CRM."""
    if "linked_id" not in records.column_names or "linked_crm" not in records.column_names:
        return []
    sources: Sequence[str] = records.column("source").to_pylist()
    ids: Sequence[str] = records.column("id").to_pylist()
    at = {(source, record_id): position
          for position, (source, record_id) in enumerate(zip(sources, ids, strict=True))}
    known_sources = set(sources)
    carrying = pc.indices_nonzero(pc.and_(
        pc.fill_null(pc.not_equal(records.column("linked_crm").cast(pa.string()), ""), False),
        pc.fill_null(pc.not_equal(records.column("linked_id").cast(pa.string()), ""), False)))
    links = []
    for position, crm, other_id in zip(
            carrying.to_pylist(), records.column("linked_crm").take(carrying).to_pylist(),
            records.column("linked_id").take(carrying).to_pylist(), strict=True):
        targets = [source for source in known_sources
                   if source == crm or connectors.get(source) == crm]
        for source in targets:
            other = at.get((source, str(other_id)))
            if other is not None and other != position:
                links.append(Link(min(position, other), max(position, other), 1.0,
                                  "linked_id"))
    return links
