"""The pytest side of the conformance suite: a base class whose subclasses name a target."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

import pytest

from crm_connect.testing.conformance.checks import CHECKS, Check, Status, run_check
from crm_connect.testing.conformance.session import ConformanceSession, ConformanceTarget

__all__ = ["ConformanceSuite"]


class ConformanceSuite:
    """Subclass it as ``TestSomething`` and name the target; each check becomes a test item
    (``test_ids_unique``, ``test_retries_429_and_503``, ...).

    Either set the class attributes below, or override the ``conformance_target`` fixture
    (class scoped, a classmethod) when the target is only known at run time, e.g. a loopback
    sandbox's URL.  With static files::

        class TestAcmeConformance(ConformanceSuite):
            config_file = Path(__file__).parent / "fixtures" / "crm-connect.toml"
            connection = "acme"
            secrets = {"api_key": "test-key"}
            cassettes = Path(__file__).parent / "cassettes"

    A check already run in the session (its outcome in ``conformance.outcomes``) is reported,
    not run again: a ``conformance`` fixture that replays a cassette runs every check inside
    it (``run_check`` for each of :data:`CHECKS`), so that the requests come in the recorded
    order whichever test items are selected.
    """

    config_file: ClassVar[Path | str | None] = None
    connection: ClassVar[str] = ""
    secrets: ClassVar[Mapping[str, str] | None] = None
    cassettes: ClassVar[Path | str | None] = None
    streams: ClassVar[Sequence[str]] = ()
    deleted_ids: ClassVar[Mapping[str, Collection[str]]] = {}
    cursor_overlap: ClassVar[dt.timedelta | None] = None
    plugins: ClassVar[Mapping[str, object]] = {}

    @pytest.fixture(scope="class")
    @classmethod
    def conformance_target(cls) -> ConformanceTarget:
        """The target named by the class attributes."""
        if not cls.connection:
            pytest.fail(f"{cls.__name__}: set `connection` (and `config_file`) or override "
                        "the conformance_target fixture")
        return ConformanceTarget(
            config_file=Path(cls.config_file) if cls.config_file else None,
            connection=cls.connection, secrets=cls.secrets,
            cassettes=Path(cls.cassettes) if cls.cassettes else None,
            streams=cls.streams, deleted_ids=cls.deleted_ids,
            cursor_overlap=cls.cursor_overlap, plugins=cls.plugins)

    @pytest.fixture(scope="class")
    @classmethod
    def conformance(cls, conformance_target: ConformanceTarget
                    ) -> Iterator[ConformanceSession]:
        """The session the checks of this class share (reads are made once)."""
        with ConformanceSession(conformance_target) as session:
            yield session


def _test_for(check: Check) -> Callable[[Any, ConformanceSession], None]:
    def test(self: Any, conformance: ConformanceSession) -> None:
        outcome = conformance.outcomes.get(check.name) or run_check(conformance, check)
        if outcome.status is Status.FAIL:
            pytest.fail(f"{check.name}: {outcome.message}", pytrace=False)
        if outcome.status is Status.SKIP:
            pytest.skip(f"{check.name}: {outcome.message}")

    test.__name__ = test.__qualname__ = f"test_{check.name}"
    test.__doc__ = f"Conformance: {check.description}."
    return test


for _check in CHECKS:
    setattr(ConformanceSuite, f"test_{_check.name}", _test_for(_check))
