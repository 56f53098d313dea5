from __future__ import annotations

import contextlib
import logging
import os
import subprocess
import sys
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import keyring
import keyring.core
import pytest
from typer.testing import CliRunner

from crm_connect.sample import write_sample_export

BIN = Path(sys.executable).parent
CLI = str(BIN / "crm-connect")
FIXTURES = Path(__file__).parent / "fixtures"

CliCall = Callable[..., subprocess.CompletedProcess[str]]


def run_cli_process(*args: str, cwd: Path | str | None = None,
                    env: dict[str, str] | None = None, input: str | None = None,
                    timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run the installed ``crm-connect`` command as a user would, in its own process."""
    full_env = dict(os.environ)
    full_env.update(env or {})
    return subprocess.run([CLI, *args], cwd=cwd, env=full_env, capture_output=True, text=True,
                          input=input, timeout=timeout)


def _only_at_startup(env: dict[str, str]) -> list[str]:
    """Variables a Python process reads only when it starts (PYTHONPATH, ...)."""
    return sorted(name for name in env
                  if name.startswith("PYTHON") and name != "PYTHON_KEYRING_BACKEND")


@contextlib.contextmanager
def _fresh_process_state() -> Iterator[None]:
    """What a new ``crm-connect`` process starts from, for one in-process call: plugins loaded
    afresh from the environment (allow- and deny-lists), a new keyring backend when
    ``PYTHON_KEYRING_BACKEND`` names one, consoles set up for the captured streams and
    ``$COLUMNS``, the root logger without handlers (the command configures it), and the
    global options at their defaults.  Everything is put back afterwards."""
    from crm_connect import cli_context, plugins

    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    previous_keyring = keyring.get_keyring()
    backend = os.environ.get("PYTHON_KEYRING_BACKEND")
    root.handlers.clear()
    cli_context.state.config_path, cli_context.state.verbose = None, 0
    plugins.reset_plugins()
    if backend:
        keyring.set_keyring(keyring.core.load_keyring(backend))
    try:
        yield
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
        keyring.set_keyring(previous_keyring)
        plugins.reset_plugins()


def run_cli(*args: str, cwd: Path | str | None = None, env: dict[str, str] | None = None,
            input: str | None = None, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run ``crm-connect`` in this process, as :func:`run_cli_process` runs it in a new one:
    the same arguments and the same result (exit code, standard output, standard error).

    ``timeout`` is accepted for the same signature; a call here cannot be cut off.  Variables
    that only a starting interpreter reads (``PYTHONPATH``, ...) cannot be honoured here: use
    the ``cli_process`` fixture for those.
    """
    from crm_connect.cli import main
    from crm_connect.cli_output import reset_consoles

    startup = _only_at_startup(env or {})
    if startup:
        raise ValueError(f"{', '.join(startup)} only take effect in a new process: use the "
                         "cli_process fixture for this call")
    runner = CliRunner()
    returncode = 0
    previous_dir = Path.cwd()
    with runner.isolation(input=input, env=env) as (stdout, stderr, _), \
            _fresh_process_state():
        try:
            if cwd is not None:
                os.chdir(cwd)
            reset_consoles()
            main(list(args))
        except SystemExit as exc:
            code = exc.code
            if code is not None and not isinstance(code, int):
                sys.stderr.write(f"{code}\n")
                code = 1
            returncode = code or 0
        except Exception:  # as Python reports an uncaught exception: a traceback, exit 1
            traceback.print_exc(file=sys.stderr)
            returncode = 1
        finally:
            os.chdir(previous_dir)
            sys.stdout.flush()
            sys.stderr.flush()
        out_text = stdout.getvalue().decode(runner.charset, "replace")
        err_text = stderr.getvalue().decode(runner.charset, "replace")
    reset_consoles()  # back to this process's own streams
    return subprocess.CompletedProcess(["crm-connect", *args], returncode, out_text, err_text)


def register_entry_point(site: Path, distribution: str, version: str, plugin: str,
                         module: str) -> Path:
    """Make ``site`` hold the metadata of an installed distribution with one ``crm_connect``
    entry point, as pip would leave it; put ``site`` on PYTHONPATH to "install" it."""
    dist = site / f"{distribution.replace('-', '_')}-{version}.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: {distribution}\nVersion: {version}\n")
    (dist / "entry_points.txt").write_text(f"[crm_connect]\n{plugin} = {module}\n")
    return site


@pytest.fixture
def cli() -> CliCall:
    """``cli(*args, cwd=, env=, input=)``: run ``crm-connect`` in-process (fast); the result
    has ``returncode``, ``stdout`` and ``stderr``."""
    return run_cli


@pytest.fixture
def cli_process() -> CliCall:
    """The installed ``crm-connect`` command in a process of its own: for what only a real
    process shows (the entry point, signals, a terminal, locks between processes,
    ``PYTHONPATH``)."""
    return run_cli_process


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A folder with a files export and a crm-connect.toml pointing at it."""
    write_sample_export(tmp_path / "exports", scale=0.1, seed=3)
    (tmp_path / "crm-connect.toml").write_text(
        '[connections.finance]\nconnector = "files"\npath = "exports/"\n'
    )
    return tmp_path


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[Any]:
    """A throwaway PostgreSQL server for the whole session (see ``pg_server.py``), stopped at
    its end.  Without the server binaries it skips the test saying why, except in CI
    (``CI=true``), where it fails: ``.ci/run`` installs them."""
    from pg_server import MISSING, PostgresServer, find_binaries

    binaries = find_binaries()
    if binaries is None:
        if os.environ.get("CI") == "true":
            pytest.fail(MISSING + " (CI must run them: .ci/run installs it)")
        pytest.skip(MISSING)
    server = PostgresServer.start(binaries)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def spark_session() -> Iterator[Any]:
    """One local SparkSession for the whole test run (the JVM starts once), stopped at its
    end.  Without pyspark or Java it skips the test saying why, except in CI (``CI=true``),
    where it fails: ``.ci/run`` installs Java and dev.py the ``spark`` extra."""
    from crm_connect.errors import ConfigError
    from crm_connect.metrics.spark import local_session

    try:
        # The tests' tables hold a few thousand rows: compiling the JVM's hot code with
        # C1 only (no C2) and one GC thread takes under a third of the time on two busy cores.
        session = local_session(cores=2, shuffle_partitions=2, memory="1g", java_options=[
            "-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC"])
    except ConfigError as exc:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{exc} (CI must run the Spark tests: .ci/run installs Java)")
        pytest.skip(str(exc))
    try:
        yield session
    finally:
        session.stop()
