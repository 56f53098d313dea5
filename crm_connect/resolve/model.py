"""The probabilistic step: a Fellegi-Sunter model (splink) trained on the records themselves.

Training is unsupervised: the chance that two random records match is estimated from the
deterministic rules, the u probabilities by random sampling, the m probabilities by
expectation maximisation on blocked pairs.  Candidate pairs come from blocking rules chosen so
that a million contacts stay within minutes.  splink runs on DuckDB in memory, fed Arrow tables
read through the store contract (whatever engine holds the store), unless :func:`database`
names another of splink's engines (Spark: :mod:`crm_connect.resolve.spark`).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterator, Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa

from crm_connect.errors import ConfigError
from crm_connect.resolve.links import Link

__all__ = ["ModelResult", "Scratch", "database", "load_splink", "score_pairs"]

logger = logging.getLogger(__name__)

SPLINK_MISSING = ("crm-connect resolve needs splink and tldextract: "
                  "pip install 'crm-connect[resolve]'")

COMPARED: dict[str, tuple[str, ...]] = {
    "accounts": ("name_key", "domain_key", "phone_key", "street_key", "city_key", "postal_key",
                 "country_key"),
    "contacts": ("first_key", "last_key", "domain_key", "phone_key", "city_key", "country_key"),
    "leads": ("first_key", "last_key", "domain_key", "company_key", "phone_key", "city_key",
              "country_key"),
}
"""The match keys the model compares, per entity.  The email's user part is a blocking key
only: it mostly repeats the names, and the model takes its comparisons as independent."""

FUZZY = {"name_key": [0.95, 0.88], "first_key": [0.92, 0.8], "last_key": [0.95, 0.85],
         "street_key": [0.9], "company_key": [0.95, 0.88], "email_user": [0.92]}
"""Keys compared by Jaro-Winkler similarity (at these thresholds); the others exactly."""

BLOCKING: dict[str, tuple[tuple[str, ...], ...]] = {
    "accounts": (("domain_key",), ("phone_key",), ("name_key",),
                 ("replace(name_key, ' ', '')",), ("postal_key", "country_key"),
                 ("substr(name_key, 1, 4)", "street_key")),
    "contacts": (("email_user",), ("phone_key",), ("first_key", "last_key", "domain_key"),
                 ("last_key", "domain_key", "substr(first_key, 1, 1)"),
                 ("first_key", "last_key", "city_key")),
    "leads": (("email_user",), ("phone_key",), ("first_key", "last_key", "domain_key"),
              ("first_key", "last_key", "company_key"), ("first_key", "last_key", "city_key")),
}
"""Which pairs the model scores: records equal on one of these (sets of) keys.  Every rule
joins on a key that names one company, one person or one number (or a name in one city or
postal code), so the candidate pairs grow about linearly with the records: a block is the
same real thing seen a few times, plus the namesakes that share it."""

TRAINING: dict[str, tuple[tuple[str, ...], ...]] = {
    "accounts": (("domain_key",), ("phone_key",), ("name_key",)),
    "contacts": (("email_user",), ("first_key", "last_key", "domain_key"), ("phone_key",)),
    "leads": (("email_user",), ("first_key", "last_key", "domain_key"), ("phone_key",)),
}
"""Blocking rules for expectation maximisation: each leaves some comparisons free to learn."""

U_SAMPLE_PAIRS = 1_000_000
"""Random pairs the u probabilities are estimated from, at most (fewer on small data)."""
EM_SAMPLE_RECORDS = 150_000
"""Records expectation maximisation samples, at most: the parameters settle well before."""
SPLINK_THREADS = 2
SPLINK_MEMORY = "2GB"
"""splink's DuckDB limits when the store's ``memory_limit`` sets none: past the limit DuckDB
spills to a temporary folder next to the store instead of growing."""


@dataclass(frozen=True)
class Scratch:
    """Where and within what splink's DuckDB engine works."""

    directory: Path | None = None
    """A folder for DuckDB to spill to (``None``: DuckDB's own default)."""
    memory_limit: str | None = None


_DATABASE: ContextVar[Callable[[], Any] | None] = ContextVar("resolve_database", default=None)
"""What makes the splink database API :func:`score_pairs` runs on; ``None``: DuckDB."""


@contextlib.contextmanager
def database(make_api: Callable[[], Any]) -> Iterator[None]:
    """Within this block, :func:`score_pairs` runs splink on the database API that
    ``make_api()`` returns (e.g. a ``SparkAPI``) instead of DuckDB in memory."""
    token = _DATABASE.set(make_api)
    try:
        yield
    finally:
        _DATABASE.reset(token)


def load_splink() -> Any:
    """The splink module, or a clear error naming the extra to install."""
    try:
        import splink
        import tldextract  # noqa: F401  (the rules need it too)
    except ImportError:
        raise ConfigError(SPLINK_MISSING) from None
    return splink


@dataclass
class ModelResult:
    links: list[Link]
    """Scored pairs at or above the review threshold."""
    pairs_scored: int
    """Candidate pairs the model compared (blocked pairs, before any threshold)."""
    model: dict[str, Any]
    """The trained model (splink's JSON), kept so that an incremental run reuses it."""


def _settings(entity: str) -> Any:
    splink = load_splink()
    import splink.comparison_library as cl

    comparisons = [cl.JaroWinklerAtThresholds(key, FUZZY[key]) if key in FUZZY
                   else cl.ExactMatch(key) for key in COMPARED[entity]]
    return splink.SettingsCreator(
        link_type="dedupe_only", unique_id_column_name="unique_id",
        comparisons=comparisons,
        blocking_rules_to_generate_predictions=[_block(rule) for rule in BLOCKING[entity]],
        retain_intermediate_calculation_columns=False, retain_matching_columns=True)


def _limit(db_api: Any, scratch: Scratch) -> None:
    """Bound splink's own in-process DuckDB (not the store's): two threads, a memory limit,
    and a folder to spill to past it."""
    settings = {"threads": str(SPLINK_THREADS),
                "memory_limit": scratch.memory_limit or SPLINK_MEMORY}
    if scratch.directory is not None:
        settings["temp_directory"] = str(scratch.directory)
    engine = db_api.duckdb_con
    for name, value in settings.items():
        engine.execute(f"SET {name} = '{value}'")


def _blocking_keys(entity: str) -> list[str]:
    """The plain key columns the blocking rules name (``substr(name_key, 1, 4)`` names
    ``name_key``)."""
    names = []
    for rule in (*BLOCKING[entity], *TRAINING[entity]):
        for part in rule:
            names.append(part.split("(", 1)[-1].split(",")[0].strip())
    return names


def _block(rule: Sequence[str]) -> Any:
    from splink import block_on

    return block_on(*rule)


def _train(linker: Any, entity: str, rows: int) -> None:
    from crm_connect.resolve.links import RULES

    sure = [" and ".join(f"l.{key} = r.{key}" for key in (column,)) for column in RULES[entity]]
    settings = linker._settings_obj  # the prior has no public setter
    prior = settings._probability_two_random_records_match
    try:
        linker.training.estimate_probability_two_random_records_match(sure, recall=0.8)
    except Exception as exc:  # too few sure pairs: keep splink's prior
        logger.info("resolve %s: prior match probability not estimated (%s)", entity, exc)
    if not 0 < settings._probability_two_random_records_match < 1:
        # no sure pair at all (one CRM without duplicates): an estimate of 0 would make
        # every match weight -infinity and predict() fail; keep splink's prior
        settings._probability_two_random_records_match = prior
    linker.training.estimate_u_using_random_sampling(
        max_pairs=min(U_SAMPLE_PAIRS, max(1e5, rows * 4.0)), seed=19)
    for rule in TRAINING[entity]:
        try:
            linker.training.estimate_parameters_using_expectation_maximisation(
                _block(rule), record_sample_proportion=min(1.0, EM_SAMPLE_RECORDS / max(rows, 1)))
        except Exception as exc:  # a rule that blocks no pair on small data
            logger.info("resolve %s: EM on %s skipped (%s)", entity, rule, exc)


def _decided_by(row: dict[str, Any], compared: Sequence[str]) -> str:
    agreed = [key.removesuffix("_key") for key in compared
              if (row.get(f"gamma_{key}") or 0) > 0]
    return "splink:" + ",".join(agreed or ["none"])


def _links(predictions: Any, entity: str, review_threshold: float) -> tuple[list[Link], int]:
    scored = predictions.query_sql("SELECT count(*) AS n FROM {this}").as_record_list()[0]["n"]
    present = {column.unquote().name.strip('"') for column in predictions.columns}
    compared = [key for key in COMPARED[entity] if f"gamma_{key}" in present]
    gammas = "".join(f", gamma_{key}" for key in compared)
    kept = predictions.query_sql(
        f"SELECT unique_id_l, unique_id_r, match_probability{gammas} FROM {{this}} "
        f"WHERE match_probability >= {float(review_threshold)!r}").as_pyarrow_table()
    links = []
    for row in kept.to_pylist():
        left, right = sorted((int(row["unique_id_l"]), int(row["unique_id_r"])))
        links.append(Link(left, right, float(row["match_probability"]),
                          _decided_by(row, compared)))
    return links, int(scored)


def score_pairs(entity: str, keys: pa.Table, *, review_threshold: float,
                model: dict[str, Any] | None = None,
                changed: Sequence[int] | None = None,
                scratch: Scratch | None = None) -> ModelResult:
    """Score the candidate pairs among ``keys`` (one row per record, in position order).

    Without ``model`` a new one is trained on ``keys``; with ``changed`` (positions) only the
    pairs that involve one of those records are scored, with ``model``.  ``scratch`` bounds
    splink's DuckDB engine (its memory, and where it spills).
    """
    splink = load_splink()
    from splink import DuckDBAPI

    from crm_connect.resolve.links import RULES

    columns = dict.fromkeys([*COMPARED[entity], *RULES[entity], *_blocking_keys(entity)])
    frame = keys.select(list(columns)).append_column(
        "unique_id", pa.array(range(keys.num_rows), pa.int64()))
    make_api = _DATABASE.get()
    if make_api is None:
        db_api = DuckDBAPI()
        _limit(db_api, scratch or Scratch())
    else:
        db_api = make_api()
    if changed is None or model is None:
        linker = splink.Linker(db_api.register(frame, table_name="records"), _settings(entity),
                               log_level=logging.ERROR)
        _train(linker, entity, frame.num_rows)
        links, scored = _links(linker.inference.predict(), entity, review_threshold)
        return ModelResult(links, scored, linker.misc.save_model_to_json())
    wanted = pa.array(sorted(set(changed)), pa.int64())
    import pyarrow.compute as pc

    is_changed = pc.is_in(frame.column("unique_id"), value_set=wanted)
    linker = splink.Linker(db_api.register(frame, table_name="records"), model,
                           log_level=logging.ERROR)
    fresh = db_api.register(frame.filter(is_changed), table_name="changed")
    kept = db_api.register(frame.filter(pc.invert(is_changed)), table_name="unchanged")
    within, within_scored = _links(linker.inference.predict_within(fresh), entity,
                                   review_threshold)
    between, between_scored = _links(linker.inference.predict_between(kept, fresh), entity,
                                     review_threshold)
    return ModelResult(within + between, within_scored + between_scored, model)

