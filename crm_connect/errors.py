"""Errors raised by crm-connect.

The hierarchy::

    CrmConnectError                 anything crm-connect raises on purpose (exit code 1)
    ├── ConfigError                 bad configuration or usage (exit code 2)
    │   ├── MissingSecretError      a secret is in neither the keyring nor the environment
    │   └── UnknownConnectorError   a connection names a connector no plugin provides
    ├── PluginError                 a plugin failed to load, or raised inside a hook
    ├── StoreError                  the store cannot be opened or written
    │   └── StoreLockedError        another process holds the store (exit code 73)
    ├── ConnectorError              a vendor call failed in a way a retry does not fix
    │   ├── AuthenticationError     credentials refused (a refresh cannot help)
    │   │   └── LoginUnavailableError   the sign-in endpoint could not be reached in time
    │   ├── QuotaExceededError      a vendor quota is spent: stop cleanly, resume next run
    │   ├── RetryExhaustedError     a transient failure outlasted the retry budget
    │   └── NotRetriedError         a transient failure hit a request unsafe to repeat
    └── MetricError                 the KPIs cannot be computed as asked (e.g. no history)

Every message says what happened, to which connection or record, and what to do next.
"""

from __future__ import annotations

import datetime as dt

from crm_connect.exit_codes import ExitCode
from crm_connect.secret_names import env_var_name

__all__ = [
    "AuthenticationError",
    "ConfigError",
    "ConnectorError",
    "CrmConnectError",
    "LoginUnavailableError",
    "MetricError",
    "MissingSecretError",
    "NotRetriedError",
    "PluginError",
    "QuotaExceededError",
    "RetryExhaustedError",
    "StoreError",
    "StoreLockedError",
    "UnknownConnectorError",
]


class CrmConnectError(Exception):
    """Base class of every error crm-connect raises on purpose."""

    exit_code: int = ExitCode.FAILED


class ConfigError(CrmConnectError):
    """The configuration file, a connection or a command line argument is wrong."""

    exit_code = ExitCode.USAGE


class MissingSecretError(ConfigError):
    """A secret a connection needs is in neither the keyring nor the environment."""

    def __init__(self, connection: str, field: str, detail: str = "") -> None:
        self.connection = connection
        self.field = field
        message = (
            f"connection {connection!r} needs the secret {field!r}, which is not set. "
            f"Store it in the keyring with `crm-connect auth set {connection} {field}`, "
            f"or set the environment variable {env_var_name(connection, field)}."
        )
        if detail:
            message += f" ({detail})"
        super().__init__(message)


class UnknownConnectorError(ConfigError):
    """A connection names a connector that no installed plugin provides."""


class PluginError(CrmConnectError):
    """A plugin failed to load or raised inside one of its hooks."""


class StoreError(CrmConnectError):
    """The store could not be opened, read or written."""


class StoreLockedError(StoreError):
    """Another crm-connect process is writing to the store (a second sync, or a reader the
    writer did not let in): exit code 73."""

    exit_code = ExitCode.LOCKED


class ConnectorError(CrmConnectError):
    """A vendor call failed in a way that retrying does not fix."""

    def __init__(self, message: str, *, connection: str | None = None) -> None:
        self.connection = connection
        super().__init__(f"{connection}: {message}" if connection else message)


class AuthenticationError(ConnectorError):
    """The vendor refused the credentials; a token refresh cannot help."""


class LoginUnavailableError(AuthenticationError):
    """Signing in failed after the retry policy's attempts (the login endpoint unreachable,
    refusing connections or failing): the connection is given up for this run, once, and
    its other streams are not tried."""


class QuotaExceededError(ConnectorError):
    """A vendor quota is used up: the sync stops cleanly and the next run resumes.

    ``retry_at`` is when the vendor said the quota renews (an aware UTC time), when it said.
    """

    def __init__(self, message: str, *, connection: str | None = None,
                 retry_at: dt.datetime | None = None) -> None:
        self.retry_at = retry_at
        super().__init__(message, connection=connection)


class RetryExhaustedError(ConnectorError):
    """A transient failure (429, 5xx, timeout, dropped connection) outlasted the retry budget
    (``max_attempts`` / ``max_total_seconds``); the next run resumes from the saved state.

    ``summary`` is what failed, without the advice (e.g. ``"GET /x failed after 6
    attempt(s) in 31.0 s (last: HTTP 503)"``), for a caller that gives its own.
    """

    def __init__(self, message: str, *, connection: str | None = None,
                 summary: str | None = None) -> None:
        self.summary = summary or message
        super().__init__(message, connection=connection)


class NotRetriedError(ConnectorError):
    """A request that is not safe to repeat (a POST that creates something) met a failure that
    may have come after the server acted on it (a cut-off answer, a timeout, a 5xx), so it was
    not retried; the next run resumes from the saved state."""


class MetricError(CrmConnectError):
    """A KPI cannot be computed as asked."""
