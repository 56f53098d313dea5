"""The loopback HTTPS server speaking the Salesforce REST, OAuth, SOAP-login and Bulk 2.0 APIs.

It is built on the core's :class:`crm_connect.testing.server.LoopbackServer` (TLS, request log,
fault book); the endpoints live in :mod:`.rest` (REST data), :mod:`.bulk` (Bulk API 2.0) and
:mod:`.auth` (OAuth and SOAP login).
"""

from __future__ import annotations

import datetime as dt
import itertools
import re
import shutil
import tempfile
import threading
import urllib.parse
from collections import OrderedDict
from pathlib import Path
from typing import Any

import requests

from crm_connect.testing.faultbook import FaultBook, LoggedRequest, QueuedFault
from crm_connect.testing.server import LoopbackServer, Request, Response
from crm_connect.testing.tls import new_rsa_keypair

from .auth import Credentials, OAuthError, TokenStore, soap_login
from .bulk import BulkJob
from .faults import ERROR_DAILY_LIMIT, FaultKind, salesforce_fault
from .org import DEFAULT_NOW, Org, Record, SandboxError
from .rest import Cursor, RestEndpoints
from .wire import ERROR_INVALID_SESSION, ERROR_NOT_FOUND, sf_datetime, sf_json

API_VERSIONS = [f"{v}.0" for v in range(31, 67)]
_RELEASES = ("Summer", "Winter", "Spring")
DEFAULT_API_VERSION = "60.0"
MAX_URL_LENGTH = 16384
_DATA = re.compile(r"^/services/data/v(?P<version>\d+\.\d)(?P<rest>/.*)?$")


def _version_label(version: str) -> str:
    major = int(float(version))
    # v31 was Summer '14; three releases a year since.
    step = major - 31
    season = _RELEASES[step % 3]
    year = 14 + (step + 1) // 3 if season != "Summer" else 14 + step // 3
    return f"{season} '{year:02d}"


class SalesforceSandbox(RestEndpoints):
    """A Salesforce org on 127.0.0.1 over TLS, for demos, connector tests and cassettes.

    Use as a context manager (``with SalesforceSandbox(records=5000, seed=7) as sf: ...``) or call
    :meth:`start` / :meth:`stop`.  ``instance_url``, ``cert_path``, ``credentials`` and
    ``access_token`` are what a client needs; ``session()`` returns a ``requests.Session`` that
    trusts the certificate (and routes ``*.salesforce.com`` login URLs to the sandbox).
    """

    def __init__(
        self,
        records: int = 2000,
        seed: int = 0,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        api_version: str = DEFAULT_API_VERSION,
        now: dt.datetime = DEFAULT_NOW,
        multi_currency: bool = True,
        custom_fields: bool = True,
        default_currency: str = "USD",
        daily_api_limit: int = 15000,
        session_seconds: float = 7200.0,
        bulk_polls: int = 1,
        max_url_length: int = MAX_URL_LENGTH,
        credentials: Credentials | None = None,
        jwt_public_key_pem: bytes | None = None,
        rotate_refresh_tokens: bool = False,
    ) -> None:
        if host not in ("127.0.0.1", "localhost", "::1"):
            raise ValueError("the sandbox only listens on the loopback interface")
        self.org = Org(
            records=records,
            seed=seed,
            now=now,
            multi_currency=multi_currency,
            custom_fields=custom_fields,
            default_currency=default_currency,
        )
        self.host = host
        self.api_version = api_version
        self.daily_api_limit = daily_api_limit
        self.bulk_polls = bulk_polls
        self.max_url_length = max_url_length
        self.credentials = credentials or Credentials()
        self.credentials.user_id = self.org.id_of("User", 0)
        self.credentials.org_id = self.org.id_of("Organization", 0)
        if jwt_public_key_pem is not None:
            self.credentials.jwt_public_key_pem = jwt_public_key_pem
        self.tokens = TokenStore(self.credentials, session_seconds)
        self.tokens.rotate_refresh_tokens = rotate_refresh_tokens
        self._done_early = 0
        self.server = LoopbackServer(
            tls=True,
            host=host,
            port=port,
            guard=self._refuse_long_urls,
            default_headers=lambda: {"Sforce-Limit-Info": self.limit_info()},
            json_content_type="application/json;charset=UTF-8",
            not_found=lambda request: sf_json(404, ERROR_NOT_FOUND),
            on_error=_unknown_exception,
            server_header="sfdcedge",
            common_name="crm-connect salesforce sandbox",
        )
        self.faults: FaultBook = self.server.faults
        self._api_used = 0
        self._bulk_jobs_used = 0
        self._usage_lock = threading.Lock()
        self._cursors: OrderedDict[str, Cursor] = OrderedDict()
        self._jobs: dict[str, BulkJob] = {}
        self._counter = itertools.count(1)
        self._state_lock = threading.Lock()
        self._tmp: Path | None = None
        self.access_token = ""
        self.server.route("GET", r"/services/data/?", self._versions)
        self.server.route("*", r"/services/oauth2/token/?", self._oauth)
        self.server.route("*", r"/services/Soap/u/(\d+\.\d)/?", self._soap)
        self.server.route("*", r"/services/data/v.*", self._authorized_data)

    # --- lifecycle ---------------------------------------------------------------------------

    def start(self) -> SalesforceSandbox:
        if self._tmp is not None:
            return self
        self._tmp = Path(tempfile.mkdtemp(prefix="crm-connect-sf-sandbox-"))
        if not self.credentials.jwt_public_key_pem:
            private, public = new_rsa_keypair()
            self.credentials.jwt_private_key_pem = private
            self.credentials.jwt_public_key_pem = public
            key_path = self._tmp / "jwt-private-key.pem"
            key_path.touch(mode=0o600)
            key_path.write_bytes(private)
            self.credentials.jwt_private_key_path = str(key_path)
        self.server.start()
        self.access_token = self.tokens.issue()
        return self

    def stop(self) -> None:
        self.server.stop()
        if self._tmp is not None:
            shutil.rmtree(self._tmp, ignore_errors=True)
            self._tmp = None

    def __enter__(self) -> SalesforceSandbox:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        return self.server.port

    @property
    def cert_path(self) -> Path | None:
        """The throwaway certificate a client trusts (``None`` until started)."""
        return self.server.cert_path

    @property
    def instance_url(self) -> str:
        return self.server.url

    @property
    def token_url(self) -> str:
        return f"{self.instance_url}/services/oauth2/token"

    def session(self, reroute_logins: bool = True) -> requests.Session:
        """A ``requests.Session`` that trusts the sandbox certificate.

        With ``reroute_logins`` it also sends ``https://login.salesforce.com`` (and any
        ``*.salesforce.com``) to the sandbox, so simple-salesforce's built-in logins work
        unchanged; any other non-loopback host is refused, so a test can never reach the network.
        """
        session = _LoopbackSession(self.instance_url, reroute_logins)
        session.verify = str(self.cert_path)
        # requests lets REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE override ``session.verify``
        # (psf/requests
        # #3829), and proxy variables could capture loopback traffic: ignore the environment.
        session.trust_env = False
        return session

    # --- Python API for tests: tokens, usage, faults, log, mutations -----------------------

    def issue_token(self) -> str:
        return self.tokens.issue()

    def expire_tokens(self) -> None:
        """Every issued access token becomes invalid (401 INVALID_SESSION_ID until re-login)."""
        self.tokens.expire_all()

    def answer_done_early(self, count: int = 1) -> None:
        """The next ``count`` query answers that have more records to give say ``done: true``
        anyway, without ``nextRecordsUrl`` (``totalSize`` stays right), as Salesforce has
        been seen to do: a client that trusts ``done`` misses the rest.  Bulk result pages
        likewise answer ``Sforce-Locator: null`` early (``numberRecordsProcessed`` stays
        right)."""
        with self._state_lock:
            self._done_early += count

    def revoke_refresh_token(self) -> None:
        """The refresh token is refused from now on (``invalid_grant``)."""
        self.tokens.refresh_revoked = True

    @property
    def api_usage(self) -> int:
        return self._api_used

    def set_api_usage(self, used: int) -> None:
        with self._usage_lock:
            self._api_used = used

    def limit_info(self) -> str:
        return f"api-usage={self._api_used}/{self.daily_api_limit}"

    def inject(
        self,
        kind: FaultKind | str,
        path: str = "",
        count: int | None = 1,
        *,
        method: str | None = None,
        retry_after: int = 1,
        window_days: float | None = None,
    ) -> QueuedFault:
        """Queue a fault for requests whose path matches the regex ``path`` (see FaultKind)."""
        fault = salesforce_fault(
            FaultKind(kind),
            retry_after=retry_after,
            window_days=window_days,
            revoke=self._revoke_presented,
        )
        return self.faults.add(fault, path=path, method=method, count=count)

    def clear_faults(self) -> None:
        self.faults.clear()

    @property
    def requests(self) -> list[LoggedRequest]:
        """Every request the sandbox received, oldest first (``Authorization`` redacted)."""
        return self.server.requests

    def request_count(
        self, path: str | None = None, method: str | None = None, status: int | None = None
    ) -> int:
        """Requests logged whose path matches the regex ``path`` (and method/status when given)."""
        return self.server.request_count(path, method, status)

    def clear_log(self) -> None:
        self.server.clear_log()

    def expire_query_cursors(self) -> None:
        with self._state_lock:
            self._cursors.clear()

    def id_of(self, obj: str, index: int) -> str:
        return self.org.id_of(obj, index)

    def get(self, record_id: str) -> Record | None:
        return self.org.get(record_id)

    def update(self, record_id: str, **fields: Any) -> Record:
        return self.org.update(record_id, **fields)

    def update_many(self, record_ids: list[str], **fields: Any) -> dt.datetime:
        return self.org.update_many(record_ids, **fields)

    def create(self, obj: str, **fields: Any) -> Record:
        return self.org.create(obj, **fields)

    def delete(self, record_id: str) -> Record:
        return self.org.delete(record_id)

    def undelete(self, record_id: str) -> Record:
        return self.org.undelete(record_id)

    def merge(self, master_id: str, *merged_ids: str) -> Record:
        """Merge records into ``master_id`` (see :meth:`Org.merge`)."""
        return self.org.merge(master_id, *merged_ids)

    def hard_delete(self, record_id: str) -> None:
        self.org.hard_delete(record_id)

    def advance_clock(self, seconds: float) -> dt.datetime:
        return self.org.tick(seconds)

    def counts(self, include_deleted: bool = False) -> dict[str, int]:
        return self.org.counts(include_deleted)

    # --- routing -------------------------------------------------------------------------------

    # --- routing -------------------------------------------------------------------------------

    def _refuse_long_urls(self, request: Request) -> Response | None:
        if len(request.target) <= self.max_url_length:
            return None
        request.mark("uri_too_long")
        return Response(
            414,
            b"<html><body><h1>414 Request-URI Too Large</h1></body></html>",
            "text/html;charset=UTF-8",
        )

    def _revoke_presented(self, request: Request) -> None:
        token = self._bearer(request)
        if token:
            self.tokens.revoke(token)

    @staticmethod
    def _bearer(request: Request) -> str | None:
        return request.bearer(("Bearer", "OAuth"))

    def _versions(self, request: Request) -> Response:
        return sf_json(
            200,
            [
                {"label": _version_label(v), "url": f"/services/data/v{v}", "version": v}
                for v in API_VERSIONS
            ],
        )

    def _authorized_data(self, request: Request) -> Response:
        match = _DATA.match(request.path)
        if match is None or match.group("version") not in API_VERSIONS:
            return sf_json(404, ERROR_NOT_FOUND)
        token = self._bearer(request)
        if token is None or not self.tokens.valid(token):
            return sf_json(
                401, ERROR_INVALID_SESSION, {"WWW-Authenticate": 'Token realm="salesforce"'}
            )
        with self._usage_lock:
            over = self._api_used >= self.daily_api_limit
            if not over:
                self._api_used += 1
        if over:
            return sf_json(403, ERROR_DAILY_LIMIT)
        rest = (match.group("rest") or "/").rstrip("/")
        return self._data(request, request.method, match.group("version"), rest, request.params)

    # --- auth endpoints ------------------------------------------------------------------------

    def _oauth(self, request: Request) -> Response:
        if request.method != "POST":
            return sf_json(
                400, {"error": "invalid_request", "error_description": "must use HTTP POST"}
            )
        audiences = {
            "https://login.salesforce.com",
            "https://test.salesforce.com",
            self.instance_url,
        }
        try:
            payload = self.tokens.grant(
                request.form(), request.headers.get("Authorization"), self.instance_url, audiences
            )
        except OAuthError as exc:
            return sf_json(exc.status, exc.body())
        return sf_json(200, payload)

    def _soap(self, request: Request) -> Response:
        if request.method != "POST":
            return sf_json(405, ERROR_NOT_FOUND)
        assert request.match is not None
        status, xml = soap_login(
            request.body,
            self.tokens,
            self.instance_url,
            request.match.group(1),
            multi_currency=self.org.multi_currency,
            currency=self.org.default_currency,
        )
        return Response(status, xml.encode(), "text/xml;charset=UTF-8")


def _unknown_exception(request: Request, error: Exception) -> Response:
    """A sandbox bug must still answer like Salesforce does."""
    return sf_json(
        500,
        [{"errorCode": "UNKNOWN_EXCEPTION", "message": f"An unexpected error occurred: {error!r}"}],
    )


class _LoopbackSession(requests.Session):
    """A session that can only reach the sandbox: ``*.salesforce.com`` is rerouted to it.

    The rerouting sits in :meth:`send`, which every request and every redirect goes through.
    """

    def __init__(self, instance_url: str, reroute: bool = True) -> None:
        super().__init__()
        self._instance = urllib.parse.urlsplit(instance_url)
        self._reroute = reroute

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        parts = urllib.parse.urlsplit(request.url or "")
        host = parts.hostname or ""
        if self._reroute and host.endswith("salesforce.com"):
            parts = parts._replace(scheme="https", netloc=self._instance.netloc)
            request.url = urllib.parse.urlunsplit(parts)
        elif host not in ("127.0.0.1", "localhost", "::1"):
            raise requests.ConnectionError(
                f"the sandbox session refuses non-loopback host {host!r}"
            )
        return super().send(request, **kwargs)


__all__ = ["SalesforceSandbox", "SandboxError", "sf_datetime"]
