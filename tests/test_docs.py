"""The examples in the documentation run as written."""

from __future__ import annotations

import re
import types
from pathlib import Path

from crm_connect.config import parse_config
from crm_connect.store import DuckDBStore
from crm_connect.sync import run_sync

DOCS = Path(__file__).parent.parent / "docs"


def python_blocks(name: str) -> list[str]:
    return re.findall(r"```python\n(.*?)```", (DOCS / name).read_text(), re.DOTALL)


def test_writing_a_plugin_example_syncs(tmp_path: Path, crm_plugin, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    [code] = python_blocks("writing-a-plugin.md")
    module = types.ModuleType("crm_connect_tinycrm")
    exec(compile(code, "writing-a-plugin.md", "exec"), module.__dict__)
    crm_plugin(module, "tinycrm")
    monkeypatch.setenv("CRM_CONNECT_TINY_API_TOKEN", "t0ken")
    config = parse_config('[connections.tiny]\nconnector = "tinycrm"\n', None, tmp_path)
    assert config.build_connector("tiny").check().ok
    first = run_sync(config)
    assert first.ok and first.results[0].records == 3 and first.results[0].pages == 2
    second = run_sync(config)
    assert second.results[0].records == 1  # only the deal at the saved cursor
    with DuckDBStore.open("duckdb:///crm.duckdb", base_dir=tmp_path) as store:
        assert store.execute("SELECT id, is_won FROM deals ORDER BY id") == [
            ("1", True), ("2", False), ("3", True)]


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


def test_readme_names_only_distributions_that_exist() -> None:
    readme = (DOCS.parent / "README.md").read_text(encoding="utf-8")
    named = set(re.findall(r"crm-connect-([a-z]+)", readme))
    shipped = {p.name for p in (DOCS.parent / "plugins").iterdir()
               if (p / "pyproject.toml").exists()}
    assert named <= shipped, named - shipped
