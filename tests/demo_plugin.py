"""A third-party plugin for the demo's tests: "Tiny CRM", a connector and its loopback sandbox,
contributed through ``register_demo_sandboxes`` exactly as a vendor plugin does.

The sandbox serves ``GET /accounts`` (a bearer token required) on a free loopback port; the
connector reads it with requests.  The tests "install" this module with an entry point.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Iterator, Sequence
from typing import Any

import requests

from crm_connect import hookimpl
from crm_connect.connector import CheckResult, Connector, ConnectorConfig, Page, Stream
from crm_connect.sandboxes import DemoConnection, DemoSandbox
from crm_connect.testing.server import LoopbackServer, Request, Response

DATA_ENDS = dt.datetime(2026, 4, 1, tzinfo=dt.UTC)
TOKEN = "tiny-throwaway-token"
ACCOUNTS = 7


class TinyConfig(ConnectorConfig):
    secret_fields = ("api_token",)

    base_url: str


class TinyConnector(Connector[TinyConfig]):
    name = "tinycrm"
    config_model = TinyConfig

    def streams(self) -> Sequence[Stream]:
        return [Stream("accounts", "accounts", "updated_at")]

    def check(self) -> CheckResult:
        return CheckResult(True, "ok")

    def read(self, stream: Stream, state: dict[str, Any] | None) -> Iterator[Page]:
        answer = requests.get(f"{self.config.base_url}/accounts", timeout=10,
                              headers={"Authorization": f"Bearer {self.secret('api_token')}"})
        answer.raise_for_status()
        records = answer.json()["accounts"]
        yield Page(records, {"cursor": records[-1]["updated_at"]})


def _accounts(request: Request) -> Response:
    if request.bearer() != TOKEN:
        return Response.json(401, {"error": "unauthorized"})
    stamp = (DATA_ENDS - dt.timedelta(days=30)).isoformat()
    return Response.json(200, {"accounts": [
        {"id": f"T{n}", "name": f"Tiny {n}", "created_at": stamp, "updated_at": stamp}
        for n in range(ACCOUNTS)]})


@contextlib.contextmanager
def start_tiny() -> Iterator[DemoConnection]:
    with LoopbackServer() as server:
        server.route("GET", r"/accounts", _accounts)
        yield DemoConnection(settings={"base_url": server.url}, secrets={"api_token": TOKEN},
                             data_ends=DATA_ENDS, real_crm={"base_url": "your Tiny CRM"})


@hookimpl
def register_connectors(register: Any) -> None:
    register(TinyConnector)


@hookimpl
def register_demo_sandboxes(register: Any) -> None:
    register(DemoSandbox(connection="tiny_demo", connector="tinycrm", start=start_tiny,
                         description="a Tiny CRM with seven accounts"))
