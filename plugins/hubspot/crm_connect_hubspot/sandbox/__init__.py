"""A loopback HubSpot portal for demos, connector tests, cassette recording and limit tests.

::

    from crm_connect_hubspot.sandbox import HubSpotSandbox

    with HubSpotSandbox(records=20_000, seed=7) as hs:
        client = hubspot.HubSpot(access_token=hs.access_token, host=hs.base_url)
        client.crm.contacts.basic_api.get_page(limit=100, archived=True)
        hs.change_round()                          # updates, creates, archives, at-cursor records

The endpoint logic (:class:`SandboxApi`) is a plain function of a parsed request over a
:class:`Portal`; :class:`HubSpotSandbox` serves it on the core's loopback server kit (plain HTTP
or TLS, the one fault model, the request log).
"""

from .api import DEFAULT_MAX_URL_LENGTH, SandboxApi
from .exchange import ApiRequest, ApiResponse
from .faults import FaultKind, hubspot_fault
from .generate import PortalSize, generate_portal
from .limits import TIERS, RateLimits, Tier
from .oauth import TOKEN_LIFETIME_SECONDS, Credentials, TokenBook
from .portal import DEFAULT_NOW, Portal, PortalError, StoredRecord, iso_ms, ms_of
from .rounds import RoundChanges, change_round
from .search import MAX_PAGE, SEARCH_CAP
from .server import HubSpotSandbox

__all__ = [
    "DEFAULT_MAX_URL_LENGTH",
    "DEFAULT_NOW",
    "MAX_PAGE",
    "SEARCH_CAP",
    "TIERS",
    "TOKEN_LIFETIME_SECONDS",
    "ApiRequest",
    "ApiResponse",
    "Credentials",
    "FaultKind",
    "HubSpotSandbox",
    "Portal",
    "PortalError",
    "PortalSize",
    "RateLimits",
    "RoundChanges",
    "SandboxApi",
    "StoredRecord",
    "Tier",
    "TokenBook",
    "change_round",
    "generate_portal",
    "hubspot_fault",
    "iso_ms",
    "ms_of",
]
