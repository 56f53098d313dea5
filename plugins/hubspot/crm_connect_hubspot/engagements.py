"""Calls, emails, meetings, notes and tasks (HubSpot's engagements) as canonical activities.

Each engagement object has its own properties for the same ideas: when it happened
(``hs_timestamp``), which way it went (``hs_call_direction``, ``hs_email_direction``), whether
it is done (``hs_call_status``, ``hs_task_status``, ``hs_meeting_outcome``).  The records it
concerns come from the v4 associations: the contact is also the lead (in HubSpot a lead is a
contact in an early lifecycle stage), so ``contact_rate`` sees outbound touches on leads.
"""

from __future__ import annotations

import re
from typing import Any

from crm_connect.schema import ActivityKind, Direction
from crm_connect_hubspot.records import HubSpotObject
from crm_connect_hubspot.values import read_datetime, read_int, read_text

__all__ = ["KIND_BY_STREAM", "derive_activity"]

KIND_BY_STREAM: dict[str, ActivityKind] = {
    "calls": ActivityKind.CALL,
    "emails": ActivityKind.EMAIL,
    "meetings": ActivityKind.MEETING,
    "notes": ActivityKind.NOTE,
    "tasks": ActivityKind.TASK,
}

_EMAIL_DIRECTIONS = {"EMAIL": Direction.OUTBOUND, "FORWARDED_EMAIL": Direction.OUTBOUND,
                     "INCOMING_EMAIL": Direction.INBOUND}
_EMAIL_NOT_SENT = frozenset({"SCHEDULED", "SENDING", "FAILED", "BOUNCED"})
_MEETING_BOOKED_BY_CONTACT = frozenset({"MEETINGS_PUBLIC"})
_TAGS = re.compile(r"<[^>]+>")


def _direction(value: Any) -> str | None:
    text = (read_text(value) or "").upper()
    if text.startswith("IN"):
        return Direction.INBOUND.value
    if text.startswith("OUT"):
        return Direction.OUTBOUND.value
    return None


def _count_flag(prop: str, value: Any) -> bool | None:
    """``hs_email_open_count = "3"`` -> True; absent -> None (not tracked)."""
    count = read_int(prop, value)
    return None if count is None else count > 0


def derive_activity(obj: HubSpotObject, record: dict[str, Any], stream: str) -> None:
    """Fill ``kind``, ``direction``, the links, when and whether it was done."""
    props = obj.properties
    kind = KIND_BY_STREAM[stream]
    record["kind"] = kind.value
    occurred = (read_datetime("hs_timestamp", props.get("hs_timestamp"))
                or read_datetime("hs_createdate", props.get("hs_createdate"))
                or record.get("created_at"))
    completed: bool | None = None
    completed_at = None
    if kind is ActivityKind.CALL:
        record["direction"] = record.get("direction") or _direction(
            props.get("hs_call_direction"))
        millis = read_int("hs_call_duration", props.get("hs_call_duration"))
        if millis is not None and record.get("duration_seconds") is None:
            record["duration_seconds"] = round(millis / 1000)
        status = (read_text(props.get("hs_call_status")) or "").upper()
        completed = status == "COMPLETED" if status else None
    elif kind is ActivityKind.EMAIL:
        stated = (read_text(props.get("hs_email_direction")) or "").upper()
        direction = _EMAIL_DIRECTIONS.get(stated)
        record["direction"] = record.get("direction") or (direction.value if direction
                                                          else None)
        if record.get("opened") is None:
            record["opened"] = _count_flag("hs_email_open_count",
                                           props.get("hs_email_open_count"))
        if record.get("clicked") is None:
            record["clicked"] = _count_flag("hs_email_click_count",
                                            props.get("hs_email_click_count"))
        status = (read_text(props.get("hs_email_status")) or "").upper()
        completed = status not in _EMAIL_NOT_SENT
    elif kind is ActivityKind.MEETING:
        start = read_datetime("hs_meeting_start_time", props.get("hs_meeting_start_time"))
        end = read_datetime("hs_meeting_end_time", props.get("hs_meeting_end_time"))
        occurred = start or occurred
        if start is not None and end is not None and end >= start \
                and record.get("duration_seconds") is None:
            record["duration_seconds"] = round((end - start).total_seconds())
        source = (read_text(props.get("hs_meeting_source")) or "").upper()
        if not record.get("direction"):
            record["direction"] = (Direction.INBOUND.value if source in
                                   _MEETING_BOOKED_BY_CONTACT else Direction.OUTBOUND.value)
        outcome = (read_text(props.get("hs_meeting_outcome")) or "").upper()
        completed = outcome == "COMPLETED" if outcome else None
    elif kind is ActivityKind.NOTE:
        body = read_text(props.get("hs_note_body"))
        if body and not record.get("subject"):
            text = " ".join(_TAGS.sub(" ", body).split())
            record["subject"] = text[:200] or None
    else:
        status = (read_text(props.get("hs_task_status")) or "").upper()
        completed = status == "COMPLETED" if status else None
        completed_at = read_datetime("hs_task_completion_date",
                                     props.get("hs_task_completion_date"))
    record["occurred_at"] = record.get("occurred_at") or occurred
    if record.get("completed") is None:
        record["completed"] = completed
    if record["completed"]:
        record["completed_at"] = record.get("completed_at") or completed_at or occurred
    contact = obj.link("contacts")
    record["contact_id"] = record.get("contact_id") or contact
    record["lead_id"] = record.get("lead_id") or contact
    record["account_id"] = record.get("account_id") or obj.link("companies")
    record["deal_id"] = record.get("deal_id") or obj.link("deals")
    record["ticket_id"] = record.get("ticket_id") or obj.link("tickets")
