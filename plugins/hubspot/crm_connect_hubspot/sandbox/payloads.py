"""CRM records in the shape the v3 objects, batch and search APIs send them."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from .catalog import property_defs
from .portal import Portal, StoredRecord, iso_ms

__all__ = ["record_payload", "wanted_properties"]


def wanted_properties(portal: Portal, object_name: str,
                      requested: Iterable[str] | None) -> tuple[str, ...]:
    """The properties an answer carries: those requested that the object has (others are
    silently left out, as HubSpot does) or the defaults, always with the id and the stamps."""
    kind = portal.kind(object_name)
    names = list(requested) if requested else list(kind.defaults)
    defs = property_defs(kind.name)
    chosen = [name for name in names if name in defs]
    chosen += ["hs_object_id", kind.created, kind.modified]
    return tuple(sorted(dict.fromkeys(chosen)))


def record_payload(portal: Portal, object_name: str, record: StoredRecord,
                   properties: Sequence[str], *, with_url: bool = True) -> dict[str, Any]:
    """One record: ``id``, ``properties`` (text or null), stamps, ``archived``, ``url``."""
    kind = portal.kind(object_name)
    values = record.properties
    body: dict[str, Any] = {
        "id": str(record.id),
        "properties": {name: values.get(name) for name in properties},
        "createdAt": values.get(kind.created),
        "updatedAt": values.get(kind.modified),
        "archived": record.archived,
    }
    if record.archived and record.archived_at is not None:
        body["archivedAt"] = iso_ms(record.archived_at)
    if with_url:
        body["url"] = (f"https://app.hubspot.com/contacts/{portal.portal_id}/record/"
                       f"{kind.type_id}/{record.id}")
    return body
