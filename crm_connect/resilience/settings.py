"""Settings of the resilience layer: ``[connections.NAME.resilience]`` in ``crm-connect.toml``.

Every field has a default, so a connection needs no table at all.  Rate limits are given per
*limit group* (``general``, HubSpot's ``search``, ...); a group named in ``rate_limits``
replaces that group's vendor default field by field.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = [
    "DEFAULT_RATE_LIMITS",
    "RateLimitSettings",
    "ResilienceSettings",
    "default_rate_limits",
]


class RateLimitSettings(BaseModel):
    """The client-side limit of one limit group.

    ``requests`` per ``per_seconds`` is a sliding-window promise: the token bucket holds at most
    ``burst`` tokens and refills at ``(requests - burst) / per_seconds``, so no window of
    ``per_seconds`` ever sees more than ``requests`` calls.  ``max_concurrent`` caps the
    requests in flight at once (Salesforce's concurrent long-running request limit).
    """

    model_config = ConfigDict(extra="forbid")

    requests: int | None = Field(
        default=None, ge=1, description="Requests allowed per window; None: no rate limit.")
    per_seconds: float = Field(default=1.0, gt=0, description="Length of the window, seconds.")
    burst: int | None = Field(
        default=None, ge=1,
        description="Requests that may go at once; default a tenth of `requests` (at least 1).")
    max_concurrent: int | None = Field(
        default=None, ge=1, description="Requests in flight at once; None: no cap.")

    @model_validator(mode="after")
    def _burst_fits(self) -> RateLimitSettings:
        if self.requests is not None and self.burst is not None and self.burst > self.requests:
            raise ValueError(f"burst ({self.burst}) cannot exceed requests ({self.requests})")
        return self

    @property
    def effective_burst(self) -> int:
        if self.requests is None:
            return 0
        return self.burst if self.burst is not None else max(1, self.requests // 10)


DEFAULT_RATE_LIMITS: dict[str | None, dict[str, RateLimitSettings]] = {
    # HubSpot's published limits: 100 requests per 10 s for Free/Starter apps (190 for
    # Professional/Enterprise; the X-HubSpot-RateLimit-Max header raises the bucket when the
    # account allows more), and the CRM search endpoints' own 5 requests per second.
    "hubspot": {
        "general": RateLimitSettings(requests=100, per_seconds=10.0),
        "search": RateLimitSettings(requests=5, per_seconds=1.0, burst=1),
    },
    # Salesforce has no per-second limit; an org allows 25 concurrent long-running (> 20 s)
    # requests, and the daily API request limit is watched through Sforce-Limit-Info.
    "salesforce": {
        "general": RateLimitSettings(max_concurrent=25),
    },
    None: {
        "general": RateLimitSettings(),
    },
}


def default_rate_limits(vendor: str | None) -> dict[str, RateLimitSettings]:
    """The published limits of ``vendor`` (no limit for an unknown vendor)."""
    return dict(DEFAULT_RATE_LIMITS.get(vendor, DEFAULT_RATE_LIMITS[None]))


class ResilienceSettings(BaseModel):
    """How one connection retries, waits, limits its own rate and guards its daily quota."""

    model_config = ConfigDict(extra="forbid")

    max_attempts: int = Field(
        default=6, ge=1, description="Attempts per request, the first included.")
    max_total_seconds: float = Field(
        default=300.0, gt=0,
        description="Time budget per request: attempts, backoff, Retry-After and rate-limit "
                    "waits; no wait starts that would overrun it.")
    backoff_initial_seconds: float = Field(
        default=1.0, ge=0, description="Wait before the first retry (before jitter).")
    backoff_max_seconds: float = Field(
        default=60.0, ge=0, description="Longest wait between two attempts (before Retry-After).")
    request_timeout_seconds: float = Field(
        default=60.0, gt=0,
        description="Time one attempt has for its whole answer (and the read timeout).")
    connect_timeout_seconds: float = Field(
        default=10.0, gt=0, description="Connect timeout of one attempt.")
    max_daily_quota_share: float = Field(
        default=0.5, gt=0, le=1.0,
        description="Stop the sync once this run has used this share of the daily API quota.")
    rate_limits: dict[str, RateLimitSettings] = Field(
        default_factory=dict,
        description="Per limit group (general, search, ...), overriding the vendor's defaults.")

    @property
    def timeout(self) -> tuple[float, float]:
        """``(connect, read)``, as requests takes it."""
        return (self.connect_timeout_seconds, self.request_timeout_seconds)

    def limits_for(self, vendor: str | None) -> dict[str, RateLimitSettings]:
        """The vendor's defaults with this connection's overrides applied field by field."""
        limits = default_rate_limits(vendor)
        for group, override in self.rate_limits.items():
            base = limits.get(group, RateLimitSettings())
            merged = base.model_dump() | override.model_dump(exclude_unset=True)
            limits[group] = RateLimitSettings.model_validate(merged)
        return limits

    def is_explicit(self, group: str) -> bool:
        """Whether the configuration set ``requests`` for ``group`` (headers may not raise it)."""
        override = self.rate_limits.get(group)
        return override is not None and "requests" in override.model_fields_set
