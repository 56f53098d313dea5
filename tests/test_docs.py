"""The examples in the documentation run as written."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from crm_connect.config import parse_config

DOCS = Path(__file__).parent.parent / "docs"


def python_blocks(name: str) -> list[str]:
    return re.findall(r"```python\n(.*?)```", (DOCS / name).read_text(), re.DOTALL)


TUTORIAL = DOCS / "writing-a-plugin.md"
# A fenced block whose info string names a file after the language: ```python path/to/file.py
_FILE_BLOCK = re.compile(r"^```\w+ ([\w./-]+)\n(.*?)^```", re.DOTALL | re.MULTILINE)


def tutorial_body() -> str:
    """The tutorial above the "Kit reference" sections other parts of the kit append."""
    return TUTORIAL.read_text(encoding="utf-8").split("\n## Kit reference")[0]


def tutorial_files() -> dict[str, str]:
    """The files the tutorial shows, by path; blocks naming one file are joined in order."""
    files: dict[str, str] = {}
    for name, code in _FILE_BLOCK.findall(tutorial_body()):
        files[name] = files.get(name, "") + code
    return files


def test_every_python_block_of_the_tutorial_is_a_file_of_its_tested_plugin() -> None:
    assert not re.findall(r"^```python\n", tutorial_body(), re.MULTILINE), (
        "name the file of every python block (```python crm_connect_tinycrm/x.py) so that "
        "tests/test_docs.py runs it")
    files = tutorial_files()
    assert {"pyproject.toml", "crm_connect_tinycrm/profile.py", "crm_connect_tinycrm/mapping.py",
            "crm_connect_tinycrm/connector.py", "crm_connect_tinycrm/kpis.py",
            "crm_connect_tinycrm/plugin.py", "crm_connect_tinycrm/sandbox.py",
            "tests/conftest.py", "tests/test_tinycrm.py"} <= set(files)
    for name, code in files.items():
        if name.endswith(".py"):
            compile(code, name, "exec")
    project = tomllib.loads(files["pyproject.toml"])
    [(plugin, module)] = project["project"]["entry-points"]["crm_connect"].items()
    assert plugin == "tinycrm" and f"{module.replace('.', '/')}.py" in files
    hooks = files["crm_connect_tinycrm/plugin.py"]
    assert "def register_connectors(" in hooks and "def register_kpis(" in hooks


@pytest.mark.slow
def test_the_tutorial_plugin_passes_its_tests_and_replays_its_cassettes(tmp_path: Path) -> None:
    """The tutorial's files, written out as a project: its conformance class, cassette test
    and sync-and-KPI test pass while recording, and the cassette replays offline."""
    for name, code in tutorial_files().items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(code, encoding="utf-8")
    env = {key: value for key, value in os.environ.items() if not key.startswith("CRM_CONNECT_")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(tmp_path), env.get("PYTHONPATH")]))

    def pytest_run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                               *args], cwd=tmp_path, env=env, capture_output=True, text=True,
                              timeout=300)

    recording = pytest_run("--record-mode=once", "tests")
    assert recording.returncode == 0, recording.stdout[-5000:] + recording.stderr[-2000:]
    assert " failed" not in recording.stdout and " passed" in recording.stdout
    cassettes = list((tmp_path / "cassettes").glob("*.yaml"))
    assert cassettes and not [path for path in cassettes if "sandbox-token" in path.read_text()]
    replay = pytest_run("--record-mode=none", "-k", "cassette", "tests")
    assert replay.returncode == 0, replay.stdout[-5000:] + replay.stderr[-2000:]


def test_readme_configuration_examples_are_valid(tmp_path: Path) -> None:
    """Every TOML block of the README parses and validates as a configuration file."""
    readme = (DOCS.parent / "README.md").read_text()
    blocks = re.findall(r"```toml\n(.*?)```", readme, re.DOTALL)
    assert len(blocks) >= 2
    for block in blocks:
        config = parse_config(block, None, tmp_path)
        for name in config.connections:
            config.build_connector(name)
    combined = parse_config("\n".join(blocks), None, tmp_path)
    assert combined.targets["customer_churn_rate"].value == 3.0
    assert combined.connections["finance"].connector == "files"


def test_kpi_reference_is_generated_from_the_registry() -> None:
    from crm_connect.metrics.reference import BEGIN, END, render_reference
    from crm_connect.metrics.registry import get_kpis

    document = (DOCS / "kpis.md").read_text(encoding="utf-8")
    published = document[document.index(BEGIN):document.index(END) + len(END)] + "\n"
    assert published == render_reference(get_kpis()), (
        "docs/kpis.md is stale: run `python -m crm_connect.metrics.reference --write "
        "docs/kpis.md`")
    for key in get_kpis():
        assert f"### `{key}`:" in published


def _markdown_files() -> list[Path]:
    root = DOCS.parent
    files = [root / "README.md", root / "BENCHMARKS.md", *DOCS.glob("*.md")]
    files += (root / "plugins").glob("*/README.md")
    return files


def test_relative_links_in_the_docs_point_at_files_in_the_repository() -> None:
    broken = []
    for path in _markdown_files():
        text = path.read_text(encoding="utf-8")
        for target in re.findall(r"\]\(([^)\s]+)\)", text):
            if re.match(r"[a-z]+:", target) or target.startswith("#"):
                continue
            resolved = (path.parent / target.split("#", 1)[0]).resolve()
            if not resolved.exists():
                broken.append(f"{path.name}: {target}")
    assert not broken, broken


def _anchor(heading: str) -> str:
    """GitHub's anchor of a heading: lower case, punctuation dropped, spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def test_links_to_sections_of_the_same_page_name_one_of_its_headings() -> None:
    broken = []
    for path in _markdown_files():
        text = path.read_text(encoding="utf-8")
        anchors = {_anchor(heading) for heading in re.findall(r"^#+ (.+)$", text, re.MULTILINE)}
        broken += [f"{path.name}: #{target}" for target in re.findall(r"\]\(#([^)\s]+)\)", text)
                   if target not in anchors]
    assert not broken, broken


def test_readme_names_only_distributions_that_exist() -> None:
    readme = (DOCS.parent / "README.md").read_text(encoding="utf-8")
    # a name followed by "/" is a folder (crm-connect-demo/, what the demo writes)
    named = set(re.findall(r"crm-connect-([a-z]+)(?![a-z/])", readme))
    shipped = {p.name for p in (DOCS.parent / "plugins").iterdir()
               if (p / "pyproject.toml").exists()}
    assert named <= shipped, named - shipped
