"""Connectors for the conformance suite's own tests: one that does everything right, and broken
ones that each get one thing wrong the way connectors in the wild do.

They serve a small in-memory "vendor" of users, fetched page by page through the connection's
ResiliencePolicy as an HTTP client's calls would be, so the suite's retry check applies.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Iterator, Sequence
from typing import Any

from pydantic import ConfigDict, Field

from crm_connect import hookimpl
from crm_connect.connector import CheckResult, Connector, ConnectorConfig, Page, Stream
from crm_connect.resilience import ResiliencePolicy

BASE = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)


def vendor_users(count: int) -> list[dict[str, Any]]:
    """The vendor's users, ordered by (updated_at, id); pairs share an updated_at (ties)."""
    users = []
    for number in range(count):
        users.append({
            "id": f"u{number:03d}",
            "name": f"User {number}",
            "email": f"user{number}@example.com",
            "updated_at": (BASE + dt.timedelta(hours=number // 2)).isoformat(),
            "is_deleted": number == 4,
        })
    return users


class MemoryConfig(ConnectorConfig):
    secret_fields = ("api_key",)

    users: int = Field(default=9, ge=0)
    page_size: int = Field(default=2, ge=1)


class GoodConnector(Connector[MemoryConfig]):
    """Incremental by (updated_at, id), deletes flagged, every fetch through the policy."""

    name = "memory_good"
    config_model = MemoryConfig

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.policy = ResiliencePolicy.for_connector(self)

    def streams(self) -> Sequence[Stream]:
        return [Stream("users", "users", "updated_at")]

    def check(self) -> CheckResult:
        self.secret("api_key")
        return CheckResult(True, f"{self.config.users} users")

    def fetch(self, after: tuple[str, str] | None) -> list[dict[str, Any]]:
        """One page of the vendor's users after (updated_at, id), as an API would answer."""
        self.secret("api_key")
        rows = [row for row in vendor_users(self.config.users)
                if after is None or (row["updated_at"], row["id"]) > after]
        return [dict(row) for row in rows[:self.config.page_size]]

    def read(self, stream: Stream, state: dict[str, Any] | None) -> Iterator[Page]:
        after = (state["cursor"], state["last_id"]) if state else None
        while True:
            page = self.policy.call(functools.partial(self.fetch, after),
                                    description="GET /users")
            if not page:
                return
            after = (page[-1]["updated_at"], page[-1]["id"])
            yield Page(page, self.state_after(page, state))

    def state_after(self, page: list[dict[str, Any]], state: dict[str, Any] | None
                    ) -> dict[str, Any]:
        return {"cursor": page[-1]["updated_at"], "last_id": page[-1]["id"]}


class DuplicateIdsConnector(GoodConnector):
    """Each page starts again with the last record of the previous one (a `>=` cursor filter
    with no tie-break)."""

    name = "memory_duplicates"

    def fetch(self, after: tuple[str, str] | None) -> list[dict[str, Any]]:
        rows = vendor_users(self.config.users)
        if after is None:
            return rows[:self.config.page_size]
        start = next((index for index, row in enumerate(rows)
                      if (row["updated_at"], row["id"]) >= after), len(rows))
        page = rows[start:start + self.config.page_size]
        return [] if len(page) <= 1 else page


class StuckStateConnector(GoodConnector):
    """Commits the state it started from: the next run reads everything again."""

    name = "memory_stuck"

    def state_after(self, page: list[dict[str, Any]], state: dict[str, Any] | None
                    ) -> dict[str, Any]:
        return dict(state) if state else {"cursor": "2000-01-01T00:00:00+00:00", "last_id": ""}


class BadRecordConnector(GoodConnector):
    """Passes a vendor value through unmapped: a date the schema cannot read."""

    name = "memory_bad_record"

    def fetch(self, after: tuple[str, str] | None) -> list[dict[str, Any]]:
        rows = super().fetch(after)
        for row in rows:
            if row["id"] == "u003":
                row["last_login_at"] = "last Tuesday"
        return rows


class BackwardsCursorConnector(GoodConnector):
    """Reads newest first and commits the cursor of each page's last record."""

    name = "memory_backwards"

    def fetch(self, after: tuple[str, str] | None) -> list[dict[str, Any]]:
        rows = list(reversed(vendor_users(self.config.users)))
        if after is not None:
            rows = [row for row in rows if (row["updated_at"], row["id"]) < after]
        return rows[:self.config.page_size]

    def read(self, stream: Stream, state: dict[str, Any] | None) -> Iterator[Page]:
        if state:  # "incremental": whatever is newer than the state
            rows = [row for row in vendor_users(self.config.users)
                    if (row["updated_at"], row["id"]) > (state["cursor"], state["last_id"])]
            if rows:
                yield Page(rows, self.state_after(rows, state))
            return
        yield from super().read(stream, None)


class LooseConfig(MemoryConfig):
    model_config = ConfigDict(extra="allow")


class LooseConfigConnector(GoodConnector):
    """A configuration model that lets unknown keys through."""

    name = "memory_loose_config"
    config_model = LooseConfig


BROKEN = (DuplicateIdsConnector, StuckStateConnector, BadRecordConnector,
          BackwardsCursorConnector, LooseConfigConnector)


class MemoryConnectorsPlugin:
    """The test plugin that contributes the connectors above."""

    @hookimpl
    def register_connectors(self, register: Any) -> None:
        for connector_class in (GoodConnector, *BROKEN):
            register(connector_class)
