"""``python -m crm_connect_hubspot.sandbox`` serves a portal and prints how to reach it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tomllib
import urllib.request

from crm_connect_hubspot.sandbox.__main__ import connection_recipe


def test_the_recipe_is_a_configuration_and_its_secrets_stay_in_the_environment() -> None:
    recipe = connection_recipe("hs_demo", "http://127.0.0.1:5555", oauth=True,
                               client_id="cid", secrets={"client_secret": "s3cr3t",
                                                         "refresh_token": "r3fr3sh"},
                               as_of="2026-05-01T00:00:00Z")
    toml_part, _, env_part = recipe.partition("# the sandbox's throwaway secrets")
    parsed = tomllib.loads(toml_part)
    assert parsed["reporting"]["rates"] == {"EUR": 1.08, "GBP": 1.27}
    config = parsed["connections"]["hs_demo"]
    assert config["connector"] == "hubspot"
    assert config["base_url"] == "http://127.0.0.1:5555"
    assert (config["auth"], config["client_id"]) == ("oauth", "cid")
    assert config["mapping"]["accounts"]["churned_at"] == "churn_date"
    assert "s3cr3t" not in toml_part and "r3fr3sh" not in toml_part
    assert "export CRM_CONNECT_HS_DEMO_CLIENT_SECRET='s3cr3t'" in env_part
    assert "export CRM_CONNECT_HS_DEMO_REFRESH_TOKEN='r3fr3sh'" in env_part
    assert "crm-connect connections test hs_demo" in env_part


def test_the_command_serves_until_terminated() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "crm_connect_hubspot.sandbox", "--records", "300", "--json"],
        stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        assert process.stdout is not None
        details = json.loads(process.stdout.readline())
        assert details["data_as_of"] == "2026-05-01T00:00:00Z"
        assert details["cert_path"] is None  # plain HTTP unless --tls
        request = urllib.request.Request(
            f"{details['base_url']}/crm/v3/objects/companies?limit=2",
            headers={"Authorization": f"Bearer {details['access_token']}"})
        with urllib.request.urlopen(request, timeout=10) as answer:
            body = json.load(answer)
            assert answer.headers["X-HubSpot-RateLimit-Max"] == "100"
        assert len(body["results"]) == 2 and body["paging"]["next"]["after"]
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
        stats = json.loads(process.stdout.readline())
        assert stats == {"served": {"objects.list": 1}, "refused": {}}
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)
