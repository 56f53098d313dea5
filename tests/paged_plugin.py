"""The test plugin of a paged API: connector ``paged_api`` pages through the fault server's
``/api/records`` with a ResilientSession (bearer token, refresh), as a vendor plugin does:
every request through one session.

Registered in process for the resilience syncs (``crm_plugin(paged_plugin, ...)``) and
installed through an entry point (``conftest.register_entry_point``) for ``crm-connect run``
in real processes; there, with ``gate`` set, it waits after its first page until the test
writes to that FIFO."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any

from example_crm import EXAMPLE_CRM

from crm_connect import (
    CheckResult,
    ConnectionContext,
    Connector,
    ConnectorConfig,
    Page,
    Stream,
    hookimpl,
)
from crm_connect.resilience import BearerAuth, ResiliencePolicy, ResilientSession
from crm_connect.vendor import RateLimitSettings

PROFILE = dataclasses.replace(EXAMPLE_CRM, rate_limits={"general": RateLimitSettings()})


class PagedConfig(ConnectorConfig):
    base_url: str
    page_size: int = 10
    gate: str | None = None
    secret_fields = ("access_token", "refresh_token")


class PagedConnector(Connector[PagedConfig]):
    name = "paged_api"
    config_model = PagedConfig
    profile = PROFILE

    def __init__(self, context: ConnectionContext, config: PagedConfig) -> None:
        super().__init__(context, config)
        self.token = self.secret("access_token")
        self.policy = ResiliencePolicy.for_connector(self, refresh=self.refresh_token)
        self.session = ResilientSession(self.policy, auth=BearerAuth(lambda: self.token))

    def refresh_token(self) -> dict[str, str]:
        response = self.session.post(
            f"{self.config.base_url}/oauth/token",
            data={"grant_type": "refresh_token", "refresh_token": self.secret("refresh_token")})
        self.token = response.json()["access_token"]
        assert self.token is not None
        return {"access_token": self.token}

    def streams(self) -> list[Stream]:
        return [Stream("accounts", "accounts")]

    def check(self) -> CheckResult:
        return CheckResult(True, "ok")

    def read(self, stream: Stream, state: dict[str, Any] | None) -> Iterator[Page]:
        after = (state or {}).get("after", "0")
        pages = 0
        while True:
            response = self.session.get(f"{self.config.base_url}/api/records",
                                        params={"after": after, "limit": self.config.page_size})
            response.raise_for_status()
            body = response.json()
            records = [{"id": item["id"], "name": item["name"],
                        "created_at": item["updated_at"], "updated_at": item["updated_at"]}
                       for item in body["results"]]
            next_after = body.get("paging", {}).get("next", {}).get("after")
            yield Page(records, state={"after": next_after or after})
            pages += 1
            if pages == 1 and self.config.gate:
                with open(self.config.gate) as gate:  # blocks until the test opens the FIFO
                    gate.read()
            if next_after is None:
                return
            after = next_after

    def close(self) -> None:
        self.session.close()


@hookimpl
def register_connectors(register: Any) -> None:
    register(PagedConnector)
