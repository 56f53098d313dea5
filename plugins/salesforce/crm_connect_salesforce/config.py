"""The ``[connections.NAME]`` table of a Salesforce connection.

Secrets (``password``, ``security_token``, ``consumer_secret``, ``private_key``,
``session_id``, ``refresh_token``) never sit in the file: they come from the keyring
(``crm-connect auth set``) or from ``CRM_CONNECT_<CONNECTION>_<FIELD>``, and a rotated refresh
token from where the last login saved it.
"""

from __future__ import annotations

import datetime as dt
import re
from enum import StrEnum
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import BeforeValidator, Field, field_validator, model_validator

from crm_connect.connector import ConnectorConfig
from crm_connect.mapping import check_mapping_table
from crm_connect.schema import DealType, LeadOrigin, SpendCategory, parse_datetime

__all__ = ["AuthMethod", "SalesforceConfig"]


class AuthMethod(StrEnum):
    PASSWORD = "password"  # username + password (+ security token): SOAP login
    JWT = "jwt"  # OAuth 2.0 JWT bearer: consumer key + private key, as username
    CLIENT_CREDENTIALS = "client_credentials"  # OAuth 2.0 client credentials
    SESSION = "session"  # an existing session id (access token) with instance_url
    REFRESH_TOKEN = "refresh_token"  # OAuth 2.0 refresh token of a connected app (may rotate)


def _base_url(value: str | None) -> str | None:
    """``https://host[:port]`` without a trailing slash; ``None`` stays ``None``."""
    if value is None or value == "":
        return None
    text = value.strip().rstrip("/")
    if "://" not in text:
        text = "https://" + text
    parts = urlsplit(text)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise ValueError(f"{value!r} is not an https:// URL")
    return f"{parts.scheme}://{parts.netloc}"


BaseUrl = Annotated[str | None, BeforeValidator(_base_url)]


_DOMAIN_NAME = re.compile(r"[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)*")
_DOMAIN_HELP = ("write domain = \"login\" (production), \"test\" (sandboxes) or your My Domain "
                "name such as \"acme.my\" (for https://acme.my.salesforce.com); a login host "
                "outside salesforce.com goes in login_url = \"https://...\" instead")


def _login_domain(value: str) -> str:
    """The ``{domain}`` of ``https://{domain}.salesforce.com``: a name, never a host or a URL
    (which would build URLs such as ``https://https://x.salesforce.com.salesforce.com``)."""
    text = value.strip()
    lowered = text.lower()
    host = urlsplit(lowered).hostname if "://" in lowered else lowered.split("/", 1)[0]
    name = (host or "").split(":", 1)[0].removesuffix(".salesforce.com")
    if _DOMAIN_NAME.fullmatch(lowered):
        if lowered.endswith(".salesforce.com"):
            raise ValueError(f"domain = {text!r} is a host name; write domain = {name!r} "
                             f"(the part before .salesforce.com)")
        return lowered
    if name and _DOMAIN_NAME.fullmatch(name) and (host or "").split(":", 1)[0].endswith(
            ".salesforce.com"):
        kind = "a URL" if "://" in lowered or "/" in lowered else "a host"
        raise ValueError(f"domain = {text!r} is {kind}; write domain = {name!r} (the part "
                         "before .salesforce.com), or set login_url to the full URL")
    raise ValueError(f"domain = {text!r} is not a login domain: {_DOMAIN_HELP}")


class SalesforceConfig(ConnectorConfig):
    """Options of a ``connector = "salesforce"`` connection."""

    secret_fields = ("password", "security_token", "consumer_secret", "private_key",
                     "session_id", "refresh_token")

    # -- signing in -----------------------------------------------------------------------
    auth: AuthMethod = Field(
        default=AuthMethod.PASSWORD,
        description="password | jwt | client_credentials | session | refresh_token")
    username: str | None = Field(
        default=None, description="The Salesforce user (password and jwt logins).")
    consumer_key: str | None = Field(
        default=None, description="The connected app's consumer key (jwt, client_credentials, "
        "and password logins through OAuth when consumer_secret is set).")
    domain: str = Field(
        default="login",
        description="Login domain: 'login' (production), 'test' (sandboxes) or a My Domain "
        "such as 'acme.my' (https://acme.my.salesforce.com).")
    login_url: BaseUrl = Field(
        default=None, description="Where logins go instead of https://{domain}.salesforce.com "
        "(a My Domain URL, a proxy, the loopback sandbox).")
    instance_url: BaseUrl = Field(
        default=None, description="The org's instance; overrides the one the login returns. "
        "Required with auth = 'session'.")
    jwt_audience: str | None = Field(
        default=None, description="The JWT 'aud' claim; default https://login.salesforce.com "
        "(https://test.salesforce.com for domain 'test', login_url when set).")
    private_key_file: str | None = Field(
        default=None, description="PEM file of the JWT signing key, instead of the "
        "private_key secret (relative to the configuration file's folder).")
    api_version: str = Field(default="60.0", pattern=r"^\d{2,3}\.0$")
    verify: bool = Field(default=True, description="Verify TLS certificates.")
    ca_bundle: str | None = Field(
        default=None, description="A CA bundle (PEM) to trust, e.g. the sandbox's certificate.")

    # -- what to read ---------------------------------------------------------------------
    streams: list[str] | None = Field(
        default=None, description="Streams to sync (default: all of them).")
    survey_object: str = Field(
        default="Survey_Response__c",
        description="The object holding NPS/CSAT/CES responses ('' for none).")
    mapping: dict[str, dict[str, str]] = Field(
        default_factory=dict,
        description="Per stream, canonical field = 'Salesforce field' ('' unmaps, '=value' is "
        "a constant); overrides the defaults, e.g. mapping.tickets.first_response_at.")
    deal_types: dict[str, DealType] = Field(
        default_factory=dict, description="Opportunity Type value -> deal_type, added to the "
        "defaults.")
    lead_origins: dict[str, LeadOrigin] = Field(
        default_factory=dict, description="LeadSource value -> origin, used when a lead has no "
        "origin field; added to the defaults.")
    spend_category: SpendCategory = Field(
        default=SpendCategory.ACQUISITION,
        description="Category of campaign costs in the spend table.")
    currency: str | None = Field(
        default=None, pattern=r"^[A-Z]{3}$",
        description="Currency of amounts in a single-currency org (default: the org's).")
    extra_fields: Literal["all", "mapped"] = Field(
        default="all", description="'all': every other field of the object lands in extra; "
        "'mapped': only the mapped fields are read.")
    start_date: Annotated[dt.datetime | None, BeforeValidator(parse_datetime)] = Field(
        default=None, description="A first sync reads records modified from this moment on.")

    # -- how to read ----------------------------------------------------------------------
    page_size: int = Field(
        default=2000, ge=200, le=2000,
        description="REST query batch size (Sforce-Query-Options batchSize).")
    bulk: Literal["auto", "always", "never"] = Field(
        default="auto", description="Bulk API 2.0: 'auto' above bulk_threshold, 'always' or "
        "'never'.")
    bulk_threshold: int = Field(
        default=100_000, ge=1,
        description="With bulk = 'auto', use Bulk API 2.0 when a stream has at least this many "
        "records to read (counted with SELECT COUNT()).")
    bulk_page_size: int = Field(
        default=50_000, ge=1, le=1_000_000,
        description="Records per Bulk 2.0 result page (maxRecords); bounds memory.")
    bulk_poll_seconds: float = Field(
        default=5.0, gt=0, description="Longest wait between two Bulk job status checks.")
    bulk_timeout_seconds: float = Field(
        default=3600.0, gt=0, description="Give up on a Bulk job after this long.")
    hard_delete_check_every: int = Field(
        default=0, ge=0,
        description="Hard deletes (an emptied recycle bin) leave no tombstone: a full refresh "
        "(and a first sync) compares the org's ids (SELECT Id) with the stored ones and marks "
        "the missing rows deleted. N > 0 also does it every N-th incremental run; 0: only on "
        "full refreshes.")
    overlap_seconds: int = Field(
        default=0, ge=0,
        description="An incremental run re-reads records modified this long before the saved "
        "cursor (re-reads change nothing).")
    max_url_length: int = Field(
        default=16_000, ge=256,
        description="Longest GET URL; wider queries are split into several joined by Id.")
    query_timeout_retries: int = Field(
        default=1, ge=0,
        description="QUERY_TIMEOUT retries of one time window before it is split in two.")
    min_window_seconds: int = Field(
        default=3600, ge=1,
        description="A window this short that still times out fails the stream.")

    @field_validator("domain")
    @classmethod
    def _domain_is_a_name(cls, value: str) -> str:
        return _login_domain(value)

    @model_validator(mode="after")
    def _auth_needs(self) -> SalesforceConfig:
        if self.auth in (AuthMethod.PASSWORD, AuthMethod.JWT) and not self.username:
            raise ValueError(f"auth = '{self.auth}' needs username")
        if self.auth in (AuthMethod.JWT, AuthMethod.CLIENT_CREDENTIALS,
                         AuthMethod.REFRESH_TOKEN) and not self.consumer_key:
            raise ValueError(f"auth = '{self.auth}' needs consumer_key")
        if self.auth is AuthMethod.SESSION and not self.instance_url:
            raise ValueError("auth = 'session' needs instance_url")
        return self

    @field_validator("mapping")
    @classmethod
    def _mapping_names_known_fields(cls, value: dict[str, dict[str, str]]
                                    ) -> dict[str, dict[str, str]]:
        from crm_connect_salesforce.objects import OBJECT_SPECS

        check_mapping_table(value, {spec.stream: spec.entity for spec in OBJECT_SPECS})
        return value

    @property
    def login_base(self) -> str:
        """Where logins go: ``login_url``, else ``https://{domain}.salesforce.com``."""
        return self.login_url or f"https://{self.domain}.salesforce.com"

    @property
    def audience(self) -> str:
        if self.jwt_audience:
            return self.jwt_audience
        if self.login_url:
            return self.login_url
        return "https://test.salesforce.com" if self.domain == "test" else \
            "https://login.salesforce.com"
