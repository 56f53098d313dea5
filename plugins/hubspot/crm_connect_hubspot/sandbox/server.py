""":class:`HubSpotSandbox`: the synthetic portal's API served on the loopback interface."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from .api import DEFAULT_MAX_URL_LENGTH, SandboxApi
from .generate import PortalSize, generate_portal
from .limits import RateLimits
from .oauth import TOKEN_LIFETIME_SECONDS, Credentials, TokenBook
from .portal import Portal
from .rounds import RoundChanges, change_round

__all__ = ["HubSpotSandbox"]


class HubSpotSandbox:
    """A HubSpot portal on ``127.0.0.1``, for demos, connector tests and cassettes.

    :param records: about how many CRM records to generate (or give ``size``).
    :param seed: the seed of the synthetic data and of the throwaway secrets.
    :param tier: the limits enforced: ``free`` (default), ``starter``, ``professional``,
        ``enterprise`` or ``api_limit_increase``; ``enforce_limits=False`` only reports them.
    :param daily_limit: override the tier's daily limit (quota tests).
    :param clock: seconds since the epoch, for token expiry and the limits' windows.
    :param rotate_refresh_token: issue a new refresh token with each refresh.
    """

    def __init__(self, *, records: int | None = None, size: PortalSize | None = None,
                 seed: int = 0, portal: Portal | None = None, tier: str = "free",
                 enforce_limits: bool = True, daily_limit: int | None = None,
                 per_ten_seconds: int | None = None, port: int = 0,
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
        self.port = port
        self._url: str | None = None
        self._stop: Callable[[], None] | None = None

    # -- lifecycle ------------------------------------------------------------------------------

    def start(self) -> HubSpotSandbox:
        """Start serving (idempotent)."""
        if self._url is None:
            from ._interim_http import serve

            self._url, self._stop = serve(self.api, "127.0.0.1", self.port)
            self.api.link_base = self._url
        return self

    def stop(self) -> None:
        if self._stop is not None:
            self._stop()
        self._url, self._stop = None, None

    def __enter__(self) -> HubSpotSandbox:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # -- what a client needs --------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        """Where the API answers (what a connection's ``base_url`` is set to)."""
        if self._url is None:
            raise RuntimeError("the HubSpot sandbox is not running; use it as a context manager")
        return self._url

    @property
    def token_url(self) -> str:
        return f"{self.base_url}/oauth/v1/token"

    @property
    def access_token(self) -> str:
        """The private app's access token (never expires)."""
        return self.credentials.access_token

    def client_options(self) -> dict[str, Any]:
        """Keyword arguments for ``hubspot.HubSpot(...)`` pointed at this sandbox."""
        return {"access_token": self.access_token, "host": self.base_url}

    # -- changing the portal between sync rounds ------------------------------------------------

    def change_round(self, **options: Any) -> RoundChanges:
        """See :func:`~.rounds.change_round`."""
        return change_round(self.portal, **options)
