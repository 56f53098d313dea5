"""Helpers shared by the ``test_sandbox_*`` files (their fixtures live in ``conftest.py``)."""

from __future__ import annotations

import re
from typing import Any

import requests
from crm_connect_salesforce.sandbox import SalesforceSandbox
from simple_salesforce import Salesforce

VERSION = "60.0"
SF_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.000\+0000$")


def client(sb: SalesforceSandbox, token: str | None = None) -> Salesforce:
    return Salesforce(
        instance_url=sb.instance_url,
        session_id=token or sb.issue_token(),
        session=sb.session(),
        version=VERSION,
    )


def raw_get(
    sb: SalesforceSandbox, path: str, token: str | None = None, **kw: Any
) -> requests.Response:
    headers = {"Authorization": f"Bearer {token or sb.access_token}"}
    return sb.session().get(sb.instance_url + path, headers=headers, timeout=30, **kw)
