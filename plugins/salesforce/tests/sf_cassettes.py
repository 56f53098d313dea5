"""How the plugin's cassettes are recorded: where Salesforce carries secrets (OAuth form fields,
token answers, the SOAP login's password and session id), given to the kit's scrubbing VCR
configuration (shared by ``test_cassettes.py`` and ``test_conformance_cassettes.py``)."""

from __future__ import annotations

from typing import Any

from crm_connect.testing.cassettes import REDACTED, Scrubber, scrubbing_vcr_config

__all__ = ["REDACTED", "SCRUBBER", "scrub_request", "scrub_response", "vcr_options"]

SECRETS: dict[str, Any] = {
    "form_fields": {"password", "client_secret", "assertion", "refresh_token", "code",
                    "client_assertion"},
    "json_fields": ("access_token", "refresh_token", "id_token", "signature"),
    "text_patterns": [(r"<((?:\w+:)?(?:password|sessionId))>[^<]*</\1>",
                       rf"<\1>{REDACTED}</\1>")],
}
SCRUBBER = Scrubber(**SECRETS)
scrub_request = SCRUBBER.request
scrub_response = SCRUBBER.response


def vcr_options() -> dict[str, Any]:
    """VCR options: secrets scrubbed at record time; requests match on method, path and query
    (a sandbox's port changes from run to run, a real org's host is not the replaying one)."""
    return scrubbing_vcr_config(**SECRETS)
