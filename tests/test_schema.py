from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal

import pytest
from pydantic import ValidationError

from crm_connect.columns import entity_columns
from crm_connect.schema import (
    ENTITIES,
    Account,
    Activity,
    Contact,
    Deal,
    IdentityFields,
    Lead,
    Spend,
    SurveyResponse,
)

IDENTITY = ["phone", "street", "city", "postal_code", "country", "linked_crm", "linked_id",
            "merged_into_id"]


def test_eleven_entities_with_the_common_fields() -> None:
    assert list(ENTITIES) == ["accounts", "contacts", "leads", "deals", "activities", "tickets",
                              "campaigns", "survey_responses", "users", "contracts", "spend"]
    for model in ENTITIES.values():
        assert {"source", "id", "created_at", "updated_at", "is_deleted", "extra"} <= set(
            model.model_fields)


def test_accounts_contacts_and_leads_share_the_identity_fields_after_their_own() -> None:
    """One declaration of the identity fields; the columns keep the order stores, Parquet
    exports, CSV templates and ``crm-connect schema`` have always had: common fields, the
    entity's own, then the identity fields."""
    assert list(IdentityFields.model_fields) == IDENTITY
    common = ["source", "id", "created_at", "updated_at", "is_deleted", "extra"]
    own = {
        Account: ["name", "domain", "industry", "segment", "owner_id", "created_by_id",
                  "customer_since", "churned_at", "acquisition_channel"],
        Contact: ["account_id", "email", "first_name", "last_name", "lifecycle_stage",
                  "lead_source", "owner_id"],
        Lead: ["email", "first_name", "last_name", "company", "lead_source", "origin", "status",
               "owner_id", "converted_at", "converted_account_id", "converted_contact_id",
               "converted_deal_id"],
    }
    for model, fields in own.items():
        assert issubclass(model, IdentityFields)
        assert list(model.model_fields) == [*common, *fields, *IDENTITY]
        assert [name for name, _ in entity_columns(model.entity)] == [*common, *fields, *IDENTITY]
        assert dict(entity_columns(model.entity))["merged_into_id"] == "VARCHAR"
    with pytest.raises(ValidationError, match="bogus"):
        Lead(source="s", id="1", bogus="x")  # the mixin keeps unknown fields refused
    assert Contact(source="s", id="1", city="").city is None  # blank means absent, as before


def test_salesforce_dates_become_aware_utc() -> None:
    deal = Deal(source="sf", id="006x", created_at="2026-05-01T07:25:37.000+0000",
                closed_at="2026-05-01T09:25:37.000+0200", updated_at="2026-05-01T07:25:37Z")
    assert deal.created_at == dt.datetime(2026, 5, 1, 7, 25, 37, tzinfo=dt.UTC)
    assert deal.closed_at == dt.datetime(2026, 5, 1, 7, 25, 37, tzinfo=dt.UTC)
    assert deal.updated_at is not None and deal.updated_at.tzinfo == dt.UTC


def test_naive_datetimes_are_read_as_utc_and_epoch_millis_are_understood() -> None:
    deal = Deal(source="s", id="1", created_at="2026-05-01 07:25:37",
                closed_at=1777620337000)
    assert deal.created_at == dt.datetime(2026, 5, 1, 7, 25, 37, tzinfo=dt.UTC)
    assert deal.closed_at == dt.datetime(2026, 5, 1, 7, 25, 37, tzinfo=dt.UTC)


def test_money_is_decimal_with_an_iso_currency() -> None:
    deal = Deal(source="s", id="1", amount="1234.50", currency="EUR")
    assert deal.amount == Decimal("1234.50")
    with pytest.raises(ValidationError, match="currency"):
        Deal(source="s", id="1", amount="1", currency="euro")


def test_enums_take_the_design_values_only() -> None:
    assert Deal(source="s", id="1", deal_type="Upsell").deal_type == "upsell"
    with pytest.raises(ValidationError, match="deal_type"):
        Deal(source="s", id="1", deal_type="cross_sell")
    with pytest.raises(ValidationError, match="kind"):
        Activity(source="s", id="1", kind="fax")


def test_ids_are_text_and_unknown_fields_are_refused() -> None:
    assert Deal(source="hs", id=12345).id == "12345"
    with pytest.raises(ValidationError, match="colour"):
        Deal(source="s", id="1", colour="red")


def test_blank_values_mean_absent_but_required_fields_stay_required() -> None:
    deal = Deal(source="s", id="1", amount="", closed_at="", is_won="")
    assert deal.amount is None and deal.closed_at is None and deal.is_won is False
    with pytest.raises(ValidationError, match="amount"):
        Spend(source="s", id="1", date="2026-01-01", category="acquisition", amount="")


def test_survey_scale_must_be_a_range() -> None:
    with pytest.raises(ValidationError, match="scale_max"):
        SurveyResponse(source="s", id="1", survey_type="nps", score=5, scale_min=10,
                       scale_max=0)


def test_schema_command_prints_json_schema_of_every_entity(cli) -> None:  # type: ignore[no-untyped-def]
    result = cli("schema")
    assert result.returncode == 0, result.stderr
    schemas = json.loads(result.stdout)
    assert set(schemas) == set(ENTITIES)
    deal = schemas["deals"]
    assert "amount" in deal["properties"] and "id" in deal["required"]
    one = cli("schema", "tickets")
    assert json.loads(one.stdout)["title"] == "Ticket"
    bad = cli("schema", "widgets")
    assert bad.returncode == 2 and "unknown entity 'widgets'" in bad.stderr
