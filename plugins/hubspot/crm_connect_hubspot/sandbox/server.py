""":class:`HubSpotSandbox`: the synthetic portal's API on the core's loopback server kit
(:class:`crm_connect.testing.server.LoopbackServer`: plain HTTP or TLS with a throwaway
certificate, the fault book, the request log)."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from crm_connect.testing.faultbook import FaultBook, LoggedRequest, QueuedFault
from crm_connect.testing.server import LoopbackServer, Request, Response

from .api import DEFAULT_MAX_URL_LENGTH, SandboxApi
from .exchange import ApiRequest, error_response
from .faults import FaultKind, hubspot_fault
from .generate import PortalSize, generate_portal
from .limits import RateLimits
from .oauth import TOKEN_LIFETIME_SECONDS, Credentials, TokenBook
from .portal import Portal
from .rounds import RoundChanges, change_round

__all__ = ["HubSpotSandbox"]


class HubSpotSandbox:
    """A HubSpot portal on ``127.0.0.1``, for demos, connector tests and cassettes.

    :param records: about how many CRM records to generate (or give ``size``, or ``portal``).
    :param seed: the seed of the synthetic data and of the throwaway secrets.
    :param tier: the limits enforced: ``free`` (default), ``starter``, ``professional``,
        ``enterprise`` or ``api_limit_increase``; ``enforce_limits=False`` only reports them.
    :param daily_limit: override the tier's daily limit (quota tests).
    :param tls: serve HTTPS with a throwaway self-signed certificate (:attr:`cert_path`).
    :param clock: seconds since the epoch, for token expiry and the limits' windows.
    :param rotate_refresh_token: issue a new refresh token with each refresh.
    """

    def __init__(self, *, records: int | None = None, size: PortalSize | None = None,
                 seed: int = 0, portal: Portal | None = None, tier: str = "free",
                 enforce_limits: bool = True, daily_limit: int | None = None,
                 per_ten_seconds: int | None = None, tls: bool = False, port: int = 0,
                 clock: Callable[[], float] = time.time,
                 token_lifetime: int = TOKEN_LIFETIME_SECONDS,
                 rotate_refresh_token: bool = False,
                 max_url_length: int = DEFAULT_MAX_URL_LENGTH) -> None:
        if portal is None:
            chosen = size or (PortalSize.for_records(records) if records else PortalSize())
            portal = generate_portal(chosen, seed=seed)
        self.portal = portal
        self.credentials = Credentials.for_seed(seed)
        self.tokens = TokenBook(self.credentials, clock=clock, lifetime=token_lifetime,
                                rotate_refresh_token=rotate_refresh_token)
        self.limits = RateLimits(tier, clock=clock, daily=daily_limit,
                                 per_ten_seconds=per_ten_seconds, enforce=enforce_limits)
        self.api = SandboxApi(portal, self.tokens, self.limits, max_url_length=max_url_length)
        self.server = LoopbackServer(
            tls=tls, port=port,
            not_found=lambda request: _answer(error_response(404, "Not found")),
            on_error=lambda request, error: _answer(error_response(
                500, f"internal error: {error!r}")),
            server_header="cloudflare",
            common_name="crm-connect hubspot sandbox",
        )
        self.server.route("*", r"/.*", self._serve)
        self.faults: FaultBook = self.server.faults

    def _serve(self, request: Request) -> Response:
        answer = self.api.handle(ApiRequest.build(
            request.method, request.target, dict(request.headers.items()), request.body))
        return _answer(answer)

    # -- lifecycle ------------------------------------------------------------------------------

    def start(self) -> HubSpotSandbox:
        """Start serving (idempotent)."""
        self.server.start()
        self.api.link_base = self.server.url
        return self

    def stop(self) -> None:
        self.server.stop()

    def __enter__(self) -> HubSpotSandbox:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # -- what a client needs --------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        """Where the API answers (what a connection's ``base_url`` is set to)."""
        return self.server.url

    @property
    def token_url(self) -> str:
        return f"{self.base_url}/oauth/v1/token"

    @property
    def cert_path(self) -> Path | None:
        """The throwaway certificate a client trusts when serving TLS (else ``None``)."""
        return self.server.cert_path

    @property
    def access_token(self) -> str:
        """The private app's access token (never expires)."""
        return self.credentials.access_token

    def client_options(self) -> dict[str, Any]:
        """Keyword arguments for ``hubspot.HubSpot(...)`` pointed at this sandbox."""
        return {"access_token": self.access_token, "host": self.base_url}

    # -- faults and the request log -------------------------------------------------------------

    def inject(self, kind: FaultKind | str, path: str = "", count: int | None = 1, *,
               method: str | None = None, retry_after: float | None = None) -> QueuedFault:
        """Queue a fault for requests whose path matches the regex ``path`` (see
        :class:`~.faults.FaultKind`); ``count=None`` until :meth:`clear_faults`."""
        fault = hubspot_fault(FaultKind(kind), retry_after=retry_after,
                              expire=lambda request: self.tokens.expire_all())
        return self.faults.add(fault, path=path, method=method, count=count)

    def clear_faults(self) -> None:
        self.faults.clear()

    @property
    def requests(self) -> list[LoggedRequest]:
        """Every request received, oldest first (``Authorization`` redacted)."""
        return self.server.requests

    def request_count(self, path: str | None = None, method: str | None = None,
                      status: int | None = None) -> int:
        """Requests logged whose path matches the regex ``path`` (and method/status)."""
        return self.server.request_count(path, method, status)

    # -- changing the portal between sync rounds ------------------------------------------------

    def change_round(self, **options: Any) -> RoundChanges:
        """See :func:`~.rounds.change_round`."""
        return change_round(self.portal, **options)


def _answer(answer: Any) -> Response:
    if answer.body is None:
        return Response.empty(answer.status, answer.headers)
    return Response.json(answer.status, answer.body, answer.headers)
