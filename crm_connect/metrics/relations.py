"""Prepared relations: the canonical tables as the KPI measures see them.

Each prepared relation is one SQL query over the store's tables that every KPI shares:
deleted records are gone, money is converted into the reporting currency (``amount``,
``cost``, ``value`` are DOUBLE in that currency), and the columns several KPIs need are
derived once (an account's ``customer_since`` from its first won deal, a lead's ``contacted``
flag, a contract's ``was_renewed`` and ``term_years``, a campaign's attributed revenue).

Keys are ``(source, id)``: every join stays inside one source, and ``account_key`` is the text
``source || '|' || id`` so that "distinct accounts" counts ``(source, id)`` pairs.

The SQL is plain ANSI (``CASE``, ``COALESCE``, ``EXTRACT(EPOCH ...)``, window functions), so the
same text runs on DuckDB and, through :func:`crm_connect.metrics.engine.transpile`, on Postgres
or a warehouse.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

__all__ = ["RELATIONS", "Relation", "dimension_sql", "seconds_between"]

Money = Callable[[str, str], str]
"""``money(amount_sql, currency_sql)``: the amount in the reporting currency, as DOUBLE."""


def seconds_between(start: str, end: str) -> str:
    """Exact seconds from ``start`` to ``end`` (two timestamps), portable SQL."""
    return f"(EXTRACT(EPOCH FROM {end}) - EXTRACT(EPOCH FROM {start}))"


def dimension_sql(expression: str) -> str:
    """A dimension's value as text; missing values show as ``(none)`` in a breakdown."""
    return f"COALESCE(NULLIF(CAST({expression} AS VARCHAR), ''), '(none)')"


@dataclass(frozen=True)
class Relation:
    """A prepared relation: its SQL (given the money converter and ``as_of``), the tables and
    money columns it reads, the relations it builds on, and its dimension columns."""

    name: str
    build: Callable[[Money, str], str]
    tables: tuple[str, ...]
    dimensions: dict[str, str]
    needs: tuple[str, ...] = ()
    money: tuple[tuple[str, str, str], ...] = field(default=())
    """(table, amount column, currency column) converted into the reporting currency."""

    @property
    def cte(self) -> str:
        return f"x_{self.name}"


def _won_by_account(money: Money, as_of: str) -> str:
    return (
        "SELECT source, account_id, MIN(closed_at) AS first_won_at FROM deals "
        "WHERE is_won AND NOT is_deleted AND closed_at IS NOT NULL AND account_id IS NOT NULL "
        "GROUP BY source, account_id"
    )


def _accounts(money: Money, as_of: str) -> str:
    # A customer_since on the record stands; otherwise the first won deal's closed_at.  The
    # originating lead is the first lead converted into the account.
    return """
SELECT a.source, a.id, a.source || '|' || a.id AS account_key, a.created_at, a.owner_id,
       a.created_by_id, a.industry, a.segment, a.acquisition_channel, a.churned_at,
       COALESCE(a.customer_since, w.first_won_at) AS customer_since, o.origin
FROM accounts a
LEFT JOIN x_won_by_account w ON w.source = a.source AND w.account_id = a.id
LEFT JOIN (
    SELECT source, converted_account_id, origin FROM (
        SELECT source, converted_account_id, origin,
               ROW_NUMBER() OVER (PARTITION BY source, converted_account_id
                                  ORDER BY converted_at NULLS LAST, created_at, id) AS rank_
        FROM leads WHERE NOT is_deleted AND converted_account_id IS NOT NULL
    ) ranked WHERE rank_ = 1
) o ON o.source = a.source AND o.converted_account_id = a.id
WHERE NOT a.is_deleted"""


def _deals(money: Money, as_of: str) -> str:
    return f"""
SELECT d.source, d.id, d.account_id, d.owner_id, d.pipeline, d.deal_type, d.lead_source,
       d.campaign_id, d.created_at, d.closed_at, d.is_won,
       (d.is_won OR d.is_closed) AS is_closed,
       {money('d.amount', 'd.currency')} AS amount,
       CASE WHEN d.account_id IS NOT NULL THEN d.source || '|' || d.account_id END
           AS account_key,
       a.industry, a.segment, w.first_won_at AS account_first_won_at
FROM deals d
LEFT JOIN accounts a ON a.source = d.source AND a.id = d.account_id AND NOT a.is_deleted
LEFT JOIN x_won_by_account w ON w.source = d.source AND w.account_id = d.account_id
WHERE NOT d.is_deleted"""


def _leads(money: Money, as_of: str) -> str:
    # Contacted: at least one outbound call, email or meeting about the lead, at any time.
    return """
SELECT l.source, l.id, l.created_at, l.converted_at, l.lead_source, l.owner_id, l.origin,
       (c.lead_id IS NOT NULL) AS contacted
FROM leads l
LEFT JOIN (
    SELECT DISTINCT source, lead_id FROM activities
    WHERE NOT is_deleted AND lead_id IS NOT NULL AND direction = 'outbound'
      AND kind IN ('call', 'email', 'meeting')
) c ON c.source = l.source AND c.lead_id = l.id
WHERE NOT l.is_deleted"""


def _activities(money: Money, as_of: str) -> str:
    return """
SELECT source, id, kind, direction, owner_id, occurred_at, completed, completed_at,
       opened, clicked
FROM activities WHERE NOT is_deleted"""


def _tickets(money: Money, as_of: str) -> str:
    return """
SELECT source, id, owner_id, channel, created_at, first_response_at, resolved_at,
       interactions_count, handle_time_seconds
FROM tickets WHERE NOT is_deleted"""


def _campaigns(money: Money, as_of: str) -> str:
    # Revenue attributed to a campaign: its won deals (campaign_id), closed at any time up
    # to as_of.
    return f"""
SELECT c.source, c.id, c.started_at, {money('c.actual_cost', 'c.currency')} AS cost,
       COALESCE(r.revenue, 0) AS attributed_revenue
FROM campaigns c
LEFT JOIN (
    SELECT source, campaign_id, SUM(amount) AS revenue FROM x_deals
    WHERE is_won AND campaign_id IS NOT NULL AND closed_at <= {as_of}
    GROUP BY source, campaign_id
) r ON r.source = c.source AND r.campaign_id = c.id
WHERE NOT c.is_deleted"""


def _survey_responses(money: Money, as_of: str) -> str:
    return """
SELECT source, id, survey_type, score, scale_min, scale_max, responded_at
FROM survey_responses WHERE NOT is_deleted"""


def _users(money: Money, as_of: str) -> str:
    return "SELECT source, id, is_active, last_login_at FROM users WHERE NOT is_deleted"


def _contracts(money: Money, as_of: str) -> str:
    # Renewed: the flag (null counts as false), or another contract names it in renewal_of_id.
    # Term in years: days / 365, at least one year (a missing end date counts as one year).
    return f"""
SELECT k.source, k.id, k.start_date, k.end_date, {money('k.total_value', 'k.currency')} AS value,
       (COALESCE(k.renewed, FALSE) OR r.renewal_of_id IS NOT NULL) AS was_renewed,
       CASE WHEN k.end_date IS NULL OR k.start_date IS NULL
                 OR (k.end_date - k.start_date) < 365 THEN 1.0
            ELSE (k.end_date - k.start_date) / 365.0 END AS term_years
FROM contracts k
LEFT JOIN (
    SELECT DISTINCT source, renewal_of_id FROM contracts
    WHERE NOT is_deleted AND renewal_of_id IS NOT NULL
) r ON r.source = k.source AND r.renewal_of_id = k.id
WHERE NOT k.is_deleted"""


def _spend(money: Money, as_of: str) -> str:
    return f"""
SELECT source, id, date, category, channel, campaign_id,
       {money('amount', 'currency')} AS amount
FROM spend WHERE NOT is_deleted"""


RELATIONS: dict[str, Relation] = {
    relation.name: relation
    for relation in (
        Relation("won_by_account", _won_by_account, ("deals",), {}),
        Relation("accounts", _accounts, ("accounts", "deals", "leads"),
                 {"source": "source", "owner": "owner_id", "industry": "industry",
                  "segment": "segment", "lead_source": "acquisition_channel"},
                 needs=("won_by_account",)),
        Relation("deals", _deals, ("deals", "accounts"),
                 {"source": "source", "owner": "owner_id", "pipeline": "pipeline",
                  "deal_type": "deal_type", "lead_source": "lead_source",
                  "campaign": "campaign_id", "industry": "industry", "segment": "segment"},
                 needs=("won_by_account",), money=(("deals", "amount", "currency"),)),
        Relation("leads", _leads, ("leads", "activities"),
                 {"source": "source", "owner": "owner_id", "lead_source": "lead_source"}),
        Relation("activities", _activities, ("activities",),
                 {"source": "source", "owner": "owner_id"}),
        Relation("tickets", _tickets, ("tickets",),
                 {"source": "source", "owner": "owner_id", "ticket_channel": "channel"}),
        Relation("campaigns", _campaigns, ("campaigns", "deals"),
                 {"source": "source", "campaign": "id"}, needs=("deals",),
                 money=(("campaigns", "actual_cost", "currency"),)),
        Relation("survey_responses", _survey_responses, ("survey_responses",),
                 {"source": "source", "survey_type": "survey_type"}),
        Relation("users", _users, ("users",), {"source": "source"}),
        Relation("contracts", _contracts, ("contracts",), {"source": "source"},
                 money=(("contracts", "total_value", "currency"),)),
        Relation("spend", _spend, ("spend",),
                 {"source": "source", "lead_source": "channel", "campaign": "campaign_id"},
                 money=(("spend", "amount", "currency"),)),
    )
}
"""Prepared relation name (what :attr:`Measure.relation` names) to its definition."""
