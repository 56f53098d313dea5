"""Fixtures of the sandbox tests: a small generated portal behind the endpoint logic."""

from __future__ import annotations

import pytest
from crm_connect_hubspot.sandbox import (
    Credentials,
    Portal,
    PortalSize,
    RateLimits,
    SandboxApi,
    TokenBook,
    generate_portal,
)

from .support import FakeClock

SMALL = PortalSize(companies=12)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def portal() -> Portal:
    return generate_portal(SMALL, seed=3)


@pytest.fixture
def api(portal: Portal, clock: FakeClock) -> SandboxApi:
    """The portal's API with the Professional tier's limits on a clock that stands still."""
    tokens = TokenBook(Credentials.for_seed(3), clock=clock)
    return SandboxApi(portal, tokens, RateLimits("professional", clock=clock, enforce=False))
