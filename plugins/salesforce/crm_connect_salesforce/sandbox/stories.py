"""Each account's story in the synthetic org: when it became a lead, a customer and churned,
its opportunities and contracts, drawn once from the seed; the record generators
(:mod:`.sales`, :mod:`.service`) all read it."""

from __future__ import annotations

import datetime as dt
import functools

from .orgbase import (
    DAY,
    ContractPlan,
    OppPlan,
    OrgBasics,
    Story,
    add_months,
    midnight,
    whole_seconds,
)
from .orgdata import (
    CO_A,
    CO_B,
    CO_C,
    CURRENCIES,
    INDUSTRIES,
    LEAD_SOURCES,
    MARKETING_SOURCES,
    SEGMENTS,
)


class AccountStories(OrgBasics):
    """Each account's story (a pure function of the seed and the account's index)."""

    @functools.lru_cache(maxsize=16384)  # noqa: B019 - the org lives as long as its cache
    def story(self, a: int) -> Story:
        rng = self._rng("Account.story", a)
        created = self._pos_time(rng, a, self.n_accounts, dt.timedelta(days=45))
        segment = rng.choices(SEGMENTS, (60, 30, 10))[0]
        base_amount = {"SMB": 8000.0, "Mid-Market": 35000.0, "Enterprise": 140000.0}[segment]
        base_amount = round(base_amount * rng.uniform(0.5, 1.8), -2)
        source = rng.choices(LEAD_SOURCES, (20, 12, 12, 8, 8, 12, 14, 8, 6))[0]
        from_lead = rng.random() < 0.65
        lead_created = whole_seconds(created - DAY * rng.uniform(3, 90))
        currency = rng.choices(CURRENCIES, (85, 10, 5))[0]
        name = f"{rng.choice(CO_A)} {rng.choice(CO_B)} {rng.choice(CO_C)}"

        def deal(
            kind: str,
            opened: dt.datetime,
            cycle_days: float,
            p_win: float,
            amount: float,
            campaign: int | None = None,
        ) -> OppPlan:
            close = whole_seconds(opened + DAY * cycle_days)
            closed = close <= self.now
            won = closed and rng.random() < p_win
            return OppPlan(
                kind, whole_seconds(opened), close, closed, won, round(amount, -2), campaign
            )

        campaign = None
        if source in MARKETING_SOURCES and rng.random() < 0.7:
            campaign = self._campaign_for(source, created)
        first = deal(
            "New Business",
            created + dt.timedelta(seconds=rng.randint(0, 60)),
            rng.uniform(10, 120),
            0.5,
            base_amount,
            campaign,
        )
        since = first.close if first.won else None
        if since is None:
            # a second new-business attempt, later
            if first.closed:
                opened = self._before_now(
                    first.close, first.close + DAY * rng.uniform(60, 400), rng
                )
            else:
                opened = whole_seconds(created + (self.now - created) * rng.uniform(0.05, 0.3))
            second = deal("New Business", opened, rng.uniform(10, 90), 0.3, base_amount * 0.8)
            if second.won:
                since = second.close
        # contracts (only customers) decide renewal and churn
        contracts: list[ContractPlan] = []
        churned_at: dt.datetime | None = None
        if since is not None:
            start = since.date()
            term = 12 if rng.random() < 0.7 else 24
            value = base_amount
            while True:
                end = add_months(start, term) - DAY
                ended = end < self.now.date()
                renew = ended and rng.random() < 0.75
                seq = len(contracts)
                flag: bool | None = (rng.random() < 0.6) if renew else (False if ended else None)
                if renew and not flag:
                    flag = None  # renewed, but only Renewal_Of__c on the next contract says so
                contracts.append(
                    ContractPlan(
                        start, term, round(value * term / 12, -2), flag, seq - 1 if seq else None
                    )
                )
                if not ended:
                    break
                if not renew:
                    churn = midnight(end) + DAY * rng.uniform(0, 20)
                    churned_at = whole_seconds(churn) if churn <= self.now else None
                    break
                start, term, value = end + DAY, 12, value * rng.uniform(1.0, 1.1)
        if since is not None:
            # an upsell after the customer arrived
            lo = since
            hi = churned_at or self.now
            opened = whole_seconds(lo + (hi - lo) * rng.uniform(0.1, 0.9))
            second = deal(
                "Existing Customer - Upgrade",
                opened,
                rng.uniform(7, 90),
                0.55,
                base_amount * rng.uniform(0.2, 0.5),
            )
            if churned_at is not None and second.close > churned_at:
                second = OppPlan(
                    second.kind, second.created, churned_at, True, False, second.amount, None
                )
            first_end = add_months(contracts[0].start, contracts[0].term) - DAY
            renewed = len(contracts) > 1
            if first_end < self.now.date():
                close = whole_seconds(midnight(first_end) - DAY * rng.uniform(0, 15))
                opened = max(since + DAY, close - DAY * 60)
                third = OppPlan(
                    "Renewal",
                    opened,
                    max(close, opened),
                    True,
                    renewed,
                    round(contracts[1].value if renewed else base_amount, -2),
                    None,
                )
            else:
                opened = self._before_now(since + DAY, midnight(first_end) - DAY * 90, rng)
                third = OppPlan(
                    "Renewal",
                    opened,
                    midnight(first_end),
                    False,
                    False,
                    round(base_amount, -2),
                    None,
                )
        else:
            opened = whole_seconds(
                max(created + dt.timedelta(hours=1), self.now - DAY * rng.uniform(1, 120))
            )
            third = OppPlan(
                "New Business",
                opened,
                whole_seconds(opened + DAY * rng.uniform(20, 120)),
                False,
                False,
                round(base_amount * 1.1, -2),
                None,
            )
            if third.close <= self.now:
                third = OppPlan(
                    third.kind, third.created, self.now + DAY * 30, False, False, third.amount, None
                )
        return Story(
            name=name,
            created=created,
            owner=rng.choice(self._sales_users),
            segment=segment,
            industry=rng.choice(INDUSTRIES),
            currency=currency,
            lead_source=source,
            from_lead=from_lead,
            lead_created=lead_created,
            opps=(first, second, third),
            customer_since=since,
            since_on_record=since is not None and rng.random() < 0.7,
            churned_at=churned_at,
            contracts=tuple(contracts),
        )

    def _campaign_for(self, source: str, when: dt.datetime) -> int | None:
        """The latest acquisition campaign of the same channel that started before ``when``."""
        channel = MARKETING_SOURCES.index(source)
        latest = min(
            self.n_campaigns - 1, int((when - self.start) / self.span * self.n_campaigns) - 1
        )
        for m in range(latest, -1, -1):
            if m % len(MARKETING_SOURCES) == channel and m % 7 != 6:
                return m
        return None

