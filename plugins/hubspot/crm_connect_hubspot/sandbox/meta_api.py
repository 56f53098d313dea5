"""The portal's metadata and the APIs outside the CRM objects: properties, pipelines, owners,
marketing campaigns and the account's details."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from .catalog import pipelines, property_defs
from .exchange import ApiRequest, ApiResponse, error_response
from .portal import Portal

__all__ = ["account_details", "list_campaigns", "list_owners", "list_pipelines",
           "list_properties", "read_pipeline"]

OWNERS_MAX = 500
CAMPAIGNS_MAX = 100


def list_properties(portal: Portal, object_name: str) -> ApiResponse:
    """``GET /crm/v3/properties/{objectType}``."""
    defs = property_defs(portal.kind(object_name).name)
    return ApiResponse(200, {"results": [d.payload(order) for order, d in
                                         enumerate(defs.values())]})


def list_pipelines(object_name: str) -> ApiResponse:
    """``GET /crm/v3/pipelines/{objectType}`` (deals and tickets)."""
    return ApiResponse(200, {"results": list(pipelines(object_name))})


def read_pipeline(object_name: str, pipeline_id: str) -> ApiResponse:
    """``GET /crm/v3/pipelines/{objectType}/{pipelineId}``."""
    for pipeline in pipelines(object_name):
        if pipeline["id"] == pipeline_id:
            return ApiResponse(200, pipeline)
    return error_response(404, f"Unable to find pipeline {pipeline_id}", "OBJECT_NOT_FOUND")


def _offset_page(items: list[dict[str, Any]], request: ApiRequest, maximum: int, path: str,
                 link_base: str) -> ApiResponse:
    try:
        limit = int(request.param("limit") or 100)
        after = int(request.param("after") or 0)
    except ValueError:
        return error_response(400, "limit and after must be whole numbers", "VALIDATION_ERROR")
    if not 0 < limit <= maximum:
        return error_response(400, f"limit must be between 1 and {maximum}, not {limit}",
                              "VALIDATION_ERROR")
    answer: dict[str, Any] = {"results": items[after: after + limit]}
    if after + limit < len(items):
        query = {name: ",".join(values) for name, values in request.query.items()}
        query["after"] = str(after + limit)
        answer["paging"] = {"next": {"after": str(after + limit),
                                     "link": f"{link_base}{path}?{urlencode(query)}"}}
    return ApiResponse(200, answer)


def list_owners(portal: Portal, request: ApiRequest, link_base: str) -> ApiResponse:
    """``GET /crm/v3/owners``: active owners, or with ``archived=true`` the deactivated ones."""
    archived = (request.param("archived") or "false").lower() == "true"
    email = request.param("email")
    owners = [o for o in portal.owners if o["archived"] == archived
              and (email is None or o["email"] == email)]
    return _offset_page(owners, request, OWNERS_MAX, "/crm/v3/owners", link_base)


def list_campaigns(portal: Portal, request: ApiRequest, link_base: str) -> ApiResponse:
    """``GET /marketing/v3/campaigns``: campaigns with the ``properties`` asked for."""
    wanted = request.params("properties")
    items = []
    for campaign in portal.campaigns:
        values = campaign["properties"]
        item = dict(campaign)
        item["properties"] = {name: values.get(name) for name in wanted} if wanted else {}
        items.append(item)
    return _offset_page(items, request, CAMPAIGNS_MAX, "/marketing/v3/campaigns", link_base)


def account_details(portal: Portal) -> ApiResponse:
    """``GET /account-info/v3/details``."""
    return ApiResponse(200, {
        "portalId": portal.portal_id, "accountType": "STANDARD", "timeZone": "UTC",
        "companyCurrency": portal.currency, "additionalCurrencies": ["EUR", "GBP"],
        "utcOffset": "+00:00", "utcOffsetMilliseconds": 0, "uiDomain": "app.hubspot.com",
        "dataHostingLocation": "na1",
    })
