"""A plain org, as most real orgs are: none of the sandbox's custom KPI fields, no survey object,
a single currency (EUR).

The connector's default mapping names custom fields such an org lacks: ``connections test``
passes with warnings that say what is missing, which KPIs go without data and how to map it,
and a sync leaves those canonical fields empty.  A field or object the connection's file names
that the org lacks is an error.  Amounts get the org's default currency.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import duckdb
import pytest
from crm_connect_salesforce.client import SalesforceClient
from crm_connect_salesforce.config import SalesforceConfig
from crm_connect_salesforce.connector import SalesforceConnector
from crm_connect_salesforce.sandbox import SalesforceSandbox
from sf_support import run_cli, sandbox_env, sandbox_options, write_project

from crm_connect.connector import ConnectionContext
from crm_connect.errors import ConfigError
from crm_connect.sync import validate_page


@pytest.fixture(scope="module")
def plain() -> Iterator[SalesforceSandbox]:
    with SalesforceSandbox(records=1500, seed=3, custom_fields=False, multi_currency=False,
                           default_currency="EUR") as org:
        yield org


@pytest.fixture
def connect(plain: SalesforceSandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
            ) -> Callable[..., SalesforceConnector]:
    monkeypatch.setenv("CRM_CONNECT_SF_PASSWORD", plain.credentials.password)
    monkeypatch.setenv("CRM_CONNECT_SF_SECURITY_TOKEN", plain.credentials.security_token)

    def make(**options: Any) -> SalesforceConnector:
        config = SalesforceConfig.model_validate(sandbox_options(plain, **options))
        return SalesforceConnector(ConnectionContext("sf", tmp_path), config)

    return make


def read_stream(connector: SalesforceConnector, name: str) -> list[Any]:
    stream = next(s for s in connector.streams() if s.name == name)
    records: list[Any] = []
    for page in connector.read(stream, None):
        for record in page.records:
            record["source"] = "sf"
        valid, quarantined = validate_page(stream.entity, "sf", name, page)
        assert quarantined == []
        records += valid
    return records


def test_sandbox_without_custom_fields(plain: SalesforceSandbox) -> None:
    objects = plain.org.objects
    assert "Survey_Response__c" not in objects
    assert not [f.name for o in objects.values() for f in o.fields if f.name.endswith("__c")]
    assert "CurrencyIsoCode" not in {f.name for f in objects["Opportunity"].fields}
    case = plain.get(plain.id_of("Case", 0))
    assert case is not None and "First_Response_At__c" not in case


def test_check_passes_with_warnings_for_default_fields(
        connect: Callable[..., SalesforceConnector]) -> None:
    connector = connect()
    try:
        result = connector.check()
    finally:
        connector.close()
    assert result.ok, result.problems
    assert result.problems == []
    text = "\n".join(result.warnings)
    assert ("tickets: Case has no First_Response_At__c (the default source of "
            "tickets.first_response_at)") in text
    assert "KPIs without data: first_response_time." in text
    assert ('map it with first_response_at = "Api_Name__c" in '
            "[connections.sf.mapping.tickets]") in text
    assert "accounts: Account has no Churned_At__c" in text and "customer_churn_rate" in text
    # a fallback that the org has is no warning: AccountSource stands in for the custom field
    assert "Acquisition_Channel__c" not in text
    assert "survey_responses: the org has no Survey_Response__c object" in text
    assert "net_promoter_score" in text and 'survey_object = "Your_Object__c"' in text
    assert "survey_responses" not in result.details["streams"]


def test_explicit_mapping_of_a_missing_field_is_an_error(
        connect: Callable[..., SalesforceConnector]) -> None:
    connector = connect(mapping={"tickets": {"first_response_at": "First_Response_At__c"}},
                        survey_object="Survey_Response__c")
    try:
        result = connector.check()
    finally:
        connector.close()
    assert not result.ok
    assert len(result.problems) == 2
    assert ("tickets: Case.First_Response_At__c (mapped to tickets.first_response_at) does not "
            "exist; KPIs without data: first_response_time") in result.problems[0]
    assert "no Survey_Response__c object" in result.problems[1]
    # the defaults the file does not name stay warnings
    assert any("Interactions__c" in warning for warning in result.warnings)


def test_sync_leaves_missing_default_fields_empty(
        connect: Callable[..., SalesforceConnector], plain: SalesforceSandbox) -> None:
    plain.clear_log()
    connector = connect(bulk="never")
    try:
        tickets = read_stream(connector, "tickets")
        surveys = read_stream(connector, "survey_responses")
    finally:
        connector.close()
    assert len(tickets) == plain.counts(include_deleted=True)["Case"]
    assert all(t.first_response_at is None and t.interactions_count is None
               and t.handle_time_seconds is None for t in tickets)
    assert {t.channel for t in tickets} - {None}  # the standard fields are read
    assert surveys == []
    queries = [r.query for r in plain.requests if "/queryAll" in r.path]
    assert queries and not [q for q in queries if "__c" in q]


def test_sync_fails_on_an_explicit_missing_field(
        connect: Callable[..., SalesforceConnector]) -> None:
    connector = connect(mapping={"tickets": {"interactions_count": "Touches__c"}})
    try:
        with pytest.raises(ConfigError, match=r"Case\.Touches__c \(mapped to "
                                              r"tickets\.interactions_count\) does not exist"):
            read_stream(connector, "tickets")
    finally:
        connector.close()


@pytest.mark.parametrize("stream", ["deals", "campaigns", "campaign_spend", "contracts"])
def test_single_currency_org_amounts_get_the_org_currency(
        connect: Callable[..., SalesforceConnector], stream: str) -> None:
    connector = connect(bulk="never")
    try:
        records = read_stream(connector, stream)
    finally:
        connector.close()
    assert records
    assert {record.currency for record in records} == {"EUR"}


def test_org_currency_falls_back_to_the_soap_login(
        connect: Callable[..., SalesforceConnector], monkeypatch: pytest.MonkeyPatch) -> None:
    """Without a readable Organization.DefaultCurrencyIsoCode, a password login's
    ``orgDefaultCurrencyIsoCode`` gives the currency."""
    describe = SalesforceClient.describe

    def no_organization(self: SalesforceClient, sobject: str) -> dict[str, Any] | None:
        return None if sobject == "Organization" else describe(self, sobject)

    monkeypatch.setattr(SalesforceClient, "describe", no_organization)
    connector = connect(bulk="never")
    try:
        deals = read_stream(connector, "deals")
    finally:
        connector.close()
    assert {deal.currency for deal in deals} == {"EUR"}


def test_connections_test_and_sync_on_a_plain_org(plain: SalesforceSandbox,
                                                  tmp_path: Path) -> None:
    """The installed command: `connections test` exits 0 and prints the warnings, `sync`
    succeeds and stores empty KPI fields and the org's currency."""
    write_project(tmp_path, {"sf": sandbox_options(plain, bulk="never")})
    env = sandbox_env(plain)
    tested = run_cli("connections", "test", "sf", cwd=tmp_path, env=env)
    assert tested.returncode == 0, tested.stdout + tested.stderr
    text = " ".join(tested.stdout.split())
    assert "sf: ok" in text
    assert "warning: tickets: Case has no First_Response_At__c" in text
    assert "[connections.sf.mapping.tickets]" in text

    synced = run_cli("sync", cwd=tmp_path, env=env)
    assert synced.returncode == 0, synced.stdout + synced.stderr
    with duckdb.connect(str(tmp_path / "crm.duckdb"), read_only=True) as con:
        tickets = con.execute("SELECT count(*), count(first_response_at) FROM tickets").fetchone()
        currencies = con.execute("SELECT DISTINCT currency FROM deals").fetchall()
    assert tickets is not None and tickets[0] > 0 and tickets[1] == 0
    assert currencies == [("EUR",)]
