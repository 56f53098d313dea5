"""Helpers for the ``files`` connector's end-to-end tests: an export folder and a config."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb

# The default (no workers) and the opt-in worker processes must read a file the same way.
WORKER_SETTINGS = {"workers-default": {}, "workers-on": {"CRM_CONNECT_WORKERS": "2"}}


def make_project(root: Path, files: dict[str, bytes], **options: Any) -> Path:
    """``root/exports`` holding ``files``, and ``root/crm-connect.toml`` naming it ``exp``."""
    folder = root / "exports"
    folder.mkdir(parents=True, exist_ok=True)
    for name, content in files.items():
        (folder / name).write_bytes(content)
    write_config(root, **options)
    return root


def write_config(root: Path, **options: Any) -> None:
    settings = "".join(f"{key} = {value!r}\n" for key, value in options.items())
    (root / "crm-connect.toml").write_text(
        f'[connections.exp]\nconnector = "files"\npath = "exports/"\n{settings}')


def query(root: Path, sql: str) -> list[tuple[Any, ...]]:
    with duckdb.connect(str(root / "crm.duckdb"), read_only=True) as con:
        return con.execute(sql).fetchall()


def one_line(text: str) -> str:
    """``text`` with every run of whitespace made one space (rich wraps long lines)."""
    return " ".join(text.split())
