"""End to end: the installed ``crm-connect sync`` against a running sandbox org.

Secrets travel as ``CRM_CONNECT_SF_<FIELD>`` environment variables, ``login_url`` and
``ca_bundle`` in the TOML point at the sandbox; the DuckDB store is then read field by field.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pytest
from crm_connect_salesforce.sandbox import FaultKind, SalesforceSandbox
from sf_support import run_cli, sandbox_env, sandbox_options, write_project

pytestmark = pytest.mark.slow

UTC = dt.UTC
STREAMS = ["users", "accounts", "deals", "tasks", "tickets", "survey_responses"]


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SalesforceSandbox]:
    with SalesforceSandbox(records=9000, seed=7) as org:
        assert org.counts(include_deleted=True)["Task"] > 2000  # two REST pages
        yield org


def query(db: Path, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    with duckdb.connect(str(db), read_only=True) as con:
        return con.execute(sql, list(params)).fetchall()


def run_counts(db: Path) -> dict[str, Any]:
    (counts,) = query(db, "SELECT counts FROM sync_runs ORDER BY run_id DESC LIMIT 1")[0]
    loaded: dict[str, Any] = json.loads(counts)
    return loaded


def read_order(sandbox: SalesforceSandbox, sobject: str) -> list[tuple[dt.datetime, str]]:
    """(SystemModstamp, Id) in the connector's read order, deleted records included."""
    rows = []
    for record_id in _all_ids(sandbox, sobject):
        record = sandbox.get(record_id)
        assert record is not None
        rows.append((record["SystemModstamp"], record_id))
    return sorted(rows)


def _all_ids(sandbox: SalesforceSandbox, sobject: str) -> list[str]:
    session = sandbox.session()
    url = f"{sandbox.instance_url}/services/data/v60.0/queryAll/"
    headers = {"Authorization": f"Bearer {sandbox.access_token}"}
    answer = session.get(url, params={"q": f"SELECT Id FROM {sobject}"}, headers=headers).json()
    ids = [record["Id"] for record in answer["records"]]
    while not answer["done"]:
        answer = session.get(sandbox.instance_url + answer["nextRecordsUrl"],
                             headers=headers).json()
        ids += [record["Id"] for record in answer["records"]]
    return ids


def test_sync_incremental_deletes_and_the_2000_boundary(
        sandbox: SalesforceSandbox, tmp_path: Path) -> None:
    write_project(tmp_path, {"sf": sandbox_options(sandbox, streams=STREAMS,
                                                   bulk="never")})
    env = sandbox_env(sandbox)
    db = tmp_path / "crm.duckdb"
    totals = sandbox.counts(include_deleted=True)

    first = run_cli("sync", cwd=tmp_path, env=env)
    assert first.returncode == 0, first.stdout + first.stderr
    counts = run_counts(db)
    for stream, sobject in (("users", "User"), ("accounts", "Account"), ("deals", "Opportunity"),
                            ("tasks", "Task"), ("tickets", "Case"),
                            ("survey_responses", "Survey_Response__c")):
        assert counts[f"sf/{stream}"]["records"] == totals[sobject], stream  # none twice
    tasks = totals["Task"]
    assert query(db, "SELECT count(*), count(DISTINCT id) FROM activities")[0] == (tasks, tasks)
    assert counts["sf/tasks"]["pages"] == 3  # 2,000 + the rest + the final state page

    # field by field, against the org's own records
    deal_id = sandbox.id_of("Opportunity", 5)
    deal = sandbox.get(deal_id)
    assert deal is not None
    row = query(db, "SELECT name, account_id, owner_id, stage, amount, currency, is_closed, "
                    "is_won, probability, lead_source, campaign_id, closed_at, created_at, "
                    "deal_type, source FROM deals WHERE id = ?", deal_id)[0]
    closed_at = dt.datetime.combine(deal["CloseDate"], dt.time()) if deal["IsClosed"] else None
    assert row[:4] == (deal["Name"], deal["AccountId"], deal["OwnerId"], deal["StageName"])
    assert row[4] == Decimal(str(deal["Amount"])) and row[5] == deal["CurrencyIsoCode"]
    assert row[6:11] == (deal["IsClosed"], deal["IsWon"], deal["Probability"],
                         deal["LeadSource"], deal["CampaignId"])
    assert row[11] == closed_at
    assert row[12] == deal["CreatedDate"].astimezone(UTC).replace(tzinfo=None)
    assert row[13] == {"New Business": "new_business", "Existing Customer - Upgrade": "upsell",
                       "Renewal": "renewal"}.get(deal["Type"], "other")
    assert row[14] == "sf"

    case_id = sandbox.id_of("Case", 3)
    case = sandbox.get(case_id)
    assert case is not None
    ticket = query(db, "SELECT channel, status, interactions_count, handle_time_seconds, "
                       "first_response_at, resolved_at FROM tickets WHERE id = ?", case_id)[0]
    assert ticket[:2] == (case["Origin"], case["Status"])
    assert ticket[2] == case["Interactions__c"]
    expected_handle = round(case["Handle_Time_Minutes__c"] * 60) \
        if case["Handle_Time_Minutes__c"] is not None else None
    assert ticket[3] == expected_handle

    survey_id = sandbox.id_of("Survey_Response__c", 2)
    survey = sandbox.get(survey_id)
    assert survey is not None
    answer = query(db, "SELECT survey_type, score, scale_min, scale_max, contact_id, account_id "
                       "FROM survey_responses WHERE id = ?", survey_id)[0]
    assert answer == (survey["Type__c"].lower(), survey["Score__c"], survey["Scale_Min__c"],
                      survey["Scale_Max__c"], survey["Contact__c"], survey["Account__c"])

    user_id = sandbox.id_of("User", 2)
    user = sandbox.get(user_id)
    assert user is not None
    assert query(db, "SELECT name, email, is_active FROM users WHERE id = ?", user_id)[0] == (
        user["Name"], user["Email"], user["IsActive"])

    # change the records on both sides of the 2,000 boundary, delete one, add one
    order = read_order(sandbox, "Task")
    (_, before), (_, after) = order[1999], order[2000]
    last_stamp = order[-1][0]
    tied = sum(1 for stamp, _ in order if stamp == last_stamp)  # a mass update's shared stamp
    sandbox.update(before, Subject="changed before the boundary")
    sandbox.update(after, Subject="changed after the boundary")
    gone = order[10][1]
    sandbox.delete(gone)
    account = sandbox.create("Account", Name="Brand New Ltd", Website="https://brand.new")
    sandbox.clear_log()

    second = run_cli("sync", cwd=tmp_path, env=env)
    assert second.returncode == 0, second.stdout + second.stderr
    counts = run_counts(db)
    # incremental: from the saved cursor inclusive (>=), i.e. the records sharing the last
    # SystemModstamp again (re-reading them changes nothing) plus the three changed ones
    assert counts["sf/tasks"]["records"] == tied + 3
    assert query(db, "SELECT subject FROM activities WHERE id IN (?, ?) ORDER BY subject",
                 before, after) == [("changed after the boundary",),
                                    ("changed before the boundary",)]
    assert query(db, "SELECT is_deleted FROM activities WHERE id = ?", gone) == [(True,)]
    assert query(db, "SELECT name, domain FROM accounts WHERE id = ?", account["Id"]) == [
        ("Brand New Ltd", "brand.new")]
    assert query(db, "SELECT count(*), count(DISTINCT id) FROM activities")[0] == (tasks, tasks)
    queries = [entry.query for entry in sandbox.requests if entry.path.endswith("/queryAll/")]
    assert queries and all("SystemModstamp+%3E%3D" in text for text in queries
                           if "FROM+Task" in text and "COUNT" not in text)

    third = run_cli("sync", cwd=tmp_path, env=env)  # nothing changed: nothing new
    assert third.returncode == 0
    assert query(db, "SELECT count(*) FROM activities")[0] == (tasks,)


def test_quota_stop_then_resume(sandbox: SalesforceSandbox, tmp_path: Path) -> None:
    """REQUEST_LIMIT_EXCEEDED mid-stream: exit 1, the stored page's state kept; the next run
    resumes right after it (nothing lost, nothing read twice)."""
    write_project(tmp_path, {"sf": sandbox_options(sandbox, streams=["tasks", "accounts"],
                                                   bulk="never")})
    env = sandbox_env(sandbox)
    db = tmp_path / "crm.duckdb"
    tasks = sandbox.counts(include_deleted=True)["Task"]
    sandbox.inject(FaultKind.REQUEST_LIMIT_EXCEEDED, path=r"/queryAll/01g", count=1)

    stopped = run_cli("sync", cwd=tmp_path, env=env)
    assert stopped.returncode == 1, stopped.stdout + stopped.stderr
    assert "REQUEST_LIMIT_EXCEEDED" in stopped.stderr
    counts = run_counts(db)
    assert counts["sf/tasks"]["status"] == "stopped" and counts["sf/tasks"]["records"] == 2000
    assert "sf/accounts" not in counts  # the connection stopped cleanly
    (state,) = query(db, "SELECT state FROM sync_state WHERE stream = 'tasks'")[0]
    state = json.loads(state)
    assert state["complete"] is False and state["last_id"]

    resumed = run_cli("sync", cwd=tmp_path, env=env)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    counts = run_counts(db)
    assert counts["sf/tasks"]["records"] == tasks - 2000
    assert query(db, "SELECT count(*), count(DISTINCT id) FROM activities")[0] == (tasks, tasks)


def test_bulk_path_matches_rest(sandbox: SalesforceSandbox, tmp_path: Path) -> None:
    """Above bulk_threshold the same stream goes through a Bulk 2.0 job (CSV pages by locator)
    and lands exactly as the REST read does."""
    rest_dir, bulk_dir = tmp_path / "rest", tmp_path / "bulk"
    rest_dir.mkdir()
    bulk_dir.mkdir()
    streams = ["tasks", "deals"]
    write_project(rest_dir, {"sf": sandbox_options(sandbox, streams=streams,
                                                   bulk="never")})
    write_project(bulk_dir, {"sf": sandbox_options(sandbox, streams=streams, bulk_threshold=100,
                                                   bulk_page_size=700)})
    env = sandbox_env(sandbox)
    assert run_cli("sync", cwd=rest_dir, env=env).returncode == 0
    sandbox.clear_log()
    bulk = run_cli("sync", cwd=bulk_dir, env=env)
    assert bulk.returncode == 0, bulk.stdout + bulk.stderr
    assert sandbox.request_count(r"/jobs/query$", method="POST") == 2
    assert sandbox.request_count(r"/jobs/query/[^/]+/results$") >= 4  # 2,248 / 700 pages
    assert sandbox.request_count(r"/queryAll/01g") == 0  # no REST paging

    for table in ("activities", "deals"):
        sql = f"SELECT * EXCLUDE (extra), extra::VARCHAR FROM {table} ORDER BY id"
        assert query(rest_dir / "crm.duckdb", sql) == query(bulk_dir / "crm.duckdb", sql)
    state = json.loads(query(bulk_dir / "crm.duckdb",
                             "SELECT state FROM sync_state WHERE stream = 'tasks'")[0][0])
    assert state["complete"] is True and "bulk" not in state


def test_connections_test_reports_missing_fields(sandbox: SalesforceSandbox,
                                                 tmp_path: Path) -> None:
    write_project(tmp_path, {"sf": sandbox_options(
        sandbox, survey_object="NPS_Answer__c",
        mapping={"tickets": {"first_response_at": "Responded_First__c"}})})
    result = run_cli("connections", "test", "sf", cwd=tmp_path, env=sandbox_env(sandbox))
    assert result.returncode == 1, result.stdout + result.stderr
    text = " ".join(result.stdout.split())
    assert "logged in to https://127.0.0.1" in text
    assert "Case.Responded_First__c (mapped to tickets.first_response_at) does not exist" in text
    assert "KPIs without data: first_response_time" in text
    assert "no NPS_Answer__c object" in text and "net_promoter_score" in text
