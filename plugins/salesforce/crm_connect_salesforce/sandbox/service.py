"""The service side of the synthetic org: tasks, events, cases, contracts, survey responses and
the organization record."""

from __future__ import annotations

import datetime as dt
import random

from .ids import make_id
from .orgbase import DAY, Record, add_months, midnight, whole_seconds
from .orgdata import COMMENTS
from .sales import SalesRecords


class ServiceRecords(SalesRecords):
    """Record generators for activities, cases, contracts and surveys."""

    def _who_for_activity(
        self, rng: random.Random, lead_share: float
    ) -> tuple[Record, dt.datetime]:
        """Pick a lead or a contact for an activity and a time in its life; returns ids and time."""
        if rng.random() < lead_share:
            lead = rng.randrange(3 * self.n_accounts)
            created = self._lead_created(lead)
            when = created + DAY * rng.uniform(0.05, 14)
            if lead < self.n_accounts and self.story(lead).from_lead:
                owner = self.story(lead).owner
            else:
                owner = self._sales_users[lead % len(self._sales_users)]
            return {
                "WhoId": make_id("00Q", lead),
                "WhatId": None,
                "AccountId": None,
                "owner": owner,
            }, whole_seconds(when)
        contact = rng.randrange(2 * self.n_accounts)
        a = contact % self.n_accounts
        s = self.story(a)
        born = s.created
        when = born + (self.now + DAY * 14 - born) * rng.random()
        what = (
            make_id("006", a + self.n_accounts * rng.randrange(3))
            if rng.random() < 0.5
            else make_id("001", a)
        )
        return {
            "WhoId": make_id("003", contact),
            "WhatId": what,
            "AccountId": make_id("001", a),
            "owner": s.owner,
        }, whole_seconds(when)

    def _task(self, t: int) -> Record:
        rng = self._rng("Task", t)
        who, when = self._who_for_activity(rng, 0.4)
        owner = who.pop("owner")
        subtype = rng.choices(("Call", "Email", "LinkedIn", "Task"), (35, 35, 10, 20))[0]
        past = when <= self.now
        completed = past and rng.random() < 0.92
        direction: str | None = None
        call_type = None
        duration = None
        opened = clicked = False
        if subtype == "Call":
            direction = "Outbound" if rng.random() < 0.75 else "Inbound"
            call_type = direction
            subject = f"Call: {rng.choice(('Discovery', 'Follow-up', 'Check-in', 'Demo recap'))}"
            if completed:
                duration = rng.randint(30, 1800)
        elif subtype == "Email":
            direction = "Outbound" if rng.random() < 0.85 else "Inbound"
            subject = (
                f"Email: {rng.choice(('Intro', 'Proposal', 'Follow-up', 'Newsletter', 'Renewal'))}"
            )
            if direction == "Outbound":
                opened = rng.random() < 0.45
                clicked = opened and rng.random() < 0.3
        elif subtype == "LinkedIn":
            direction = "Outbound" if rng.random() < 0.5 else "Inbound"
            action = rng.choice(("Liked a post", "Shared a post", "Commented", "Connected"))
            subject = f"LinkedIn: {action}"
        else:
            subject = rng.choice(("Prepare proposal", "Update CRM", "Send contract", "Plan QBR"))
        status = (
            "Completed"
            if completed
            else ("Not Started" if not past or rng.random() < 0.5 else "In Progress")
        )
        done_at = (
            whole_seconds(when + dt.timedelta(minutes=rng.randint(1, 120))) if completed else None
        )
        if done_at is not None and done_at > self.now:
            done_at = self.now
        created = min(when - DAY * rng.uniform(0, 2), self.now - dt.timedelta(minutes=5))
        rec: Record = {
            "Id": make_id("00T", t),
            **who,
            "Subject": subject,
            "ActivityDate": when.date(),
            "Status": status,
            "Priority": rng.choice(("High", "Normal", "Normal", "Low")),
            "IsClosed": completed,
            "TaskSubtype": subtype,
            "Type": {"Call": "Call", "Email": "Email", "LinkedIn": "Other", "Task": "Other"}[
                subtype
            ],
            "CallType": call_type,
            "CallDurationInSeconds": duration,
            "CompletedDateTime": done_at,
            "OwnerId": self._uid(owner),
            "Direction__c": direction,
            "Email_Opened__c": opened,
            "Email_Clicked__c": clicked,
        }
        return self._audit(rec, created, done_at or created, owner, rng)

    def _event(self, e: int) -> Record:
        rng = self._rng("Event", e)
        who, when = self._who_for_activity(rng, 0.3)
        owner = who.pop("owner")
        minutes = rng.choice((30, 45, 60))
        created = min(when - DAY * rng.uniform(1, 10), self.now - dt.timedelta(minutes=5))
        rec: Record = {
            "Id": make_id("00U", e),
            **who,
            "Subject": "Meeting: "
            + rng.choice(("Discovery", "Demo", "QBR", "Negotiation", "Onboarding")),
            "ActivityDate": when.date(),
            "ActivityDateTime": when,
            "StartDateTime": when,
            "EndDateTime": when + dt.timedelta(minutes=minutes),
            "DurationInMinutes": minutes,
            "EventSubtype": "Event",
            "Type": "Meeting",
            "OwnerId": self._uid(owner),
            "Direction__c": "Outbound" if rng.random() < 0.8 else "Inbound",
        }
        modified = min(when + dt.timedelta(minutes=minutes), self.now)
        return self._audit(rec, created, modified, owner, rng)

    def _customer_account(self, rng: random.Random, when: dt.datetime) -> int:
        limit = max(
            1,
            min(
                self.n_accounts, int((when - self.start) / (self.span - DAY * 45) * self.n_accounts)
            ),
        )
        pick = rng.randrange(limit)
        for _ in range(4):
            since = self.story(pick).customer_since
            if since is not None and since <= when:
                return pick
            pick = rng.randrange(limit)
        return pick

    def _case(self, i: int) -> Record:
        rng = self._rng("Case", i)
        created = self._pos_time(rng, i, self.n_accounts, dt.timedelta(hours=2))
        a = self._customer_account(rng, created)
        s = self.story(a)
        first = (
            whole_seconds(created + dt.timedelta(hours=rng.lognormvariate(1.0, 1.2)))
            if rng.random() < 0.92
            else None
        )
        closed_at = whole_seconds(created + dt.timedelta(hours=rng.uniform(1, 360)))
        closed = closed_at <= self.now
        if first is not None and (first > self.now or (closed and first > closed_at)):
            first = closed_at if closed else None
        interactions: float | None = float(1 if rng.random() < 0.35 else rng.randint(2, 8))
        if rng.random() < 0.05:
            interactions = None
        handle: float | None = round(rng.uniform(4, 180), 2) if rng.random() < 0.9 else None
        if closed:
            status = "Closed"
        elif first is None:
            status = "New"
        else:
            status = rng.choice(("Working", "Escalated", "Waiting on Customer"))
        owner = rng.choice(self._support_users)
        rec: Record = {
            "Id": make_id("500", i),
            "CaseNumber": f"{i + 1:08d}",
            "ContactId": make_id("003", a + self.n_accounts * rng.randrange(2)),
            "AccountId": make_id("001", a),
            "Subject": rng.choice(
                (
                    "Cannot log in",
                    "Invoice question",
                    "Sync error",
                    "Feature request",
                    "Data export",
                    "Password reset",
                    "Integration failing",
                )
            ),
            "Status": status,
            "Origin": rng.choices(("Phone", "Email", "Web", "Chat"), (30, 35, 20, 15))[0],
            "Priority": rng.choices(("High", "Medium", "Low"), (20, 50, 30))[0],
            "Type": rng.choice(("Question", "Problem", "Feature Request")),
            "IsClosed": closed,
            "ClosedDate": closed_at if closed else None,
            "IsEscalated": status == "Escalated",
            "OwnerId": self._uid(owner),
        }
        self._with_currency(rec, s.currency)
        rec["First_Response_At__c"] = first
        rec["Interactions__c"] = interactions
        rec["Handle_Time_Minutes__c"] = handle if closed or rng.random() < 0.3 else None
        modified = max(t for t in (created, first, closed_at if closed else None) if t is not None)
        return self._audit(rec, created, modified, owner, rng)

    def _contract(self, n: int) -> Record:
        a, seq = self._contract_account[n], self._contract_seq[n]
        s = self.story(a)
        plan = s.contracts[seq]
        rng = self._rng("Contract", n)
        end = add_months(plan.start, plan.term) - DAY
        created = midnight(plan.start) - DAY * rng.uniform(1, 20)
        activated = whole_seconds(midnight(plan.start) + dt.timedelta(hours=rng.uniform(8, 18)))
        expired = end < self.now.date()
        rec: Record = {
            "Id": make_id("800", n),
            "AccountId": make_id("001", a),
            "ContractNumber": f"{n + 1:08d}",
            "Status": "Activated",
            "StatusCode": "Expired" if expired else "Activated",
            "StartDate": plan.start,
            "EndDate": end,
            "ContractTerm": plan.term,
            "ActivatedDate": activated if activated <= self.now else None,
            "OwnerId": self._uid(s.owner),
        }
        self._with_currency(rec, s.currency)
        rec["Total_Value__c"] = plan.value
        rec["Renewed__c"] = bool(plan.renewed)
        if plan.renewed is None and not expired:
            rec["Renewed__c"] = False
        rec["Renewal_Of__c"] = make_id("800", n - 1) if plan.renewal_of is not None else None
        modified = min(self.now, max(activated, midnight(end)) if expired else activated)
        return self._audit(rec, min(created, self.now - DAY), modified, s.owner, rng)

    def _survey(self, i: int) -> Record:
        rng = self._rng("Survey_Response__c", i)
        responded = self._pos_time(rng, i, self.n_accounts, dt.timedelta(hours=1))
        a = self._customer_account(rng, responded)
        kind = rng.choices(("NPS", "CSAT", "CES"), (50, 30, 20))[0]
        if kind == "NPS":
            low, high = 0.0, 10.0
            score = float(
                rng.choices(
                    (rng.randint(9, 10), rng.randint(7, 8), rng.randint(0, 6)), (45, 30, 25)
                )[0]
            )
        elif kind == "CSAT":
            low, high = (1.0, 5.0) if rng.random() < 0.8 else (1.0, 10.0)
            score = float(min(high, max(low, round(high - abs(rng.gauss(0, high * 0.25))))))
        else:
            low, high = (1.0, 7.0) if rng.random() < 0.7 else (1.0, 5.0)
            score = float(min(high, max(low, round(rng.uniform(low, high)))))
        owner = rng.choice(self._support_users)
        rec: Record = {
            "Id": make_id("a0S", i),
            "Name": f"SR-{i + 1:06d}",
            "OwnerId": self._uid(owner),
            "Type__c": kind,
            "Score__c": score,
            "Scale_Min__c": low,
            "Scale_Max__c": high,
            "Contact__c": make_id("003", a),
            "Account__c": make_id("001", a),
            "Responded_At__c": responded,
            "Comment__c": rng.choice(COMMENTS),
        }
        created = responded + dt.timedelta(seconds=rng.randint(1, 90))
        return self._audit(rec, created, created, 0, rng)

    def _organization(self, i: int) -> Record:
        """The org's one ``Organization`` record: its corporate (default) currency and locale."""
        rng = self._rng("Organization", i)
        locale = {"EUR": "de_DE_EURO", "GBP": "en_GB"}.get(self.default_currency, "en_US")
        rec: Record = {
            "Id": make_id("00D", i),
            "Name": "crm-connect sandbox",
            "Division": None,
            "Country": "US",
            "Phone": None,
            "PrimaryContact": "Sandbox Admin",
            "DefaultLocaleSidKey": locale,
            "TimeZoneSidKey": "America/Los_Angeles",
            "LanguageLocaleKey": "en_US",
            "FiscalYearStartMonth": 1,
            "DefaultCurrencyIsoCode": self.default_currency,
            "OrganizationType": "Enterprise Edition",
            "InstanceName": "CS42",
            "IsSandbox": True,
        }
        return self._audit(
            rec, self.start - DAY * 500, self.start - DAY * 400, 0, rng, deletable=False
        )
