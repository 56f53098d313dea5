"""``crm-connect resolve``: link the accounts, contacts and leads that are the same company
or person, within and across sources, into clusters with golden records."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from crm_connect.cli_context import fail, load_cli_config
from crm_connect.cli_output import err, escape, out, plain_table
from crm_connect.config import Config, open_store
from crm_connect.errors import ConfigError, CrmConnectError

if TYPE_CHECKING:
    from crm_connect.resolve import EntityResult
    from crm_connect.resolve.tables import ResolveStore

__all__ = ["register_commands"]


def register_commands(app: typer.Typer) -> None:
    @app.command("resolve")
    def resolve_command(
        entity: Annotated[list[str] | None, typer.Option(
            "--entity", "-e", metavar="ENTITY", show_default=False,
            help="accounts, contacts or leads (repeatable; default: all three).")] = None,
        review: Annotated[Path | None, typer.Option(
            "--review", metavar="FILE", show_default=False,
            help="Write the uncertain pairs to this CSV for a person to decide.")] = None,
        decisions: Annotated[Path | None, typer.Option(
            "--decisions", metavar="FILE", show_default=False,
            help="Read decisions (match / no-match) from an edited review CSV; they are "
            "kept and win over the model in every later run.")] = None,
        full: Annotated[bool, typer.Option(
            "--full", help="Retrain the model and rescore every record.")] = False,
        wait: Annotated[float, typer.Option(
            "--wait", metavar="SECONDS", help="Seconds to wait for a sync holding the "
            "store.")] = 0.0,
        engine: Annotated[str | None, typer.Option(
            "--engine", metavar="ENGINE", show_default=False,
            help="Where resolve runs: the store's engine (the default), or spark over the "
            "Parquet tables of --tables.")] = None,
        tables: Annotated[Path | None, typer.Option(
            "--tables", metavar="DIR", show_default=False,
            help="With --engine spark: the folder `crm-connect export --format parquet` "
            "wrote; the results are written there.")] = None,
    ) -> None:
        """Link records that are the same company or person (rules, then a model trained on
        the data), into the store's resolved_entities and entity_links tables."""
        from crm_connect.resolve import ENTITIES
        from crm_connect.resolve.model import load_splink

        wanted = list(dict.fromkeys(entity or ENTITIES))
        unknown = [name for name in wanted if name not in ENTITIES]
        if unknown:
            fail(ConfigError(f"--entity {unknown[0]!r} is not one of "
                             f"{', '.join(ENTITIES)}"))
        config = load_cli_config()
        try:
            _check_engine(engine, tables)
            load_splink()
            _quiet_splink()
            if tables is not None:
                _report(_on_spark(tables, wanted, config, decisions, full), review,
                        f"crm-connect resolve --engine spark --tables {tables}")
                return
            store = open_store(config.store.url, base_dir=config.base_dir, wait_seconds=wait,
                               memory_limit=config.store.memory_limit)
            try:
                results = _run(store, wanted, config, decisions, full)
            finally:
                store.close()
        except CrmConnectError as exc:
            fail(exc)
        _report(results, review)


def _check_engine(engine: str | None, tables: Path | None) -> None:
    """``--engine`` and ``--tables`` make sense together."""
    if engine not in (None, "store", "spark"):
        raise ConfigError(f"unknown --engine {engine!r}; resolve runs on the store's engine "
                          "(the default) or on spark")
    if engine == "spark" and tables is None:
        raise ConfigError("--engine spark needs --tables DIR: the folder "
                          "`crm-connect export --format parquet DIR` wrote")
    if engine != "spark" and tables is not None:
        raise ConfigError("--tables names the Parquet tables Spark reads: use it with "
                          "--engine spark")


def _on_spark(tables: Path, wanted: list[str], config: Config, decisions: Path | None,
              full: bool) -> list[EntityResult]:
    """Resolve on a local Spark session (this process's, if it runs one) over ``tables``."""
    from crm_connect.metrics.spark import local_session, running_session, tables_folder
    from crm_connect.resolve.spark import lake_on_spark

    tables = tables_folder(tables)  # before the JVM starts
    owned = running_session() is None
    with err.status("Starting Spark…"):
        session = local_session()
    try:
        with lake_on_spark(tables, session=session) as lake:
            return _run(lake, wanted, config, decisions, full)
    finally:
        if owned:
            session.stop()


def _quiet_splink() -> None:
    """splink speaks through logging at INFO and WARNING about its training; a command's
    output is its summary, so only splink's errors get through (``-v`` shows ours)."""
    logging.getLogger("splink").setLevel(logging.ERROR)


def _run(store: ResolveStore, wanted: list[str], config: Config, decisions: Path | None,
         full: bool) -> list[EntityResult]:
    from crm_connect.resolve import resolve_entity
    from crm_connect.resolve.review import read_decisions
    from crm_connect.resolve.tables import save_decisions
    if decisions is not None:
        stored = save_decisions(store, read_decisions(decisions))
        out.print(f"{stored} decisions read from {escape(str(decisions))}; they win over "
                  "the model from now on.", highlight=False)
    connectors = {name: settings.connector
                  for name, settings in config.connections.items()}
    results: list[EntityResult] = []
    with err.status("resolving") as status:
        for name in wanted:
            results.append(resolve_entity(
                store, name, config.resolve, connectors, full=full,
                progress=lambda text: status.update(escape(text)),
                memory_limit=config.store.memory_limit))
    return results


def _report(results: list[EntityResult], review: Path | None,
            command: str = "crm-connect resolve") -> None:
    from crm_connect.resolve.review import write_review

    table = plain_table("entity", "records", "clusters", "changed", "pairs scored",
                        "links", "to review", title="identity resolution",
                        numeric=("records", "clusters", "changed", "pairs scored", "links",
                                 "to review"))
    pending = []
    for result in results:
        table.add_row(result.entity, f"{result.records:,}", f"{result.clusters:,}",
                      f"{result.changed:,}", f"{result.pairs_scored:,}", f"{result.links:,}",
                      f"{len(result.pending_review):,}")
        pending.extend(result.pending_review)
    out.print(table)
    if review is not None:
        shown = sorted({key[:-2] for row in pending for key in row
                        if key.endswith(("_l", "_r")) and key[:-2] not in ("source", "id")})
        write_review(review, pending, shown)
        out.print(f"{len(pending)} uncertain pairs written to {escape(str(review))}: write "
                  "match or no-match in its decision column, then run "
                  f"`{escape(command)} --decisions {escape(str(review))}`.", highlight=False)
