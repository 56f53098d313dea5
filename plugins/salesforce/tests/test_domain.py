"""``domain`` is the ``{domain}`` of ``https://{domain}.salesforce.com``: a host or a URL given
there is refused at configuration time with the value to write, never an ``InvalidURL``
traceback at login."""

from __future__ import annotations

from pathlib import Path

import pytest
from sf_support import run_cli, write_project

ENV = {"CRM_CONNECT_LOAD_PLUGINS": "salesforce", "CRM_CONNECT_SF_PASSWORD": "x"}

BAD = [
    ("https://acme.my.salesforce.com", "is a URL; write domain = 'acme.my'"),
    ("https://acme.my.salesforce.com/", "is a URL; write domain = 'acme.my'"),
    ("acme.my.salesforce.com", "is a host name; write domain = 'acme.my'"),
    ("login.salesforce.com:443", "is a host; write domain = 'login'"),
    ("https://acme.lightning.force.com", "is not a login domain: write domain = \"login\""),
    ("acme my", "is not a login domain"),
]


@pytest.mark.parametrize(("domain", "expected"), BAD)
def test_a_host_or_url_as_domain_is_refused_by_every_command(
        tmp_path: Path, domain: str, expected: str) -> None:
    write_project(tmp_path, {"sf": {"username": "ops@example.com", "domain": domain}})
    for command in (["connections", "test", "sf"], ["sync", "sf"]):
        result = run_cli(*command, cwd=tmp_path, env=ENV)
        message = " ".join(result.stderr.split())
        assert result.returncode == 2, result.stdout + result.stderr
        assert "Traceback" not in result.stderr and "InvalidURL" not in result.stderr
        assert "crm-connect.toml, line 7: connection 'sf':" in message
        assert f"domain = {domain!r}" in message and expected in message


def test_login_test_and_my_domain_names_are_accepted() -> None:
    from crm_connect_salesforce.config import SalesforceConfig

    for domain, base in (("login", "https://login.salesforce.com"),
                         ("Test", "https://test.salesforce.com"),
                         ("acme--uat.sandbox.my", "https://acme--uat.sandbox.my.salesforce.com")):
        config = SalesforceConfig(username="u", domain=domain)
        assert config.login_base == base
