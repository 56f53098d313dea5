"""Recorded HTTP exchanges (vcrpy / pytest-recording) replayed offline.

The cassettes under ``cassettes/hubspot/`` were recorded against the loopback sandbox portal,
the way a real portal is recorded (see the plugin README)::

    pytest --record-mode=rewrite plugins/hubspot/tests/test_hs_cassettes.py

Tokens are scrubbed at record time (``Authorization``, OAuth form fields, token answers), and
:func:`test_hs_cassettes_hold_no_secret` fails if any cassette still holds one.  Requests match
on method, path and query: the sandbox's port changes from run to run.  With
``HS_RECORD_BASE_URL`` set (and ``CRM_CONNECT_HS_ACCESS_TOKEN``), recording reads a real portal.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from crm_connect_hubspot.config import HubSpotConfig
from crm_connect_hubspot.connector import HubSpotConnector
from hs_support import REPO

from crm_connect.connector import ConnectionContext
from crm_connect.sync import validate_page
from crm_connect.testing.cassettes import REDACTED, Scrubber, scrubbing_vcr_config

CASSETTES = REPO / "cassettes" / "hubspot"
FAST = {"backoff_initial_seconds": 0.0, "backoff_max_seconds": 0.01}
SECRETS: dict[str, Any] = {"form_fields": {"client_secret", "refresh_token", "code"},
                           "json_fields": ("access_token", "refresh_token", "id_token")}
_SCRUBBER = Scrubber(**SECRETS)
scrub_request = _SCRUBBER.request
scrub_response = _SCRUBBER.response


@pytest.fixture(scope="module")
def vcr_config() -> dict[str, Any]:
    return scrubbing_vcr_config(**SECRETS)


@pytest.fixture(scope="module")
def vcr_cassette_dir() -> str:
    return str(CASSETTES)


@pytest.fixture
def target(record_mode: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    """Recording: the sandbox (or a real portal); replaying: any URL and dummy secrets."""
    if record_mode == "none":
        for name in ("ACCESS_TOKEN", "CLIENT_SECRET", "REFRESH_TOKEN"):
            monkeypatch.setenv(f"CRM_CONNECT_HS_{name}", "dummy")
        yield {"base_url": "http://127.0.0.1:9", "client_id": "recorded-client"}
        return
    if os.environ.get("HS_RECORD_BASE_URL"):  # a real portal; secrets in CRM_CONNECT_HS_*
        yield {"base_url": os.environ["HS_RECORD_BASE_URL"], "real_portal": True,
               "client_id": os.environ.get("HS_RECORD_CLIENT_ID", "")}
        return
    sandbox = pytest.importorskip("crm_connect_hubspot.sandbox")
    with sandbox.HubSpotSandbox(records=300, seed=3, enforce_limits=False) as portal:
        credentials = portal.credentials
        monkeypatch.setenv("CRM_CONNECT_HS_ACCESS_TOKEN", credentials.access_token)
        monkeypatch.setenv("CRM_CONNECT_HS_CLIENT_SECRET", credentials.client_secret)
        monkeypatch.setenv("CRM_CONNECT_HS_REFRESH_TOKEN", credentials.refresh_token)
        yield {"base_url": portal.base_url, "client_id": credentials.client_id}


def _read(options: dict[str, Any], stream_name: str, tmp_path: Path,
          state: dict[str, Any] | None = None) -> tuple[list[Any], dict[str, Any] | None]:
    options = {key: value for key, value in options.items() if key != "real_portal"}
    config = HubSpotConfig.model_validate({**options, "resilience": FAST})
    connector = HubSpotConnector(ConnectionContext("hs", tmp_path), config)
    try:
        stream = next(s for s in connector.streams() if s.name == stream_name)
        records: list[Any] = []
        last = state
        for page in connector.read(stream, state):
            for record in page.records:
                record["source"] = "hs"
            valid, quarantined = validate_page(stream.entity, "hs", stream.name, page)
            assert quarantined == []
            records += valid
            last = page.state if page.state is not None else last
        return records, last
    finally:
        connector.close()


def _private(target: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in target.items() if key != "client_id"}


@pytest.mark.vcr
def test_hs_first_sync_replayed(target: dict[str, Any], tmp_path: Path) -> None:
    # list only: the split read's two threads would make the cassette's request order vary
    deals, state = _read({**_private(target), "streams": ["deals"], "first_sync_search": False},
                         "deals", tmp_path)
    if target.get("real_portal"):
        return
    assert len(deals) == len({deal.id for deal in deals}) > 20
    won = [deal for deal in deals if deal.is_won]
    assert won and all(deal.is_closed and deal.closed_at is not None for deal in won)
    assert any(deal.is_deleted for deal in deals)  # archived=true was read
    assert any(deal.account_id for deal in deals)  # v4 associations
    assert state is not None and state["mode"] == "search" and state["complete"] is True


@pytest.mark.vcr
def test_hs_incremental_search_replayed(target: dict[str, Any], tmp_path: Path) -> None:
    state = {"mode": "search", "cursor": "2026-04-01T00:00:00.000Z", "complete": True,
             "seen": {}}
    calls, after = _read({**_private(target), "streams": ["calls"]}, "calls", tmp_path, state)
    if target.get("real_portal"):
        return
    assert calls and all(call.kind == "call" for call in calls)
    assert after is not None and after["cursor"] >= state["cursor"]


@pytest.mark.vcr
def test_hs_oauth_refresh_replayed(target: dict[str, Any], tmp_path: Path) -> None:
    users, _ = _read({**target, "streams": ["users"]}, "users", tmp_path)
    if target.get("real_portal"):
        return
    assert users and all(user.email for user in users)


_FORBIDDEN = [
    (re.compile(r"pat-(?:na|eu)\d+-[0-9a-f]{8}"), "a private app token"),
    (re.compile(r"Bearer\s+(?!REDACTED)\S+"), "a bearer token"),
    (re.compile(r'"(?:access_token|refresh_token)"\s*:\s*"(?!REDACTED)'), "an OAuth token"),
    (re.compile(r"(?:^|&)(?:client_secret|refresh_token)=(?!REDACTED)", re.M),
     "a secret form field"),
]


def test_hs_cassettes_hold_no_secret() -> None:
    cassettes = sorted(CASSETTES.glob("*.yaml"))
    assert cassettes, f"no cassettes in {CASSETTES}"
    for path in cassettes:
        text = path.read_text(encoding="utf-8")
        for pattern, what in _FORBIDDEN:
            found = pattern.search(text)
            assert found is None, f"{path.name} holds {what}: {found.group(0)[:40]!r}"
        assert REDACTED in text, f"{path.name}: nothing was scrubbed, was it recorded here?"


def test_hs_scrubbers() -> None:
    class Request:
        body: Any = ("grant_type=refresh_token&client_id=abc&client_secret=s3cret&"
                     "refresh_token=na1-xyz")

    assert scrub_request(Request()).body == (
        b"grant_type=refresh_token&client_id=abc&client_secret=REDACTED&"
        b"refresh_token=REDACTED")
    response = {"body": {"string": json.dumps({"access_token": "CJSP5qf1KzIC",
                                               "refresh_token": "na1-xyz",
                                               "expires_in": 1800}).encode()},
                "headers": {"Set-Cookie": ["hubspotutk=1"]}}
    scrubbed = scrub_response(response)
    assert b"CJSP5qf1KzIC" not in scrubbed["body"]["string"]
    assert b"na1-xyz" not in scrubbed["body"]["string"]
    assert scrubbed["headers"]["Set-Cookie"] == ["REDACTED"]
