"""The v3 CRM objects API: list with ``paging.next.after``, read one, batch read, and the v4
associations batch read."""

from __future__ import annotations

import datetime as dt
from typing import Any
from urllib.parse import urlencode

from .catalog import association_type
from .exchange import ApiRequest, ApiResponse, error_response
from .payloads import record_payload, wanted_properties
from .portal import Portal, PortalError, first_at_or_after, iso_ms

__all__ = ["associations_batch_read", "batch_read", "list_objects", "read_object"]

LIST_MAX = 100
BATCH_MAX = 100
ASSOCIATIONS_BATCH_MAX = 1000


def _flag(request: ApiRequest, name: str) -> bool:
    return (request.param(name) or "false").lower() == "true"


def list_objects(portal: Portal, object_name: str, request: ApiRequest,
                 link_base: str) -> ApiResponse:
    """``GET /crm/v3/objects/{objectType}``: records by id, ``archived=true`` lists only the
    archived ones; ``after`` is the id to start from."""
    try:
        limit = int(request.param("limit") or 10)
        after = int(request.param("after") or 0)
    except ValueError:
        return error_response(400, "limit and after must be whole numbers", "VALIDATION_ERROR")
    if not 0 < limit <= LIST_MAX:
        return error_response(400, f"limit must be between 1 and {LIST_MAX}, not {limit}",
                              "VALIDATION_ERROR")
    archived = _flag(request, "archived")
    ids = portal.sorted_ids(object_name, archived=archived)
    start = first_at_or_after(ids, after)
    chunk = ids[start: start + limit + 1]
    properties = wanted_properties(portal, object_name, request.params("properties"))
    table = portal.records[portal.kind(object_name).name]
    wanted_links = request.params("associations")
    results = []
    for record_id in chunk[:limit]:
        body = record_payload(portal, object_name, table[record_id], properties)
        links = _list_associations(portal, object_name, record_id, wanted_links)
        if links:
            body["associations"] = links
        results.append(body)
    answer: dict[str, Any] = {"results": results}
    if len(chunk) > limit:
        next_after = str(chunk[limit])
        query = {name: ",".join(values) for name, values in request.query.items()
                 if name != "after"}
        query["after"] = next_after
        answer["paging"] = {"next": {
            "after": next_after,
            "link": f"{link_base}/crm/v3/objects/{object_name}?{urlencode(query)}",
        }}
    return ApiResponse(200, answer)


def _list_associations(portal: Portal, object_name: str, record_id: int,
                       wanted: list[str]) -> dict[str, Any]:
    links: dict[str, Any] = {}
    for other in wanted:
        kind = portal.kind(other) if other else None
        types = association_type(portal.kind(object_name).name, kind.name) if kind else None
        if kind is None or types is None:
            continue
        rows = [{"id": str(to_id), "type": f"{portal.kind(object_name).singular}_to_"
                 f"{kind.singular}"} for to_id, _ in
                portal.associated(object_name, kind.name, record_id)]
        if rows:
            links[kind.name] = {"results": rows}
    return links


def read_object(portal: Portal, object_name: str, record_id: str,
                request: ApiRequest) -> ApiResponse:
    """``GET /crm/v3/objects/{objectType}/{id}``."""
    record = portal.get(object_name, int(record_id)) if record_id.isdigit() else None
    if record is None and record_id.isdigit():  # merged away: HubSpot answers the survivor
        survivor = portal.survivor_of(object_name, int(record_id))
        record = portal.get(object_name, survivor) if survivor is not None else None
    if record is None or record.archived != _flag(request, "archived"):
        return error_response(404, "Object not found.  objectId are usually numeric.",
                              "OBJECT_NOT_FOUND")
    properties = wanted_properties(portal, object_name, request.params("properties"))
    return ApiResponse(200, record_payload(portal, object_name, record, properties))


def merge_objects(portal: Portal, object_name: str, request: ApiRequest) -> ApiResponse:
    """``POST /crm/v3/objects/{objectType}/merge``: ``objectIdToMerge`` into
    ``primaryObjectId`` (see :meth:`Portal.merge`); answers the primary record."""
    body = request.json_object() or {}
    primary, other = (str(body.get(key, "")) for key in ("primaryObjectId", "objectIdToMerge"))
    if not primary.isdigit() or not other.isdigit():
        return error_response(400, "primaryObjectId and objectIdToMerge must be object ids",
                              "VALIDATION_ERROR")
    try:
        portal.merge(object_name, primary, other)
    except PortalError as exc:
        return error_response(400, str(exc), "VALIDATION_ERROR")
    record = portal.record(object_name, primary)
    properties = wanted_properties(portal, object_name, None)
    return ApiResponse(200, record_payload(portal, object_name, record, properties))


def batch_read(portal: Portal, object_name: str, request: ApiRequest) -> ApiResponse:
    """``POST /crm/v3/objects/{objectType}/batch/read``: up to 100 ids; missing ones come
    back as errors with a 207."""
    body = request.json_object()
    inputs = body.get("inputs") if body else None
    if not isinstance(inputs, list) or not inputs:
        return error_response(400, "inputs must be a non-empty list of {id}",
                              "VALIDATION_ERROR")
    if len(inputs) > BATCH_MAX:
        return error_response(400, f"Batch input size exceeds limit of {BATCH_MAX}",
                              "VALIDATION_ERROR")
    assert body is not None
    started = iso_ms(_now_ms())
    archived = _flag(request, "archived")
    properties = wanted_properties(portal, object_name, body.get("properties"))
    results, missing = [], []
    for item in inputs:
        raw = str(item.get("id", "")) if isinstance(item, dict) else ""
        record = portal.get(object_name, int(raw)) if raw.isdigit() else None
        if record is None or record.archived != archived:
            missing.append(raw)
            continue
        results.append(record_payload(portal, object_name, record, properties))
    answer: dict[str, Any] = {"status": "COMPLETE", "results": results,
                              "startedAt": started, "completedAt": iso_ms(_now_ms())}
    if not missing:
        return ApiResponse(200, answer)
    kind = portal.kind(object_name)
    answer["numErrors"] = 1
    answer["errors"] = [{
        "status": "error", "category": "OBJECT_NOT_FOUND",
        "message": f"Could not get some {kind.singular.upper()} objects, they may be deleted "
                   "or not exist. Check that ids are valid.",
        "context": {"ids": missing},
    }]
    return ApiResponse(207, answer)


def associations_batch_read(portal: Portal, from_name: str, to_name: str,
                            request: ApiRequest) -> ApiResponse:
    """``POST /crm/v4/associations/{fromObjectType}/{toObjectType}/batch/read``."""
    body = request.json_object()
    inputs = body.get("inputs") if body else None
    if not isinstance(inputs, list) or not inputs:
        return error_response(400, "inputs must be a non-empty list of {id}",
                              "VALIDATION_ERROR")
    if len(inputs) > ASSOCIATIONS_BATCH_MAX:
        return error_response(400, f"Batch input size exceeds limit of {ASSOCIATIONS_BATCH_MAX}",
                              "VALIDATION_ERROR")
    source, target = portal.kind(from_name), portal.kind(to_name)
    types = association_type(source.name, target.name)
    started = iso_ms(_now_ms())
    results: list[dict[str, Any]] = []
    errors: list[dict[str, Any]] = []
    for item in inputs:
        raw = str(item.get("id", "")) if isinstance(item, dict) else ""
        links = portal.associated(source.name, target.name, int(raw)) if raw.isdigit() else []
        if not links or types is None:
            errors.append({
                "status": "error", "category": "OBJECT_NOT_FOUND",
                "subCategory": "crm.associations.NO_ASSOCIATIONS_FOUND",
                "message": f"No {target.singular} is associated with {source.singular} {raw}.",
                "context": {"fromObjectId": [raw], "fromObjectType": [source.singular],
                            "toObjectType": [target.singular]},
            })
            continue
        to_rows = []
        for to_id, primary in links:
            labels = [{"category": "HUBSPOT_DEFINED", "typeId": types.unlabeled, "label": None}]
            if primary and types.primary is not None:
                labels.insert(0, {"category": "HUBSPOT_DEFINED", "typeId": types.primary,
                                  "label": "Primary"})
            to_rows.append({"toObjectId": to_id, "associationTypes": labels})
        results.append({"from": {"id": raw}, "to": to_rows})
    answer: dict[str, Any] = {"completedAt": iso_ms(_now_ms()), "status": "COMPLETE",
                              "startedAt": started, "results": results}
    if errors:
        answer["errors"] = errors
        answer["numErrors"] = len(errors)
        return ApiResponse(207, answer)
    return ApiResponse(200, answer)


def _now_ms() -> int:
    return int(dt.datetime.now(tz=dt.UTC).timestamp() * 1000)
