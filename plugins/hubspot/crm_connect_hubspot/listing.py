"""Reading helpers of the connector that need no connector state: list pages (by batch read
when the property list would overflow the URL), archived records, whole listings (owners and
marketing campaigns, which have no search), id sweeps for purged records, cursor arithmetic."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

from crm_connect.connector import IdSweep, Page
from crm_connect_hubspot.incremental import SEEN_LIMIT, cursor_ms, iso_ms, to_ms
from crm_connect_hubspot.mapping import MappingContext, map_objects
from crm_connect_hubspot.objects import ObjectSpec
from crm_connect_hubspot.records import HubSpotObject
from crm_connect_hubspot.values import UnreadableValue, read_datetime

if TYPE_CHECKING:
    from crm_connect_hubspot.client import HubSpotClient

__all__ = ["Chunk", "campaign_pages", "id_sweep", "later", "list_objects", "newest_seen",
           "owner_pages", "read_archived", "read_whole", "updated_ms"]


Chunk = tuple[list[HubSpotObject], dict[str, Any] | None]
"""Records read by one request and the state once they are stored (``None``: keep the last)."""


def updated_ms(obj: HubSpotObject) -> int | None:
    """When the record last changed as its ``updatedAt`` says (what ``updated_at`` holds)."""
    try:
        stamp = read_datetime("updatedAt", obj.updated_at)
    except UnreadableValue:
        return None
    return to_ms(stamp) if stamp is not None else None


def later(first: str | None, second: str | None) -> str | None:
    """The later of two cursor texts (either may be missing)."""
    moments = [stamp for stamp in (read_datetime("cursor", first),
                                   read_datetime("cursor", second)) if stamp is not None]
    return iso_ms(to_ms(max(moments))) if moments else None


def newest_seen(seen: dict[str, int], floor: int) -> dict[str, int]:
    """The ids read at or after ``floor``, at most ``SEEN_LIMIT`` of the newest."""
    kept = sorted(((value, key) for key, value in seen.items() if value >= floor),
                  reverse=True)[:SEEN_LIMIT]
    return {key: value for value, key in kept}


def owner_pages(client: HubSpotClient) -> Iterator[list[HubSpotObject]]:
    """Every owner, active then archived (deactivated)."""
    for archived in (False, True):
        after: str | None = None
        while True:
            objects, after = client.owners_page(after=after, archived=archived)
            yield objects
            if not after:
                break


def campaign_pages(client: HubSpotClient, properties: Sequence[str]
                   ) -> Iterator[list[HubSpotObject]]:
    """Every marketing campaign with ``properties``."""
    after: str | None = None
    while True:
        objects, after = client.campaigns_page(properties, after=after)
        yield objects
        if not after:
            break


def read_whole(ctx: MappingContext, state: dict[str, Any] | None,
               pages: Iterator[list[HubSpotObject]]) -> Iterator[Page]:
    """Small collections without search: read all, store those that changed since the
    versions the state remembers (``{id: "updatedAt|archived"}``)."""
    known: dict[str, str] = dict((state or {}).get("versions") or {})
    versions: dict[str, str] = {}
    for objects in pages:
        changed = []
        for obj in objects:
            version = f"{obj.updated_at}|{obj.archived}"
            versions[obj.id] = version
            if known.get(obj.id) != version:
                changed.append(obj)
        if changed:
            records, raws, rejected = map_objects(changed, ctx)
            yield Page(records, None, raw=raws, rejected=rejected)
    cursor = max((stamp for stamp in (v.split("|", 1)[0] for v in versions.values())
                  if stamp and stamp != "None"), default=None)
    yield Page([], {"mode": "whole", "cursor": cursor, "versions": versions})


def id_sweep(client: HubSpotClient, spec: ObjectSpec, final: dict[str, Any],
             batch_size: int) -> Iterator[Page]:
    """Every id HubSpot holds for the object, live and archived, listed with no other
    property, as the parts of an id sweep; the last part carries the stream's final state,
    so the store marks the rows it did not list deleted in the same transaction."""
    first = True
    pending: list[str] = []
    for archived in (False, True):
        after: str | None = None
        while True:
            objects, after = client.list_page(spec.object_type, ["hs_object_id"], after=after,
                                              archived=archived)
            pending += [obj.id for obj in objects]
            if len(pending) >= batch_size:
                yield Page([], id_sweep=IdSweep(pending, first=first))
                pending, first = [], False
            if not after:
                break
    yield Page([], final, id_sweep=IdSweep(pending, first=first, last=True))


def list_objects(client: HubSpotClient, spec: ObjectSpec, properties: list[str],
                 after: str | None, *, archived: bool, max_url_length: int
                 ) -> tuple[list[HubSpotObject], str | None]:
    """A list page; properties that would overflow the URL come by batch read (POST)."""
    if client.url_length(spec.object_type, properties) <= max_url_length:
        return client.list_page(spec.object_type, properties, after=after, archived=archived)
    objects, following = client.list_page(
        spec.object_type, ["hs_object_id", spec.cursor], after=after, archived=archived)
    if objects:
        full = {obj.id: obj for obj in client.batch_read(
            spec.object_type, [obj.id for obj in objects], properties, archived=archived)}
        for obj in objects:
            if obj.id in full:
                obj.properties.update(full[obj.id].properties)
    return objects, following


def read_archived(client: HubSpotClient, spec: ObjectSpec, properties: list[str],
                  search_state: dict[str, Any], state: dict[str, Any], *,
                  max_url_length: int) -> Iterator[Chunk]:
    """Records archived since the last run, marked deleted; the last page's state is
    the finished search state with the new archive cursor."""
    since = read_datetime("archived_cursor", state.get("archived_cursor"))
    floor = to_ms(since) if since is not None else None
    newest = max(floor or 0, int(state.get("archived_max") or 0))
    updated = int(state.get("archived_updated") or 0)
    after = state.get("after")
    while True:
        objects, after = list_objects(client, spec, properties, after, archived=True,
                                      max_url_length=max_url_length)
        fresh = []
        for obj in objects:
            obj.archived = True
            try:
                when = read_datetime("archivedAt", obj.archived_at)
            except UnreadableValue:
                when = None
            moment = to_ms(when) if when is not None else None
            if floor is None or moment is None or moment > floor:
                fresh.append(obj)
            if moment is not None:
                newest = max(newest, moment)
            changed = updated_ms(obj) or cursor_ms(obj, spec.cursor)
            if changed is not None and (floor is None or moment is None or moment > floor):
                updated = max(updated, changed)
        page_state = {"mode": "archived", "after": after, "search": search_state,
                      "sweep": bool(state.get("sweep")),
                      "archived_cursor": state.get("archived_cursor"),
                      "archived_max": newest, "archived_updated": updated} if after else None
        yield fresh, page_state
        if not after:
            break
    final = dict(search_state)
    final["archived_cursor"] = iso_ms(newest) if newest else state.get("archived_cursor")
    # the state's cursor covers the archived records stored too; the next search still
    # starts from the live records' (search_from)
    final["cursor"] = later(final.get("cursor"), iso_ms(updated) if updated else None)
    yield [], final
