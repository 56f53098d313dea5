"""Identity resolution on Spark, over a folder of canonical Parquet tables.

For orgs whose CRM data lives in a lake (``crm-connect export --format parquet DIR``):
``crm-connect resolve --engine spark --tables DIR`` reads the canonical tables of ``DIR``,
applies the same rules and runs the same splink model (:mod:`~crm_connect.resolve.model`) on
splink's Spark engine, and writes its tables into ``DIR`` beside the canonical ones, one
folder each, partitioned by entity::

    DIR/resolved_entities/entity=accounts/part-*.parquet
    DIR/entity_links/entity=accounts/part-*.parquet
    DIR/resolve_decisions/entity=.../    (a reviewer's decisions, kept across runs)
    DIR/resolve_models/entity=.../       (the trained models, reused by incremental runs)

The tables already in ``DIR`` are the previous run: cluster ids stay put as on a store.  From
Python, with any SparkSession::

    from crm_connect.resolve.spark import SparkLake, resolve_on_spark

    results = resolve_on_spark(spark, "lake/crm", settings=config.resolve)

splink's string similarities on Spark are Scala functions in a jar splink ships; they are
added to the session (``ADD JAR``) and registered before the model runs.
"""

from __future__ import annotations

import contextlib
import shutil
import uuid
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import sqlglot
from sqlglot import exp

from crm_connect.config import ResolveSettings
from crm_connect.errors import ConfigError
from crm_connect.metrics.compute import arrow_rows
from crm_connect.metrics.spark import SparkTables, local_session, running_session
from crm_connect.resolve import model
from crm_connect.resolve.runner import EntityResult, resolve_entity
from crm_connect.resolve.tables import save_decisions

__all__ = ["RESOLVE_TABLES", "SparkLake", "lake_on_spark", "resolve_on_spark"]

RESOLVE_TABLES = ("resolved_entities", "entity_links", "resolve_decisions", "resolve_models")
"""The tables resolve keeps in the folder, each partitioned by ``entity``."""

_ARROW_TYPES = {"VARCHAR": pa.string(), "BIGINT": pa.int64(), "DOUBLE": pa.float64(),
                "BOOLEAN": pa.bool_(), "TIMESTAMP": pa.timestamp("us")}


def _arrow_type(declared: str) -> pa.DataType:
    base = declared.split()[0].upper()
    if base not in _ARROW_TYPES:  # pragma: no cover - resolve declares only these
        raise ValueError(f"no Parquet type for a {declared} column")
    return _ARROW_TYPES[base]


def _bound(sql: str, parameters: Sequence[Any] | None) -> str:
    """DuckDB-dialect SQL (``$1`` parameters) as Spark SQL with the parameters as literals."""
    values = list(parameters or ())

    def bind(node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.Placeholder):  # DuckDB's $n
            value = values[int(node.name) - 1]
            if value is None:
                return exp.null()
            if isinstance(value, bool):
                return exp.Boolean(this=value)
            if isinstance(value, int | float):
                return exp.Literal.number(value)
            return exp.Literal.string(str(value))
        return node

    tree = sqlglot.parse_one(sql, read="duckdb").transform(bind)
    return tree.sql(dialect="spark")


class SparkLake(SparkTables):
    """A folder of canonical Parquet tables on Spark, as resolve reads and writes a store
    (:class:`~crm_connect.resolve.tables.ResolveStore`): the canonical tables and resolve's
    own are temporary views; a write replaces the table's folder (written by Spark,
    partitioned by entity) and its view.

    :param session: a SparkSession; the views live in a new session sharing its context.
    :param directory: a folder ``crm-connect export --format parquet`` wrote.
    :raises ConfigError: ``directory`` is not a folder of canonical tables."""

    def __init__(self, session: Any, directory: str | Path) -> None:
        super().__init__(session, directory)
        self._declared: dict[str, list[tuple[str, str]]] = {}
        for name in RESOLVE_TABLES:
            self._register(name)

    def _folder(self, name: str) -> Path:
        return self.directory / name

    def _register(self, name: str) -> None:
        folder = self._folder(name)
        if not any(folder.rglob("*.parquet")):
            self.extra_tables.discard(name)
            self.session.catalog.dropTempView(name)
            return
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            self.session.read.parquet(str(folder)).createOrReplaceTempView(name)
        self.extra_tables.add(name)

    def query_arrow(self, sql: str, parameters: Sequence[Any] | None = None) -> pa.Table:
        """Run a query of resolve's (DuckDB's dialect, ``$n`` parameters) on Spark."""
        return super().query_arrow(_bound(sql, parameters))

    def execute(self, sql: str, parameters: Sequence[Any] | None = None
                ) -> list[tuple[Any, ...]]:
        """A query's rows; a ``DELETE`` rewrites the table without the rows it names."""
        tree = sqlglot.parse_one(_bound(sql, parameters), read="spark")
        if not isinstance(tree, exp.Delete):
            return arrow_rows(self.query_arrow(sql, parameters))
        name = tree.this.name
        if not self.has_table(name):
            return []
        where = tree.args.get("where")
        condition = where.this.sql(dialect="spark") if where is not None else "TRUE"
        kept = SparkTables.query_arrow(
            self, f"SELECT * FROM {name} WHERE NOT COALESCE({condition}, FALSE)")
        self._write(name, kept)
        return []

    def ensure_table(self, name: str, columns: Sequence[tuple[str, str]]) -> None:
        declared = self._declared.setdefault(name, [])
        known = {column for column, _ in declared}
        declared.extend(column for column in columns if column[0] not in known)

    def _schema(self, name: str) -> pa.Schema:
        declared = self._declared.get(name)
        if declared is None:
            raise ConfigError(f"resolve writes no table {name!r}")
        return pa.schema([(column, _arrow_type(kind)) for column, kind in declared])

    def append_arrow(self, name: str, rows: pa.Table, *, replace_on: Sequence[str] = ()
                     ) -> int:
        """Add ``rows`` to table ``name``; with ``replace_on``, the stored rows equal to a new
        one on those columns go first (an upsert)."""
        schema = self._schema(name)
        new = pa.table({field.name: rows.column(field.name).cast(field.type)
                        if field.name in rows.column_names else pa.nulls(rows.num_rows,
                                                                         field.type)
                        for field in schema}, schema=schema)
        if self.has_table(name):
            stored = _conformed(self.query_arrow(f"SELECT * FROM {name}"), schema)
            if replace_on:
                keys = new.select(list(replace_on)).group_by(list(replace_on)).aggregate([])
                stored = stored.join(keys, keys=list(replace_on), join_type="left anti")
                stored = stored.select(schema.names)
            new = pa.concat_tables([stored, new])
        self._write(name, new)
        return int(rows.num_rows)

    def _write(self, name: str, rows: pa.Table) -> None:
        """Replace table ``name``'s folder with ``rows`` (written beside it, then swapped in)."""
        folder = self._folder(name)
        partial = self.directory / f".partial-{name}-{uuid.uuid4().hex[:8]}"
        try:
            if rows.num_rows:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", FutureWarning)
                    frame = self.session.createDataFrame(rows)
                frame.write.mode("overwrite").partitionBy("entity").parquet(str(partial))
            else:  # engines need a file to learn the columns from
                partial.mkdir()
                pq.write_table(rows, partial / "part-0.parquet")
            self.session.catalog.dropTempView(name)
            if folder.exists():
                shutil.rmtree(folder)
            partial.rename(folder)
        finally:
            shutil.rmtree(partial, ignore_errors=True)
        self._register(name)


def _conformed(stored: pa.Table, schema: pa.Schema) -> pa.Table:
    return pa.table({field.name: stored.column(field.name).cast(field.type)
                     if field.name in stored.column_names else
                     pa.nulls(stored.num_rows, field.type) for field in schema}, schema=schema)


def _spark_api(session: Any) -> Callable[[], Any]:
    """splink's Spark engine on ``session``, its similarity functions registered."""
    from splink.backends.spark import SparkAPI, similarity_jar_location

    spark_api: Any = SparkAPI  # untyped

    session.sql(f"ADD JAR '{similarity_jar_location()}'")
    partitions = int(session.conf.get("spark.sql.shuffle.partitions") or 2)

    def make() -> Any:
        # A session of its own for each model (splink's tables are its temporary views),
        # kept in memory between steps: a local run has no checkpoint folder to write to.
        return spark_api(spark_session=session.newSession(), break_lineage_method="persist",
                        num_partitions_on_repartition=max(1, partitions))
    return make


def resolve_on_spark(session: Any, directory: str | Path,
                     entities: Iterable[str] = ("accounts", "contacts", "leads"), *,
                     settings: ResolveSettings | None = None,
                     connectors: Mapping[str, str] | None = None, full: bool = False,
                     decisions: Sequence[dict[str, str]] = (),
                     progress: Callable[[str], None] = lambda _: None) -> list[EntityResult]:
    """Resolve ``entities`` of the Parquet tables in ``directory`` on ``session`` and write
    ``resolved_entities`` and ``entity_links`` there (see the module's layout).

    :param settings: thresholds and survivorship (default: ``[resolve]``'s defaults).
    :param connectors: connection name to connector name, for the cross-CRM ids.
    :param decisions: a reviewer's rows (:func:`~crm_connect.resolve.review.read_decisions`),
        stored in the folder first; they win over the model in this and later runs.
    :raises ConfigError: splink is not installed, or ``directory`` holds no tables."""
    with lake_on_spark(directory, session=session) as lake:
        save_decisions(lake, decisions)
        return [resolve_entity(lake, entity, settings or ResolveSettings(), connectors or {},
                               full=full, progress=progress) for entity in entities]


@contextlib.contextmanager
def lake_on_spark(directory: str | Path, *, session: Any = None) -> Iterator[SparkLake]:
    """The folder as a :class:`SparkLake` with resolve's model running on Spark within the
    block.  Without ``session``, a local one (stopped after, unless this process already
    ran one: then that one, left running)."""
    model.load_splink()
    owned = session is None and running_session() is None
    if session is None:
        session = local_session()
    try:
        lake = SparkLake(session, directory)
        with model.database(_spark_api(lake.session)):
            yield lake
    finally:
        if owned:
            session.stop()

