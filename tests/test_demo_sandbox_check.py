"""The kit's check of a plugin's demo sandbox (``check_demo_sandbox``): it passes a sandbox
that behaves, and names what is wrong with one that does not."""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Callable, Iterator
from typing import Any

import demo_plugin
import pytest

from crm_connect import hookimpl
from crm_connect.sandboxes import DemoConnection, DemoSandbox
from crm_connect.testing.conformance import Status, check_demo_sandbox
from crm_connect.testing.server import LoopbackServer

Register = Callable[[Any, str], None]


class _Plugin:
    """The demo plugin's connector with a sandbox that misbehaves as ``start`` says."""

    def __init__(self, start: Callable[[], contextlib.AbstractContextManager[DemoConnection]]
                 ) -> None:
        self.start = start

    @hookimpl
    def register_connectors(self, register: Any) -> None:
        register(demo_plugin.TinyConnector)

    @hookimpl
    def register_demo_sandboxes(self, register: Any) -> None:
        register(DemoSandbox(connection="tiny_demo", connector="tinycrm", start=self.start))


def test_a_sandbox_that_behaves_passes(crm_plugin: Register) -> None:
    crm_plugin(demo_plugin, "tinycrm")
    outcome = check_demo_sandbox("tiny_demo")
    assert outcome.status is Status.PASS, outcome.message
    assert "tiny_demo served on http://127.0.0.1:" in outcome.message


def test_an_unknown_connection_names_those_registered(crm_plugin: Register) -> None:
    crm_plugin(demo_plugin, "tinycrm")
    outcome = check_demo_sandbox("tiny_demos")
    assert outcome.status is Status.FAIL
    assert "'tiny_demos'" in outcome.message and "tiny_demo" in outcome.message


@contextlib.contextmanager
def _secret_in_settings() -> Iterator[DemoConnection]:
    with demo_plugin.start_tiny() as running:
        login = f"{running.settings['base_url']}?token={demo_plugin.TOKEN}"
        yield dataclasses.replace(running, settings={**running.settings, "login": login})


_LEFT_RUNNING: list[LoopbackServer] = []


@contextlib.contextmanager
def _keeps_listening() -> Iterator[DemoConnection]:
    server = LoopbackServer().start()
    _LEFT_RUNNING.append(server)
    yield DemoConnection(settings={"base_url": server.url},
                         secrets={"api_token": demo_plugin.TOKEN},
                         data_ends=demo_plugin.DATA_ENDS)


@contextlib.contextmanager
def _naive_end() -> Iterator[DemoConnection]:
    with demo_plugin.start_tiny() as running:
        yield dataclasses.replace(running, data_ends=running.data_ends.replace(tzinfo=None))


@contextlib.contextmanager
def _unknown_real_setting() -> Iterator[DemoConnection]:
    with demo_plugin.start_tiny() as running:
        yield dataclasses.replace(running, real_crm={"region": "eu"})


@pytest.mark.parametrize(("start", "said"), [
    (_secret_in_settings, "the settings show the secret api_token"),
    (_keeps_listening, "still listening after the sandbox's block ended"),
    (_naive_end, "data_ends is a naive datetime"),
    (_unknown_real_setting, "real_crm names region"),
])
def test_a_sandbox_that_misbehaves_fails_saying_what_to_fix(
        crm_plugin: Register, start: Callable[[], Any], said: str) -> None:
    crm_plugin(_Plugin(start), "tinycrm")
    try:
        outcome = check_demo_sandbox("tiny_demo")
    finally:
        while _LEFT_RUNNING:
            _LEFT_RUNNING.pop().stop()
    assert outcome.status is Status.FAIL
    assert said in outcome.message
