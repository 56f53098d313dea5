"""Signing in to HubSpot: a private app's access token, or an OAuth app's refresh token.

* **Private app**: the ``access_token`` secret is sent as it is; it does not expire, so a 401
  means it was revoked or mistyped: the connection stops with a message saying so.
* **OAuth**: ``client_id`` (in the file), ``client_secret`` and ``refresh_token`` (secrets).
  An access token lives 30 minutes (``expires_in``); it is refreshed a few minutes before it
  expires, and once when a call meets a 401 ``EXPIRED_AUTHENTICATION`` anyway.  A refresh token
  HubSpot refuses (``BAD_REFRESH_TOKEN``, ``invalid_grant``) is final: the connection stops at
  once with a message to sign in again; no loop of token requests.  A refresh answer that
  carries a new refresh token is saved (keyring, else the tokens file) before it is used.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from crm_connect.connector import ConnectionContext
from crm_connect.errors import AuthenticationError, CrmConnectError
from crm_connect_hubspot.config import AuthMethod, HubSpotConfig

__all__ = ["REFRESH_MARGIN_SECONDS", "RefreshRefused", "TokenManager", "refusal_reason"]

log = logging.getLogger("crm_connect_hubspot.auth")

REFRESH_MARGIN_SECONDS = 300.0
"""Refresh an OAuth access token this long before it expires."""

_REFUSALS = ("BAD_REFRESH_TOKEN", "invalid_grant", "BAD_CLIENT_ID", "BAD_AUTH_CODE",
             "invalid_client", "BAD_CLIENT_SECRET")

class RefreshRefused(AuthenticationError):
    """The token endpoint refused the refresh token for good (raised by the transport, so the
    retry layer passes it on untouched; :class:`TokenManager` words the message)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


TokenRequest = Callable[[dict[str, str]], Any]
"""Sends the refresh request (form fields) and returns the token answer (a
hubspot-api-client ``TokenResponseIF`` or a dict); raises the client's ``ApiException`` on
an error answer."""


def refusal_reason(status: int | None, body: Any) -> str | None:
    """Why the token endpoint refused the refresh for good (``BAD_REFRESH_TOKEN: missing or
    unknown refresh token``), or ``None`` when the answer is not a refusal."""
    if status is None or status >= 500 or status == 429:
        return None
    payload = body
    if isinstance(body, bytes | str):
        try:
            payload = json.loads(body)
        except ValueError:
            payload = {}
    if not isinstance(payload, dict):
        payload = {}
    marker = next((str(payload[key]) for key in ("status", "error", "category")
                   if str(payload.get(key, "")) in _REFUSALS), None)
    if marker is None and status not in (400, 401, 403):
        return None
    message = str(payload.get("message") or payload.get("error_description") or "")
    return f"{marker or f'HTTP {status}'}{': ' + message if message else ''}"


def _field(answer: Any, name: str) -> Any:
    if isinstance(answer, dict):
        return answer.get(name)
    return getattr(answer, name, None)


class TokenManager:
    """The access token of one connection, refreshed when needed.

    :param request_token: sends the OAuth refresh (under the resilience policy: a 5xx, a 429
        or a dropped connection is retried, a refusal is not).
    :param on_change: told the new access token after each refresh (to update the clients).
    """

    def __init__(self, config: HubSpotConfig, context: ConnectionContext,
                 request_token: TokenRequest | None = None,
                 on_change: Callable[[str], None] | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.config = config
        self.context = context
        self.request_token = request_token
        self.on_change = on_change
        self._clock = clock
        self._lock = threading.Lock()
        self._token: str | None = None
        self._expires_at: float | None = None
        self.refreshes = 0

    @property
    def connection(self) -> str:
        return self.context.name

    @property
    def oauth(self) -> bool:
        return self.config.auth_method is AuthMethod.OAUTH

    def token(self) -> str:
        """A valid access token (refreshing an OAuth one that expires within the margin)."""
        with self._lock:
            if not self.oauth:
                if self._token is None:
                    self._token = self.context.secret("access_token") or ""
                return self._token
            due = self._expires_at is not None and \
                self._clock() >= self._expires_at - REFRESH_MARGIN_SECONDS
            if self._token is None or due:
                self._refresh_locked()
            assert self._token is not None
            return self._token

    def refresh(self) -> None:
        """Refresh now (a call met a 401 ``EXPIRED_AUTHENTICATION``): the policy's refresh
        callback.  A private app token cannot be refreshed: that 401 is final."""
        if not self.oauth:
            raise AuthenticationError(
                "HubSpot refused the private app access token (HTTP 401). Create a new token "
                "in the private app's settings and store it with `crm-connect auth set "
                f"{self.connection} access_token`.", connection=self.connection)
        with self._lock:
            self._refresh_locked()

    def _refresh_locked(self) -> None:
        if self.request_token is None:
            raise AuthenticationError("no way to refresh the OAuth token was configured",
                                      connection=self.connection)
        presented = self.context.secret("refresh_token") or ""
        form = {"grant_type": "refresh_token", "client_id": self.config.client_id or "",
                "client_secret": self.context.secret("client_secret") or "",
                "refresh_token": presented}
        try:
            answer = self.request_token(form)
        except RefreshRefused as exc:
            reason: str | None = exc.reason
        except CrmConnectError:
            raise
        except Exception as exc:  # the client's ApiException: a refusal, or something odd
            status = getattr(exc, "status", None)
            reason = refusal_reason(status if isinstance(status, int) else None,
                                    getattr(exc, "body", None))
            if reason is None:
                raise
        else:
            reason = None
        if reason is not None:
            raise AuthenticationError(
                f"HubSpot refused to refresh the OAuth token ({reason}). This is final and "
                "not retried: the app was uninstalled or the refresh token revoked. Sign in "
                "again (install the app in the portal) and store the new refresh token with "
                f"`crm-connect auth set {self.connection} refresh_token`.",
                connection=self.connection) from None
        access = _field(answer, "access_token")
        if not isinstance(access, str) or not access:
            raise AuthenticationError(
                "HubSpot's token endpoint answered without an access_token",
                connection=self.connection)
        rotated = _field(answer, "refresh_token")
        if isinstance(rotated, str) and rotated and rotated != presented:
            self.context.save_secrets({"refresh_token": rotated})
            log.info("%s: HubSpot issued a new refresh token; it is saved", self.connection)
        expires = _field(answer, "expires_in")
        self._token = access
        self._expires_at = self._clock() + float(expires) if isinstance(
            expires, int | float) and not isinstance(expires, bool) else None
        self.refreshes += 1
        log.info("%s: OAuth access token refreshed (valid %s s)", self.connection, expires)
        if self.on_change is not None:
            self.on_change(access)

    def __repr__(self) -> str:  # never show a token
        return f"TokenManager(connection={self.connection!r}, oauth={self.oauth})"
