"""Settings of the resilience layer: ``[connections.NAME.resilience]`` in ``crm-connect.toml``.

Every field has a default, so a connection needs no table at all.  Rate limits are given per
*limit group* (``general``, or a group the vendor profile defines, such as a ``search`` group);
a group named in ``rate_limits`` replaces the profile's default of that group field by field.
"""

from __future__ import annotations

from collections.abc import Mapping

from pydantic import BaseModel, ConfigDict, Field

from crm_connect.vendor import RateLimitSettings

__all__ = [
    "RateLimitSettings",
    "ResilienceSettings",
]


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
        description="Per limit group (general, ...), overriding the vendor profile's defaults.")

    @property
    def timeout(self) -> tuple[float, float]:
        """``(connect, read)``, as requests takes it."""
        return (self.connect_timeout_seconds, self.request_timeout_seconds)

    def limits_for(self, defaults: Mapping[str, RateLimitSettings] | None = None,
                   ) -> dict[str, RateLimitSettings]:
        """``defaults`` (a vendor profile's ``rate_limits``; none: no limit) with this
        connection's overrides applied field by field."""
        limits = {"general": RateLimitSettings()} | dict(defaults or {})
        for group, override in self.rate_limits.items():
            base = limits.get(group, RateLimitSettings())
            merged = base.model_dump() | override.model_dump(exclude_unset=True)
            limits[group] = RateLimitSettings.model_validate(merged)
        return limits

    def is_explicit(self, group: str) -> bool:
        """Whether the configuration set ``requests`` for ``group`` (headers may not raise it)."""
        override = self.rate_limits.get(group)
        return override is not None and "requests" in override.model_fields_set
