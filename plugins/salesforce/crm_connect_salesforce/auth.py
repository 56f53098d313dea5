"""Signing in to Salesforce: SOAP username/password, OAuth JWT bearer, OAuth client credentials,
an OAuth refresh token, or an existing session id.

simple-salesforce sends its logins to ``https://{domain}.salesforce.com``; here they go to the
connection's ``login_url`` (a My Domain, a proxy, the loopback sandbox) or to that same
default.  A refused login is final (:class:`~crm_connect.errors.AuthenticationError`, never
retried); a login that meets a 5xx, a timeout or a dropped connection is retried by the
connection's resilience policy like any other call.

A refresh-token login is different: a connected app with refresh token rotation answers with a
new refresh token and revokes the one presented.  The new one is saved (keyring, else the
tokens file beside the store) before the login returns, and the token POST is never repeated
once it may have reached Salesforce: a repeat would present the revoked token.
"""

from __future__ import annotations

import logging
import time
import xml.etree.ElementTree as ElementTree
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from xml.sax.saxutils import escape

import requests

from crm_connect.connector import ConnectionContext
from crm_connect.errors import AuthenticationError, ConfigError, QuotaExceededError
from crm_connect.resilience import AnswerLost, ResiliencePolicy, send_once
from crm_connect_salesforce.classify import LimitKind, limit_kind
from crm_connect_salesforce.config import AuthMethod, SalesforceConfig

__all__ = ["Authenticator", "LoginResult"]

log = logging.getLogger("crm_connect_salesforce.auth")

_TRANSIENT_FAULTS = ("SERVER_UNAVAILABLE", "UNKNOWN_EXCEPTION")


@dataclass(frozen=True)
class LoginResult:
    access_token: str
    instance_url: str
    org_currency: str | None = None
    """``orgDefaultCurrencyIsoCode`` of a SOAP login (set in single-currency orgs only)."""

    def __repr__(self) -> str:  # never show the token
        return f"LoginResult(instance_url={self.instance_url!r})"


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _find_text(root: ElementTree.Element, name: str) -> str | None:
    for element in root.iter():
        if _local(element.tag) == name:
            return (element.text or "").strip()
    return None


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


class Authenticator:
    """Logs a connection in with the method its configuration names."""

    def __init__(self, config: SalesforceConfig, context: ConnectionContext,
                 policy: ResiliencePolicy, verify: bool | str) -> None:
        self.config = config
        self.context = context
        self.policy = policy
        self.verify = verify

    @property
    def connection(self) -> str:
        return self.context.name

    @property
    def can_refresh(self) -> bool:
        """An existing session id cannot be renewed by us; every other method logs in again."""
        return self.config.auth is not AuthMethod.SESSION

    def login(self) -> LoginResult:
        method = self.config.auth
        if method is AuthMethod.SESSION:
            token = self.context.secret("session_id")
            assert token is not None and self.config.instance_url is not None
            return LoginResult(token, self.config.instance_url)
        if method is AuthMethod.PASSWORD:
            if self.config.consumer_key and self.context.secret("consumer_secret",
                                                                required=False):
                result = self._oauth_password()
            else:
                result = self._soap_login()
        elif method is AuthMethod.JWT:
            result = self._jwt_bearer()
        elif method is AuthMethod.REFRESH_TOKEN:
            result = self._refresh_token()
        else:
            result = self._client_credentials()
        if self.config.instance_url:
            result = LoginResult(result.access_token, self.config.instance_url,
                                 result.org_currency)
        log.info("%s: logged in (%s) to %s", self.connection, method.value, result.instance_url)
        return result

    # -- the flows --------------------------------------------------------------------------

    def _password(self) -> str:
        password = self.context.secret("password") or ""
        token = self.context.secret("security_token", required=False) or ""
        return password + token

    def _soap_login(self) -> LoginResult:
        username = self.config.username or ""
        url = f"{self.config.login_base}/services/Soap/u/{self.config.api_version}"
        body = (
            '<?xml version="1.0" encoding="utf-8" ?>'
            '<env:Envelope xmlns:xsd="http://www.w3.org/2001/XMLSchema" '
            'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
            'xmlns:env="http://schemas.xmlsoap.org/soap/envelope/">'
            '<env:Body><n1:login xmlns:n1="urn:partner.soap.sforce.com">'
            f"<n1:username>{escape(username)}</n1:username>"
            f"<n1:password>{escape(self._password())}</n1:password>"
            "</n1:login></env:Body></env:Envelope>"
        )
        headers = {"Content-Type": "text/xml; charset=UTF-8", "SOAPAction": "login",
                   "charset": "UTF-8"}
        response = self._post(url, data=body.encode("utf-8"), headers=headers,
                              description="POST /services/Soap/u (login)",
                              check=self._soap_fault)
        try:
            root = ElementTree.fromstring(response.content)
        except ElementTree.ParseError as exc:
            raise AuthenticationError(
                f"the SOAP login at {url} answered something that is not XML ({exc})",
                connection=self.connection) from None
        session_id = _find_text(root, "sessionId")
        server_url = _find_text(root, "serverUrl")
        if not session_id or not server_url:
            raise AuthenticationError(
                f"the SOAP login at {url} answered without a sessionId/serverUrl",
                connection=self.connection)
        currency = _find_text(root, "orgDefaultCurrencyIsoCode") or None
        return LoginResult(session_id, _origin(server_url), currency)

    def _soap_fault(self, response: requests.Response) -> None:
        if response.status_code < 400:
            return
        try:
            root = ElementTree.fromstring(response.content)
        except ElementTree.ParseError:
            response.raise_for_status()
            return
        code = _find_text(root, "faultcode") or ""
        message = _find_text(root, "faultstring") or f"HTTP {response.status_code}"
        code = code.split(":", 1)[-1]
        if not code:
            response.raise_for_status()
        if any(marker in code for marker in _TRANSIENT_FAULTS):
            response.raise_for_status()
        if "REQUEST_LIMIT_EXCEEDED" in code:
            if limit_kind(message) is not LimitKind.DAILY_TOTAL:
                response.raise_for_status()  # a concurrency limit: wait and retry
            raise QuotaExceededError(f"the login was refused: {message}",
                                     connection=self.connection)
        raise AuthenticationError(
            f"Salesforce refused the login of {self.config.username!r} at "
            f"{self.config.login_base} ({message}). Check the username, the password and the "
            f"security token (`crm-connect auth set {self.connection} password`, "
            f"`crm-connect auth set {self.connection} security_token`), and the login domain "
            "('login' for production, 'test' for sandboxes, or your My Domain).",
            connection=self.connection)

    def _token_request(self, data: dict[str, str], what: str, *, once: bool = False
                       ) -> tuple[LoginResult, dict[str, Any]]:
        url = f"{self.config.login_base}/services/oauth2/token"
        response = self._post(url, data=data, headers={"Accept": "application/json"},
                              description=f"POST /services/oauth2/token ({what})",
                              check=lambda response: self._oauth_error(response, what),
                              once=once)
        try:
            payload = response.json()
            return (LoginResult(str(payload["access_token"]), str(payload["instance_url"])),
                    dict(payload))
        except (ValueError, KeyError, TypeError, AttributeError):
            raise AuthenticationError(
                f"the OAuth token endpoint {url} answered without access_token/instance_url",
                connection=self.connection) from None

    def _refresh_token(self) -> LoginResult:
        presented = self.context.secret("refresh_token") or ""
        data = {"grant_type": "refresh_token", "client_id": self.config.consumer_key or "",
                "refresh_token": presented}
        client_secret = self.context.secret("consumer_secret", required=False)
        if client_secret:
            data["client_secret"] = client_secret
        result, payload = self._token_request(data, "refresh_token", once=True)
        rotated = payload.get("refresh_token")
        if isinstance(rotated, str) and rotated and rotated != presented:
            # Salesforce revoked the one presented: save the new one before anything else
            self.context.save_secrets({"refresh_token": rotated})
            log.info("%s: Salesforce rotated the refresh token; the new one is saved",
                     self.connection)
        return result

    def _oauth_error(self, response: requests.Response, what: str) -> None:
        if response.status_code < 400:
            return
        if response.status_code >= 500 or response.status_code == 429:
            response.raise_for_status()
        try:
            payload = response.json()
        except ValueError:
            payload = {}
        error = payload.get("error", f"HTTP {response.status_code}") \
            if isinstance(payload, dict) else f"HTTP {response.status_code}"
        detail = payload.get("error_description", "") if isinstance(payload, dict) else ""
        hints = {
            "password": f"the username, password and security token (`crm-connect auth set "
                        f"{self.connection} password`) and the connected app",
            "jwt": "that the connected app holds the certificate of this private key, that "
                   "the user is pre-authorized for the app, and the login domain/audience",
            "client_credentials": "the consumer key and secret, that the app enables the "
                                  "client credentials flow with a run-as user, and that "
                                  "login_url is your My Domain",
            "refresh_token": "that the refresh token was not revoked or already rotated "
                             "(authorize the connected app again and store the new one with "
                             f"`crm-connect auth set {self.connection} refresh_token`) and "
                             "the consumer key and secret",
        }
        raise AuthenticationError(
            f"Salesforce refused the {what} login at {self.config.login_base} "
            f"({error}{': ' + detail if detail else ''}). This is final, not retried: check "
            f"{hints.get(what, 'the credentials')}.", connection=self.connection)

    def _oauth_password(self) -> LoginResult:
        return self._token_request({
            "grant_type": "password",
            "client_id": self.config.consumer_key or "",
            "client_secret": self.context.secret("consumer_secret") or "",
            "username": self.config.username or "",
            "password": self._password(),
        }, "password")[0]

    def _client_credentials(self) -> LoginResult:
        return self._token_request({
            "grant_type": "client_credentials",
            "client_id": self.config.consumer_key or "",
            "client_secret": self.context.secret("consumer_secret") or "",
        }, "client_credentials")[0]

    def _private_key(self) -> str:
        if self.config.private_key_file:
            path = Path(self.config.private_key_file).expanduser()
            if not path.is_absolute():
                path = self.context.base_dir / path
            try:
                return path.read_text(encoding="utf-8")
            except OSError as exc:
                raise ConfigError(
                    f"connection {self.connection!r}: cannot read private_key_file {path}: "
                    f"{exc.strerror}") from None
        key = self.context.secret("private_key") or ""
        return key.replace("\\n", "\n")

    def _jwt_bearer(self) -> LoginResult:
        import jwt  # PyJWT, a dependency of simple-salesforce

        claims = {
            "iss": self.config.consumer_key,
            "sub": self.config.username,
            "aud": self.config.audience,
            "exp": int(time.time()) + 180,
        }
        try:
            assertion = jwt.encode(claims, self._private_key(), algorithm="RS256")
        except (ValueError, TypeError, jwt.PyJWTError) as exc:
            raise ConfigError(
                f"connection {self.connection!r}: the JWT private key cannot sign "
                f"({type(exc).__name__}); store a PEM RSA key with `crm-connect auth set "
                f"{self.connection} private_key` or set private_key_file") from None
        return self._token_request({
            "grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer",
            "assertion": assertion,
        }, "jwt")[0]

    # -- transport --------------------------------------------------------------------------

    def _post(self, url: str, *, data: Any, headers: dict[str, str], description: str,
              check: Any, once: bool = False) -> requests.Response:
        """POST under the policy: transient failures retried, refusals raised by ``check``.

        ``once``: never repeated after it may have reached Salesforce (see the module's
        docstring); a lost answer is an :class:`AuthenticationError` that says what to do.
        """
        if once:
            with requests.Session() as http:
                try:
                    response = send_once(
                        http, self.policy, "POST", url, data=data, headers=headers,
                        verify=self.verify, check=check,
                        what="logging in with the refresh token",
                        consequence="Salesforce may already have rotated the refresh token, "
                        "which revokes the stored one. Run the sync again; if Salesforce then "
                        "answers invalid_grant, authorize the connected app again and store "
                        f"the new refresh token with `crm-connect auth set {self.connection} "
                        "refresh_token`.")
                except AnswerLost as exc:
                    raise AuthenticationError(str(exc), connection=self.connection) from None
            response.raise_for_status()
            return response

        def attempt() -> requests.Response:
            with requests.Session() as http:
                # verify per request: a session's verify loses to REQUESTS_CA_BUNDLE
                response = http.post(url, data=data, headers=headers, verify=self.verify,
                                     timeout=self.policy.settings.timeout)
            check(response)
            response.raise_for_status()
            return response

        # A login creates nothing that a repeat could duplicate: safe to retry, POST or not.
        return self.policy.call(attempt, description=description, idempotent=True)
