"""The connector in-process against the sandbox: every login method, refused logins, an expired
session, QUERY_TIMEOUT window splitting, and wide objects split under the URL limit."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from crm_connect_salesforce.config import SalesforceConfig
from crm_connect_salesforce.connector import SalesforceConnector
from crm_connect_salesforce.sandbox import FaultKind, SalesforceSandbox
from sf_support import sandbox_options

from crm_connect.connector import ConnectionContext, Page
from crm_connect.errors import AuthenticationError, ConnectorError
from crm_connect.sync import validate_page

SOAP_LOGIN = r"/services/Soap/u/"
TOKEN = r"/services/oauth2/token$"


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SalesforceSandbox]:
    with SalesforceSandbox(records=3000, seed=11) as org:
        yield org


@pytest.fixture
def org(sandbox: SalesforceSandbox) -> Iterator[SalesforceSandbox]:
    sandbox.clear_faults()
    sandbox.clear_log()
    yield sandbox
    sandbox.clear_faults()


@pytest.fixture
def connect(org: SalesforceSandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
            ) -> Callable[..., SalesforceConnector]:
    """A connector on the sandbox; secrets come from CRM_CONNECT_SF_* as in production."""
    credentials = org.credentials

    def make(secrets: dict[str, str] | None = None, **options: Any) -> SalesforceConnector:
        values = {"password": credentials.password,
                  "security_token": credentials.security_token}
        values.update(secrets or {})
        for field in ("password", "security_token", "consumer_secret", "private_key",
                      "session_id"):
            monkeypatch.delenv(f"CRM_CONNECT_SF_{field.upper()}", raising=False)
        for field, value in values.items():
            monkeypatch.setenv(f"CRM_CONNECT_SF_{field.upper()}", value)
        config = SalesforceConfig.model_validate(sandbox_options(org, **options))
        return SalesforceConnector(ConnectionContext("sf", tmp_path), config)

    return make


def read_all(connector: SalesforceConnector, stream_name: str,
             state: dict[str, Any] | None = None) -> tuple[list[Any], list[Page]]:
    stream = next(s for s in connector.streams() if s.name == stream_name)
    records: list[Any] = []
    pages = list(connector.read(stream, state))
    for page in pages:
        for record in page.records:
            record["source"] = "sf"
        valid, quarantined = validate_page(stream.entity, "sf", stream.name, page)
        assert quarantined == []
        records += valid
    return records, pages


# -- logins -------------------------------------------------------------------------------------


def test_password_login_goes_to_login_url(connect: Callable[..., SalesforceConnector],
                                          org: SalesforceSandbox) -> None:
    result = connect().check()
    assert result.ok, result.problems
    assert result.message.startswith(f"logged in to {org.instance_url} (password)")
    assert org.request_count(SOAP_LOGIN, method="POST") == 1


def test_oauth_password_flow(connect: Callable[..., SalesforceConnector],
                             org: SalesforceSandbox) -> None:
    connector = connect({"consumer_secret": org.credentials.client_secret},
                        consumer_key=org.credentials.client_id)
    assert connector.check().ok
    assert org.request_count(TOKEN, method="POST") == 1
    assert org.request_count(SOAP_LOGIN) == 0


def test_client_credentials(connect: Callable[..., SalesforceConnector],
                            org: SalesforceSandbox) -> None:
    connector = connect({"consumer_secret": org.credentials.client_secret},
                        auth="client_credentials", consumer_key=org.credentials.client_id)
    assert connector.check().ok
    assert org.request_count(TOKEN, method="POST") == 1


def test_jwt_bearer(connect: Callable[..., SalesforceConnector], org: SalesforceSandbox) -> None:
    connector = connect(auth="jwt", consumer_key=org.credentials.client_id,
                        private_key_file=org.credentials.jwt_private_key_path)
    assert connector.check().ok
    pem = Path(org.credentials.jwt_private_key_path).read_text()
    from_secret = connect({"private_key": pem}, auth="jwt",
                          consumer_key=org.credentials.client_id)
    records, _ = read_all(from_secret, "users")
    assert len(records) == org.counts()["User"]


def test_existing_session_id(connect: Callable[..., SalesforceConnector],
                             org: SalesforceSandbox) -> None:
    connector = connect({"session_id": org.issue_token()}, auth="session",
                        instance_url=org.instance_url)
    records, _ = read_all(connector, "users")
    assert len(records) == org.counts()["User"]
    assert org.request_count(SOAP_LOGIN) == 0 and org.request_count(TOKEN) == 0


@pytest.mark.parametrize("secrets, options, expected", [
    ({"password": "wrong"}, {}, "INVALID_LOGIN"),
    ({"consumer_secret": "wrong"}, {"auth": "client_credentials"}, "invalid_client"),
    ({"private_key": "not a key"}, {"auth": "jwt"}, "cannot sign"),
])
def test_refused_login_is_final(connect: Callable[..., SalesforceConnector],
                                org: SalesforceSandbox, secrets: dict[str, str],
                                options: dict[str, Any], expected: str) -> None:
    if options.get("auth") in ("client_credentials", "jwt"):
        options["consumer_key"] = org.credentials.client_id
    connector = connect(secrets, **options)
    with pytest.raises(Exception) as caught:
        read_all(connector, "users")
    assert expected in str(caught.value)
    assert isinstance(caught.value, (AuthenticationError, ConnectorError)) or \
        type(caught.value).__name__ == "ConfigError"
    # one attempt, no retry loop
    assert org.request_count(SOAP_LOGIN) + org.request_count(TOKEN) <= 1
    result = connector.check()
    assert not result.ok and expected in result.message


def test_invalid_grant_jwt_is_final(connect: Callable[..., SalesforceConnector],
                                    org: SalesforceSandbox) -> None:
    connector = connect(auth="jwt", consumer_key=org.credentials.client_id,
                        private_key_file=org.credentials.jwt_private_key_path,
                        jwt_audience="https://elsewhere.example")
    with pytest.raises(AuthenticationError, match="invalid_grant"):
        read_all(connector, "users")
    assert org.request_count(TOKEN) == 1


def test_expired_session_logs_in_again_once(connect: Callable[..., SalesforceConnector],
                                            org: SalesforceSandbox,
                                            caplog: pytest.LogCaptureFixture) -> None:
    connector = connect(bulk="never", page_size=500)
    stream = next(s for s in connector.streams() if s.name == "tasks")
    pages = connector.read(stream, None)
    first = next(pages)
    assert first.records
    org.expire_tokens()  # the session dies between two pages
    with caplog.at_level(logging.WARNING):
        rest = list(pages)
    total = len(first.records) + sum(len(page.records) for page in rest)
    assert total == org.counts(include_deleted=True)["Task"]
    assert org.request_count(SOAP_LOGIN) == 2  # the first login and one re-login
    assert org.request_count(r"/queryAll/", status=401) == 1
    assert "refreshing the session once" in caplog.text


def test_session_that_cannot_be_renewed(connect: Callable[..., SalesforceConnector],
                                        org: SalesforceSandbox) -> None:
    connector = connect({"session_id": org.issue_token()}, auth="session",
                        instance_url=org.instance_url)
    org.inject(FaultKind.INVALID_SESSION, path=r"/query", count=1)
    with pytest.raises(AuthenticationError, match="cannot refresh"):
        read_all(connector, "users")


# -- QUERY_TIMEOUT ------------------------------------------------------------------------------


def test_query_timeout_splits_the_window(connect: Callable[..., SalesforceConnector],
                                         org: SalesforceSandbox) -> None:
    """Every query spanning more than 400 days times out: the connector splits its window
    until the pieces pass, and reads every record exactly once."""
    baseline, _ = read_all(connect(bulk="never"), "deals")
    org.clear_log()
    org.inject(FaultKind.QUERY_TIMEOUT, path=r"/queryAll/", count=None, window_days=400)
    records, pages = read_all(connect(bulk="never", min_window_seconds=3600), "deals")
    assert sorted(r.id for r in records) == sorted(r.id for r in baseline)
    assert [r.model_dump() for r in sorted(records, key=lambda r: r.id)] == \
        [r.model_dump() for r in sorted(baseline, key=lambda r: r.id)]
    assert org.request_count(r"/queryAll/", status=400) >= 2
    assert pages[-1].state is not None and pages[-1].state["complete"] is True


def test_query_timeout_that_never_passes_fails_the_stream(
        connect: Callable[..., SalesforceConnector], org: SalesforceSandbox) -> None:
    org.inject(FaultKind.QUERY_TIMEOUT, path=r"/queryAll/", count=None)
    connector = connect(bulk="never", min_window_seconds=400 * 86400, start_date="2022-01-01")
    with pytest.raises(ConnectorError, match="QUERY_TIMEOUT even on the window"):
        read_all(connector, "deals")


def test_query_timeout_on_count_goes_bulk(connect: Callable[..., SalesforceConnector],
                                          org: SalesforceSandbox) -> None:
    org.inject(FaultKind.QUERY_TIMEOUT, path=r"/queryAll/", count=1)
    records, _ = read_all(connect(bulk="auto", bulk_threshold=10**9), "contracts")
    assert len(records) == org.counts(include_deleted=True)["Contract"]
    assert org.request_count(r"/jobs/query$", method="POST") == 1


# -- wide objects ---------------------------------------------------------------------------------


def test_wide_object_is_split_under_the_url_limit(connect: Callable[..., SalesforceConnector],
                                                  org: SalesforceSandbox) -> None:
    baseline, _ = read_all(connect(bulk="never"), "accounts")
    org.clear_log()
    records, _ = read_all(connect(bulk="never", max_url_length=420), "accounts")
    assert [r.model_dump() for r in records] == [r.model_dump() for r in baseline]
    logged = [entry for entry in org.requests if entry.path.endswith("/queryAll/")]
    assert any("Id+IN+%28" in entry.query for entry in logged)  # joined by Id
    assert all(len(f"{org.instance_url}{entry.path}?{entry.query}") <= 420 for entry in logged)


def test_bulk_resumes_from_its_locator(connect: Callable[..., SalesforceConnector],
                                       org: SalesforceSandbox) -> None:
    """A sync killed between two Bulk result pages resumes at the saved locator."""
    connector = connect(bulk="always", bulk_page_size=300)
    stream = next(s for s in connector.streams() if s.name == "tasks")
    pages = connector.read(stream, None)
    created = next(pages)  # the job's id, saved before the first status poll
    assert created.records == [] and created.state is not None
    first = next(pages)
    pages.close()  # the process dies here
    assert first.state is not None and first.state["bulk"]["locator"]
    assert first.state["bulk"]["job_id"] == created.state["bulk"]["job_id"]
    org.clear_log()
    records, _ = read_all(connect(bulk="always", bulk_page_size=300), "tasks", first.state)
    total = org.counts(include_deleted=True)["Task"]
    assert len(records) == total - len(first.records)
    assert org.request_count(r"/jobs/query$", method="POST") == 0  # the same job
