"""The sandbox's HubSpot API as one function of a request: route, authenticate, count against the
limits, answer.  No server here: :mod:`.server` puts it on the core's loopback server, and tests
may call :meth:`SandboxApi.handle` directly.

Endpoints::

    POST /oauth/v1/token                                   refresh_token grant
    GET  /account-info/v3/details
    GET  /crm/v3/objects/{type}[?properties=&archived=&after=&limit=&associations=]
    GET  /crm/v3/objects/{type}/{id}
    POST /crm/v3/objects/{type}/merge
    POST /crm/v3/objects/{type}/search                     (the search limit)
    POST /crm/v3/objects/{type}/batch/read
    POST /crm/v4/associations/{from}/{to}/batch/read
    GET  /crm/v3/properties/{type}
    GET  /crm/v3/pipelines/{deals|tickets}[/{pipelineId}]
    GET  /crm/v3/owners[/{ownerId}]
    GET  /marketing/v3/campaigns

``{type}`` is a plural name, a singular one or a type id (``contacts``, ``contact``, ``0-1``).
A request whose target is longer than ``max_url_length`` is answered 414, as HubSpot's edge does.
"""

from __future__ import annotations

import collections
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass

from . import meta_api, objects_api
from .catalog import object_type
from .exchange import ApiRequest, ApiResponse, correlation_id, error_response
from .limits import RateLimits
from .oauth import TokenBook
from .portal import Portal
from .search import search

__all__ = ["DEFAULT_MAX_URL_LENGTH", "SandboxApi"]

DEFAULT_MAX_URL_LENGTH = 8192
Handler = Callable[[ApiRequest, "re.Match[str]"], ApiResponse]


@dataclass(frozen=True)
class _Route:
    method: str
    pattern: re.Pattern[str]
    endpoint: str
    handler: Handler
    group: str = "general"  # general | search | none (no auth, no limit)


class SandboxApi:
    """HubSpot's API over a :class:`~.portal.Portal`.

    :param link_base: the host ``paging.next.link`` points at (the server's URL).
    """

    def __init__(self, portal: Portal, tokens: TokenBook, limits: RateLimits, *,
                 link_base: str = "https://api.hubapi.com",
                 max_url_length: int = DEFAULT_MAX_URL_LENGTH) -> None:
        self.portal = portal
        self.tokens = tokens
        self.limits = limits
        self.link_base = link_base
        self.max_url_length = max_url_length
        self.served: collections.Counter[str] = collections.Counter()
        self._lock = threading.Lock()
        self._routes = self._build_routes()

    def handle(self, request: ApiRequest) -> ApiResponse:
        """Answer one request."""
        if len(request.target) > self.max_url_length:
            return error_response(414, "URI Too Long", "VALIDATION_ERROR")
        route, match = self._resolve(request)
        if route is None or match is None:
            return error_response(404, f"No route for {request.method} {request.path}",
                                  "OBJECT_NOT_FOUND")
        headers: dict[str, str] = {}
        if route.group != "none":
            auth, refusal = self.tokens.authenticate(request)
            if refusal is not None or auth is None:
                return _with_id(refusal or error_response(401, "Unauthorized"))
            throttled, headers = self.limits.admit(route.group, auth)
            if throttled is not None:
                return _with_id(throttled)
        with self._lock:
            self.served[route.endpoint] += 1
        response = route.handler(request, match)
        response.headers.update({k: v for k, v in headers.items() if k not in response.headers})
        return _with_id(response)

    def _resolve(self, request: ApiRequest) -> tuple[_Route | None, re.Match[str] | None]:
        path = request.path.rstrip("/") or "/"
        for route in self._routes:
            if route.method != request.method:
                continue
            match = route.pattern.fullmatch(path)
            if match is not None:
                return route, match
        return None, None

    # -- routes ---------------------------------------------------------------------------------

    def _build_routes(self) -> list[_Route]:
        def r(method: str, pattern: str, endpoint: str, handler: Handler,
              group: str = "general") -> _Route:
            return _Route(method, re.compile(pattern), endpoint, handler, group)

        obj = r"(?P<type>[A-Za-z0-9_-]+)"
        return [
            r("POST", r"/oauth/v1/token", "oauth.token",
              lambda q, m: self.tokens.token_endpoint(q), "none"),
            r("GET", r"/account-info/v3/details", "account.details",
              lambda q, m: meta_api.account_details(self.portal)),
            r("POST", rf"/crm/v3/objects/{obj}/search", "objects.search",
              self._search, "search"),
            r("POST", rf"/crm/v3/objects/{obj}/merge", "objects.merge",
              self._typed(lambda q, name, m: objects_api.merge_objects(self.portal, name, q))),
            r("POST", rf"/crm/v3/objects/{obj}/batch/read", "objects.batch_read",
              self._typed(lambda q, name, m: objects_api.batch_read(self.portal, name, q))),
            r("GET", rf"/crm/v3/objects/{obj}", "objects.list",
              self._typed(lambda q, name, m: objects_api.list_objects(
                  self.portal, name, q, self.link_base))),
            r("GET", rf"/crm/v3/objects/{obj}/(?P<id>[^/]+)", "objects.read",
              self._typed(lambda q, name, m: objects_api.read_object(
                  self.portal, name, m["id"], q))),
            r("POST", rf"/crm/v4/associations/{obj}/(?P<to>[A-Za-z0-9_-]+)/batch/read",
              "associations.batch_read", self._associations),
            r("GET", rf"/crm/v3/properties/{obj}", "properties.list",
              self._typed(lambda q, name, m: meta_api.list_properties(self.portal, name))),
            r("GET", r"/crm/v3/pipelines/(?P<type>deals?|tickets?|0-3|0-5)", "pipelines.list",
              self._typed(lambda q, name, m: meta_api.list_pipelines(name))),
            r("GET", r"/crm/v3/pipelines/(?P<type>deals?|tickets?|0-3|0-5)/(?P<id>[^/]+)",
              "pipelines.read",
              self._typed(lambda q, name, m: meta_api.read_pipeline(name, m["id"]))),
            r("GET", r"/crm/v3/owners", "owners.list",
              lambda q, m: meta_api.list_owners(self.portal, q, self.link_base)),
            r("GET", r"/crm/v3/owners/(?P<id>[^/]+)", "owners.read", self._owner),
            r("GET", r"/marketing/v3/campaigns", "campaigns.list",
              lambda q, m: meta_api.list_campaigns(self.portal, q, self.link_base)),
        ]

    def _typed(self, handler: Callable[[ApiRequest, str, re.Match[str]], ApiResponse]
               ) -> Handler:
        def typed(request: ApiRequest, match: re.Match[str]) -> ApiResponse:
            kind = object_type(match["type"])
            if kind is None:
                return _unknown_type(match["type"])
            return handler(request, kind.name, match)
        return typed

    def _search(self, request: ApiRequest, match: re.Match[str]) -> ApiResponse:
        kind = object_type(match["type"])
        if kind is None:
            return _unknown_type(match["type"])
        return search(self.portal, kind.name, request.body)

    def _associations(self, request: ApiRequest, match: re.Match[str]) -> ApiResponse:
        source, target = object_type(match["type"]), object_type(match["to"])
        if source is None or target is None:
            return _unknown_type(match["type"] if source is None else match["to"])
        return objects_api.associations_batch_read(self.portal, source.name, target.name,
                                                   request)

    def _owner(self, request: ApiRequest, match: re.Match[str]) -> ApiResponse:
        for owner in self.portal.owners:
            if owner["id"] == match["id"]:
                return ApiResponse(200, owner)
        return error_response(404, f"No owner found with id {match['id']}", "OBJECT_NOT_FOUND")


def _unknown_type(name: str) -> ApiResponse:
    return ApiResponse(400, {"status": "error",
                             "message": f"Unable to infer object type from: {name}",
                             "correlationId": correlation_id()})


def _with_id(response: ApiResponse) -> ApiResponse:
    body = response.body
    cid = body.get("correlationId") if isinstance(body, dict) else None
    response.headers.setdefault("X-HubSpot-Correlation-Id", str(cid or correlation_id()))
    return response
