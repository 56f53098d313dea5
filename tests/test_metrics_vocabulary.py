"""The open vocabulary (issue 16 part 2): plugins contribute relations and dimensions through
``register_relations`` and ``register_dimensions``, as the built-in catalogue does; the period
columns a measure may read are a typed namespace."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kpi_dataset import AS_OF, RATES, load, open_memory_store, t

from crm_connect import hookimpl
from crm_connect.errors import PluginError
from crm_connect.metrics import (
    DIMENSIONS,
    PERIOD,
    Column,
    Dimension,
    KpiDefinition,
    Measure,
    PeriodColumns,
    Relation,
    compute_kpis,
    get_dimensions,
    get_kpis,
    get_relations,
    kpi_fields,
)
from crm_connect.metrics.catalogue import CATALOGUE
from crm_connect.plugins import register_plugin, unregister_plugin
from crm_connect.store import DuckDBStore

STAGED = Relation(
    name="staged_deals", table="deals", alias="d",
    columns={"source": Column(), "id": Column(), "closed_at": Column(), "is_won": Column(),
             "stage": Column(), "amount": Column(money=("amount", "currency")),
             "stage_key": Column(sql="LOWER(COALESCE(d.stage, 'none'))")},
    tables=("deals",), dimensions={"source": "source", "stage": "stage_key"})

WON_BY_STAGE = KpiDefinition(
    key="won_by_stage", name="Deals won by stage", unit="count", better="up",
    formula="won deals closed in the period, by their last stage", entities=("deals",),
    dimensions=("source", "stage"),
    measures=(Measure(name="won", relation="staged_deals", where="f.is_won",
                      event="f.closed_at"),
              Measure(name="value", relation="staged_deals", aggregate="sum",
                      expr="f.amount", where=f"f.is_won AND f.closed_at <= {PERIOD.as_of}",
                      event="f.closed_at")),
    value="won", numerator="value", count="won")


class StagePlugin:
    """A third-party plugin: a relation over deals, a dimension, and a KPI using both."""

    @hookimpl
    def register_relations(self, register: Any) -> None:
        register(STAGED)

    @hookimpl
    def register_dimensions(self, register: Any) -> None:
        register(Dimension(name="stage", description="the deal's stage, lower case"))

    @hookimpl
    def register_kpis(self, register: Any) -> None:
        register(WON_BY_STAGE)


@pytest.fixture
def stage_plugin() -> Iterator[None]:
    register_plugin(StagePlugin(), "stages")
    try:
        yield
    finally:
        unregister_plugin("stages")


@pytest.fixture
def store(tmp_path: Path) -> Iterator[DuckDBStore]:
    with open_memory_store(tmp_path) as opened:
        load(opened)
        yield load(opened, {"deals": [
            dict(id=f"S{n}", created_at=t("2026-03-01"), closed_at=t(f"2026-03-0{n}"),
                 is_closed=True, is_won=True, stage=stage, amount="10", currency="USD")
            for n, stage in ((2, "Closed Won"), (3, "closed won"), (4, "Signed"))]},
            source="s")


def test_the_built_in_vocabulary_arrives_through_the_hooks() -> None:
    assert get_dimensions() == DIMENSIONS
    assert {"deals", "accounts", "leads", "spend"} <= set(get_relations())


def test_a_plugin_relation_and_dimension_break_a_kpi_down(store: DuckDBStore,
                                                          stage_plugin: None) -> None:
    assert "stage" in get_dimensions() and "staged_deals" in get_relations()
    rows = compute_kpis(store, metrics=["won_by_stage"], by=["stage"], grain="month",
                        start="2026-03-01", end="2026-03-31", as_of=AS_OF, rates=RATES)
    values = {row.dimensions.get("stage", ""): (row.value, row.numerator) for row in rows}
    # source a's won deals have no stage; source s's are grouped case-blind
    assert values["closed won"] == (2, 20) and values["signed"] == (1, 10)
    assert values[""][0] == values["none"][0] + 3
    # what the KPI reads is found from the plugin relation's trees (a breakdown is not read)
    fields = kpi_fields("won_by_stage")
    assert {("deals", "is_won"), ("deals", "amount"), ("deals", "currency")} <= fields
    assert ("deals", "stage") not in fields


def test_a_relation_registered_twice_names_both_plugins(stage_plugin: None) -> None:
    class Again:
        @hookimpl
        def register_relations(self, register: Any) -> None:
            register(STAGED)

    register_plugin(Again(), "again")
    try:
        with pytest.raises(PluginError, match='"stages" and plugin "again"'):
            get_relations()
    finally:
        unregister_plugin("again")


@pytest.mark.parametrize(("relation", "message"), [
    (Relation(name="bad", table="nowhere", alias="n", columns={"id": Column()},
              tables=("nowhere",), dimensions={}), "unknown tables"),
    (Relation(name="bad", table="deals", alias="d", columns={"x": Column(joins=("a",))},
              tables=("deals",), dimensions={}), "needs joins"),
    (Relation(name="bad", table="deals", alias="d", columns={"id": Column()},
              tables=("deals",), dimensions={"owner": "owner_id"}), "not columns"),
])
def test_an_invalid_relation_is_refused_with_the_plugin_named(relation: Relation,
                                                              message: str) -> None:
    class Broken:
        @hookimpl
        def register_relations(self, register: Any) -> None:
            register(relation)

    register_plugin(Broken(), "broken")
    try:
        with pytest.raises(PluginError, match=f'Plugin "broken".*{message}'):
            get_relations()
    finally:
        unregister_plugin("broken")


@pytest.mark.parametrize(("changes", "message"), [
    ({"dimensions": ("source", "colour")}, "unknown dimensions"),
    ({"measures": (Measure(name="won", relation="deals", event="f.closed_at",
                           where="f.closed_at < p.period_middle"),)}, "p.period_middle"),
    ({"value": "won +* 2"}, "cannot read the SQL"),
])
def test_a_kpi_outside_the_vocabulary_is_refused(changes: dict[str, Any], message: str) -> None:
    definition = KpiDefinition(**{**WON_BY_STAGE.model_dump(), "key": "odd",
                                  "measures": (Measure(name="won", relation="deals",
                                                       event="f.closed_at"),),
                                  "numerator": None, "dimensions": ("source",), **changes})

    class Odd:
        @hookimpl
        def register_kpis(self, register: Any) -> None:
            register(definition)

    register_plugin(Odd(), "odd")
    try:
        with pytest.raises(PluginError, match=message):
            get_kpis()
    finally:
        unregister_plugin("odd")


def test_the_period_columns_are_a_typed_namespace() -> None:
    assert PERIOD.moment == "p.moment" and PERIOD.as_of == "p.as_of"
    assert isinstance(PERIOD, PeriodColumns)
    used = {column for definition in CATALOGUE for m in definition.measures
            for text in (m.where, m.at or "", m.expr) for column in PeriodColumns.__annotations__
            if f"p.{column}" in text}
    assert {"opening", "moment", "as_of", "period_start"} <= used


def test_the_documented_vocabulary_plugin_works(store: DuckDBStore) -> None:
    from test_docs import tutorial_files

    namespace: dict[str, Any] = {"__name__": "tinycrm_vocabulary"}
    exec(compile(tutorial_files()["crm_connect_tinycrm/vocabulary.py"], "vocabulary.py",
                 "exec"), namespace)

    class Documented:
        register_relations = staticmethod(namespace["register_relations"])
        register_dimensions = staticmethod(namespace["register_dimensions"])
        register_kpis = staticmethod(namespace["register_kpis"])

    register_plugin(Documented(), "documented")
    try:
        rows = compute_kpis(store, metrics=["won_by_stage"], by=["stage"], grain="month",
                            start="2026-03-01", end="2026-03-31", as_of=AS_OF, rates=RATES)
        values = {row.dimensions.get("stage", ""): row.value for row in rows}
        assert values["closed won"] == 2 and values["signed"] == 1
    finally:
        unregister_plugin("documented")
