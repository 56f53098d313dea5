"""The KPI catalogue on Spark, over the canonical tables of a Parquet export.

For orgs whose CRM data lives in a lake: ``crm-connect export --format parquet DIR`` writes
the canonical tables (:mod:`crm_connect.export`), and the same KPI definitions run in Spark,
rendered by sqlglot for its dialect::

    from crm_connect.metrics import compute_kpis
    from crm_connect.metrics.spark import SparkTables

    tables = SparkTables(spark, "lake/crm")     # any SparkSession: a cluster's, or local
    rows = compute_kpis(tables, grain="quarter", by=["source"])

:class:`SparkTables` registers each entity's folder as a temporary view in a session of its
own (``spark.newSession()``: the caller's views and settings stay untouched) whose time zone
is UTC, the zone of every canonical timestamp.  ``crm-connect kpis --engine spark --tables
DIR`` starts a local session with :func:`local_session`.

pyspark is an optional extra (``pip install 'crm-connect[spark]'``) and needs Java 17 or
later; either missing is a :class:`~crm_connect.errors.ConfigError` saying how to get it.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import sys
import tempfile
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa
import sqlglot
from sqlglot import exp

from crm_connect.errors import ConfigError
from crm_connect.export import canonical_schema
from crm_connect.metrics.compute import arrow_rows
from crm_connect.schema import ENTITIES

__all__ = ["SPARK_INSTALL", "SparkTables", "local_session", "require_spark",
           "running_session", "tables_folder"]

SPARK_INSTALL = "pip install 'crm-connect[spark]'"
RESOLUTION_TABLES = ("resolved_entities", "entity_links")
"""The tables ``crm-connect resolve --engine spark`` writes into the folder (one subfolder
each, partitioned by entity)."""
JAVA_INSTALL = ("sudo apt-get install --no-install-recommends openjdk-17-jre-headless "
                "(or any Java 17 or later), or set JAVA_HOME")

_QUIET_LOGS = """\
rootLogger.level = error
rootLogger.appenderRef.stderr.ref = console
appender.console.type = Console
appender.console.name = console
appender.console.target = SYSTEM_ERR
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = %p %c{1}: %m%n
logger.repl.name = org.apache.spark.repl.Main
logger.repl.level = error
"""
"""Spark's own log: errors only (its default prints warnings and banners to stderr)."""


def java_command() -> str | None:
    """The ``java`` Spark will start: ``$JAVA_HOME/bin/java``, else the one on the PATH."""
    home = os.environ.get("JAVA_HOME")
    if home and (Path(home) / "bin" / "java").is_file():
        return str(Path(home) / "bin" / "java")
    return shutil.which("java")


def require_spark() -> Any:
    """The ``pyspark.sql`` module, once pyspark and Java are known to be there.

    :raises ConfigError: pyspark is not installed, or no Java is (exit code 2)."""
    try:
        import pyspark.sql
    except ImportError:
        raise ConfigError(f"the Spark engine needs pyspark, which is not installed: "
                          f"{SPARK_INSTALL}") from None
    if java_command() is None:
        raise ConfigError(f"the Spark engine needs Java, which was not found: {JAVA_INSTALL}")
    return pyspark.sql


@contextlib.contextmanager
def _jvm_output_to(log: Path) -> Iterator[None]:
    """While the JVM starts, this process's standard error goes to ``log``: the JVM keeps
    that stream, so its banners (incubator modules, native libraries) stay out of the
    terminal; Spark's errors still reach Python as exceptions."""
    sys.stderr.flush()
    saved = os.dup(2)
    with log.open("ab") as target:
        os.dup2(target.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)


def running_session() -> Any:
    """The SparkSession this process already runs, or ``None``."""
    return require_spark().SparkSession.getActiveSession()


def local_session(*, cores: int = 2, shuffle_partitions: int = 2,
                  memory: str = "2g", java_options: Sequence[str] = ()) -> Any:
    """A local SparkSession for the KPI catalogue: ``cores`` threads, few shuffle
    partitions (the engine's result is small), no web UI, time zone UTC, errors-only logs.

    :param java_options: more options for the JVM, e.g. ``-XX:TieredStopAtLevel=1`` (the
        tests': on a few thousand rows the JIT compiler, not the data, is the work).

    The JVM starts once per process; calling this again returns the running session."""
    sql = require_spark()
    log_config = Path(tempfile.gettempdir()) / "crm-connect-spark-log4j2.properties"
    if not log_config.is_file() or log_config.read_text() != _QUIET_LOGS:
        log_config.write_text(_QUIET_LOGS)
    builder = (sql.SparkSession.builder.master(f"local[{cores}]").appName("crm-connect")
               .config("spark.ui.enabled", "false")
               .config("spark.ui.showConsoleProgress", "false")
               .config("spark.sql.shuffle.partitions", str(shuffle_partitions))
               .config("spark.default.parallelism", str(cores))
               .config("spark.sql.session.timeZone", "UTC")
               .config("spark.driver.memory", memory)
               .config("spark.driver.extraJavaOptions",
                       " ".join([f"-Dlog4j2.configurationFile=file:{log_config}",
                                 "-Duser.timezone=UTC", *java_options])))
    try:
        with _jvm_output_to(Path(tempfile.gettempdir()) / "crm-connect-spark.log"):
            session = builder.getOrCreate()
    except Exception as exc:  # the JVM did not start: say why, not a Py4J traceback
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ConfigError(f"Spark could not start ({first_line}); it needs Java 17 or later: "
                          f"{JAVA_INSTALL}") from None
    session.sparkContext.setLogLevel("ERROR")
    # py4j's connections log at INFO as they close, even from __del__ at interpreter exit.
    logging.getLogger("py4j").setLevel(logging.WARNING)
    return session


def tables_folder(directory: str | Path) -> Path:
    """``directory`` as an absolute path (the JVM has a working folder of its own), checked
    to hold the canonical tables: callers check it before a JVM starts.

    :raises ConfigError: it is not a folder, or holds none of the tables."""
    folder = Path(directory).resolve()
    if not folder.is_dir():
        raise ConfigError(f"{folder} is not a folder of Parquet tables: write one "
                          f"with `crm-connect export --format parquet {folder}`")
    if not any((folder / entity).is_dir() for entity in ENTITIES):
        raise ConfigError(f"{folder} holds none of the canonical tables "
                          f"({', '.join(ENTITIES)}): write them with "
                          f"`crm-connect export --format parquet {folder}`")
    return folder


class SparkTables:
    """The canonical tables of a Parquet export as a Spark session's temporary views, read
    by the metric engine like a store (:class:`~crm_connect.metrics.sources.TableSource`).

    :param session: a SparkSession; the views live in a new session sharing its context.
    :param directory: a folder written by ``crm-connect export --format parquet`` (one
        folder per entity, partitioned by source).  An entity without a folder is an empty
        table: its KPIs are null with a note saying it has no records.
    :raises ConfigError: ``directory`` is not a folder, or holds none of the tables."""

    dialect = "spark"

    def __init__(self, session: Any, directory: str | Path) -> None:
        self.directory = tables_folder(directory)
        found = [entity for entity in ENTITIES if (self.directory / entity).is_dir()]
        self.session = session.newSession()
        self.session.conf.set("spark.sql.session.timeZone", "UTC")
        # A source named "2024" stays text, as in the store.
        self.session.conf.set("spark.sql.sources.partitionColumnTypeInference.enabled",
                              "false")
        for entity in ENTITIES:
            with warnings.catch_warnings():  # pyspark's note on pandas versions
                warnings.simplefilter("ignore", FutureWarning)
                if entity in found:
                    frame = self.session.read.parquet(str(self.directory / entity))
                else:
                    frame = self.session.createDataFrame(
                        canonical_schema(entity).empty_table())
            frame.createOrReplaceTempView(entity)
        self.tables = found
        self.extra_tables: set[str] = set()
        """Tables beside the canonical ones that are views too (``resolved_entities``,
        which ``kpis --unify`` reads, once ``crm-connect resolve --engine spark`` wrote it)."""
        for name in RESOLUTION_TABLES:
            folder = self.directory / name
            if any(folder.rglob("*.parquet")):
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", FutureWarning)
                    self.session.read.parquet(str(folder)).createOrReplaceTempView(name)
                self.extra_tables.add(name)

    @property
    def location(self) -> str:
        return f"spark: {self.directory}"

    def query_arrow(self, sql: str, parameters: Sequence[Any] | None = None) -> pa.Table:
        """Run Spark SQL (parameters, if any, bind ``?`` markers in order) as Arrow.

        A query without parameters whose ``WITH`` names steps (the KPI engine's) runs step
        by step: each step is computed once and kept (a local checkpoint) under its name
        for the steps after it.  Spark would otherwise inline every step into each of its
        readers and analyse one plan so large that its analyser takes minutes."""
        if parameters:
            return self._arrow(self.session.sql(sql, args=list(parameters)))
        tree = sqlglot.parse_one(sql, read="spark")
        steps = tree.args.get("with_")
        if not isinstance(steps, exp.With) or steps.recursive or any(
                step.alias in ENTITIES or step.args["alias"].columns
                for step in steps.expressions):
            return self._arrow(self.session.sql(sql))
        staged: list[str] = []
        try:
            for step in steps.expressions:
                frame = self.session.sql(step.this.sql(dialect="spark"))
                frame.localCheckpoint(eager=True).createOrReplaceTempView(step.alias)
                staged.append(step.alias)
            tree.set("with_", None)
            return self._arrow(self.session.sql(tree.sql(dialect="spark")))
        finally:
            for name in staged:
                self.session.catalog.dropTempView(name)

    def _arrow(self, frame: Any) -> pa.Table:
        with warnings.catch_warnings():  # pyspark's note on pandas versions: no pandas here
            warnings.simplefilter("ignore", FutureWarning)
            table: pa.Table = frame.toArrow()
        return table

    def execute(self, sql: str, parameters: Sequence[Any] | None = None
                ) -> list[tuple[Any, ...]]:
        return arrow_rows(self.query_arrow(sql, parameters))

    def has_table(self, name: str) -> bool:
        return name in ENTITIES or name in self.extra_tables

    def close(self) -> None:
        """Nothing to release: the session belongs to whoever gave it."""
