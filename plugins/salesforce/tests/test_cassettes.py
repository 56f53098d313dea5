"""Recorded HTTP exchanges (vcrpy / pytest-recording) replayed offline.

The cassettes under ``cassettes/salesforce/`` were recorded against the loopback sandbox, the
way a real org is recorded (see the plugin README): ``pytest --record-mode=rewrite
plugins/salesforce/tests/test_cassettes.py``.  Secrets are scrubbed at record time, and
:func:`test_cassettes_hold_no_secret` fails if any cassette holds a token, password or session
id.  Requests match on method, path and query: the sandbox's port changes from run to run.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from crm_connect_salesforce.config import SalesforceConfig
from crm_connect_salesforce.connector import SalesforceConnector
from sf_cassettes import scrub_request, scrub_response, vcr_options
from sf_support import CASSETTES, FAST_RESILIENCE

from crm_connect.connector import ConnectionContext
from crm_connect.sync import validate_page


@pytest.fixture(scope="module")
def vcr_config() -> dict[str, Any]:
    return vcr_options()


@pytest.fixture(scope="module")
def vcr_cassette_dir() -> str:
    return str(CASSETTES)


@pytest.fixture
def target(record_mode: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    """Recording: a live sandbox.  Replaying: any URL; the cassette answers, secrets are dummies."""
    if record_mode == "none":
        monkeypatch.setenv("CRM_CONNECT_SF_PASSWORD", "dummy")
        monkeypatch.setenv("CRM_CONNECT_SF_SECURITY_TOKEN", "dummy")
        yield {"username": "sandbox@crm-connect.test", "login_url": "https://127.0.0.1:9"}
        return
    if os.environ.get("SF_RECORD_LOGIN_URL"):  # a real org; secrets in CRM_CONNECT_SF_*
        yield {"username": os.environ["SF_RECORD_USERNAME"],
               "login_url": os.environ["SF_RECORD_LOGIN_URL"], "real_org": True}
        return
    from crm_connect_salesforce.sandbox import SalesforceSandbox

    with SalesforceSandbox(records=600, seed=3) as org:
        monkeypatch.setenv("CRM_CONNECT_SF_PASSWORD", org.credentials.password)
        monkeypatch.setenv("CRM_CONNECT_SF_SECURITY_TOKEN", org.credentials.security_token)
        yield {"username": org.credentials.username, "login_url": org.instance_url,
               "ca_bundle": str(org.cert_path)}


def _read(options: dict[str, Any], stream_name: str, tmp_path: Path) -> list[Any]:
    options = {key: value for key, value in options.items() if key != "real_org"}
    config = SalesforceConfig.model_validate(
        {**options, "bulk_poll_seconds": 0.01, "resilience": FAST_RESILIENCE})
    connector = SalesforceConnector(ConnectionContext("sf", tmp_path), config)
    try:
        stream = next(s for s in connector.streams() if s.name == stream_name)
        records: list[Any] = []
        for page in connector.read(stream, None):
            for record in page.records:
                record["source"] = "sf"
            valid, quarantined = validate_page(stream.entity, "sf", stream.name, page)
            assert quarantined == []
            records += valid
        return records
    finally:
        connector.close()


@pytest.mark.vcr
def test_rest_read_replayed(target: dict[str, Any], tmp_path: Path) -> None:
    users = _read({**target, "bulk": "never"}, "users", tmp_path)
    if target.get("real_org"):
        assert users
        return
    assert len(users) == 8
    admin = next(user for user in users if user.id == "005Sb0000000000IAA")
    assert admin.is_active is True and admin.email
    assert admin.role == "CEO"


@pytest.mark.vcr
def test_bulk_read_replayed(target: dict[str, Any], tmp_path: Path) -> None:
    deals = _read({**target, "bulk": "always", "bulk_page_size": 40}, "deals", tmp_path)
    if target.get("real_org"):
        return
    assert len(deals) == len({deal.id for deal in deals}) > 40
    won = [deal for deal in deals if deal.is_won]
    assert won and all(deal.is_closed and deal.closed_at is not None for deal in won)
    assert {deal.currency for deal in deals} <= {"USD", "EUR", "GBP", "JPY", "CAD", "AUD"}


_FORBIDDEN = [
    (re.compile(r"00D\w{12,15}![\w.\-]+"), "a Salesforce session id"),
    (re.compile(r"Bearer\s+(?!REDACTED)\S+"), "a bearer token"),
    (re.compile(r"<(?:\w+:)?sessionId>(?!REDACTED)"), "a SOAP sessionId"),
    (re.compile(r"<(?:\w+:)?password>(?!REDACTED)"), "a SOAP password"),
    (re.compile(r'"(?:access_token|refresh_token)"\s*:\s*"(?!REDACTED)'), "an OAuth token"),
    (re.compile(r"(?:^|&)(?:password|client_secret|assertion)=(?!REDACTED)", re.M),
     "a secret form field"),
    (re.compile(r"sandbox-password|SBXTOKEN|sandbox-consumer-secret"), "a sandbox secret"),
]


def test_cassettes_hold_no_secret() -> None:
    cassettes = sorted(CASSETTES.glob("*.yaml"))
    assert cassettes, f"no cassettes in {CASSETTES}"
    for path in cassettes:
        text = path.read_text(encoding="utf-8")
        for pattern, what in _FORBIDDEN:
            found = pattern.search(text)
            assert found is None, f"{path.name} holds {what}: {found.group(0)[:40]!r}"
        assert "REDACTED" in text, f"{path.name}: nothing was scrubbed, was it recorded here?"


def test_scrubbers() -> None:
    class Request:
        body: Any = (b'<env:Envelope><n1:login><n1:username>u</n1:username>'
                     b'<n1:password>pw+token</n1:password></n1:login></env:Envelope>')

    request = scrub_request(Request())
    assert b"pw+token" not in request.body and b"<n1:password>REDACTED" in request.body
    form = Request()
    form.body = "grant_type=password&client_id=abc&client_secret=s3cret&password=pw"
    assert scrub_request(form).body == (b"grant_type=password&client_id=abc&"
                                        b"client_secret=REDACTED&password=REDACTED")
    response = {"body": {"string": json.dumps({"access_token": "00Dxx!AR.tok",
                                               "instance_url": "https://x"}).encode()},
                "headers": {"Set-Cookie": ["sid=1"]}}
    scrubbed = scrub_response(response)
    assert b"00Dxx" not in scrubbed["body"]["string"]
    assert scrubbed["headers"]["Set-Cookie"] == ["REDACTED"]


def _cassette_check(tmp_path: Path, cassettes: Path) -> Any:
    """The connector kit's conformance check "no secret in any cassette", with the secrets the
    cassettes were recorded with as the connection's."""
    import crm_connect_salesforce.plugin
    from crm_connect_salesforce.sandbox.auth import Credentials
    from sf_support import write_project

    from crm_connect.testing.conformance import CHECKS, ConformanceTarget, run_conformance

    credentials = Credentials()
    config = write_project(tmp_path, {"sf": {"username": credentials.username,
                                             "login_url": "https://127.0.0.1:9"}})
    target = ConformanceTarget(
        config, "sf", cassettes=cassettes, plugins={"salesforce": crm_connect_salesforce.plugin},
        secrets={"password": credentials.password, "security_token": credentials.security_token,
                 "consumer_secret": credentials.client_secret,
                 "refresh_token": credentials.refresh_token})
    [outcome] = run_conformance(
        target, [check for check in CHECKS if check.name == "cassettes_hold_no_secret"])
    return outcome


def test_conformance_suite_finds_no_secret_in_the_cassettes(tmp_path: Path) -> None:
    outcome = _cassette_check(tmp_path, CASSETTES)
    assert outcome.status == "pass", outcome.message
    assert outcome.message.startswith(f"{len(list(CASSETTES.glob('*.yaml')))} cassettes")


def test_conformance_suite_finds_an_unscrubbed_session_id(tmp_path: Path) -> None:
    leaked = tmp_path / "cassettes"
    leaked.mkdir()
    text = (CASSETTES / "test_rest_read_replayed.yaml").read_text(encoding="utf-8")
    (leaked / "leaked.yaml").write_text(
        text.replace("<sessionId>REDACTED", "<sessionId>00DSb0000000001!AQ4AQ.live", 1),
        encoding="utf-8")
    outcome = _cassette_check(tmp_path, leaked)
    assert outcome.status == "fail"
    assert "leaked.yaml" in outcome.message and "session id" in outcome.message
