"""The built-in KPI catalogue: every KPI of ``KPIS.md``, contributed through ``register_kpis``.

Each entry is a :class:`~crm_connect.metrics.KpiDefinition`; the formulas follow ``KPIS.md``
word for word, including its "Precise readings".  The catalogue is registered like any
third-party plugin's KPIs (entry point ``kpis`` of group ``crm_connect``).

This module is the plugin: loading it costs nothing (every command loads the plugins, a sync
too); the definitions (:mod:`.revenue`, :mod:`.engagement`, made of :mod:`.building`'s parts)
and the SQL tools they are written with load when a hook first asks for them.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from crm_connect.hookspecs import hookimpl

if TYPE_CHECKING:
    from crm_connect.metrics.definitions import Dimension, KpiDefinition
    from crm_connect.metrics.relations import Relation

    CATALOGUE: tuple[KpiDefinition, ...]

__all__ = ["CATALOGUE", "register_dimensions", "register_kpis", "register_relations"]


@functools.cache
def _catalogue() -> tuple[KpiDefinition, ...]:
    """Every KPI of KPIS.md, in its order."""
    from crm_connect.metrics.catalogue.engagement import (
        adoption_kpis,
        marketing_kpis,
        satisfaction_kpis,
        support_kpis,
    )
    from crm_connect.metrics.catalogue.revenue import customer_kpis, sales_kpis

    return (*sales_kpis(), *customer_kpis(), *satisfaction_kpis(), *marketing_kpis(),
            *support_kpis(), *adoption_kpis())


def __getattr__(name: str) -> Any:
    if name == "CATALOGUE":
        return _catalogue()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


_DIMENSION_TEXT = {
    "source": "the connection a record came from",
    "lead_source": "the channel a lead, deal or customer came through",
    "owner": "the user who owns the record (accounts created: who created it)",
    "campaign": "the campaign a deal or spend is attributed to",
    "pipeline": "the deal's pipeline",
    "deal_type": "new business, upsell, renewal or other",
    "industry": "the account's industry",
    "segment": "the account's segment",
    "ticket_channel": "the channel a ticket came in through",
    "survey_type": "nps, csat or ces",
}



@hookimpl
def register_kpis(register: Callable[[KpiDefinition], None]) -> None:
    for definition in _catalogue():
        register(definition)


@hookimpl
def register_relations(register: Callable[[Relation], None]) -> None:
    from crm_connect.metrics.relations import RELATIONS

    for relation in RELATIONS.values():
        register(relation)


@hookimpl
def register_dimensions(register: Callable[[Dimension], None]) -> None:
    from crm_connect.metrics.definitions import DIMENSIONS, Dimension

    for name in DIMENSIONS:
        register(Dimension(name=name, description=_DIMENSION_TEXT[name]))
