"""The ``crm-connect`` command line.

Exit codes (:class:`crm_connect.exit_codes.ExitCode`): 0 success, 1 a failure the message
explains, 2 usage or configuration error, 73 another sync holds the store, 75 deferred (``run``:
a daily quota is spent).
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Sequence
from typing import Annotated, Any

import typer
from rich.markup import escape

from crm_connect import (
    __version__,
    cli_conformance,
    cli_demo,
    cli_export,
    cli_quarantine,
    cli_resolve,
    cli_run,
    cli_runs,
    cli_scaffold,
)
from crm_connect.cli_context import fail as _fail
from crm_connect.cli_context import load_cli_config as _load_config
from crm_connect.cli_context import state
from crm_connect.cli_help import use_plain_argument_help

# out and err are re-exported for code that prints as the commands do; command modules take
# them (and fail, load_cli_config, state) from cli_output and cli_context, never from here.
from crm_connect.cli_output import cell, plain_table
from crm_connect.cli_output import err as err
from crm_connect.cli_output import out as out
from crm_connect.errors import ConfigError, CrmConnectError
from crm_connect.metrics import cli as metrics_cli
from crm_connect.report import cli as report_cli

use_plain_argument_help()
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


ConfigOption = Annotated[
    str | None,
    typer.Option("--config", "-c", metavar="PATH", show_default=False,
                 help="Configuration file (default: ./crm-connect.toml, or "
                 "$CRM_CONNECT_CONFIG)."),
]


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
        print(json.dumps(rows, indent=2))
        return
    table = plain_table("plugin", "version", "hooks", "connectors", "built in")
    for info in infos:
        table.add_row(cell(info.name), cell(info.version), cell(", ".join(info.hooks)),
                      cell(", ".join(sorted(provided.get(info.name, []))) or "-"),
                      "yes" if info.builtin else "")
    out.print(table)


# -- connections --------------------------------------------------------------------------------


@connections_app.command("list")
def connections_list() -> None:
    """List the connections in the configuration file.

    A connection that cannot be used (e.g. its connector's plugin is not installed) is listed
    as such, with the reason below the table; the exit code is then 2.
    """
    config = _load_config(keep_unusable=True)
    if not config.connections and not config.unusable:
        out.print(f"No connections in {escape(config.where())}.", highlight=False)
        return
    table = plain_table("connection", "connector", "settings")
    for name, settings in config.connections.items():
        shown = settings.options.model_dump(exclude_defaults=True, mode="json")
        table.add_row(cell(name), cell(settings.connector),
                      cell(", ".join(f"{k}={v}" for k, v in shown.items()) or "-"))
    for name in config.unusable:
        table.add_row(cell(name), "[red]unusable[/]", "see below")
    out.print(table)
    for exc in config.unusable.values():
        err.print(f"[bold red]Error:[/] {escape(str(exc))}", highlight=False)
    if config.unusable:
        raise typer.Exit(max(exc.exit_code for exc in config.unusable.values()))


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
    out.print(f"{escape(name)}: {mark} {escape(result.message)}", highlight=False)
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
    # "store" holds the store's own secrets (a postgresql:// store's password).
    if config.connections and connection not in config.connections and connection != "store":
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
    from crm_connect.cli_progress import LogLines, ProgressBars, new_progress, summary_table
    from crm_connect.sync import run_sync

    config = _load_config()
    try:
        if err.is_terminal:
            with new_progress(err) as progress:
                report = run_sync(config, connections, full_refresh=full_refresh,
                                  progress=ProgressBars(progress), wait_seconds=wait)
        else:
            report = run_sync(config, connections, full_refresh=full_refresh,
                              progress=LogLines(err, bool(state.verbose)), wait_seconds=wait)
    except CrmConnectError as exc:
        _fail(exc)
    except KeyboardInterrupt:
        err.print("\nInterrupted. Every page stored so far is kept with its checkpoint: run "
                  "`crm-connect sync` again to resume where this run stopped.", highlight=False)
        raise typer.Exit(130) from None
    out.print(summary_table(report))
    quarantined = sum(r.quarantined for r in report.results)
    if quarantined:
        out.print(f"{quarantined} records were quarantined: `crm-connect quarantine list` "
                  "shows each with the reason, and `crm-connect quarantine show ID` its raw "
                  "payload.", highlight=False)
    for result in report.results:
        if result.error:
            err.print(f"[bold red]{escape(result.connection)}/{escape(result.stream)}:[/] "
                      f"{escape(result.error)}", highlight=False)
    if report.exit_code:
        raise typer.Exit(report.exit_code)


# Commands that live in their own modules attach themselves here.
for _commands in (metrics_cli, report_cli, cli_runs, cli_quarantine, cli_conformance,
                  cli_scaffold, cli_run, cli_demo, cli_resolve, cli_export):
    _commands.register_commands(app)


def main(argv: Sequence[str] | None = None) -> None:
    """The ``crm-connect`` command: ``argv`` are its arguments (default: ``sys.argv[1:]``)."""
    try:
        app(args=argv, prog_name="crm-connect")
    except CrmConnectError as exc:  # anything a command did not catch itself
        err.print(f"Error: {exc}", highlight=False, markup=False)
        raise SystemExit(exc.exit_code) from None


if __name__ == "__main__":
    main()
