"""A first sync lists from the bottom and searches from the top at once: every record once,
both budgets spent, and a read stopped anywhere resumes without loss or double reads."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import duckdb
import pytest
from crm_connect_hubspot.records import HubSpotObject
from crm_connect_hubspot.split import SearchUnavailable, split_read

sandbox = pytest.importorskip("crm_connect_hubspot.sandbox")

UNTHROTTLED = ("[connections.hs.resilience.rate_limits.search]\nrequests = 100\n"
               "[connections.hs.resilience.rate_limits.general]\nrequests = 1000\n")


def portal_of(ids: list[int]) -> tuple[Callable[[str | None], Any], Callable[[int | None], Any]]:
    """A list endpoint (ascending ids, 7 a page) and an id-descending search (5 a page)."""
    ordered = sorted(ids)

    def list_page(after: str | None) -> tuple[list[HubSpotObject], str | None]:
        start = int(after or 0)
        chunk = [i for i in ordered if i >= start][:8]
        following = str(chunk[7]) if len(chunk) == 8 else None
        return [HubSpotObject(str(i), {}) for i in chunk[:7]], following

    def search_below(below: int | None) -> list[HubSpotObject]:
        chunk = [i for i in reversed(ordered) if below is None or i < below][:5]
        return [HubSpotObject(str(i), {}) for i in chunk]

    return list_page, search_below


@pytest.mark.parametrize("stop_after", [1, 2, 3, 5, 8, 13])
def test_a_split_read_stopped_anywhere_resumes_every_record_once(stop_after: int) -> None:
    ids = [3, 5, 8, 13, 21, 34, 40, 41, 42, 55, 89, 90, 91, 144, 233, 377, 400, 401, 610,
           987, 1000, 1597, 2584, 4181, 6765]
    list_page, search_below = portal_of(ids)
    read: list[str] = []
    state: dict[str, Any] | None = None
    for _ in range(len(ids)):  # stop after `stop_after` pages each time, resume from the state
        reader = split_read(list_page, search_below, 5, state)
        done = False
        for n, (objects, position) in enumerate(reader, start=1):
            read += [obj.id for obj in objects]
            state = json.loads(json.dumps(position.state()))
            done = position.list_done and position.search_done
            if n == stop_after:
                break
        reader.close()
        if done:
            break
    assert sorted(read, key=int) == [str(i) for i in ids]


def test_a_first_sync_spends_both_budgets_and_stores_every_record_once(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        crm_plugin: Callable[[Any, str], None]) -> None:
    from crm_connect_hubspot import plugin
    from typer.testing import CliRunner

    from crm_connect.cli import app

    crm_plugin(plugin, "hubspot")
    monkeypatch.chdir(tmp_path)
    with sandbox.HubSpotSandbox(records=6000, seed=4, enforce_limits=False) as portal:
        (tmp_path / "crm-connect.toml").write_text(
            f'[connections.hs]\nconnector = "hubspot"\nbase_url = "{portal.base_url}"\n'
            'streams = ["deals"]\n' + UNTHROTTLED, encoding="utf-8")
        monkeypatch.setenv("CRM_CONNECT_HS_ACCESS_TOKEN", portal.credentials.access_token)
        result = CliRunner().invoke(app, ["sync"])
        assert result.exit_code == 0, result.output
        live = len(portal.portal.live("deals"))
        held = live + len(portal.portal.archived("deals"))
        with duckdb.connect(str(tmp_path / "crm.duckdb"), read_only=True) as db:
            assert db.execute("SELECT count(*), count(DISTINCT id) FROM deals").fetchone() == (
                held, held)
        listed = [request for request in portal.requests if request.method == "GET"
                  and request.path.rstrip("/") == "/crm/v3/objects/deals"
                  and "archived=true" not in request.query]
        searched = portal.request_count(r"^/crm/v3/objects/deals/search/?$", "POST")
        assert searched >= 1  # the search budget is spent
        assert len(listed) <= -(-live // 100)  # never more list pages than listing alone


def test_an_object_search_cannot_read_is_listed_whole() -> None:
    ids = list(range(10, 60, 3))
    list_page, _ = portal_of(ids)

    def refused(below: int | None) -> list[HubSpotObject]:
        raise SearchUnavailable("HTTP 404 no route")

    read = [obj.id for objects, _ in split_read(list_page, refused, 5, None)
            for obj in objects]
    assert read == [str(i) for i in ids]
