"""crm-connect: CRM records through connector plugins into one canonical schema, and the CRM KPIs
computed the same way whatever CRM they came from."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("crm-connect")
except PackageNotFoundError:  # a checkout that is not installed
    __version__ = "0.0.0"

from crm_connect.connector import (
    CheckResult,
    ConnectionContext,
    Connector,
    ConnectorConfig,
    Page,
    Rejected,
    Stream,
)
from crm_connect.errors import (
    AuthenticationError,
    ConfigError,
    ConnectorError,
    CrmConnectError,
    MetricError,
    MissingSecretError,
    PluginError,
    QuotaExceededError,
    StoreError,
    StoreLockedError,
    UnknownConnectorError,
)
from crm_connect.hookspecs import hookimpl, hookspec
from crm_connect.schema import (
    ENTITIES,
    Account,
    Activity,
    Campaign,
    CanonicalRecord,
    Contact,
    Contract,
    Deal,
    Lead,
    Spend,
    SurveyResponse,
    Ticket,
    User,
)

__all__ = [
    "ENTITIES",
    "Account",
    "Activity",
    "AuthenticationError",
    "Campaign",
    "CanonicalRecord",
    "CheckResult",
    "ConfigError",
    "ConnectionContext",
    "Connector",
    "ConnectorConfig",
    "ConnectorError",
    "Contact",
    "Contract",
    "CrmConnectError",
    "Deal",
    "Lead",
    "MetricError",
    "MissingSecretError",
    "Page",
    "PluginError",
    "QuotaExceededError",
    "Rejected",
    "Spend",
    "StoreError",
    "StoreLockedError",
    "Stream",
    "SurveyResponse",
    "Ticket",
    "UnknownConnectorError",
    "User",
    "__version__",
    "hookimpl",
    "hookspec",
]
