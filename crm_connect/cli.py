"""The ``crm-connect`` command line.

Exit codes: 0 success, 1 a failure the message explains, 2 usage or configuration error.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import sys
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import (
    Progress,
    SpinnerColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from crm_connect import __version__
from crm_connect.connector import Stream
from crm_connect.errors import ConfigError, CrmConnectError

app = typer.Typer(
    name="crm-connect",
    help="Pull CRM records through connector plugins into one canonical store, and compute "
    "CRM KPIs the same way for every CRM.",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
)
plugins_app = typer.Typer(help="Installed plugins.", no_args_is_help=True)
connections_app = typer.Typer(help="Configured connections.", no_args_is_help=True)
auth_app = typer.Typer(help="Secrets: the system keyring, the environment, rotated tokens.",
                       no_args_is_help=True)
app.add_typer(plugins_app, name="plugins")
app.add_typer(connections_app, name="connections")
app.add_typer(auth_app, name="auth")

# Wide tables even when piped: cron mail and CI logs are read by people too.
out = Console(soft_wrap=True, width=None if sys.stdout.isatty() else 160)
err = Console(stderr=True, soft_wrap=True, width=None if sys.stderr.isatty() else 160)


@dataclasses.dataclass
class _State:
    config_path: str | None = None
    verbose: int = 0


state = _State()

ConfigOption = Annotated[
    str | None,
    typer.Option("--config", "-c", metavar="PATH", show_default=False,
                 help="Configuration file (default: ./crm-connect.toml, or "
                 "$CRM_CONNECT_CONFIG)."),
]


def _fail(exc: CrmConnectError) -> NoReturn:
    err.print(f"[bold red]Error:[/] {exc}", highlight=False, markup=True)
    raise typer.Exit(exc.exit_code)


def _version(value: bool) -> None:
    if value:
        out.print(f"crm-connect {__version__}", highlight=False)
        raise typer.Exit()


@app.callback()
def main_callback(
    config: ConfigOption = None,
    verbose: Annotated[int, typer.Option("--verbose", "-v", count=True, show_default=False,
                                         help="More log output (-vv for debug).")] = 0,
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                          help="Show the version and exit.")] = False,
) -> None:
    """crm-connect: CRM data through connector plugins, with the KPIs built in."""
    state.config_path = config
    state.verbose = verbose
    level = logging.WARNING if verbose == 0 else logging.INFO if verbose == 1 else logging.DEBUG
    logging.basicConfig(level=level, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")


def _load_config(required: bool = True) -> Any:
    from crm_connect.config import load_config

    try:
        return load_config(state.config_path, required=required)
    except CrmConnectError as exc:
        _fail(exc)


# -- plugins ----------------------------------------------------------------------------------


@plugins_app.command("list")
def plugins_list(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """List installed plugins with their versions and the hooks they implement."""
    from crm_connect.plugins import get_connectors, list_plugins

    try:
        infos = list_plugins()
        connectors = get_connectors()
    except CrmConnectError as exc:
        _fail(exc)
    from crm_connect.plugins import connector_plugin

    provided: dict[str, list[str]] = {}
    for name in connectors:
        provided.setdefault(connector_plugin(name), []).append(name)
    if as_json:
        rows = [
            {"name": i.name, "version": i.version, "hooks": i.hooks, "builtin": i.builtin,
             "module": i.module, "connectors": sorted(provided.get(i.name, []))}
            for i in infos
        ]
        out.print_json(json.dumps(rows))
        return
    table = Table("plugin", "version", "hooks", "connectors", "built in")
    for info in infos:
        table.add_row(info.name, info.version or "-", ", ".join(info.hooks),
                      ", ".join(sorted(provided.get(info.name, []))) or "-",
                      "yes" if info.builtin else "")
    out.print(table)


# -- connections --------------------------------------------------------------------------------


@connections_app.command("list")
def connections_list() -> None:
    """List the connections in the configuration file."""
    config = _load_config()
    if not config.connections:
        out.print(f"No connections in {config.where()}.")
        return
    table = Table("connection", "connector", "settings")
    for name, settings in config.connections.items():
        shown = settings.options.model_dump(exclude_defaults=True, mode="json")
        table.add_row(name, settings.connector,
                      ", ".join(f"{k}={v}" for k, v in shown.items()) or "-")
    out.print(table)


@connections_app.command("test")
def connections_test(name: Annotated[str, typer.Argument(help="The connection to test.")]) -> None:
    """Check a connection's configuration and credentials against its CRM."""
    config = _load_config()
    try:
        connector = config.build_connector(name)
        try:
            result = connector.check()
        finally:
            connector.close()
    except CrmConnectError as exc:
        _fail(exc)
    mark = "[green]ok[/]" if result.ok else "[red]failed[/]"
    out.print(f"{name}: {mark} {result.message}", highlight=False)
    for problem in result.problems:
        out.print(f"  - {escape(problem)}", highlight=False)
    for warning in result.warnings:
        out.print(f"  [yellow]warning[/]: {escape(warning)}", highlight=False)
    if not result.ok:
        raise typer.Exit(1)


# -- auth ---------------------------------------------------------------------------------------


ConnectionArg = Annotated[str, typer.Argument(help="The connection the secret belongs to.")]
FieldArg = Annotated[str, typer.Argument(
    help="The secret's field, e.g. password, refresh_token.")]


def _auth_config(connection: str) -> Any:
    """The configuration (for the tokens file beside the store); an unknown connection is a
    usage error when the file names any."""
    config = _load_config(required=False)
    if config.connections and connection not in config.connections:
        _fail(ConfigError(f"{config.where()}: no connection named {connection!r}"))
    return config


@auth_app.command("set")
def auth_set(
    connection: ConnectionArg,
    field: FieldArg,
    value: Annotated[str | None, typer.Option(
        "--value", metavar="SECRET", show_default=False,
        help="The secret (prompted for, hidden, when absent; '-' reads standard input).")
    ] = None,
) -> None:
    """Store a connection's secret in the system keyring (service 'crm-connect')."""
    from crm_connect.secrets import set_secret

    config = _auth_config(connection)
    if value == "-":
        value = sys.stdin.readline().rstrip("\n")
    elif value is None:
        if not sys.stdin.isatty():
            value = sys.stdin.readline().rstrip("\n")
        else:
            value = typer.prompt(f"{connection}.{field}", hide_input=True)
    if not value:
        _fail(ConfigError("the secret is empty; nothing was stored"))
    try:
        set_secret(connection, field, value, config.tokens_file)
    except CrmConnectError as exc:
        _fail(exc)
    out.print(f"Stored {escape(connection)}.{escape(field)} in the system keyring.",
              highlight=False)


@auth_app.command("get")
def auth_get(connection: ConnectionArg, field: FieldArg) -> None:
    """Say whether a secret is set and where it comes from (never prints it).

    Exit code 1 when it is not set.
    """
    from crm_connect.secrets import env_var_name, locate_secret

    config = _auth_config(connection)
    found = locate_secret(connection, field, config.tokens_file)
    name = f"{escape(connection)}.{escape(field)}"
    if found.source is None:
        out.print(f"{name}: not set.\n  Store it with `crm-connect auth set "
                  f"{escape(connection)} {escape(field)}`,\n  or set "
                  f"{env_var_name(connection, field)} in the environment.", highlight=False)
    else:
        out.print(f"{name}: set, from the {escape(found.source)}\n  "
                  f"{escape(found.detail)}", highlight=False)
    for place in found.shadowed:
        out.print(f"  not used: {escape(place)}", highlight=False)
    if found.source is None:
        raise typer.Exit(1)


@auth_app.command("delete")
def auth_delete(connection: ConnectionArg, field: FieldArg) -> None:
    """Remove a secret from the keyring and any token saved for it by a refresh.

    A value in the environment cannot be removed from here: the command says so.  Exit code 1
    when nothing was stored.
    """
    from crm_connect.secrets import delete_secret, env_var_name, locate_secret

    config = _auth_config(connection)
    try:
        removed = delete_secret(connection, field, config.tokens_file)
    except CrmConnectError as exc:
        _fail(exc)
    name = f"{escape(connection)}.{escape(field)}"
    if removed:
        out.print(f"Deleted {name} from: {escape(', '.join(removed))}.", highlight=False)
    variable = env_var_name(connection, field)
    still = locate_secret(connection, field, config.tokens_file)
    if still.source == "environment":
        out.print(f"{name} is still set by the environment:\n  unset {variable} there.",
                  highlight=False)
    if not removed:
        out.print(f"{name}: nothing stored in the keyring or the tokens file.",
                  highlight=False)
        raise typer.Exit(1)


# -- schema -------------------------------------------------------------------------------------


@app.command("schema")
def schema_command(
    entity: Annotated[str | None, typer.Argument(help="One entity (default: all).")] = None,
) -> None:
    """Print the JSON Schema of each canonical entity (what a plugin maps records to)."""
    from crm_connect.schema import ENTITIES, entity_model

    try:
        models = {entity: entity_model(entity)} if entity else dict(ENTITIES)
    except KeyError as exc:
        _fail(ConfigError(str(exc.args[0])))
    schemas = {name: model.model_json_schema() for name, model in models.items()}
    out.print_json(json.dumps(schemas if entity is None else schemas[entity]))


# -- sync ---------------------------------------------------------------------------------------


class _ProgressBars:
    """One progress line per stream with records and records/s, on a terminal."""

    def __init__(self, progress: Progress) -> None:
        self.progress = progress
        self.tasks: dict[tuple[str, str], TaskID] = {}

    def stream_started(self, connection: str, stream: Stream) -> None:
        self.tasks[(connection, stream.name)] = self.progress.add_task(
            f"{connection}/{stream.name}", total=None, records=0, rate=0.0)

    def page_stored(self, connection: str, stream: Stream, records: int,
                    quarantined: int) -> None:
        task_id = self.tasks[(connection, stream.name)]
        task = self.progress.tasks[task_id]
        done = int(task.fields["records"]) + records
        elapsed = task.elapsed or 0.0
        self.progress.update(task_id, records=done, rate=done / elapsed if elapsed else 0.0)

    def stream_finished(self, result: Any) -> None:
        task_id = self.tasks.get((result.connection, result.stream))
        if task_id is not None:
            self.progress.update(task_id, total=1, completed=1)


class _LogLines:
    """Plain lines when the output is not a terminal (cron, CI, pipes)."""

    def stream_started(self, connection: str, stream: Stream) -> None:
        err.print(f"{connection}/{stream.name}: started", highlight=False)

    def page_stored(self, connection: str, stream: Stream, records: int,
                    quarantined: int) -> None:
        if state.verbose:
            err.print(f"{connection}/{stream.name}: stored {records} records"
                      + (f", {quarantined} quarantined" if quarantined else ""),
                      highlight=False)

    def stream_finished(self, result: Any) -> None:
        err.print(f"{result.connection}/{result.stream}: {result.status}, "
                  f"{result.records} records in {result.seconds:.1f}s", highlight=False)


@app.command("sync")
def sync_command(
    connections: Annotated[list[str] | None, typer.Argument(
        help="Connections to sync (default: all).", show_default=False)] = None,
    full_refresh: Annotated[bool, typer.Option(
        "--full-refresh", help="Re-read everything instead of continuing from the saved "
        "state.")] = False,
    wait: Annotated[float, typer.Option(
        "--wait", metavar="SECONDS",
        help="Seconds to wait for another sync holding the store.")] = 0.0,
) -> None:
    """Sync connections into the store: incremental, resumable and idempotent."""
    from crm_connect.sync import run_sync

    config = _load_config()
    try:
        if err.is_terminal:
            progress = Progress(
                SpinnerColumn(), TextColumn("{task.description}"),
                TextColumn("{task.fields[records]:>10,} records"),
                TextColumn("{task.fields[rate]:>9,.0f}/s"), TimeElapsedColumn(),
                console=err, transient=False,
            )
            with progress:
                report = run_sync(config, connections, full_refresh=full_refresh,
                                  progress=_ProgressBars(progress), wait_seconds=wait)
        else:
            report = run_sync(config, connections, full_refresh=full_refresh,
                              progress=_LogLines(), wait_seconds=wait)
    except CrmConnectError as exc:
        _fail(exc)
    except KeyboardInterrupt:
        err.print("\nInterrupted. Every page stored so far is kept with its checkpoint: run "
                  "`crm-connect sync` again to resume where this run stopped.", highlight=False)
        raise typer.Exit(130) from None
    table = Table("connection", "stream", "status", "records", "quarantined", "seconds",
                  "records/s", title=f"sync run {report.run.run_id}")
    for result in report.results:
        colour = {"succeeded": "green", "stopped": "yellow"}.get(result.status, "red")
        table.add_row(result.connection, result.stream, f"[{colour}]{result.status}[/]",
                      f"{result.records:,}", f"{result.quarantined:,}",
                      f"{result.seconds:.1f}", f"{result.rate:,.0f}")
    out.print(table)
    quarantined = sum(r.quarantined for r in report.results)
    if quarantined:
        out.print(f"{quarantined} records were quarantined: see the store's quarantine table "
                  "for the reason and raw payload of each.", highlight=False)
    for result in report.results:
        if result.error:
            err.print(f"[bold red]{result.connection}/{result.stream}:[/] {result.error}",
                      highlight=False)
    if report.exit_code:
        raise typer.Exit(report.exit_code)


def _register_optional_commands() -> None:
    """Commands that live in their own modules (kpis, report, demo) attach themselves here."""
    import importlib

    for module_name in ("crm_connect.metrics.cli",):
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if not exc.name or not module_name.startswith(exc.name):
                raise
            continue
        module.register_commands(app)


_register_optional_commands()


def main() -> None:
    try:
        app()
    except CrmConnectError as exc:  # anything a command did not catch itself
        err.print(f"Error: {exc}", highlight=False, markup=False)
        raise SystemExit(exc.exit_code) from None


if __name__ == "__main__":
    main()
