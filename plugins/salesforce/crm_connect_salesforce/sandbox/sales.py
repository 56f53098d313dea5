"""The sales side of the synthetic org: each account's story, and the users, accounts,
contacts, leads, campaigns and opportunities generated from it."""

from __future__ import annotations

import datetime as dt
import functools

from .ids import make_id
from .orgbase import (
    DAY,
    ContractPlan,
    OppPlan,
    OrgBasics,
    Record,
    Story,
    add_months,
    midnight,
    whole_seconds,
)
from .orgdata import (
    CAMPAIGN_TYPE,
    CITIES,
    CO_A,
    CO_B,
    CO_C,
    CURRENCIES,
    FIRST,
    INDUSTRIES,
    LAST,
    LEAD_SOURCES,
    MARKETING_SOURCES,
    OPEN_STAGES,
    ORIGIN,
    ROLES,
    SEGMENTS,
)


class SalesRecords(OrgBasics):
    """Record generators for the sales objects (each a pure function of the seed and index)."""

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

    # --- generators, one per object -------------------------------------------------------

    def _user_role(self, i: int) -> Record:
        rng = self._rng("UserRole", i)
        rec: Record = {
            "Id": make_id("00E", i),
            "Name": ROLES[i],
            "DeveloperName": ROLES[i].replace(" ", "_").replace(".", ""),
            "ParentRoleId": None if i == 0 else make_id("00E", 0),
        }
        return self._audit(rec, None, self.start - DAY * 400, 0, rng, deletable=False)

    def _user(self, i: int) -> Record:
        rng = self._rng("User", i)
        first, last = rng.choice(FIRST), rng.choice(LAST)
        if i == 0:
            first, last = "Sandbox", "Admin"
        username = (
            "sandbox@crm-connect.test" if i == 0 else f"{first}.{last}.{i}@crm-connect.test".lower()
        )
        active = i == 0 or rng.random() < 0.9
        roll = rng.random()
        if i == 0:
            last_login: dt.datetime | None = self.now - dt.timedelta(hours=1)
        elif roll < 0.5 and active:
            last_login = self.now - DAY * rng.uniform(0.01, 6.9)
        elif roll < 0.8 or not active:
            last_login = self.now - DAY * rng.uniform(8, 300)
        else:
            last_login = None  # never logged in
        created = self.start - DAY * rng.uniform(30, 400)
        rec: Record = {
            "Id": make_id("005", i),
            "Username": username,
            "LastName": last,
            "FirstName": first,
            "Name": f"{first} {last}",
            "Email": username,
            "Alias": (first[:1] + last[:4]).lower(),
            "IsActive": active,
            "UserRoleId": make_id("00E", self._role_of(i)),
            "Title": ROLES[self._role_of(i)],
            "Department": (
                "Executive",
                "Sales",
                "Sales",
                "Sales",
                "Marketing",
                "Support",
                "Customer Success",
            )[self._role_of(i)],
            "UserType": "Standard",
            "LastLoginDate": whole_seconds(last_login) if last_login else None,
            "TimeZoneSidKey": rng.choice(
                ("America/Los_Angeles", "America/New_York", "Europe/London", "Europe/Paris")
            ),
        }
        self._with_currency(rec, "USD")
        modified = created + DAY * rng.uniform(0, 300)
        return self._audit(rec, created, modified, 0, rng, deletable=False)

    def _account(self, a: int) -> Record:
        s = self.story(a)
        rng = self._rng("Account", a)
        city, country = rng.choice(CITIES)
        modified = s.created + dt.timedelta(minutes=rng.randint(0, 600))
        if s.customer_since and s.since_on_record:
            modified = max(modified, s.customer_since)
        if s.churned_at:
            modified = max(modified, s.churned_at)
        customer = s.customer_since is not None
        rec: Record = {
            "Id": make_id("001", a),
            "Name": s.name,
            "Type": ("Customer - Direct" if rng.random() < 0.8 else "Customer - Channel")
            if customer
            else "Prospect",
            "ParentId": None,
            "BillingStreet": self._street("Account", a),
            "BillingCity": city,
            "BillingPostalCode": self._postal_code("Account", a),
            "BillingCountry": country,
            "Phone": f"+1 555 {rng.randint(100, 999)} {rng.randint(1000, 9999)}",
            "Website": "https://www."
            + s.name.split()[0].lower()
            + s.name.split()[1].lower()
            + ".example",
            "Industry": s.industry,
            "AnnualRevenue": float(
                round(
                    {"SMB": 2e6, "Mid-Market": 4e7, "Enterprise": 6e8}[s.segment]
                    * rng.uniform(0.3, 2.0),
                    -4,
                )
            ),
            "NumberOfEmployees": int(
                {"SMB": 40, "Mid-Market": 600, "Enterprise": 8000}[s.segment]
                * rng.uniform(0.3, 2.5)
            ),
            "AccountSource": s.lead_source,
            "LastActivityDate": None,
            "OwnerId": self._uid(s.owner),
        }
        self._with_currency(rec, s.currency)
        rec["Customer_Since__c"] = s.customer_since if s.since_on_record else None
        rec["Churned_At__c"] = s.churned_at
        rec["Segment__c"] = s.segment
        rec["Acquisition_Channel__c"] = s.lead_source
        return self._audit(rec, s.created, modified, s.owner, rng)

    def _contact(self, c: int) -> Record:
        a, k = c % self.n_accounts, c // self.n_accounts
        s = self.story(a)
        rng = self._rng("Contact", c)
        first, last = rng.choice(FIRST), rng.choice(LAST)
        if k == 0:
            created = s.created
        else:
            created = self._before_now(s.created, s.created + DAY * rng.uniform(1, 300), rng)
        domain = s.name.split()[0].lower() + s.name.split()[1].lower() + ".example"
        rec: Record = {
            "Id": make_id("003", c),
            "AccountId": make_id("001", a),
            "LastName": last,
            "FirstName": first,
            "Name": f"{first} {last}",
            "Email": f"{first}.{last}{c}@{domain}".lower(),
            "Phone": f"+1 555 {rng.randint(100, 999)} {rng.randint(1000, 9999)}",
            "Title": rng.choice(
                ("CTO", "VP Operations", "Head of Sales", "Buyer", "Engineer", "CFO")
            ),
            **self._mailing_address(a, c),
            "LeadSource": s.lead_source if k == 0 else rng.choice(LEAD_SOURCES),
            "LastActivityDate": None,
            "OwnerId": self._uid(s.owner),
        }
        self._with_currency(rec, s.currency)
        modified = created + DAY * rng.uniform(0, 20)
        return self._audit(rec, created, self._before_now(created, modified, rng), s.owner, rng)

    # Addresses draw from generators of their own, so the rest of the org stays as it was.
    def _street(self, obj: str, index: int) -> str:
        rng = self._rng(f"{obj}.street", index)
        street = rng.choice(("Market", "Main", "Mission", "King", "Park"))
        return f"{rng.randint(1, 999)} {street} St"

    def _postal_code(self, obj: str, index: int) -> str:
        return f"{self._rng(f'{obj}.postal', index).randint(10000, 99999)}"

    def _mailing_address(self, a: int, c: int) -> Record:
        """A contact works at its account's city (the account drew it first)."""
        city, country = self._rng("Account", a).choice(CITIES)
        return {"MailingStreet": self._street("Contact", c), "MailingCity": city,
                "MailingPostalCode": self._postal_code("Contact", c), "MailingCountry": country}

    def _lead_address(self, lead: int) -> Record:
        rng = self._rng("Lead.address", lead)
        city, country = rng.choice(CITIES)
        return {"Phone": f"+1 555 {rng.randint(100, 999)} {rng.randint(1000, 9999)}",
                "Street": self._street("Lead", lead), "City": city,
                "PostalCode": self._postal_code("Lead", lead), "Country": country}

    def _lead_created(self, lead: int) -> dt.datetime:
        if lead < self.n_accounts and self.story(lead).from_lead:
            return self.story(lead).lead_created
        rng = self._rng("Lead.created", lead)
        return self._pos_time(rng, lead, 3 * self.n_accounts, dt.timedelta(days=1))

    def _lead(self, lead: int) -> Record:
        rng = self._rng("Lead", lead)
        first, last = rng.choice(FIRST), rng.choice(LAST)
        converted = lead < self.n_accounts and self.story(lead).from_lead
        created = self._lead_created(lead)
        if converted:
            s = self.story(lead)
            source = s.lead_source
            company = s.name
            status = "Closed - Converted"
            modified = s.created
            owner = s.owner
        else:
            source = rng.choices(LEAD_SOURCES, (20, 12, 12, 8, 8, 12, 14, 8, 6))[0]
            company = f"{rng.choice(CO_A)} {rng.choice(CO_B)} {rng.choice(CO_C)}"
            age = (self.now - created).days
            if age > 60:
                status = "Closed - Not Converted" if rng.random() < 0.6 else "Working - Contacted"
            else:
                status = "Open - Not Contacted" if rng.random() < 0.5 else "Working - Contacted"
            modified = self._before_now(created, created + DAY * rng.uniform(0, 30), rng)
            owner = rng.choice(self._sales_users)
        origin: str | None = ORIGIN[source]
        if not converted and rng.random() < 0.03:
            origin = None
        rec: Record = {
            "Id": make_id("00Q", lead),
            "LastName": last,
            "FirstName": first,
            "Name": f"{first} {last}",
            "Title": rng.choice(
                ("CTO", "VP Operations", "Head of Sales", "Buyer", "Engineer", "CFO")
            ),
            "Company": company,
            "Email": f"{first}.{last}.{lead}@lead.example".lower(),
            **self._lead_address(lead),
            "LeadSource": source,
            "Status": status,
            "Industry": rng.choice(INDUSTRIES),
            "Rating": rng.choice(("Hot", "Warm", "Cold")),
            "IsConverted": converted,
            "ConvertedDate": self.story(lead).created.date() if converted else None,
            "ConvertedAccountId": make_id("001", lead) if converted else None,
            "ConvertedContactId": make_id("003", lead) if converted else None,
            "ConvertedOpportunityId": make_id("006", lead) if converted else None,
            "OwnerId": self._uid(owner),
        }
        self._with_currency(rec, self.story(lead).currency if converted else "USD")
        rec["Origin__c"] = origin
        return self._audit(rec, created, modified, owner, rng)

    def _campaign(self, m: int) -> Record:
        rng = self._rng("Campaign", m)
        retention = m % 7 == 6
        channel = "Email" if retention else MARKETING_SOURCES[m % len(MARKETING_SOURCES)]
        start = self.start + self.span * (m / self.n_campaigns) + DAY * rng.uniform(0, 3)
        end = start + DAY * rng.uniform(14, 90)
        budget = float(round(rng.uniform(3000, 40000), -2))
        if end.date() < self.now.date():
            status = "Aborted" if rng.random() < 0.05 else "Completed"
            actual = (
                budget * rng.uniform(0.7, 1.2)
                if status == "Completed"
                else budget * rng.uniform(0, 0.3)
            )
        else:
            status = "In Progress"
            actual = budget * (self.now - start) / (end - start)
        created = start - DAY * rng.uniform(7, 30)
        quarter = (start.month - 1) // 3 + 1
        purpose = "Retention" if retention else "Acquisition"
        name = f"{start.year} Q{quarter} {channel} {purpose} #{m + 1}"
        rec: Record = {
            "Id": make_id("701", m),
            "Name": name,
            "ParentId": None,
            "Type": "Email" if retention else CAMPAIGN_TYPE[channel],
            "Status": status,
            "StartDate": start.date(),
            "EndDate": end.date(),
            "ExpectedRevenue": float(round(budget * rng.uniform(2, 6), -2)),
            "BudgetedCost": budget,
            "ActualCost": float(round(actual, 2)),
            "IsActive": status == "In Progress",
            "OwnerId": self._uid(rng.choice(self._marketing_users)),
        }
        self._with_currency(rec, "USD")
        rec["Channel__c"] = channel
        rec["Spend_Category__c"] = "Retention" if retention else "Acquisition"
        modified = self._before_now(created, min(end, self.now), rng)
        return self._audit(rec, created, modified, 0, rng)

    def _opportunity(self, j: int) -> Record:
        a, k = j % self.n_accounts, j // self.n_accounts
        s = self.story(a)
        plan = s.opps[k]
        rng = self._rng("Opportunity", j)
        if plan.closed:
            stage, probability = ("Closed Won", 100) if plan.won else ("Closed Lost", 0)
            forecast = "Closed" if plan.won else "Omitted"
        else:
            progress = min(
                0.99, max(0.0, (self.now - plan.created) / max(plan.close - plan.created, DAY))
            )
            stage, probability = OPEN_STAGES[
                min(len(OPEN_STAGES) - 1, int(progress * len(OPEN_STAGES)))
            ]
            forecast = (
                "Commit"
                if probability >= 75
                else ("Best Case" if probability >= 50 else "Pipeline")
            )
        product = rng.choice(
            ("Platform", "Analytics Add-on", "Support Plan", "Seats", "Integration")
        )
        rec: Record = {
            "Id": make_id("006", j),
            "AccountId": make_id("001", a),
            "Name": f"{s.name} - {product}" + (" Renewal" if plan.kind == "Renewal" else ""),
            "StageName": stage,
            "Amount": plan.amount if rng.random() > 0.02 else None,
            "Probability": float(probability),
            "CloseDate": plan.close.date(),
            "Type": plan.kind,
            "LeadSource": s.lead_source
            if k == 0
            else (s.lead_source if rng.random() < 0.5 else "Other"),
            "IsClosed": plan.closed,
            "IsWon": plan.won,
            "ForecastCategoryName": forecast,
            "CampaignId": make_id("701", plan.campaign) if plan.campaign is not None else None,
            "OwnerId": self._uid(s.owner),
        }
        self._with_currency(rec, s.currency)
        modified = (
            plan.close
            if plan.closed
            else plan.created + (self.now - plan.created) * rng.uniform(0, 1)
        )
        return self._audit(rec, plan.created, modified, s.owner, rng)
