"""The connector kit's conformance suite replayed from a cassette: every check a test item, its
HTTP exchanges answered by ``cassettes/salesforce/conformance_replayed.yaml``.

Replaying (the default, ``--record-mode=none``) touches no network: a request the cassette
does not hold fails the check that sent it.  The cassette was recorded once against the
loopback sandbox (a small org, REST pages of 200) with the scrubbing of ``sf_cassettes.py``;
to record it again::

    pytest --record-mode=rewrite plugins/salesforce/tests/test_conformance_cassettes.py

Against a real org (secrets in ``CRM_CONNECT_SF_PASSWORD`` / ``CRM_CONNECT_SF_SECURITY_TOKEN``),
set ``SF_RECORD_LOGIN_URL`` and ``SF_RECORD_USERNAME`` too; see the plugin README.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import crm_connect_salesforce.plugin
import pytest
import vcr
from crm_connect_salesforce.sandbox import Credentials, Org, SalesforceSandbox
from sf_cassettes import vcr_options
from sf_support import CASSETTES, sandbox_options, write_project

from crm_connect.testing.conformance import (
    CHECKS,
    ConformanceSession,
    ConformanceSuite,
    ConformanceTarget,
    Status,
    run_check,
    run_conformance,
)

CASSETTE = CASSETTES / "conformance_replayed.yaml"
ORG = {"records": 850, "seed": 5}
"""The sandbox org the cassette was recorded from: the streams read 212 tasks (two pages of
200), 159 deals, 53 accounts and 8 users."""
DELETED = {"accounts": ("Account", 3), "deals": ("Opportunity", 3)}
"""Records in the recorded org's recycle bin (stream to object and index): read with
``queryAll``, they must come back flagged deleted."""
READ_OPTIONS: dict[str, Any] = {"bulk": "never", "page_size": 200,
                                "streams": ["users", "accounts", "deals", "tasks"]}
"""REST reads in pages of 200 of four streams that between them use ``query`` and
``queryAll``, deletes and several pages (the sandbox run checks every stream), keeping the
cassette near a megabyte."""


@dataclass
class Recording:
    """What the connection is pointed at: the cassette alone, a sandbox or a real org."""

    mode: str
    options: dict[str, Any]
    secrets: dict[str, str]
    deleted_ids: dict[str, set[str]] = field(default_factory=dict)


def _deleted_ids(org: Org) -> dict[str, set[str]]:
    return {stream: {org.id_of(sobject, index)} for stream, (sobject, index) in DELETED.items()}


def _real_org(mode: str) -> Recording:
    """A real org's recording: ``SF_RECORD_LOGIN_URL`` and ``SF_RECORD_USERNAME`` name it, its
    secrets are in ``CRM_CONNECT_SF_*`` (placeholders on replay: the login is scrubbed)."""
    secrets = {name: os.environ.get(f"CRM_CONNECT_SF_{name.upper()}") or f"replayed-{name}"
               for name in ("password", "security_token")}
    return Recording(mode, {"username": os.environ["SF_RECORD_USERNAME"],
                            "login_url": os.environ["SF_RECORD_LOGIN_URL"], **READ_OPTIONS},
                     secrets)


@pytest.fixture(scope="module")
def conformance_recording(record_mode: str) -> Iterator[Recording]:
    """pytest-recording's ``--record-mode``: ``none`` replays, anything else records."""
    if record_mode == "none" and not CASSETTE.is_file():
        pytest.fail(f"{CASSETTE} is missing: record it with --record-mode=rewrite")
    if os.environ.get("SF_RECORD_LOGIN_URL"):
        yield _real_org(record_mode)
        return
    credentials = Credentials()
    # The sandbox's throwaway secrets: on replay the login carries them (scrubbed before it is
    # matched), and the cassette scan proves they were not recorded.
    secrets = {"password": credentials.password, "security_token": credentials.security_token}
    if record_mode == "none":
        yield Recording(record_mode, {"username": credentials.username,
                                      "login_url": "https://127.0.0.1:9", **READ_OPTIONS},
                        secrets, _deleted_ids(Org(**ORG)))
        return
    with SalesforceSandbox(**ORG) as sandbox:
        for sobject, index in DELETED.values():
            sandbox.org.delete(sandbox.org.id_of(sobject, index))
        options = sandbox_options(sandbox, **READ_OPTIONS)
        options.pop("resilience")  # the replay's options; the backoff is not recorded
        yield Recording(record_mode, options, secrets, _deleted_ids(sandbox.org))


class TestSalesforceCassetteConformance(ConformanceSuite):
    """The same checks as the sandbox run, each answered from the recorded exchanges."""

    connection = "sf"
    cassettes = CASSETTES
    plugins = {"salesforce": crm_connect_salesforce.plugin}

    @pytest.fixture(scope="class")
    @classmethod
    def conformance_target(cls, conformance_recording: Recording,
                           tmp_path_factory: pytest.TempPathFactory) -> ConformanceTarget:
        return _target(tmp_path_factory.mktemp("sf-cassette-conformance"),
                       conformance_recording)

    @pytest.fixture(scope="class")
    @classmethod
    def conformance(cls, conformance_target: ConformanceTarget,
                    conformance_recording: Recording) -> Iterator[ConformanceSession]:
        """The session with every check run inside the cassette, in the order they were
        recorded (a login refused for a missing secret and one that succeeds send the same
        request: only the order tells their answers apart); the test items report them."""
        mode = conformance_recording.mode
        with ConformanceSession(conformance_target) as session:
            with _cassette(mode):
                for check in CHECKS:
                    run_check(session, check)
            yield session

    def test_replay_exercises_each_check(self, conformance: ConformanceSession,
                                         conformance_recording: Recording) -> None:
        """Nothing passes for want of data: no check skipped, the tasks resumed across their
        page boundary, the deleted account and deal read back flagged."""
        outcomes = conformance.outcomes
        if not conformance_recording.deleted_ids:
            pytest.skip("a real org's recording: its data is not known here")
        assert {name: outcome.message for name, outcome in outcomes.items()
                if outcome.status is not Status.PASS} == {}
        assert "tasks: resumed from 2 committed states" in (
            outcomes["resume_from_every_state"].message)
        assert "accounts: the 1 known delete flagged; deals: the 1 known delete flagged" in (
            outcomes["deletes_flagged"].message)


def _target(folder: Path, recording: Recording, **options: Any) -> ConformanceTarget:
    options = {**recording.options, **options,
               "resilience": {"backoff_initial_seconds": 0.01, "backoff_max_seconds": 0.05,
                              "max_total_seconds": 20.0}}
    config = write_project(folder, {"sf": options})
    return ConformanceTarget(
        config, "sf", cassettes=CASSETTES, plugins={"salesforce": crm_connect_salesforce.plugin},
        secrets=recording.secrets, deleted_ids=recording.deleted_ids)


def _cassette(mode: str) -> Any:
    """The conformance cassette, replayed (``none``) or recorded again from scratch."""
    if mode in ("rewrite", "all"):
        CASSETTE.unlink(missing_ok=True)
        mode = "all"
    return vcr.VCR(**vcr_options(), record_mode=mode).use_cassette(str(CASSETTE))


def test_a_request_the_cassette_lacks_fails_its_check(conformance_recording: Recording,
                                                      tmp_path: Path) -> None:
    """Replaying never reaches a network: a stream that was not recorded fails the checks
    that read it, saying the cassette cannot answer."""
    if conformance_recording.mode != "none":
        pytest.skip("replay only")
    target = _target(tmp_path, conformance_recording, streams=["contacts"])
    checks = [check for check in CHECKS if check.name == "records_validate"]
    with _cassette("none"):
        [outcome] = run_conformance(target, checks)
    assert outcome.status is Status.FAIL
    assert outcome.message.startswith("contacts: the read failed")
    assert "Can't play back this request" in outcome.message
