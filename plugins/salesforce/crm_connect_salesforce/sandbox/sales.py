"""The sales side of the synthetic org: the users, accounts, contacts, leads, campaigns and
opportunities generated from each account's story (:mod:`.stories`)."""

from __future__ import annotations

import datetime as dt

from .ids import make_id
from .orgbase import DAY, Record, whole_seconds
from .orgdata import (
    CAMPAIGN_TYPE,
    CITIES,
    CO_A,
    CO_B,
    CO_C,
    FIRST,
    INDUSTRIES,
    LAST,
    LEAD_SOURCES,
    MARKETING_SOURCES,
    OPEN_STAGES,
    ORIGIN,
    ROLES,
)
from .stories import AccountStories


class SalesRecords(AccountStories):
    """Record generators for the sales objects (each a pure function of the seed and index)."""

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
