"""The transport: hubspot-api-client under the connection's resilience policy.

Every request goes through ``policy.call`` (retries, the ``general`` or ``search`` rate limit,
the daily quota guard, one refresh on an expired token).  The client's urllib3 pools keep
their connections: each API object is built once and handed the new access token after a
refresh.  Marketing campaigns and the account details have no API in hubspot-api-client; they
are read through the core's :class:`~crm_connect.resilience.ResilientSession`.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable, Sequence
from functools import partial
from typing import Any, TypeVar
from urllib.parse import urlencode

from hubspot import HubSpot  # type: ignore[import-untyped]
from hubspot.crm.associations.v4 import (  # type: ignore[import-untyped]
    BatchInputPublicFetchAssociationsBatchRequest,
)
from hubspot.crm.objects import (  # type: ignore[import-untyped]
    BatchReadInputSimplePublicObjectId,
    PublicObjectSearchRequest,
)

from crm_connect.errors import ConnectorError, CrmConnectError
from crm_connect.resilience import (
    ObservedPoolManager,
    ResiliencePolicy,
    ResilientSession,
    no_retries,
)
from crm_connect_hubspot.auth import RefreshRefused, TokenManager, refusal_reason
from crm_connect_hubspot.config import HubSpotConfig
from crm_connect_hubspot.records import HubSpotObject, Pipelines

__all__ = ["ASSOCIATION_BATCH", "HubSpotApiError", "HubSpotClient", "describe_error"]

log = logging.getLogger("crm_connect_hubspot.client")

T = TypeVar("T")

ASSOCIATION_BATCH = 1000
"""Ids per v4 associations batch read."""
BATCH_READ = 100
"""Ids per objects batch read."""
PRIMARY_LABELS = frozenset({"primary"})


def client_options(policy: ResiliencePolicy) -> dict[str, Any]:
    """Keyword arguments for ``hubspot.HubSpot(...)`` under ``policy``: urllib3's retries off
    (the policy is the one retry layer) and every generated API client's pool wrapped so that
    each request has the policy's timeout and each answer's rate-limit and daily headers
    reach it.  hubspot-api-client hands every keyword to each API's ``Configuration``, and
    builds each API through ``api_factory``."""

    def api_factory(api_client_package: Any, api_name: str, config: dict[str, Any]) -> Any:
        from hubspot.discovery.discovery_base import (  # type: ignore[import-untyped]
            DiscoveryBase,
        )

        api = DiscoveryBase._default_api_factory(api_client_package, api_name, config)
        rest_client = api.api_client.rest_client
        rest_client.pool_manager = ObservedPoolManager(rest_client.pool_manager, policy)
        return api

    return {"retry": no_retries(), "api_factory": api_factory}


class HubSpotApiError(ConnectorError):
    """HubSpot answered an error that retrying does not fix (400, 403, 404...)."""

    def __init__(self, message: str, *, connection: str, status: int | None,
                 category: str | None) -> None:
        super().__init__(message, connection=connection)
        self.status = status
        self.category = category


def describe_error(exc: BaseException) -> tuple[int | None, str | None, str]:
    """(status, category, message) of a hubspot-api-client ``ApiException``."""
    status = getattr(exc, "status", None)
    body = getattr(exc, "body", None)
    category, message = None, str(getattr(exc, "reason", "") or type(exc).__name__)
    try:
        payload = json.loads(body) if isinstance(body, bytes | str) and body else {}
    except ValueError:
        payload = {}
    if isinstance(payload, dict):
        category = payload.get("category") or payload.get("status")
        message = str(payload.get("message") or message)
        context = payload.get("context")
        scopes = context.get("requiredGranularScopes") if isinstance(context, dict) else None
        if category == "MISSING_SCOPES" and isinstance(scopes, list) and scopes:
            message += (f" ({', '.join(map(str, scopes))}): add the scope to the private "
                        "app (or the OAuth app) and authorize it again")
    return (status if isinstance(status, int) else None,
            str(category) if category else None, message)


class HubSpotClient:
    """One connection's HubSpot APIs."""

    def __init__(self, config: HubSpotConfig, connection: str, policy: ResiliencePolicy,
                 tokens: TokenManager, *, ca_bundle: str | None = None) -> None:
        self.config = config
        self.connection = connection
        self.policy = policy
        self.tokens = tokens
        self.base_url = config.base_url
        self.verify: bool | str = ca_bundle or config.verify
        tls: dict[str, Any] = {"verify_ssl": config.verify}
        if ca_bundle:
            tls["ssl_ca_cert"] = ca_bundle
        self._hubspot = HubSpot(host=self.base_url, **tls, **client_options(policy))
        self._apis: dict[str, Any] = {}
        self._session: ResilientSession | None = None
        tokens.on_change = self._use_token
        if tokens.request_token is None:
            tokens.request_token = self._request_token

    # -- plumbing ---------------------------------------------------------------------------

    def _api(self, name: str, build: Callable[[HubSpot], Any]) -> Any:
        api = self._apis.get(name)
        if api is None:
            api = self._apis[name] = build(self._hubspot)
        return api

    def _use_token(self, token: str) -> None:
        for api in self._apis.values():
            api.api_client.configuration.access_token = token

    def _call(self, fn: Callable[[], T], description: str, *, group: str = "general",
              idempotent: bool | None = None) -> T:
        def attempt() -> T:
            token = self.tokens.token()
            self._use_token(token)
            return fn()

        try:
            return self.policy.call(attempt, group=group, description=description,
                                    idempotent=idempotent)
        except CrmConnectError:
            raise
        except Exception as exc:
            status, category, message = describe_error(exc)
            if status is None:
                raise
            raise HubSpotApiError(
                f"{description}: HubSpot answered HTTP {status}"
                f"{' ' + category if category else ''}: {message}",
                connection=self.connection, status=status, category=category) from None

    def _request_token(self, form: dict[str, str]) -> Any:
        api = self._api("oauth", lambda hs: hs.oauth.tokens_api)

        def attempt() -> Any:
            try:
                return api.create(**form)
            except Exception as exc:  # a refusal is final: never retried, never refreshed
                status = getattr(exc, "status", None)
                reason = refusal_reason(status if isinstance(status, int) else None,
                                        getattr(exc, "body", None))
                if reason is not None:
                    raise RefreshRefused(reason) from None
                raise

        # a refresh does not change the refresh token's validity: safe to repeat
        return self.policy.call(attempt, description="POST /oauth/v1/token", idempotent=True)

    def session(self) -> ResilientSession:
        if self._session is None:
            from crm_connect.resilience import BearerAuth

            self._session = ResilientSession(self.policy, auth=BearerAuth(self.tokens.token))
        return self._session

    def close(self) -> None:
        for api in self._apis.values():
            pool = getattr(api.api_client.rest_client, "pool_manager", None)
            clear = getattr(pool, "clear", None)
            if callable(clear):
                clear()
        self._apis.clear()
        if self._session is not None:
            self._session.close()
            self._session = None

    # -- reading ----------------------------------------------------------------------------

    def list_page(self, object_type: str, properties: Sequence[str], *, after: str | None,
                  archived: bool = False) -> tuple[list[HubSpotObject], str | None]:
        """One page of ``GET /crm/v3/objects/{type}`` (``paging.next.after``)."""
        api = self._api("basic", lambda hs: hs.crm.objects.basic_api)
        kwargs: dict[str, Any] = {"limit": self.config.page_size, "archived": archived}
        if properties:
            kwargs["properties"] = list(properties)
        if after:
            kwargs["after"] = after
        answer = self._call(lambda: api.get_page(object_type, **kwargs),
                            f"GET /crm/v3/objects/{object_type}")
        objects = [HubSpotObject.from_model(item) for item in answer.results or []]
        following = getattr(getattr(answer.paging, "next", None), "after", None) \
            if answer.paging else None
        return objects, str(following) if following else None

    def url_length(self, object_type: str, properties: Sequence[str]) -> int:
        """How long a list URL asking for ``properties`` is."""
        # hubspot-api-client repeats the parameter: properties=a&properties=b
        query = urlencode([("limit", "100"), ("after", "x" * 24), ("archived", "False"),
                           *(("properties", name) for name in properties)])
        return len(f"{self.base_url}/crm/v3/objects/{object_type}?{query}")

    def batch_read(self, object_type: str, ids: Sequence[str], properties: Sequence[str], *,
                   archived: bool = False) -> list[HubSpotObject]:
        """``POST /crm/v3/objects/{type}/batch/read``: properties in the body, 100 ids a call."""
        api = self._api("batch", lambda hs: hs.crm.objects.batch_api)
        found: list[HubSpotObject] = []
        for start in range(0, len(ids), BATCH_READ):
            chunk = ids[start:start + BATCH_READ]
            body = BatchReadInputSimplePublicObjectId(
                inputs=[{"id": record_id} for record_id in chunk], properties=list(properties),
                properties_with_history=[])
            answer = self._call(partial(api.read, object_type, body, archived=archived),
                                f"POST /crm/v3/objects/{object_type}/batch/read",
                                idempotent=True)
            found.extend(HubSpotObject.from_model(item) for item in answer.results or [])
        return found

    def search(self, object_type: str) -> Callable[[PublicObjectSearchRequest], Any]:
        """A search function for :class:`~crm_connect_hubspot.incremental.SearchReader`."""
        api = self._api("search", lambda hs: hs.crm.objects.search_api)

        def send(request: PublicObjectSearchRequest) -> Any:
            return self._call(lambda: api.do_search(object_type, request),
                              f"POST /crm/v3/objects/{object_type}/search", group="search",
                              idempotent=True)

        return send

    def associations(self, from_type: str, to_type: str, ids: Iterable[str]
                     ) -> dict[str, list[str]]:
        """The ``to_type`` records associated with each of ``ids``, primary first, through
        the v4 batch API (up to 1,000 ids a request, never one request per record)."""
        api = self._api("assoc", lambda hs: hs.crm.associations.v4.batch_api)
        wanted = list(dict.fromkeys(ids))
        links: dict[str, list[str]] = {}
        for start in range(0, len(wanted), ASSOCIATION_BATCH):
            pending = [{"id": record_id} for record_id in wanted[start:start + ASSOCIATION_BATCH]]
            while pending:
                body = BatchInputPublicFetchAssociationsBatchRequest(inputs=pending)
                answer = self._call(
                    partial(api.get_page, from_type, to_type, body),
                    f"POST /crm/v4/associations/{from_type}/{to_type}/batch/read",
                    idempotent=True)
                pending = []
                for result in answer.results or []:
                    source = str(result._from.id)
                    ranked = sorted(result.to or [], key=lambda item: (
                        not any(str(kind.label or "").lower() in PRIMARY_LABELS
                                for kind in item.association_types or []),
                        int(item.to_object_id) if str(item.to_object_id).isdigit() else 0))
                    links.setdefault(source, []).extend(str(item.to_object_id)
                                                        for item in ranked)
                    following = getattr(getattr(result.paging, "next", None), "after", None) \
                        if result.paging else None
                    if following:
                        pending.append({"id": source, "after": str(following)})
        return links

    def pipelines(self, object_type: str) -> Pipelines:
        api = self._api("pipelines", lambda hs: hs.crm.pipelines.pipelines_api)
        answer = self._call(lambda: api.get_all(object_type),
                            f"GET /crm/v3/pipelines/{object_type}")
        payload = api.api_client.sanitize_for_serialization(answer)
        return Pipelines.from_json(payload)

    def property_names(self, object_type: str) -> set[str]:
        api = self._api("properties", lambda hs: hs.crm.properties.core_api)
        answer = self._call(lambda: api.get_all(object_type, archived=False),
                            f"GET /crm/v3/properties/{object_type}")
        return {str(item.name) for item in answer.results or []}

    def owners_page(self, *, after: str | None, archived: bool
                    ) -> tuple[list[HubSpotObject], str | None]:
        api = self._api("owners", lambda hs: hs.crm.owners.owners_api)
        kwargs: dict[str, Any] = {"limit": 100, "archived": archived}
        if after:
            kwargs["after"] = after
        answer = self._call(lambda: api.get_page(**kwargs), "GET /crm/v3/owners")
        payload = api.api_client.sanitize_for_serialization(answer)
        objects = [HubSpotObject.from_owner(item) for item in payload.get("results", [])]
        following = ((payload.get("paging") or {}).get("next") or {}).get("after")
        return objects, str(following) if following else None

    def _get_json(self, path: str, params: dict[str, Any] | None = None) -> Any:
        # verify given per request: requests lets $REQUESTS_CA_BUNDLE override the session's
        response = self.session().get(f"{self.base_url}{path}", params=params,
                                      verify=self.verify)
        if response.status_code >= 400:
            category, message = None, response.reason
            try:
                payload = response.json()
                category, message = payload.get("category"), payload.get("message", message)
            except ValueError:
                pass
            raise HubSpotApiError(
                f"GET {path}: HubSpot answered HTTP {response.status_code}"
                f"{' ' + category if category else ''}: {message}",
                connection=self.connection, status=response.status_code, category=category)
        return response.json()

    def account_currency(self) -> str | None:
        """The portal's company currency (``GET /account-info/v3/details``)."""
        payload = self._get_json("/account-info/v3/details")
        currency = payload.get("companyCurrency") if isinstance(payload, dict) else None
        return str(currency) if currency else None

    def campaigns_page(self, properties: Sequence[str], *, after: str | None
                       ) -> tuple[list[HubSpotObject], str | None]:
        """One page of ``GET /marketing/v3/campaigns``."""
        params: dict[str, Any] = {"limit": 100}
        if properties:
            params["properties"] = ",".join(properties)
        if after:
            params["after"] = after
        payload = self._get_json("/marketing/v3/campaigns", params)
        objects = [HubSpotObject.from_json(item) for item in payload.get("results", [])]
        following = ((payload.get("paging") or {}).get("next") or {}).get("after")
        return objects, str(following) if following else None
