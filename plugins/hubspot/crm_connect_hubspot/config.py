"""The ``[connections.NAME]`` table of a HubSpot connection.

Secrets (``access_token`` of a private app; ``client_secret`` and ``refresh_token`` of an OAuth
app) never sit in the file: they come from the keyring (``crm-connect auth set``) or from
``CRM_CONNECT_<CONNECTION>_<FIELD>``, and a changed refresh token from where the last refresh
saved it.
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import BeforeValidator, Field, field_validator, model_validator

from crm_connect.connector import ConnectorConfig
from crm_connect.mapping import check_mapping_table
from crm_connect.schema import DealType, LeadOrigin, SpendCategory, SurveyType
from crm_connect_hubspot.objects import OBJECT_SPECS
from crm_connect_hubspot.values import UnreadableValue, read_datetime

__all__ = ["DEFAULT_BASE_URL", "AuthMethod", "HubSpotConfig"]

DEFAULT_BASE_URL = "https://api.hubapi.com"


class AuthMethod(StrEnum):
    PRIVATE_APP = "private_app"  # a private app's access token (secret access_token)
    OAUTH = "oauth"  # an OAuth app: client_id + client_secret + refresh_token


def _base_url(value: object) -> str:
    """``scheme://host[:port]`` without a trailing slash (a path is kept for proxies)."""
    text = str(value or "").strip().rstrip("/")
    if not text:
        return DEFAULT_BASE_URL
    if "://" not in text:
        text = "https://" + text
    parts = urlsplit(text)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise ValueError(f"{value!r} is not an http(s):// URL")
    return f"{parts.scheme}://{parts.netloc}{parts.path.rstrip('/')}"


def _moment(value: object) -> dt.datetime | None:
    try:
        return read_datetime("start_date", value)
    except UnreadableValue as exc:
        raise ValueError(str(exc)) from None


class HubSpotConfig(ConnectorConfig):
    """Options of a ``connector = "hubspot"`` connection."""

    secret_fields = ("access_token", "client_secret", "refresh_token")

    # -- signing in -----------------------------------------------------------------------
    auth: AuthMethod | None = Field(
        default=None, description="private_app (the access_token secret) or oauth "
        "(client_id here, client_secret and refresh_token secrets); default: oauth when "
        "client_id is set, else private_app.")
    client_id: str | None = Field(default=None, description="The OAuth app's client id.")
    base_url: Annotated[str, BeforeValidator(_base_url)] = Field(
        default=DEFAULT_BASE_URL,
        description="The API's root; override for the sandbox, tests or a proxy.")

    verify: bool = Field(default=True, description="Verify TLS certificates.")
    ca_bundle: str | None = Field(
        default=None, description="A CA bundle (PEM) to trust, e.g. a proxy's or the TLS "
        "sandbox's certificate (relative to the configuration file's folder).")

    # -- what to read ---------------------------------------------------------------------
    streams: list[str] | None = Field(
        default=None, description="Streams to sync (default: all of them).")
    mapping: dict[str, dict[str, str]] = Field(
        default_factory=dict,
        description="Per stream, canonical field = 'HubSpot property' (a|b: the first set; "
        "name*60 scales; '=value' a constant; '' unmaps a default), e.g. "
        "mapping.accounts.churned_at = 'churn_date'.")
    deal_types: dict[str, DealType] = Field(
        default_factory=dict, description="dealtype value -> deal_type, added to the defaults "
        "(newbusiness -> new_business, existingbusiness -> upsell).")
    lead_origins: dict[str, LeadOrigin] = Field(
        default_factory=dict, description="Original traffic source (hs_analytics_source) "
        "-> origin, added to the defaults.")
    survey_scales: dict[SurveyType, tuple[float, float]] = Field(
        default_factory=dict, description="Scale (min, max) of each survey type's answers; "
        "defaults: nps 0-10, csat 1-5, ces 1-7.")
    spend_category: SpendCategory = Field(
        default=SpendCategory.ACQUISITION,
        description="Category of campaign spend in the spend table.")
    currency: str | None = Field(
        default=None, pattern=r"^[A-Z]{3}$",
        description="Currency of amounts without one (default: the portal's company "
        "currency, from the account details).")
    extra_fields: Literal["all", "mapped"] = Field(
        default="mapped", description="'mapped': the mapped properties (and those the "
        "mapping reads); 'all': every property the object has, unmapped ones in extra.")
    start_date: Annotated[dt.datetime | None, BeforeValidator(_moment)] = Field(
        default=None, description="A first sync reads records modified from this moment on.")

    # -- how to read ----------------------------------------------------------------------
    page_size: int = Field(default=100, ge=1, le=100,
                           description="Records per list page (at most 100).")
    search_page_size: int = Field(default=200, ge=1, le=200,
                                  description="Records per search page (at most 200).")
    batch_size: int = Field(
        default=1000, ge=1, le=1000,
        description="Records per stored page (and per v4 associations request): a killed "
        "sync resumes after the last stored page.")
    id_sweep_every: int = Field(
        default=0, ge=0,
        description="Records purged for good leave no trace: a full refresh (and a first "
        "sync) compares HubSpot's ids with the stored ones and marks the missing rows deleted. "
        "N > 0 also does it every N-th incremental run (an id-only list read); 0: only on "
        "full refreshes.")
    first_sync_search: bool = Field(
        default=True,
        description="A first sync (and --full-refresh) lists each object from its lowest id "
        "and searches it from its highest at once, so both the general and the search budget "
        "are spent; false: list only.")
    search_lookback_seconds: int = Field(
        default=60, ge=0,
        description="An incremental run searches from this long before the saved cursor, "
        "for records the search index had not seen yet; records already read are skipped.")
    max_url_length: int = Field(
        default=8000, ge=512,
        description="Longest GET URL; longer property lists are read in a POST batch read.")

    @model_validator(mode="after")
    def _auth_needs(self) -> HubSpotConfig:
        if self.auth is AuthMethod.OAUTH and not self.client_id:
            raise ValueError("auth = 'oauth' needs client_id")
        return self

    @property
    def auth_method(self) -> AuthMethod:
        if self.auth is not None:
            return self.auth
        return AuthMethod.OAUTH if self.client_id else AuthMethod.PRIVATE_APP

    @field_validator("streams")
    @classmethod
    def _streams_known(cls, value: list[str] | None) -> list[str] | None:
        known = [spec.stream for spec in OBJECT_SPECS]
        unknown = [name for name in value or [] if name not in known]
        if unknown:
            raise ValueError(f"unknown streams {', '.join(unknown)} (known: "
                             f"{', '.join(known)})")
        return value

    @field_validator("mapping")
    @classmethod
    def _mapping_names_known_fields(cls, value: dict[str, dict[str, str]]
                                    ) -> dict[str, dict[str, str]]:
        check_mapping_table(value, {spec.stream: spec.entity for spec in OBJECT_SPECS})
        return value
