"""Credentials, access tokens, OAuth 2.0 token grants and the SOAP login of the sandbox org."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import threading
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509 import load_pem_x509_certificate

JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"


@dataclass
class Credentials:
    """What a client needs to log in to the sandbox (all fake, all local)."""

    username: str = "sandbox@crm-connect.test"
    password: str = "sandbox-password"
    security_token: str = "SBXTOKEN0123456789"
    client_id: str = "3MVG9crmconnect.sandbox.consumer.key"
    client_secret: str = "sandbox-consumer-secret"
    refresh_token: str = "5Aep861sandboxrefreshtoken"
    org_id: str = "00DSb0000000001EAA"
    user_id: str = "005Sb0000000000IAA"
    jwt_private_key_pem: bytes = b""
    jwt_public_key_pem: bytes = b""
    jwt_private_key_path: str = ""


def _b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def load_public_key(pem: bytes) -> rsa.RSAPublicKey:
    """A public key from PEM: a certificate (what a connected app holds) or a bare key."""
    if b"BEGIN CERTIFICATE" in pem:
        key = load_pem_x509_certificate(pem).public_key()
    else:
        key = serialization.load_pem_public_key(pem)  # type: ignore[assignment]
    if not isinstance(key, rsa.RSAPublicKey):
        raise ValueError("the JWT bearer flow needs an RSA key")
    return key


class OAuthError(Exception):
    """A refused grant: ``error`` and ``error_description`` as Salesforce sends them."""

    def __init__(self, error: str, description: str, status: int = 400) -> None:
        super().__init__(description)
        self.error = error
        self.description = description
        self.status = status

    def body(self) -> dict[str, str]:
        return {"error": self.error, "error_description": self.description}


@dataclass
class TokenStore:
    """Issued access tokens and their expiry (wall clock)."""

    credentials: Credentials
    session_seconds: float = 7200.0
    _tokens: dict[str, float] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    refresh_revoked: bool = False
    rotate_refresh_tokens: bool = False
    """Refresh token rotation (a connected app setting): each refresh_token grant answers a
    new refresh token and revokes the one presented."""

    def issue(self) -> str:
        token = f"{self.credentials.org_id[:15]}!AR{secrets.token_urlsafe(72)[:96]}"
        with self._lock:
            self._tokens[token] = time.time() + self.session_seconds
        return token

    def valid(self, token: str) -> bool:
        with self._lock:
            expiry = self._tokens.get(token)
            return expiry is not None and expiry > time.time()

    def revoke(self, token: str) -> None:
        with self._lock:
            self._tokens.pop(token, None)

    def expire_all(self) -> None:
        with self._lock:
            self._tokens.clear()

    def token_response(self, instance_url: str, with_refresh: bool = False) -> dict[str, Any]:
        """A success body of ``POST /services/oauth2/token``, signed as Salesforce signs it."""
        creds = self.credentials
        identity = f"{instance_url}/id/{creds.org_id}/{creds.user_id}"
        issued_at = str(int(time.time() * 1000))
        signature = base64.b64encode(
            hmac.new(
                creds.client_secret.encode(), (identity + issued_at).encode(), hashlib.sha256
            ).digest()
        ).decode()
        body: dict[str, Any] = {
            "access_token": self.issue(),
            "instance_url": instance_url,
            "id": identity,
            "token_type": "Bearer",
            "issued_at": issued_at,
            "signature": signature,
        }
        if with_refresh:
            body["refresh_token"] = creds.refresh_token
            body["scope"] = "refresh_token api"
        return body

    # --- grants ---------------------------------------------------------------------------

    def grant(
        self,
        form: dict[str, str],
        authorization: str | None,
        instance_url: str,
        jwt_audiences: set[str],
    ) -> dict[str, Any]:
        grant_type = form.get("grant_type", "")
        creds = self.credentials
        client_id = form.get("client_id")
        client_secret = form.get("client_secret")
        if authorization and authorization.lower().startswith("basic "):
            try:
                pair = base64.b64decode(authorization[6:].strip()).decode()
                client_id, _, client_secret = pair.partition(":")
            except (ValueError, UnicodeDecodeError):
                raise OAuthError("invalid_client", "invalid client credentials") from None
        if grant_type == "password":
            self._client(client_id, client_secret)
            password = form.get("password", "")
            if form.get("username") != creds.username or password not in (
                creds.password + creds.security_token,
                creds.password,
            ):
                raise OAuthError("invalid_grant", "authentication failure - Invalid Password")
            return self.token_response(instance_url)
        if grant_type == "client_credentials":
            self._client(client_id, client_secret)
            return self.token_response(instance_url)
        if grant_type == "refresh_token":
            if client_id is not None and client_id != creds.client_id:
                raise OAuthError("invalid_client_id", "client identifier invalid")
            if client_secret is not None and client_secret != creds.client_secret:
                raise OAuthError("invalid_client", "invalid client credentials")
            with self._lock:
                if form.get("refresh_token") != creds.refresh_token or self.refresh_revoked:
                    raise OAuthError("invalid_grant", "expired access/refresh token")
                if self.rotate_refresh_tokens:
                    creds.refresh_token = f"5Aep861{secrets.token_urlsafe(48)}"
            return self.token_response(instance_url, with_refresh=self.rotate_refresh_tokens)
        if grant_type == JWT_GRANT:
            self._jwt(form.get("assertion", ""), jwt_audiences)
            return self.token_response(instance_url)
        if not grant_type:
            raise OAuthError("invalid_request", "grant type not supported")
        raise OAuthError("unsupported_grant_type", "grant type not supported")

    def _client(self, client_id: str | None, client_secret: str | None) -> None:
        if client_id != self.credentials.client_id:
            raise OAuthError("invalid_client_id", "client identifier invalid")
        if client_secret != self.credentials.client_secret:
            raise OAuthError("invalid_client", "invalid client credentials")

    def _jwt(self, assertion: str, audiences: set[str]) -> None:
        creds = self.credentials
        try:
            head_b64, claims_b64, sig_b64 = assertion.split(".")
            header = json.loads(_b64url_decode(head_b64))
            claims = json.loads(_b64url_decode(claims_b64))
            signature = _b64url_decode(sig_b64)
        except (ValueError, json.JSONDecodeError):
            raise OAuthError("invalid_grant", "invalid assertion") from None
        if header.get("alg") != "RS256" or not creds.jwt_public_key_pem:
            raise OAuthError("invalid_grant", "invalid assertion")
        try:
            load_public_key(creds.jwt_public_key_pem).verify(
                signature, f"{head_b64}.{claims_b64}".encode(), padding.PKCS1v15(), hashes.SHA256()
            )
        except InvalidSignature:
            raise OAuthError("invalid_grant", "invalid assertion") from None
        if claims.get("iss") != creds.client_id:
            raise OAuthError("invalid_client_id", "client identifier invalid")
        if claims.get("aud") not in audiences:
            raise OAuthError("invalid_grant", "audience is invalid")
        if claims.get("sub") != creds.username:
            raise OAuthError("invalid_grant", "user hasn't approved this consumer")
        try:
            expires = float(claims.get("exp"))
        except (TypeError, ValueError):
            raise OAuthError("invalid_grant", "invalid assertion") from None
        if expires < time.time():
            raise OAuthError("invalid_grant", "expired authorization code")


# --- SOAP login (what simple-salesforce's username/password/security-token login posts) ---------

_SOAP_FAULT = (
    '<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope '
    'xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" '
    'xmlns:sf="urn:fault.partner.soap.sforce.com" '
    'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><soapenv:Body><soapenv:Fault>'
    "<faultcode>sf:{code}</faultcode><faultstring>{code}: {message}</faultstring><detail>"
    '<sf:{fault} xsi:type="sf:{fault}"><sf:exceptionCode>{code}</sf:exceptionCode>'
    "<sf:exceptionMessage>{message}</sf:exceptionMessage></sf:{fault}></detail>"
    "</soapenv:Fault></soapenv:Body></soapenv:Envelope>"
)

_SOAP_LOGIN = (
    '<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope '
    'xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" '
    'xmlns="urn:partner.soap.sforce.com" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">'
    "<soapenv:Body><loginResponse><result>"
    "<metadataServerUrl>{instance}/services/Soap/m/{version}/{org}</metadataServerUrl>"
    "<passwordExpired>false</passwordExpired><sandbox>true</sandbox>"
    "<serverUrl>{instance}/services/Soap/u/{version}/{org}</serverUrl>"
    "<sessionId>{session}</sessionId><userId>{user}</userId><userInfo>"
    "<accessibilityMode>false</accessibilityMode><chatterExternal>false</chatterExternal>"
    "{currency_symbol}<orgAttachmentFileSizeLimit>5242880</orgAttachmentFileSizeLimit>"
    "{org_currency}<orgDisallowHtmlAttachments>false"
    "</orgDisallowHtmlAttachments><orgHasPersonAccounts>false</orgHasPersonAccounts>"
    "<organizationId>{org}</organizationId>"
    "<organizationMultiCurrency>{multi_currency}</organizationMultiCurrency>"
    "<organizationName>crm-connect sandbox</organizationName>"
    "<profileId>00eSb0000000001AAA</profileId>"
    "<roleId>00ESb0000000000MAA</roleId><sessionSecondsValid>{seconds}</sessionSecondsValid>"
    "{user_currency}<userEmail>{username}</userEmail>"
    "<userFullName>Sandbox Admin</userFullName><userId>{user}</userId>"
    "<userLanguage>en_US</userLanguage>"
    "<userLocale>en_US</userLocale><userName>{username}</userName>"
    "<userTimeZone>America/Los_Angeles</userTimeZone><userType>Standard</userType>"
    "<userUiSkin>Theme3</userUiSkin></userInfo></result></loginResponse></soapenv:Body></soapenv:Envelope>"
)


def soap_fault(code: str, message: str, fault: str = "LoginFault") -> str:
    return _SOAP_FAULT.format(code=code, message=message, fault=fault)


def _nil_or(tag: str, value: str | None) -> str:
    return f'<{tag} xsi:nil="true"/>' if value is None else f"<{tag}>{value}</{tag}>"


_SYMBOLS = {"USD": "$", "EUR": "€", "GBP": "£", "JPY": "¥", "CAD": "$", "AUD": "$", "CHF": "CHF"}


def soap_login(
    body: bytes,
    store: TokenStore,
    instance_url: str,
    version: str,
    *,
    multi_currency: bool = True,
    currency: str = "USD",
) -> tuple[int, str]:
    """``(status, xml)`` for a partner ``login`` call.

    As in Salesforce's ``GetUserInfoResult``: ``orgDefaultCurrencyIsoCode`` and
    ``currencySymbol`` are set in single-currency orgs only, ``userDefaultCurrencyIsoCode`` in
    multi-currency orgs only (nil otherwise).
    """
    try:
        root = ET.fromstring(body)
    except ET.ParseError:
        return 500, soap_fault(
            "INVALID_REQUEST", "Unable to parse the request", "UnexpectedErrorFault"
        )
    values: dict[str, str] = {}
    for element in root.iter():
        local = element.tag.rsplit("}", 1)[-1]
        if local in ("username", "password"):
            values[local] = element.text or ""
    creds = store.credentials
    if (
        values.get("username") != creds.username
        or values.get("password") != creds.password + creds.security_token
    ):
        return 500, soap_fault(
            "INVALID_LOGIN", "Invalid username, password, security token; or user locked out."
        )
    session = store.issue()
    return 200, _SOAP_LOGIN.format(
        instance=instance_url,
        version=version,
        org=creds.org_id,
        session=session,
        user=creds.user_id,
        username=creds.username,
        seconds=int(store.session_seconds),
        multi_currency="true" if multi_currency else "false",
        org_currency=_nil_or("orgDefaultCurrencyIsoCode", None if multi_currency else currency),
        currency_symbol=_nil_or(
            "currencySymbol", None if multi_currency else _SYMBOLS.get(currency, currency)
        ),
        user_currency=_nil_or("userDefaultCurrencyIsoCode", currency if multi_currency else None),
    )
