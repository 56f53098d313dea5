"""A deterministic synthetic portal whose data feeds every KPI the catalogue defines.

Same seed and size, same portal.  The history runs over the three years before ``now``
(2026-05-01): companies that become customers (some only through a won deal, without the
lifecycle date), churn (custom ``churn_date``) and segments (custom ``customer_segment``);
contacts that stay leads or convert through the lifecycle stages, with their original traffic
source; new-business, upsell and renewal deals in two pipelines, won, lost and open (open ones
close in the future), in three currencies, some attributed to campaigns; calls, emails (opens
and clicks), meetings, notes and tasks (LinkedIn tasks for social) on contacts, companies and
deals, outbound and inbound; tickets with first agent reply and close dates; NPS, CSAT and CES
feedback submissions; owners (some deactivated); marketing campaigns with budgets and spend.
A few records of every object type are archived.

Search-paging trap: in the order of the modification stamp, the five records around every
200th live record share one stamp, so a cursor that pages with ``>`` loses records.
"""

from __future__ import annotations

import datetime as dt
import random
import uuid
from dataclasses import dataclass

from .portal import DEFAULT_NOW, Portal, PropertyValue, iso_ms, ms_of

__all__ = ["PortalSize", "generate_portal"]

DAY_MS = 86_400_000
HISTORY_DAYS = 3 * 365
PAGE_TRAP = 200
_FIRST = ("Ava", "Liam", "Noah", "Emma", "Mia", "Lucas", "Sofia", "Amara", "Hiro", "Chen",
          "Priya", "Mateo", "Zoe", "Omar", "Lena", "Jonas", "Ines", "Kofi", "Yuki", "Nora")
_LAST = ("Smith", "Garcia", "Chen", "Patel", "Okafor", "Muller", "Rossi", "Kim", "Nguyen",
         "Silva", "Novak", "Haddad", "Tanaka", "Dubois", "Costa", "Reyes", "Larsen", "Bauer")
_WORD_A = ("Blue", "Nordic", "Apex", "Quantum", "Silver", "Bright", "Summit", "Harbor",
           "Atlas", "Lumen", "Vertex", "Cobalt", "Granite", "Sterling")
_WORD_B = ("Labs", "Systems", "Logistics", "Health", "Foods", "Robotics", "Analytics",
           "Partners", "Works", "Energy", "Capital", "Media")
_INDUSTRIES = ("COMPUTER_SOFTWARE", "FINANCIAL_SERVICES", "HOSPITAL_HEALTH_CARE", "RETAIL",
               "MACHINERY", "EDUCATION_MANAGEMENT", "LOGISTICS_AND_SUPPLY_CHAIN")
_SOURCES = ("ORGANIC_SEARCH", "PAID_SEARCH", "EMAIL_MARKETING", "SOCIAL_MEDIA", "REFERRALS",
            "DIRECT_TRAFFIC", "OFFLINE", "PAID_SOCIAL")
_SEGMENTS = ("smb", "mid_market", "enterprise")
_OPEN_STAGES = ("appointmentscheduled", "qualifiedtobuy", "presentationscheduled",
                "decisionmakerboughtin", "contractsent")
_PROBABILITY = {"appointmentscheduled": "0.2", "qualifiedtobuy": "0.4",
                "presentationscheduled": "0.6", "decisionmakerboughtin": "0.8",
                "contractsent": "0.9", "closedwon": "1.0", "closedlost": "0.0",
                "150482111": "0.5", "150482112": "0.85", "150482113": "1.0", "150482114": "0.0"}
_WON = {"closedwon", "150482113"}
_LOST = {"closedlost", "150482114"}
_CAMPAIGN_TYPES = ("EMAIL", "PAID_SEARCH", "SOCIAL", "EVENT", "CONTENT")
_ENGAGEMENTS = ("emails", "calls", "meetings", "tasks", "notes")


# Addresses are derived from the record's number, not drawn from the portal's generator, so
# every other value of a seeded portal stays as it was.
def _company_address(n: int) -> dict[str, PropertyValue]:
    return {"phone": f"+1 555 02{n % 90 + 10}", "address": f"{n * 7 % 300 + 1} Harbor Way",
            "zip": f"{10000 + n * 37 % 89999}"}


def _contact_address(company: int, i: int) -> dict[str, PropertyValue]:
    return {"address": f"{(company + i) * 11 % 400 + 1} Mill Road", "city": "Berlin",
            "zip": f"{10000 + (company * 13 + i) % 89999}", "country": "Germany"}


@dataclass(frozen=True)

class PortalSize:
    """How big a portal to generate: everything scales with the number of companies."""

    companies: int = 40
    contacts_per_company: int = 4
    deals_per_company: int = 2
    engagements_per_contact: int = 3
    tickets_per_company: int = 1
    feedback_per_company: int = 2
    owners: int = 8
    campaigns: int = 6
    archived_percent: int = 3

    @property
    def records_per_company(self) -> int:
        return (1 + self.contacts_per_company * (1 + self.engagements_per_contact)
                + self.deals_per_company + self.tickets_per_company + self.feedback_per_company)

    @classmethod
    def for_records(cls, records: int) -> PortalSize:
        """A portal of about ``records`` CRM records in all."""
        per_company = cls().records_per_company
        return cls(companies=max(5, round(records / per_company)))


def generate_portal(size: PortalSize | None = None, *, seed: int = 0,
                    now: dt.datetime = DEFAULT_NOW, portal_id: int = 44237313) -> Portal:
    """Generate the portal for ``seed`` and ``size``."""
    portal = Portal(portal_id=portal_id, now=now)
    _Generator(portal, size or PortalSize(), random.Random(seed)).run()
    return portal


class _Generator:
    def __init__(self, portal: Portal, size: PortalSize, rng: random.Random) -> None:
        self.portal = portal
        self.size = size
        self.rng = rng
        self.now = ms_of(portal.now)
        self.owner_ids: list[str] = []
        self.user_ids: list[str] = []
        self.campaign_ids: list[str] = []

    def run(self) -> None:
        self.make_owners()
        self.make_campaigns()
        for n in range(self.size.companies):
            self.make_company(n)
        self.archive_some()
        for name in self.portal.records:
            self.trap_page_boundaries(name)

    # -- helpers --------------------------------------------------------------------------------

    def when(self, start: int, end: int) -> int:
        """A moment in ``[start, end)`` with millisecond precision."""
        return self.rng.randrange(start, max(start + 1, end))

    def stamp(self, start: int, end: int | None = None) -> str:
        return iso_ms(self.when(start, self.now if end is None else end))

    def modified_after(self, created: int) -> str:
        """A modification stamp after creation: most records were touched again later."""
        if self.rng.random() < 0.3 and created + 5000 < self.now:
            return iso_ms(created + self.rng.randrange(0, 5000))
        return iso_ms(self.when(created, self.now))

    def owner(self) -> str:
        return self.rng.choice(self.owner_ids)

    # -- owners and campaigns -------------------------------------------------------------------

    def make_owners(self) -> None:
        for n in range(self.size.owners):
            first, last = self.rng.choice(_FIRST), self.rng.choice(_LAST)
            owner_id = str(32900000 + 137 * (n + 1))
            user_id = 88800000 + 211 * (n + 1)
            created = self.when(self.now - HISTORY_DAYS * DAY_MS, self.now - 400 * DAY_MS)
            archived = n >= 2 and n % 5 == 4  # deactivated users
            self.portal.owners.append({
                "id": owner_id, "email": f"{first}.{last}{n}@sandbox-portal.example".lower(),
                "type": "PERSON", "firstName": first, "lastName": last,
                "userId": user_id, "userIdIncludingInactive": user_id,
                "createdAt": iso_ms(created),
                "updatedAt": iso_ms(self.when(created, self.now)), "archived": archived,
            })
            if not archived:
                self.owner_ids.append(owner_id)
                self.user_ids.append(str(user_id))

    def make_campaigns(self) -> None:
        for n in range(self.size.campaigns):
            start = self.now - self.rng.randrange(30, 700) * DAY_MS
            end = start + self.rng.randrange(14, 90) * DAY_MS
            budget = self.rng.randrange(20, 200) * 100
            spent = min(budget, round(budget * self.rng.uniform(0.5, 1.1)))
            created = start - self.rng.randrange(5, 40) * DAY_MS
            campaign_id = str(uuid.UUID(int=self.rng.getrandbits(128), version=4))
            self.campaign_ids.append(campaign_id)
            self.portal.campaigns.append({
                "id": campaign_id,
                "properties": {
                    "hs_name": f"{self.rng.choice(_WORD_A)} {2024 + n % 3} campaign {n + 1}",
                    "hs_start_date": iso_ms(start)[:10], "hs_end_date": iso_ms(end)[:10],
                    "hs_campaign_status": "completed" if end < self.now else "active",
                    "hs_budget_items_sum_amount": str(budget),
                    "hs_spend_items_sum_amount": str(spent), "hs_currency_code": "USD",
                    "hs_campaign_type": _CAMPAIGN_TYPES[n % len(_CAMPAIGN_TYPES)],
                    "hs_owner": self.owner(),
                },
                "createdAt": iso_ms(created),
                "updatedAt": iso_ms(self.when(created, self.now)),
                "businessUnits": [{"id": 0}],
            })

    # -- companies and what hangs off them ------------------------------------------------------

    def make_company(self, n: int) -> None:
        rng = self.rng
        created = self.when(self.now - HISTORY_DAYS * DAY_MS, self.now - 20 * DAY_MS)
        name = f"{rng.choice(_WORD_A)} {rng.choice(_WORD_B)} {n}"
        domain = name.lower().replace(" ", "-") + ".example.com"
        # every fifth company in three is a customer, one of those churned, so that even a
        # small portal has each shape
        customer_at = created + rng.randrange(10, 200) * DAY_MS if n % 5 < 3 else None
        if customer_at is not None and customer_at >= self.now:
            customer_at = created + (self.now - created) // 2
        churned = customer_at is not None and n % 5 == 2
        churn_at = self.when(customer_at, self.now) if churned and customer_at else None
        props: dict[str, PropertyValue] = {
            "name": name, "domain": domain, "website": f"https://www.{domain}",
            "industry": rng.choice(_INDUSTRIES), "city": rng.choice(("Berlin", "Austin", "Lyon")),
            "country": rng.choice(("Germany", "United States", "France")),
            **_company_address(n),
            "numberofemployees": str(rng.choice((12, 48, 250, 1200))),
            "annualrevenue": str(rng.randrange(1, 400) * 50000),
            "hubspot_owner_id": self.owner(), "hs_created_by_user_id": rng.choice(self.user_ids),
            "hs_analytics_source": rng.choice(_SOURCES),
            "lifecyclestage": "customer" if customer_at else rng.choice(("lead", "opportunity")),
            "hs_lifecyclestage_lead_date": iso_ms(created),
            "customer_segment": rng.choice(_SEGMENTS),
            "churn_date": iso_ms(churn_at)[:10] if churn_at else None,
            "createdate": iso_ms(created), "hs_lastmodifieddate": self.modified_after(created),
        }
        if customer_at is not None and n % 10 != 1:  # else: only the won deal says so
            props["hs_lifecyclestage_customer_date"] = iso_ms(customer_at)
            props["hs_v2_date_entered_customer"] = iso_ms(customer_at)
            props["hs_lifecyclestage_opportunity_date"] = iso_ms(customer_at - 9 * DAY_MS)
        company = self.portal.add("companies", props)
        contacts = [self.make_contact(company, name, created, customer_at, i)
                    for i in range(self.size.contacts_per_company)]
        deals = [self.make_deal(company, contacts, created, customer_at, i)
                 for i in range(self.size.deals_per_company)]
        for contact, contact_created in contacts:
            for i in range(self.size.engagements_per_contact):
                self.make_engagement(company, contact, contact_created, deals, i)
        for _ in range(self.size.tickets_per_company):
            self.make_ticket(company, contacts, created)
        for i in range(self.size.feedback_per_company):
            self.make_feedback(company, contacts, created, i)

    def make_contact(self, company: int, company_name: str, company_created: int,
                     customer_at: int | None, i: int) -> tuple[int, int]:
        rng = self.rng
        created = self.when(company_created - 30 * DAY_MS, self.now - DAY_MS)
        first, last = rng.choice(_FIRST), rng.choice(_LAST)
        stages = ["subscriber", "lead", "marketingqualifiedlead", "salesqualifiedlead",
                  "opportunity", "customer"]
        reach = rng.randrange(1, 5)  # how far along the lifecycle the contact went
        if customer_at is not None and i == 0:
            reach = 5
        props: dict[str, PropertyValue] = {
            "email": f"{first}.{last}.{company}.{i}@example.com".lower(),
            "firstname": first, "lastname": last, "company": company_name,
            "jobtitle": rng.choice(("CTO", "Buyer", "Head of Ops", "Analyst")),
            "phone": f"+1 555 01{rng.randrange(10, 99)}",
            **_contact_address(company, i),
            "hs_lead_status": rng.choice(("NEW", "OPEN", "IN_PROGRESS", "CONNECTED")),
            "hs_analytics_source": rng.choice(_SOURCES),
            "hs_analytics_source_data_1": rng.choice(("google", "linkedin", "newsletter", None)),
            "hubspot_owner_id": self.owner(), "associatedcompanyid": str(company),
            "partner_referral": "true" if rng.random() < 0.1 else "false",
            "createdate": iso_ms(created), "lastmodifieddate": self.modified_after(created),
        }
        moment = created
        for stage in stages[: reach + 1]:
            props[f"hs_lifecyclestage_{stage}_date"] = iso_ms(moment)
            props["lifecyclestage"] = stage
            moment = min(moment + rng.randrange(1, 40) * DAY_MS, self.now - 1000)
        contact = self.portal.add("contacts", props)
        self.portal.associate("contacts", contact, "companies", company, primary=True)
        return contact, created

    def make_deal(self, company: int, contacts: list[tuple[int, int]], company_created: int,
                  customer_at: int | None, i: int) -> int:
        rng = self.rng
        first_win = customer_at is not None and i == 0
        kind = "newbusiness" if i == 0 else rng.choice(("existingbusiness", "renewal"))
        pipeline = "75941726" if kind == "renewal" else "default"
        if first_win and customer_at is not None:
            created = max(company_created, customer_at - rng.randrange(10, 90) * DAY_MS)
            stage, closed = "closedwon", customer_at
        else:
            created = self.when(company_created, self.now - DAY_MS)
            roll = (0.2, 0.5, 0.9, rng.random())[(company + i) % 4]  # won, lost, open, any
            won, lost = ("150482113", "150482114") if kind == "renewal" else ("closedwon",
                                                                               "closedlost")
            if roll < 0.45:
                stage, closed = won, self.when(created + DAY_MS, self.now)
            elif roll < 0.7:
                stage, closed = lost, self.when(created + DAY_MS, self.now)
            else:
                stage = rng.choice(("150482111", "150482112") if kind == "renewal"
                                   else _OPEN_STAGES)
                closed = self.now + rng.randrange(5, 120) * DAY_MS  # expected close date
        amount = rng.choice((f"{rng.randrange(5, 200) * 500}", f"{rng.randrange(5, 200) * 500}.00",
                             f"{rng.randrange(1000, 90000)}.5"))
        props: dict[str, PropertyValue] = {
            "dealname": f"{kind.title()} deal {company}-{i}", "amount": amount,
            "deal_currency_code": rng.choice(("USD", "USD", "USD", "EUR", "GBP")),
            "pipeline": pipeline, "dealstage": stage, "dealtype": kind,
            "closedate": iso_ms(closed), "hubspot_owner_id": self.owner(),
            "hs_analytics_source": rng.choice(_SOURCES),
            "hs_campaign": rng.choice(self.campaign_ids) if rng.random() < 0.4 else None,
            "hs_deal_stage_probability": _PROBABILITY[stage],
            "hs_is_closed": "true" if stage in _WON | _LOST else "false",
            "hs_is_closed_won": "true" if stage in _WON else "false",
            "contract_term_months": str(rng.choice((12, 24, 36))) if kind != "existingbusiness"
            else None,
            "createdate": iso_ms(created),
            "hs_lastmodifieddate": self.modified_after(min(max(created, closed), self.now - 1)),
        }
        deal = self.portal.add("deals", props)
        self.portal.associate("deals", deal, "companies", company, primary=True)
        if contacts:
            self.portal.associate("deals", deal, "contacts", contacts[0][0])
        return deal

    def make_engagement(self, company: int, contact: int, contact_created: int,
                        deals: list[int], i: int) -> None:
        rng = self.rng
        kind = _ENGAGEMENTS[(contact + i) % len(_ENGAGEMENTS)]
        at = self.when(contact_created, self.now)
        created = at + rng.randrange(0, 3_600_000)
        props: dict[str, PropertyValue] = {
            "hubspot_owner_id": self.owner(), "hs_timestamp": iso_ms(at),
            "hs_createdate": iso_ms(min(created, self.now - 1)),
            "hs_lastmodifieddate": self.modified_after(min(created, self.now - 1)),
        }
        props.update(self.engagement_properties(kind, at))
        engagement = self.portal.add(kind, props)
        self.portal.associate(kind, engagement, "contacts", contact)
        self.portal.associate(kind, engagement, "companies", company)
        if deals and rng.random() < 0.4:
            self.portal.associate(kind, engagement, "deals", rng.choice(deals))

    def engagement_properties(self, kind: str, at: int) -> dict[str, PropertyValue]:
        rng = self.rng
        if kind == "emails":
            outbound = rng.random() < 0.75
            opens = rng.choice((0, 0, 1, 2, 5)) if outbound else 0
            return {"hs_email_subject": rng.choice(("Pricing", "Follow-up", "Intro")),
                    "hs_email_direction": "EMAIL" if outbound else "INCOMING_EMAIL",
                    "hs_email_status": "SENT",
                    "hs_email_open_count": str(opens),
                    "hs_email_click_count": str(rng.choice((0, 1)) if opens else 0)}
        if kind == "calls":
            return {"hs_call_title": "Discovery call",
                    "hs_call_direction": rng.choice(("OUTBOUND", "OUTBOUND", "INBOUND")),
                    "hs_call_duration": str(rng.randrange(30, 1800) * 1000),
                    "hs_call_status": rng.choice(("COMPLETED", "COMPLETED", "NO_ANSWER"))}
        if kind == "meetings":
            return {"hs_meeting_title": "Demo", "hs_meeting_start_time": iso_ms(at),
                    "hs_meeting_end_time": iso_ms(at + 1_800_000),
                    "hs_meeting_outcome": "COMPLETED" if at < self.now - DAY_MS else "SCHEDULED",
                    "hs_meeting_source": rng.choice(("CRM_UI", "MEETINGS_PUBLIC"))}
        if kind == "tasks":
            done = rng.random() < 0.6
            return {"hs_task_subject": "Reach out", "hs_task_priority": "MEDIUM",
                    "hs_task_type": rng.choice(("CALL", "EMAIL", "TODO", "LINKED_IN")),
                    "hs_task_status": "COMPLETED" if done else "NOT_STARTED",
                    "hs_task_completion_date": iso_ms(self.when(at, self.now)) if done else None}
        return {"hs_note_body": "<p>Spoke about the roadmap.</p>"}

    def make_ticket(self, company: int, contacts: list[tuple[int, int]],
                    company_created: int) -> None:
        rng = self.rng
        created = self.when(company_created, self.now - DAY_MS)
        replied = created + rng.randrange(600, 3 * DAY_MS) if rng.random() < 0.85 else None
        closed = None
        if replied is not None and rng.random() < 0.7:
            closed = replied + rng.randrange(600, 6 * DAY_MS)
        replied = replied if replied is None or replied < self.now else None
        closed = closed if closed is None or closed < self.now else None
        props: dict[str, PropertyValue] = {
            "subject": rng.choice(("Cannot log in", "Invoice question", "Export fails")),
            "content": "Customer reported a problem.", "hs_pipeline": "0",
            "hs_pipeline_stage": "4" if closed else rng.choice(("1", "2", "3")),
            "hs_ticket_priority": rng.choice(("LOW", "MEDIUM", "HIGH", "URGENT")),
            "hs_ticket_category": rng.choice(("PRODUCT_ISSUE", "BILLING_ISSUE", None)),
            "source_type": rng.choice(("EMAIL", "CHAT", "PHONE", "FORM")),
            "hubspot_owner_id": self.owner(),
            "first_agent_reply_date": iso_ms(replied) if replied else None,
            "hs_time_to_first_agent_reply": str(replied - created) if replied else None,
            "closed_date": iso_ms(closed) if closed else None,
            "time_to_close": str(closed - created) if closed else None,
            "num_notes": str(rng.choice((0, 1, 1, 2, 4))),
            "handle_time_minutes": str(rng.randrange(5, 240)) if closed else None,
            "createdate": iso_ms(created),
            "hs_lastmodifieddate": self.modified_after(max(created, closed or created)),
        }
        ticket = self.portal.add("tickets", props)
        self.portal.associate("tickets", ticket, "companies", company, primary=True)
        if contacts:
            self.portal.associate("tickets", ticket, "contacts", self.rng.choice(contacts)[0])

    def make_feedback(self, company: int, contacts: list[tuple[int, int]],
                      company_created: int, i: int) -> None:
        rng = self.rng
        survey, low, high = (("NPS", 0, 10), ("CSAT", 1, 5), ("CES", 1, 7))[(company + i) % 3]
        score = rng.randint(low, high)
        at = self.when(company_created, self.now)
        sentiment: dict[str, str] = {"NPS": "Promoter" if score >= 9 else
                                     "Passive" if score >= 7 else "Detractor"}
        contact = rng.choice(contacts)[0] if contacts else None
        props: dict[str, PropertyValue] = {
            "hs_survey_type": survey, "hs_survey_name": f"{survey} survey",
            "hs_survey_channel": rng.choice(("EMAIL", "WEB")),
            "hs_response_value": str(score),
            "hs_sentiment": sentiment.get(survey, "Positive" if score > high / 2 else "Negative"),
            "hs_content": rng.choice(("Great support", "Too slow", None)),
            "hs_contact_id": str(contact) if contact else None,
            "hs_submission_timestamp": iso_ms(at), "hs_createdate": iso_ms(at),
            "hs_lastmodifieddate": iso_ms(at + rng.randrange(0, 60_000)),
        }
        submission = self.portal.add("feedback_submissions", props)
        self.portal.associate("feedback_submissions", submission, "companies", company)
        if contact:
            self.portal.associate("feedback_submissions", submission, "contacts", contact)

    # -- finishing touches ----------------------------------------------------------------------

    def archive_some(self) -> None:
        """A few records of every type (at least one where there are two) are archived."""
        for name, table in self.portal.records.items():
            records = list(table.values())
            chosen = [r for r in records if self.rng.randrange(100) < self.size.archived_percent]
            if not chosen and len(records) >= 2 and self.size.archived_percent:
                chosen = [records[len(records) // 2]]
            kind = self.portal.kind(name)
            for record in chosen:
                created = ms_of(record.properties[kind.created] or "0")
                stamp = self.when(created, self.now)
                record.archived, record.archived_at = True, stamp
                record.properties[kind.modified] = iso_ms(stamp)
            self.portal.reindex(name)

    def trap_page_boundaries(self, name: str) -> None:
        """Five records around every 200th (in stamp order) share one modification stamp."""
        ordered = self.portal.by_modified(name)
        modified = self.portal.kind(name).modified
        table = self.portal.records[name]
        for boundary in range(PAGE_TRAP, len(ordered) - 3, PAGE_TRAP):
            stamp = iso_ms(ordered[boundary + 2][0])  # never before a record's own
            for _, record_id in ordered[boundary - 2: boundary + 3]:
                table[record_id].properties[modified] = stamp
        self.portal.reindex(name)

