"""Changes between sync rounds, as incremental-sync tests need them.

:func:`change_round` updates, creates and archives a few records of each object type, and creates
records stamped at exactly the previous cursor (the greatest modification stamp before the round),
the records a ``>`` filter or a cursor without a tie-break loses.  It reports what it did, so a
test can check that the next incremental sync saw every change.
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from dataclasses import dataclass, field

from .portal import Portal, PropertyValue

__all__ = ["RoundChanges", "change_round"]

_EDITS: dict[str, dict[str, PropertyValue]] = {
    "companies": {"industry": "RETAIL", "customer_segment": "enterprise"},
    "contacts": {"lifecyclestage": "marketingqualifiedlead", "hs_lead_status": "IN_PROGRESS"},
    "deals": {"amount": "4242.42", "dealstage": "contractsent",
              "hs_deal_stage_probability": "0.9"},
    "tickets": {"hs_ticket_priority": "URGENT"},
    "calls": {"hs_call_status": "COMPLETED"},
    "emails": {"hs_email_open_count": "3", "hs_email_click_count": "1"},
    "meetings": {"hs_meeting_outcome": "COMPLETED"},
    "notes": {"hs_note_body": "<p>Edited in a later round.</p>"},
    "tasks": {"hs_task_status": "COMPLETED"},
    "feedback_submissions": {"hs_content": "Edited comment"},
}
_NEW: dict[str, dict[str, PropertyValue]] = {
    "companies": {"name": "Round Company", "domain": "round.example.com",
                  "lifecyclestage": "lead"},
    "contacts": {"email": "round@example.com", "firstname": "Round", "lastname": "Contact",
                 "lifecyclestage": "lead", "hs_analytics_source": "PAID_SEARCH"},
    "deals": {"dealname": "Round deal", "amount": "1500", "deal_currency_code": "USD",
              "pipeline": "default", "dealstage": "appointmentscheduled",
              "dealtype": "newbusiness"},
    "tickets": {"subject": "Round ticket", "hs_pipeline": "0", "hs_pipeline_stage": "1"},
    "calls": {"hs_call_title": "Round call", "hs_call_direction": "OUTBOUND"},
    "emails": {"hs_email_subject": "Round email", "hs_email_direction": "EMAIL"},
    "meetings": {"hs_meeting_title": "Round meeting"},
    "notes": {"hs_note_body": "<p>Round note</p>"},
    "tasks": {"hs_task_subject": "Round task", "hs_task_status": "NOT_STARTED"},
    "feedback_submissions": {"hs_survey_type": "NPS", "hs_response_value": "9"},
}


@dataclass
class RoundChanges:
    """What one round changed, by object type: ids updated, created, archived, and created at
    exactly the previous cursor (``at_cursor``, a subset of ``created``)."""

    updated: dict[str, list[int]] = field(default_factory=dict)
    created: dict[str, list[int]] = field(default_factory=dict)
    archived: dict[str, list[int]] = field(default_factory=dict)
    at_cursor: dict[str, list[int]] = field(default_factory=dict)
    lagging: dict[str, list[int]] = field(default_factory=dict)
    cursor: dict[str, int] = field(default_factory=dict)

    def touched(self, object_name: str) -> set[int]:
        """Every id of ``object_name`` this round changed in any way."""
        return (set(self.updated.get(object_name, [])) | set(self.created.get(object_name, []))
                | set(self.archived.get(object_name, [])))


def change_round(portal: Portal, *, seed: int = 1, updates: int = 3, creates: int = 2,
                 archives: int = 1, at_cursor: int = 2, lagging: int = 0,
                 objects: Iterable[str] | None = None) -> RoundChanges:
    """Change every object type (or those named) the same way, deterministically for ``seed``.

    ``lagging`` of the updated records (the earliest stamped) are held back from search, as
    the search index lags behind writes, until :meth:`Portal.release_to_search`."""
    rng = random.Random(seed)
    changes = RoundChanges()
    for name in objects or list(portal.records):
        kind = portal.kind(name)
        cursor = portal.latest_modified(kind.name)
        if cursor is None:
            continue
        changes.cursor[kind.name] = cursor
        # records at exactly the previous cursor first: they carry no later stamp
        stamped = [portal.create(kind.name, _NEW[kind.name], at=cursor) for _ in range(at_cursor)]
        live = [i for i in portal.sorted_ids(kind.name, archived=False) if i not in stamped]
        chosen = rng.sample(live, min(len(live), updates + archives))
        for record_id in chosen[:updates]:
            portal.update(kind.name, record_id, _EDITS[kind.name])
        for record_id in chosen[updates:]:
            portal.archive(kind.name, record_id)
        fresh = [portal.create(kind.name, _NEW[kind.name]) for _ in range(creates)]
        changes.updated[kind.name] = chosen[:updates]
        changes.archived[kind.name] = chosen[updates:]
        changes.created[kind.name] = stamped + fresh
        changes.at_cursor[kind.name] = stamped
        changes.lagging[kind.name] = chosen[:min(lagging, updates)]
        portal.hold_from_search(kind.name, changes.lagging[kind.name])
    return changes
