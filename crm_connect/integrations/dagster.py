"""Dagster assets for a scheduled crm-connect run (``pip install 'crm-connect[dagster]'``).

``crm_connect_assets(config)`` gives one asset per connection (its sync) and one for the KPI
snapshot that depends on all of them; the :class:`CrmConnectResource` carries the path of
``crm-connect.toml``. Each asset runs ``crm-connect run`` in a process of its own and attaches
the summary's counts as metadata. A deferred run (exit 75, a daily quota spent) asks Dagster to
retry after the summary's ``retry_after``; any other failure fails the asset with the summary's
error.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from crm_connect.exit_codes import ExitCode
from crm_connect.integrations.steps import (
    StepResult,
    connection_names,
    kpi_step,
    missing_extra,
    sync_step,
)

try:
    import dagster as dg
except ImportError as exc:  # pragma: no cover - the extra is installed for the tests
    raise missing_extra("dagster", "dagster") from exc

__all__ = ["KPI_ASSET", "CrmConnectResource", "crm_connect_assets"]

KPI_ASSET = "crm_kpi_snapshot"


class CrmConnectResource(dg.ConfigurableResource):  # type: ignore[type-arg]
    """Where the project's ``crm-connect.toml`` is; the store is the one it names."""

    config_path: str
    timeout_seconds: float | None = None

    def sync(self, connection: str) -> StepResult:
        return sync_step(self.config_path, connection, self.timeout_seconds)

    def kpis(self) -> StepResult:
        return kpi_step(self.config_path, self.timeout_seconds)


def asset_key_of(connection: str) -> str:
    """The asset name of a connection's sync."""
    return f"crm_sync_{connection}"


def _outcome(result: StepResult, what: str) -> dg.MaterializeResult[None]:
    metadata: dict[str, int | str] = {**result.counts(), "status": str(result.summary.get(
        "status", "unknown")), "exit_code": int(result.exit_code)}
    if result.exit_code == ExitCode.OK:
        return dg.MaterializeResult(metadata=metadata)
    if result.exit_code == ExitCode.DEFERRED:
        seconds = result.seconds_until_retry()
        raise dg.RetryRequested(max_retries=1, seconds_to_wait=seconds) from RuntimeError(
            f"{what} deferred until {result.retry_after}: {result.error}")
    raise dg.Failure(description=f"{what}: {result.error}", metadata=metadata)


def _sync_asset(connection: str) -> dg.AssetsDefinition:
    @dg.asset(name=asset_key_of(connection), group_name="crm_connect",
              description=f"crm-connect run {connection} --skip-kpis")
    def sync(crm_connect: CrmConnectResource) -> dg.MaterializeResult[None]:
        return _outcome(crm_connect.sync(connection), f"sync of {connection}")

    return sync


def crm_connect_assets(config: Path | str,
                       connections: Sequence[str] | None = None) -> list[dg.AssetsDefinition]:
    """The sync assets of ``connections`` (default: every one in ``config``) and the KPI
    snapshot asset depending on them all."""
    names = list(connections) if connections is not None else connection_names(config)
    syncs = [_sync_asset(name) for name in names]

    @dg.asset(name=KPI_ASSET, group_name="crm_connect", deps=syncs,
              description="crm-connect run --kpis-only: the KPI snapshot of the synced data")
    def kpi_snapshot(crm_connect: CrmConnectResource) -> dg.MaterializeResult[None]:
        return _outcome(crm_connect.kpis(), "KPI snapshot")

    return [*syncs, kpi_snapshot]
