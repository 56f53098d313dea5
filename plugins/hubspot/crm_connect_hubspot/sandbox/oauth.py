"""Who may call the sandbox: a private app's access token, or OAuth 2.0 access tokens issued by
``POST /oauth/v1/token`` (grant ``refresh_token``) that expire after 30 minutes.

A refused refresh answers HubSpot's 400 (``BAD_REFRESH_TOKEN`` with ``invalid_grant``); a call with
an expired token answers 401 ``EXPIRED_AUTHENTICATION``; an unknown token 401
``INVALID_AUTHENTICATION``.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .exchange import ApiRequest, ApiResponse, correlation_id, error_response
from .portal import iso_ms

__all__ = ["Credentials", "TokenBook"]

TOKEN_LIFETIME_SECONDS = 1800
Clock = Callable[[], float]


@dataclass(frozen=True)
class Credentials:
    """The sandbox's throwaway secrets."""

    access_token: str  # a private app's token: never expires
    client_id: str
    client_secret: str
    refresh_token: str

    @classmethod
    def for_seed(cls, seed: int) -> Credentials:
        def part(name: str) -> str:
            return str(uuid.uuid5(uuid.NAMESPACE_URL, f"crm-connect-hubspot-sandbox/{seed}/{name}"))
        return cls(access_token=f"pat-na1-{part('access')}", client_id=part("client"),
                   client_secret=part("secret"), refresh_token=f"na1-{part('refresh')[9:]}")


class TokenBook:
    """The tokens the portal accepts, and its token endpoint.

    :param clock: seconds since the epoch (tests pass a fake one to expire tokens at will).
    :param rotate_refresh_token: issue a new refresh token with every refresh (the old one is
        then refused), to test that a connection saves the changed one.
    """

    def __init__(self, credentials: Credentials, *, clock: Clock = time.time,
                 lifetime: int = TOKEN_LIFETIME_SECONDS,
                 rotate_refresh_token: bool = False) -> None:
        self.credentials = credentials
        self.clock = clock
        self.lifetime = lifetime
        self.rotate_refresh_token = rotate_refresh_token
        self.refresh_token = credentials.refresh_token
        self.refusing = False
        self.refreshes = 0
        self.refused = 0
        self._issued: dict[str, float] = {}
        self._lock = threading.Lock()

    # -- test controls --------------------------------------------------------------------------

    def expire_all(self) -> None:
        """Expire every OAuth access token issued so far (the next call gets a 401)."""
        with self._lock:
            now = self.clock()
            self._issued = {token: min(expiry, now - 1) for token, expiry in self._issued.items()}

    def refuse_refresh(self, refuse: bool = True) -> None:
        """Answer every refresh with ``BAD_REFRESH_TOKEN`` (a revoked app)."""
        self.refusing = refuse

    def issue(self) -> str:
        """A new OAuth access token, as a successful refresh would give."""
        with self._lock:
            token = f"CJ{uuid.uuid4().hex}{uuid.uuid4().hex[:8]}"
            self._issued[token] = self.clock() + self.lifetime
            return token

    # -- the API --------------------------------------------------------------------------------

    def authenticate(self, request: ApiRequest) -> tuple[str | None, ApiResponse | None]:
        """``("private" | "oauth", None)`` for an accepted call, else ``(None, the 401)``."""
        token = request.bearer()
        if token and token == self.credentials.access_token:
            return "private", None
        expiry = self._issued.get(token or "")
        if expiry is None:
            return None, error_response(
                401, "Authentication credentials not found. This API supports both API Key and "
                "OAuth 2.0 authentication and you can find more details at "
                "https://developers.hubspot.com/docs/methods/auth/oauth-overview",
                "INVALID_AUTHENTICATION")
        now = self.clock()
        if expiry <= now:
            ago = int(now - expiry)
            stamp = iso_ms(int(expiry * 1000))
            return None, error_response(
                401, f"The OAuth token used to make this call expired {ago} second(s) ago.",
                "EXPIRED_AUTHENTICATION", context={"expire time": [stamp]})
        return "oauth", None

    def token_endpoint(self, request: ApiRequest) -> ApiResponse:
        """``POST /oauth/v1/token``: the ``refresh_token`` grant."""
        form: dict[str, Any] = request.body if isinstance(request.body, dict) else {}
        grant = form.get("grant_type")
        if grant != "refresh_token":
            return _oauth_error("BAD_GRANT_TYPE", "unsupported_grant_type",
                                f"grant_type {grant!r} is not supported")
        if form.get("client_id") != self.credentials.client_id:
            return _oauth_error("BAD_CLIENT_ID", "invalid_client", "missing or unknown client id")
        if form.get("client_secret") != self.credentials.client_secret:
            return _oauth_error("BAD_CLIENT_SECRET", "invalid_client",
                                "missing or invalid client secret")
        if self.refusing or form.get("refresh_token") != self.refresh_token:
            self.refused += 1
            return _oauth_error("BAD_REFRESH_TOKEN", "invalid_grant",
                                "missing or unknown refresh token")
        self.refreshes += 1
        if self.rotate_refresh_token:
            self.refresh_token = f"na1-{uuid.uuid4()}"[:40]
        return ApiResponse(200, {"token_type": "bearer", "refresh_token": self.refresh_token,
                                 "access_token": self.issue(), "expires_in": self.lifetime})


def _oauth_error(status: str, error: str, message: str) -> ApiResponse:
    return ApiResponse(400, {"status": status, "message": message,
                             "correlationId": correlation_id(),
                             "error": error, "error_description": message})
