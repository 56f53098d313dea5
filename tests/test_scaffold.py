"""``crm-connect new-plugin``: the scaffold is a plugin that installs and passes its own tests."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
import sysconfig
import tomllib
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path

import pytest
from typer.testing import CliRunner

from crm_connect.errors import ConfigError
from crm_connect.scaffold import RESERVED_NAMES, plugin_names, render_templates, scaffold_plugin


@pytest.mark.parametrize("name", ["acme", "tiny_crm", "crm2go"])
def test_a_lowercase_identifier_names_a_plugin(name: str) -> None:
    names = plugin_names(name)
    assert names["module"] == f"crm_connect_{name}"
    assert names["dist"] == f"crm-connect-{name.replace('_', '-')}"
    assert names["module"].isidentifier()


@pytest.mark.parametrize(("name", "suggestion"), [
    ("Acme-CRM", "acme_crm"), ("2crm", "crm_2crm"), ("acme crm", "acme_crm"),
    ("class", None), ("", None), ("a" * 41, None)])
def test_a_name_that_cannot_name_a_plugin_is_refused_with_one_that_can(
        name: str, suggestion: str | None) -> None:
    with pytest.raises(ConfigError, match="lowercase letters, digits and underscores") as info:
        plugin_names(name)
    if suggestion:
        assert f"Try {suggestion!r}" in str(info.value)


@pytest.mark.parametrize("name", ["files", "kpis", "testing"])
def test_a_name_crm_connect_uses_is_refused(name: str) -> None:
    with pytest.raises(ConfigError, match="taken by crm-connect or a plugin installed here"):
        plugin_names(name)


def test_the_name_of_a_plugin_installed_here_is_refused() -> None:
    installed = {entry.name for entry in metadata.entry_points(group="crm_connect")}
    others = installed - RESERVED_NAMES
    assert others, "the development environment installs the plugins under plugins/"
    for name in others:
        with pytest.raises(ConfigError, match="installed here"):
            plugin_names(name)


def test_the_scaffold_is_a_distribution_with_entry_point_hooks_profile_tests_and_cassettes(
        tmp_path: Path) -> None:
    plugin = scaffold_plugin("acme", tmp_path)
    root = tmp_path / "crm-connect-acme"
    assert plugin.root == root
    written = {path.as_posix() for path in plugin.files}
    assert {"pyproject.toml", "README.md", "cassettes/README.md",
            "crm_connect_acme/plugin.py", "crm_connect_acme/profile.py",
            "crm_connect_acme/connector.py", "crm_connect_acme/mapping.py",
            "crm_connect_acme/sandbox.py",
            "crm_connect_acme/fixture.json", "crm_connect_acme/py.typed",
            "tests/conftest.py", "tests/test_conformance.py",
            "tests/test_cassettes.py"} <= written
    assert all((root / path).is_file() for path in written)

    project = tomllib.loads((root / "pyproject.toml").read_text())
    assert project["project"]["name"] == "crm-connect-acme"
    assert "crm-connect" in project["project"]["dependencies"]
    assert project["project"]["entry-points"]["crm_connect"] == {"acme": "crm_connect_acme.plugin"}
    assert any(dep.startswith("pytest-recording")
               for dep in project["project"]["optional-dependencies"]["test"])
    assert "fixture.json" in project["tool"]["setuptools"]["package-data"]["crm_connect_acme"]

    for path in root.rglob("*.py"):
        ast.parse(path.read_text(), str(path))  # every file is Python
    plugin_module = (root / "crm_connect_acme/plugin.py").read_text()
    assert "@hookimpl" in plugin_module and "def register_connectors(" in plugin_module
    assert 'name = "acme"' in (root / "crm_connect_acme/connector.py").read_text()
    conftest = (root / "tests/conftest.py").read_text()
    assert "scrubbing_vcr_config(headers=SECRET_HEADERS" in conftest
    contacts = json.loads((root / "crm_connect_acme/fixture.json").read_text())["contacts"]
    assert any(contact["deleted"] for contact in contacts)
    assert "$" not in "".join(render_templates("acme").values()).replace("$$", "")


def test_the_scaffold_passes_ruff_with_its_own_configuration(tmp_path: Path) -> None:
    root = scaffold_plugin("freshsales_x", tmp_path).root  # a 12-letter name
    ruff = subprocess.run([sys.executable, "-m", "ruff", "check", "--no-cache", "."], cwd=root,
                          capture_output=True, text=True, timeout=60)
    assert ruff.returncode == 0, ruff.stdout + ruff.stderr


def test_an_existing_folder_is_never_overwritten(tmp_path: Path) -> None:
    target = tmp_path / "crm-connect-acme"
    target.mkdir()
    (target / "mine.txt").write_text("keep me")
    with pytest.raises(ConfigError, match="already exists"):
        scaffold_plugin("acme", tmp_path)
    assert [path.name for path in target.iterdir()] == ["mine.txt"]


def test_a_dir_that_is_a_file_is_refused(tmp_path: Path) -> None:
    target = tmp_path / "notes.txt"
    target.write_text("not a folder")
    with pytest.raises(ConfigError, match="is a file, not a folder"):
        scaffold_plugin("acme", target)


def test_new_plugin_prints_what_it_created_and_the_next_commands(tmp_path: Path) -> None:
    from crm_connect.cli import app

    result = CliRunner().invoke(app, ["new-plugin", "acme", "--dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert f"Created crm-connect-acme in {tmp_path / 'crm-connect-acme'}" in result.output
    assert "crm_connect_acme/connector.py" in result.output
    assert 'pip install -e ".[test]"' in result.output
    assert "pytest --record-mode=once" in result.output

    again = CliRunner().invoke(app, ["new-plugin", "acme", "--dir", str(tmp_path)])
    assert again.exit_code == 2
    assert "already exists" in again.output and "Traceback" not in again.output

    bad = CliRunner().invoke(app, ["new-plugin", "Acme-CRM", "--dir", str(tmp_path)])
    assert bad.exit_code == 2
    assert "Try 'acme_crm'" in bad.output


# -- the scaffold, installed into a fresh virtual environment ---------------------------------

def _fresh_venv(folder: Path) -> Path:
    """A virtual environment of its own that sees the dependencies installed beside this
    interpreter (a .pth file) without downloading anything; crm-connect itself and the plugin
    are installed into it, from this checkout and from the scaffold."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(folder)], check=True,
                   timeout=60)
    python = folder / ("Scripts" if os.name == "nt" else "bin") / "python"
    site = subprocess.run([str(python), "-c", "import sysconfig; "
                           "print(sysconfig.get_path('purelib'))"],
                          capture_output=True, text=True, check=True).stdout.strip()
    (Path(site) / "_crm_connect_dependencies.pth").write_text(
        sysconfig.get_path("purelib") + "\n")
    return python


@pytest.fixture
def sandbox_process() -> Iterator[list[subprocess.Popen[str]]]:
    """Processes a test starts; each is stopped afterwards, whatever happens."""
    processes: list[subprocess.Popen[str]] = []
    try:
        yield processes
    finally:
        for process in processes:
            process.terminate()
            process.wait(timeout=10)


@pytest.mark.slow
def test_a_scaffolded_plugin_installs_and_passes_its_tests_and_the_conformance_command(
        tmp_path: Path, sandbox_process: list[subprocess.Popen[str]]) -> None:
    checkout = Path(__file__).resolve().parent.parent
    root = scaffold_plugin("acme", tmp_path).root
    python = _fresh_venv(tmp_path / "venv")
    subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install",
                    "--no-deps", "--no-build-isolation", "--no-index", "--quiet",
                    "--disable-pip-version-check", "-e", str(checkout), "-e", str(root)],
                   check=True, timeout=180, capture_output=True)
    # Only the scaffolded plugin loads: the dependency folder may hold other plugins' metadata.
    env = {key: value for key, value in os.environ.items()
           if not key.startswith("CRM_CONNECT_") and key != "PYTHONPATH"}
    env["CRM_CONNECT_LOAD_PLUGINS"] = "acme"

    def run(*command: str, cwd: Path = root) -> subprocess.CompletedProcess[str]:
        return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True,
                              timeout=180)

    listed = run(str(python), "-m", "crm_connect.cli", "plugins", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    found = [entry for entry in json.loads(listed.stdout) if entry["name"] == "acme"]
    assert found and found[0]["connectors"] == ["acme"] and not found[0]["builtin"]

    # every test, recording the cassettes against the sandbox; then the cassettes replayed
    for options in (["--record-mode=once"], ["--record-mode=none", "-k", "cassette"]):
        tests = run(str(python), "-m", "pytest", "-q", "-p", "no:cacheprovider", *options)
        assert tests.returncode == 0, tests.stdout[-4000:] + tests.stderr[-2000:]
        assert " passed" in tests.stdout and " failed" not in tests.stdout
    cassettes = list((root / "cassettes").glob("*.yaml"))
    assert cassettes and all("sandbox-key" not in path.read_text() for path in cassettes)

    sandbox = subprocess.Popen([str(python), "-m", "crm_connect_acme.sandbox"], env=env,
                               stdout=subprocess.PIPE, text=True)
    sandbox_process.append(sandbox)
    assert sandbox.stdout is not None
    served = json.loads(sandbox.stdout.readline())
    project = tmp_path / "project"
    project.mkdir()
    (project / "crm-connect.toml").write_text(
        f'[connections.acme]\nconnector = "acme"\nbase_url = "{served["url"]}"\n'
        "page_size = 2\n")
    env["CRM_CONNECT_ACME_API_KEY"] = served["api_key"]
    env["PYTHON_KEYRING_BACKEND"] = "crm_connect.testing.memory_keyring.MemoryKeyring"
    command = str(python.parent / "crm-connect")
    conformance = run(command, "conformance", "acme", cwd=project)
    assert conformance.returncode == 0, conformance.stdout + conformance.stderr
    assert "deletes_flagged" in conformance.stdout
