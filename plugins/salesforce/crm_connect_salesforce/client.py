"""The connection's Salesforce client: simple-salesforce on a resilient session.

Every request (login, describe, query, queryMore, Bulk 2.0) goes through the connection's
:class:`~crm_connect.resilience.ResiliencePolicy`: rate limit, retries, one re-login on
``INVALID_SESSION_ID``, and the daily-quota guard.  Errors simple-salesforce raises for what
a retry does not fix are turned into :class:`SalesforceApiError` with Salesforce's error code.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests
from simple_salesforce.api import Salesforce
from simple_salesforce.exceptions import SalesforceError

from crm_connect.connector import ConnectionContext
from crm_connect.errors import (
    ConfigError,
    ConnectorError,
    LoginUnavailableError,
    RetryExhaustedError,
)
from crm_connect.resilience import (
    BearerAuth,
    ResiliencePolicy,
    ResilientSession,
)
from crm_connect_salesforce.auth import Authenticator, LoginResult
from crm_connect_salesforce.bulk import BulkQuery
from crm_connect_salesforce.config import SalesforceConfig

__all__ = ["QueryTally", "SalesforceApiError", "SalesforceClient", "error_code"]

log = logging.getLogger("crm_connect_salesforce.client")


class _PinnedVerifySession(ResilientSession):
    """A resilient session whose ``verify`` (a CA bundle, or ``False``) is not overridden by
    ``REQUESTS_CA_BUNDLE``/``CURL_CA_BUNDLE``, as requests otherwise does for every request."""

    def merge_environment_settings(self, url: Any, proxies: Any, stream: Any, verify: Any,
                                   cert: Any) -> Any:
        settings = super().merge_environment_settings(url, proxies, stream, verify, cert)
        if verify is None and self.verify is not True:
            settings["verify"] = self.verify
        return settings


class SalesforceApiError(ConnectorError):
    """Salesforce answered an error a retry does not fix (``code`` is its errorCode)."""

    def __init__(self, message: str, *, code: str | None, status: int | None,
                 connection: str | None = None) -> None:
        self.code = code
        self.status = status
        super().__init__(message, connection=connection)


def error_code(exc: SalesforceError) -> tuple[str | None, str]:
    """Salesforce's errorCode and message from a simple-salesforce error."""
    content = exc.content
    if isinstance(content, list) and content and isinstance(content[0], Mapping):
        first = content[0]
        return (str(first.get("errorCode")) if first.get("errorCode") else None,
                str(first.get("message") or ""))
    if isinstance(content, Mapping):
        return (str(content.get("errorCode") or content.get("error") or "") or None,
                str(content.get("message") or content.get("error_description") or ""))
    return None, str(content)[:300]


@dataclass
class QueryTally:
    """Records a query announced (``totalSize``) and records it returned."""

    total: int | None = None
    received: int = 0


class SalesforceClient:
    """Logs in lazily, then serves describes, queries and Bulk jobs for one connection."""

    def __init__(self, connector: Any, config: SalesforceConfig,
                 context: ConnectionContext) -> None:
        self.config = config
        self.context = context
        self.connection = context.name
        self.verify = self._verify()
        self.policy = ResiliencePolicy.for_connector(  # reads SalesforceConnector.profile
            connector,
            refresh=self._refresh if config.auth.value != "session" else None)
        self.authenticator = Authenticator(config, context, self.policy, self.verify)
        self._login: LoginResult | None = None
        self._login_failure: LoginUnavailableError | None = None
        self._sf: Salesforce | None = None
        self._describes: dict[str, dict[str, Any]] = {}
        self.logins = 0

    def _verify(self) -> bool | str:
        if self.config.ca_bundle:
            path = Path(self.config.ca_bundle).expanduser()
            if not path.is_absolute():
                path = self.context.base_dir / path
            if not path.is_file():
                raise ConfigError(
                    f"connection {self.connection!r}: ca_bundle {path} does not exist")
            return str(path)
        return self.config.verify

    # -- session ----------------------------------------------------------------------------

    def _token(self) -> str | None:
        return self._login.access_token if self._login else None

    @property
    def sf(self) -> Salesforce:
        if self._sf is None:
            self._login = self._sign_in()
            session = _PinnedVerifySession(self.policy, auth=BearerAuth(self._token))
            session.verify = self.verify
            self._sf = Salesforce(instance_url=self._login.instance_url,
                                  session_id=self._login.access_token, session=session,
                                  version=self.config.api_version)
        return self._sf

    def _sign_in(self) -> LoginResult:
        if self._login_failure is not None:
            raise self._login_failure  # given up once for the whole connection
        try:
            result = self.authenticator.login()
        except RetryExhaustedError as exc:
            self._login_failure = LoginUnavailableError(
                f"cannot sign in at {self.config.login_base}: {exc.summary}. Check login_url "
                "(or domain) and that this machine can reach it; none of the connection's "
                "streams is read until it answers.", connection=self.connection)
            raise self._login_failure from None
        except requests.HTTPError as exc:
            status = exc.response.status_code if exc.response is not None else None
            raise ConnectorError(
                f"the login at {self.config.login_base} answered HTTP {status}; check "
                "login_url / domain", connection=self.connection) from None
        except requests.exceptions.SSLError as exc:
            raise ConnectorError(
                f"TLS failed at {self.config.login_base} ({exc.__class__.__name__}); set "
                "ca_bundle to the server's CA certificate (or verify = false for a throwaway "
                "test server)", connection=self.connection) from None
        self.logins += 1
        return result

    def _refresh(self) -> None:
        """The policy's refresh: log in again once and use the new session everywhere."""
        self._login = self._sign_in()
        if self._sf is not None:
            self._sf.session_id = self._login.access_token
            self._sf.headers["Authorization"] = f"Bearer {self._login.access_token}"

    def close(self) -> None:
        if self._sf is not None:
            self._sf.session.close()
            self._sf = None

    # -- calls ------------------------------------------------------------------------------

    def _api_error(self, exc: SalesforceError, what: str) -> SalesforceApiError:
        code, message = error_code(exc)
        shown = f"{code}: {message}" if code else message
        return SalesforceApiError(f"{what}: Salesforce answered HTTP {exc.status} ({shown})",
                                  code=code, status=exc.status, connection=self.connection)

    def describe_global(self) -> set[str]:
        try:
            result = self.sf.describe()
        except SalesforceError as exc:
            raise self._api_error(exc, "describe") from None
        return {str(item["name"]) for item in (result or {}).get("sobjects", [])}

    def describe(self, sobject: str) -> dict[str, Any] | None:
        """The object's describe, or ``None`` when the org has no such object."""
        if sobject not in self._describes:
            try:
                result = self.sf.restful(f"sobjects/{sobject}/describe")
            except SalesforceError as exc:
                code, _ = error_code(exc)
                if exc.status == 404 or code in ("NOT_FOUND", "INVALID_TYPE"):
                    return None
                raise self._api_error(exc, f"describe {sobject}") from None
            self._describes[sobject] = dict(result or {})
        return self._describes[sobject]

    def org_currency(self) -> str | None:
        """The org's default (corporate) currency, for single-currency orgs.

        ``Organization.DefaultCurrencyIsoCode`` when the org describes it and lets this user
        read it, else the ``orgDefaultCurrencyIsoCode`` a SOAP (password) login returned, else
        ``None`` (then set ``currency`` in the connection).
        """
        describe = self.describe("Organization")
        fields = {str(item.get("name")) for item in (describe or {}).get("fields", [])}
        if "DefaultCurrencyIsoCode" in fields:
            try:
                result = self.sf.query("SELECT Id, DefaultCurrencyIsoCode FROM Organization")
            except SalesforceError as exc:
                log.warning("%s: cannot read the org's default currency: %s", self.connection,
                            error_code(exc)[1])
            else:
                records = result.get("records") or []
                value = records[0].get("DefaultCurrencyIsoCode") if records else None
                if value:
                    return str(value)
        if self._login is not None and self._login.org_currency:
            return self._login.org_currency
        log.warning("%s: the org's default currency is unknown (no readable "
                    "Organization.DefaultCurrencyIsoCode); amounts of single-currency objects "
                    "have no currency. Set currency = \"XXX\" in [connections.%s]",
                    self.connection, self.connection)
        return None

    def count(self, soql: str, *, include_deleted: bool) -> int:
        try:
            result = self.sf.query(soql, include_deleted=include_deleted)
        except SalesforceError as exc:
            raise self._api_error(exc, "count") from None
        return int(result.get("totalSize", 0))

    def query_pages(self, soql: str, *, include_deleted: bool, page_size: int,
                    tally: QueryTally | None = None) -> Iterator[list[dict[str, Any]]]:
        """Pages of records of one query, following ``nextRecordsUrl``; ``tally`` counts
        them against the ``totalSize`` Salesforce announced."""
        headers = {"Sforce-Query-Options": f"batchSize={page_size}"}
        tally = tally if tally is not None else QueryTally()
        try:
            result = self.sf.query(soql, include_deleted=include_deleted, headers=headers)
            if isinstance(result.get("totalSize"), int):
                tally.total = int(result["totalSize"])
            while True:
                records = list(result.get("records") or [])
                tally.received += len(records)
                yield records
                following = result.get("nextRecordsUrl")
                if result.get("done", True) or not following:
                    return
                result = self.sf.query_more(following, identifier_is_url=True,
                                            headers=headers)
        except SalesforceError as exc:
            raise self._api_error(exc, "query") from None

    def limits(self) -> dict[str, Any]:
        try:
            return dict(self.sf.limits() or {})
        except SalesforceError:
            return {}

    def bulk(self) -> BulkQuery:
        return BulkQuery(self.sf, self.policy, poll_seconds=self.config.bulk_poll_seconds,
                         timeout_seconds=self.config.bulk_timeout_seconds)
