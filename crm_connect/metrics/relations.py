"""Prepared relations: the canonical tables as the KPI measures see them.

Each prepared relation is one SQL query over the store's tables: deleted records are gone,
money is converted into the reporting currency (``amount``, ``cost``, ``value`` are DOUBLE in
that currency), and the columns several KPIs need are derived (an account's
``customer_since`` from its first won deal, a lead's ``contacted`` flag, a contract's
``was_renewed`` and ``term_years``, a campaign's attributed revenue).

A relation is declared column by column: each :class:`Column` says which joins it needs, and
a join may read a helper relation (:data:`HELPERS`: first won deal per account, originating
lead, contacted leads, renewals, campaign revenue), a CTE computed once per query however many
readers it has.  The engine builds a relation for each ``GROUP BY`` with only the columns its
measures reference (:meth:`Relation.build`), so five KPIs over ``deals`` do not pay for
converting every amount, joining the account or deriving the first won deal when none of them
reads those columns.  Every join is a LEFT JOIN on a key unique on the joined side (``(source,
id)``, or a ``GROUP BY``/``DISTINCT`` of the key), so leaving one out never changes the rows.

Keys are ``(source, id)``: every join stays inside one source, and ``account_key`` is the text
``source || '|' || id`` so that "distinct accounts" counts ``(source, id)`` pairs.

Columns, joins and helper queries are written in the definition dialect
(:mod:`crm_connect.metrics.sqltree`) and built as sqlglot trees; time arithmetic uses its
dialect-aware nodes (day differences as ``DateDiff``), so the engine renders the same relation
for DuckDB, Postgres or Spark.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from sqlglot import exp

from crm_connect.metrics.sqltree import cast, columns_read, days_between, parse, seconds_between

__all__ = ["HELPERS", "RELATIONS", "Column", "Join", "Relation", "columns_referenced",
           "dimension_sql", "dimension_tree", "seconds_between"]

Money = Callable[[exp.Expression, exp.Expression], exp.Expression]
"""``money(amount, currency)``: the amount in the reporting currency, as DOUBLE (trees)."""


def dimension_tree(expression: exp.Expression) -> exp.Expression:
    """A dimension's value as text; missing values show as ``(none)`` in a breakdown."""
    text = cast(expression, "VARCHAR")
    return exp.Coalesce(this=exp.Nullif(this=text, expression=exp.Literal.string("")),
                        expressions=[exp.Literal.string("(none)")])


def dimension_sql(expression: str) -> str:
    """:func:`dimension_tree` of a definition's SQL, as DuckDB text."""
    return dimension_tree(parse(expression)).sql(dialect="duckdb")


def columns_referenced(sql: str, alias: str = "f") -> set[str]:
    """Names ``sql`` reads from the relation aliased ``alias``, found from its tree: every
    ``alias.name`` and every unqualified column (string literals are values).  Names that
    are not columns of the relation are harmless: :meth:`Relation.build` keeps only its own
    columns."""
    return columns_read(sql, alias)


@dataclass(frozen=True)
class Join:
    """A LEFT JOIN some columns need: the table (or helper CTE ``x_<name>``) joined, its
    alias and the ``ON`` condition (definition SQL); ``needs``: the helper relations
    (:data:`HELPERS`) it reads."""

    table: str
    alias: str
    on: str
    needs: tuple[str, ...] = ()

    def tree(self) -> exp.Join:
        return exp.Join(this=exp.table_(self.table, alias=self.alias), on=parse(self.on),
                        side="LEFT")


@dataclass(frozen=True)
class Column:
    """One column of a prepared relation: its SQL over the table (alias of the relation) and
    the joins it needs; ``money`` marks an amount converted into the reporting currency
    (``(amount column, currency column)`` of the table)."""

    sql: str = ""
    joins: tuple[str, ...] = ()
    money: tuple[str, str] | None = None


HelperQuery = Callable[[Money, exp.Expression], exp.Select]
"""``query(money, as_of)``: a helper relation's query tree."""


@dataclass(frozen=True)
class Relation:
    """A prepared relation: the table it reads (``alias`` in its SQL), its columns and joins,
    the tables it reads, and its dimension columns.  A helper relation has a fixed ``query``
    instead (always built whole)."""

    name: str
    table: str
    alias: str
    columns: Mapping[str, Column]
    tables: tuple[str, ...]
    dimensions: dict[str, str]
    joins: Mapping[str, Join] = field(default_factory=dict)
    query: HelperQuery | None = None
    money_read: tuple[tuple[str, str, str], ...] = ()
    """(table, amount, currency) a fixed ``query`` converts."""

    @property
    def cte(self) -> str:
        return f"x_{self.name}"

    def resolve(self, wanted: Iterable[str] | None = None) -> tuple[str, ...]:
        """The relation's columns among ``wanted`` (every column when None), in its order;
        at least one, so the SELECT is never empty."""
        if wanted is None or self.query is not None:
            return tuple(self.columns)
        names = set(wanted)
        chosen = tuple(name for name in self.columns if name in names)
        return chosen or (next(iter(self.columns)),)

    def _joins(self, columns: Iterable[str]) -> list[str]:
        used = {join for name in columns for join in self.columns[name].joins}
        return [name for name in self.joins if name in used]

    def needs(self, columns: Iterable[str] | None = None) -> tuple[str, ...]:
        """Helper relations (:data:`HELPERS`) that building ``columns`` reads."""
        needed: list[str] = []
        for join in self._joins(self.resolve(columns)):
            needed += [name for name in self.joins[join].needs if name not in needed]
        return tuple(needed)

    def money(self, columns: Iterable[str] | None = None) -> set[tuple[str, str, str]]:
        """(table, amount column, currency column) that building ``columns`` converts
        (helpers included)."""
        found = set(self.money_read)
        for column in (self.columns[name] for name in self.resolve(columns)):
            if column.money is not None:
                found.add((self.table, *column.money))
        for helper in self.needs(columns):
            found |= HELPERS[helper].money()
        return found

    def column_tree(self, name: str, money: Money) -> exp.Expression:
        """The expression of column ``name`` over the table (aliased :attr:`alias`)."""
        column = self.columns[name]
        if column.money is not None:
            amount, currency = column.money
            return money(exp.column(amount, self.alias), exp.column(currency, self.alias))
        return parse(column.sql) if column.sql else exp.column(name, self.alias)

    def build(self, money: Money, as_of: exp.Expression,
              columns: Iterable[str] | None = None) -> exp.Select:
        """The relation's query with ``columns`` only (every column when None)."""
        if self.query is not None:
            return self.query(money, as_of)
        chosen = self.resolve(columns)
        selected: list[exp.Expression] = []
        for name in chosen:
            tree = self.column_tree(name, money)
            plain = isinstance(tree, exp.Column) and tree.name == name
            selected.append(tree if plain else exp.Alias(this=tree, alias=exp.to_identifier(name)))
        select = exp.Select(expressions=selected).from_(
            exp.table_(self.table, alias=self.alias), copy=False)
        joins = [self.joins[name].tree() for name in self._joins(chosen)]
        if joins:
            select.set("joins", joins)
        return select.where(exp.not_(exp.column("is_deleted", self.alias)), copy=False)


def _plain(*names: str) -> dict[str, Column]:
    return {name: Column() for name in names}


def _helper(name: str, query: HelperQuery, columns: tuple[str, ...], table: str,
            money_read: tuple[tuple[str, str, str], ...] = ()) -> Relation:
    return Relation(name, table, "h", _plain(*columns), (table,), {}, query=query,
                    money_read=money_read)


def _fixed(sql: str) -> HelperQuery:
    """A helper whose query converts no money and does not depend on as_of."""
    def query(money: Money, as_of: exp.Expression) -> exp.Select:
        tree = parse(sql)
        assert isinstance(tree, exp.Select)
        return tree

    return query


def _campaign_revenue(money: Money, as_of: exp.Expression) -> exp.Select:
    tree = parse("SELECT d.source, d.campaign_id FROM deals d WHERE NOT d.is_deleted "
                 "AND d.is_won AND d.campaign_id IS NOT NULL GROUP BY d.source, d.campaign_id")
    assert isinstance(tree, exp.Select)
    revenue = exp.Sum(this=money(exp.column("amount", "d"), exp.column("currency", "d")))
    closed = exp.LTE(this=exp.column("closed_at", "d"), expression=as_of)
    return tree.select(exp.alias_(revenue, "revenue"), copy=False).where(closed, copy=False)


HELPERS: dict[str, Relation] = {
    helper.name: helper
    for helper in (
        # Keyed by (source, account_id): when each account first won a deal.
        _helper("won_by_account", _fixed(
            "SELECT source, account_id, MIN(closed_at) AS first_won_at FROM deals "
            "WHERE is_won AND NOT is_deleted AND closed_at IS NOT NULL "
            "AND account_id IS NOT NULL GROUP BY source, account_id"),
            ("source", "account_id", "first_won_at"), "deals"),
        # Keyed by (source, converted_account_id): the origin of the first lead converted
        # into the account.
        _helper("account_origin", _fixed(
            "SELECT source, converted_account_id, origin FROM ("
            "SELECT source, converted_account_id, origin, ROW_NUMBER() OVER ("
            "PARTITION BY source, converted_account_id "
            "ORDER BY converted_at NULLS LAST, created_at, id) AS rank_ "
            "FROM leads WHERE NOT is_deleted AND converted_account_id IS NOT NULL"
            ") ranked WHERE rank_ = 1"),
            ("source", "converted_account_id", "origin"), "leads"),
        # Leads with at least one outbound call, email or meeting about them, at any time.
        _helper("lead_contacted", _fixed(
            "SELECT DISTINCT source, lead_id FROM activities "
            "WHERE NOT is_deleted AND lead_id IS NOT NULL AND direction = 'outbound' "
            "AND kind IN ('call', 'email', 'meeting')"),
            ("source", "lead_id"), "activities"),
        # Contracts another contract names in renewal_of_id.
        _helper("contract_renewals", _fixed(
            "SELECT DISTINCT source, renewal_of_id FROM contracts "
            "WHERE NOT is_deleted AND renewal_of_id IS NOT NULL"),
            ("source", "renewal_of_id"), "contracts"),
        # Revenue attributed to a campaign: its won deals (campaign_id), closed at any time
        # up to as_of, in the reporting currency.
        _helper("campaign_revenue", _campaign_revenue,
                ("source", "campaign_id", "revenue"), "deals", (("deals", "amount", "currency"),)),
    )
}
"""Relations only joins read (CTEs ``x_<name>``), each keyed uniquely by its join key."""


def _join(helper: str, alias: str, condition: str) -> Join:
    return Join(HELPERS[helper].cte, alias, condition, (helper,))


def _accounts() -> Relation:
    # A customer_since on the record stands; otherwise the first won deal's closed_at.  The
    # originating lead is the first lead converted into the account.
    return Relation(
        "accounts", "accounts", "a",
        {**_plain("source", "id"),
         "account_key": Column("a.source || '|' || a.id"),
         **_plain("created_at", "owner_id", "created_by_id", "industry", "segment",
                  "acquisition_channel", "churned_at"),
         "customer_since": Column("COALESCE(a.customer_since, w.first_won_at)", ("w",)),
         "origin": Column("o.origin", ("o",))},
        ("accounts", "deals", "leads"),
        {"source": "source", "owner": "owner_id", "industry": "industry",
         "segment": "segment", "lead_source": "acquisition_channel"},
        {"w": _join("won_by_account", "w", "w.source = a.source AND w.account_id = a.id"),
         "o": _join("account_origin", "o",
                    "o.source = a.source AND o.converted_account_id = a.id")})


def _deals() -> Relation:
    account = Join("accounts", "a",
                   "a.source = d.source AND a.id = d.account_id AND NOT a.is_deleted")
    return Relation(
        "deals", "deals", "d",
        {**_plain("source", "id", "account_id", "owner_id", "pipeline", "deal_type",
                  "lead_source", "campaign_id", "created_at", "closed_at", "is_won"),
         "is_closed": Column("(d.is_won OR d.is_closed)"),
         "amount": Column(money=("amount", "currency")),
         "account_key": Column(
             "CASE WHEN d.account_id IS NOT NULL THEN d.source || '|' || d.account_id END"),
         "industry": Column("a.industry", ("a",)),
         "segment": Column("a.segment", ("a",)),
         "account_first_won_at": Column("w.first_won_at", ("w",))},
        ("deals", "accounts"),
        {"source": "source", "owner": "owner_id", "pipeline": "pipeline",
         "deal_type": "deal_type", "lead_source": "lead_source",
         "campaign": "campaign_id", "industry": "industry", "segment": "segment"},
        {"a": account,
         "w": _join("won_by_account", "w", "w.source = d.source AND w.account_id = d.account_id")})


def _leads() -> Relation:
    # Contacted: at least one outbound call, email or meeting about the lead, at any time.
    return Relation(
        "leads", "leads", "l",
        {**_plain("source", "id", "created_at", "converted_at", "lead_source", "owner_id",
                  "origin"),
         "contacted": Column("(c.lead_id IS NOT NULL)", ("c",))},
        ("leads", "activities"),
        {"source": "source", "owner": "owner_id", "lead_source": "lead_source"},
        {"c": _join("lead_contacted", "c", "c.source = l.source AND c.lead_id = l.id")})


def _campaigns() -> Relation:
    return Relation(
        "campaigns", "campaigns", "c",
        {**_plain("source", "id", "started_at"),
         "cost": Column(money=("actual_cost", "currency")),
         "attributed_revenue": Column("COALESCE(r.revenue, 0)", ("r",))},
        ("campaigns", "deals"), {"source": "source", "campaign": "id"},
        {"r": _join("campaign_revenue", "r", "r.source = c.source AND r.campaign_id = c.id")})


_TERM_DAYS = days_between("k.start_date", "k.end_date")


def _contracts() -> Relation:
    # Renewed: the flag (null counts as false), or another contract names it in renewal_of_id.
    # Term in years: days / 365, at least one year (a missing end date counts as one year).
    return Relation(
        "contracts", "contracts", "k",
        {**_plain("source", "id", "start_date", "end_date"),
         "value": Column(money=("total_value", "currency")),
         "was_renewed": Column("(COALESCE(k.renewed, FALSE) OR r.renewal_of_id IS NOT NULL)",
                               ("r",)),
         "term_years": Column(
             "CASE WHEN k.end_date IS NULL OR k.start_date IS NULL "
             f"OR {_TERM_DAYS} < 365 THEN 1.0 ELSE {_TERM_DAYS} / 365.0 END")},
        ("contracts",), {"source": "source"},
        {"r": _join("contract_renewals", "r",
                    "r.source = k.source AND r.renewal_of_id = k.id")})


RELATIONS: dict[str, Relation] = {
    relation.name: relation
    for relation in (
        HELPERS["won_by_account"],
        _accounts(),
        _deals(),
        _leads(),
        Relation("activities", "activities", "t",
                 _plain("source", "id", "kind", "direction", "owner_id", "occurred_at",
                        "completed", "completed_at", "opened", "clicked"),
                 ("activities",), {"source": "source", "owner": "owner_id"}),
        Relation("tickets", "tickets", "t",
                 _plain("source", "id", "owner_id", "channel", "created_at",
                        "first_response_at", "resolved_at", "interactions_count",
                        "handle_time_seconds"),
                 ("tickets",),
                 {"source": "source", "owner": "owner_id", "ticket_channel": "channel"}),
        _campaigns(),
        Relation("survey_responses", "survey_responses", "s",
                 _plain("source", "id", "survey_type", "score", "scale_min", "scale_max",
                        "responded_at"),
                 ("survey_responses",), {"source": "source", "survey_type": "survey_type"}),
        Relation("users", "users", "u", _plain("source", "id", "is_active", "last_login_at"),
                 ("users",), {"source": "source"}),
        _contracts(),
        Relation("spend", "spend", "s",
                 {**_plain("source", "id", "date", "category", "channel", "campaign_id"),
                  "amount": Column(money=("amount", "currency"))},
                 ("spend",),
                 {"source": "source", "lead_source": "channel", "campaign": "campaign_id"}),
    )
}
"""Prepared relation name (what :attr:`Measure.relation` names) to its definition."""
