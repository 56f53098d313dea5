"""A deterministic synthetic CRM export in canonical field names, for the quickstart, tests and
benchmarks.

``python -m crm_connect.sample OUT_DIR --scale 1.0`` writes one CSV per entity.  At scale 1 the
export holds about 3,000 records; the row counts grow linearly with the scale, and the data
covers every KPI input (won and lost deals, churned customers, surveys, tickets, spend, ...).
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from crm_connect.schema import ENTITIES

__all__ = ["BASE_COUNTS", "write_sample_export"]

BASE_COUNTS = {
    "users": 12,
    "campaigns": 10,
    "accounts": 200,
    "contacts": 400,
    "leads": 600,
    "deals": 500,
    "activities": 1500,
    "tickets": 250,
    "survey_responses": 150,
    "contracts": 120,
    "spend": 60,
}

START = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
SPAN_DAYS = 320
SOURCES = ["web", "referral", "event", "paid_search", "partner"]
INDUSTRIES = ["Software", "Manufacturing", "Retail", "Finance", "Healthcare"]
SEGMENTS = ["smb", "mid_market", "enterprise"]


def _ts(value: dt.datetime | None) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%S.000+0000") if value else ""


class _Generator:
    def __init__(self, scale: float, seed: int) -> None:
        self.rng = random.Random(seed)
        self.counts = {name: max(1, int(count * scale)) for name, count in BASE_COUNTS.items()}
        self.counts["users"] = max(3, min(self.counts["users"], 500))

    def moment(self, low: float = 0.0, high: float = 1.0) -> dt.datetime:
        offset = self.rng.uniform(low, high) * SPAN_DAYS * 86400
        return START + dt.timedelta(seconds=int(offset))

    def later(self, base: dt.datetime, max_days: float) -> dt.datetime:
        return base + dt.timedelta(seconds=int(self.rng.uniform(0.02, 1) * max_days * 86400))

    def pick(self, prefix: str, entity: str) -> str:
        return f"{prefix}{self.rng.randrange(self.counts[entity]) + 1}"

    def rows(self, entity: str) -> Iterator[dict[str, Any]]:
        method = getattr(self, f"_{entity}")
        for number in range(1, self.counts[entity] + 1):
            row: dict[str, Any] = method(number)
            row.setdefault("updated_at", row.get("created_at"))
            yield row

    def _users(self, n: int) -> dict[str, Any]:
        created = self.moment(0, 0.1)
        login = None if n % 5 == 0 else self.later(self.moment(0.9, 0.99), 2)
        return {"id": f"U{n}", "name": f"User {n}", "email": f"user{n}@example.com",
                "role": "sales" if n % 3 else "support", "is_active": n % 7 != 0,
                "last_login_at": _ts(login), "created_at": _ts(created)}

    def _campaigns(self, n: int) -> dict[str, Any]:
        started = self.moment(0, 0.9)
        cost = self.rng.randrange(2_000, 20_000)
        return {"id": f"CMP{n}", "name": f"Campaign {n}",
                "channel": self.rng.choice(["email", "social", "paid_search", "event"]),
                "status": "completed", "started_at": _ts(started),
                "ended_at": _ts(self.later(started, 30)), "budgeted_cost": cost + 1000,
                "actual_cost": cost, "currency": "USD", "created_at": _ts(started)}

    def _accounts(self, n: int) -> dict[str, Any]:
        created = self.moment(0, 0.9)
        customer = self.later(created, 40) if n % 3 else None
        churned = self.later(customer, 200) if customer and n % 10 == 1 else None
        return {"id": f"A{n}", "name": f"Account {n}", "domain": f"account{n}.example",
                "industry": INDUSTRIES[n % len(INDUSTRIES)], "segment": SEGMENTS[n % 3],
                "owner_id": self.pick("U", "users"), "created_by_id": self.pick("U", "users"),
                "customer_since": _ts(customer), "churned_at": _ts(churned),
                "acquisition_channel": self.rng.choice(SOURCES), "created_at": _ts(created)}

    def _contacts(self, n: int) -> dict[str, Any]:
        return {"id": f"C{n}", "account_id": self.pick("A", "accounts"),
                "email": f"contact{n}@example.com", "first_name": f"First{n}",
                "last_name": f"Last{n}", "lifecycle_stage": "customer",
                "lead_source": self.rng.choice(SOURCES), "owner_id": self.pick("U", "users"),
                "created_at": _ts(self.moment())}

    def _leads(self, n: int) -> dict[str, Any]:
        created = self.moment()
        converted = self.later(created, 30) if n % 4 == 0 else None
        return {"id": f"L{n}", "email": f"lead{n}@example.com", "company": f"Company {n}",
                "lead_source": self.rng.choice(SOURCES),
                "origin": self.rng.choice(["marketing", "marketing", "sales", "partner"]),
                "status": "converted" if converted else "open", "owner_id": self.pick("U", "users"),
                "converted_at": _ts(converted),
                "converted_account_id": self.pick("A", "accounts") if converted else "",
                "converted_deal_id": self.pick("D", "deals") if converted else "",
                "created_at": _ts(created)}

    def _deals(self, n: int) -> dict[str, Any]:
        created = self.moment(0, 0.95)
        closed = n % 5 != 0
        won = closed and n % 3 != 0
        closed_at = self.later(created, 60) if closed else None
        return {"id": f"D{n}", "name": f"Deal {n}", "account_id": self.pick("A", "accounts"),
                "owner_id": self.pick("U", "users"), "pipeline": "default",
                "stage": "closed_won" if won else "closed_lost" if closed else "proposal",
                "amount": f"{self.rng.randrange(1_000, 50_000)}.00",
                "currency": "EUR" if n % 10 == 0 else "USD",
                "deal_type": self.rng.choice(["new_business", "new_business", "upsell",
                                              "renewal"]),
                "lead_source": self.rng.choice(SOURCES),
                "campaign_id": self.pick("CMP", "campaigns") if n % 4 == 0 else "",
                "closed_at": _ts(closed_at), "is_closed": closed, "is_won": won,
                "probability": 100 if won else 0 if closed else 50, "created_at": _ts(created),
                "updated_at": _ts(closed_at or created)}

    def _activities(self, n: int) -> dict[str, Any]:
        kind = ("call", "email", "email", "meeting", "task", "social")[n % 6]
        occurred = self.moment()
        completed = n % 4 != 0
        return {"id": f"ACT{n}", "kind": kind,
                "direction": "outbound" if n % 3 else "inbound",
                "subject": f"{kind} {n}", "owner_id": self.pick("U", "users"),
                "account_id": self.pick("A", "accounts"),
                "lead_id": self.pick("L", "leads") if n % 2 else "",
                "occurred_at": _ts(occurred), "completed": completed,
                "completed_at": _ts(self.later(occurred, 2)) if completed else "",
                "duration_seconds": self.rng.randrange(60, 1800) if kind == "call" else "",
                "opened": (n % 5 < 3) if kind == "email" else "",
                "clicked": (n % 5 == 0) if kind == "email" else "",
                "created_at": _ts(occurred)}

    def _tickets(self, n: int) -> dict[str, Any]:
        created = self.moment()
        resolved = self.later(created, 5) if n % 6 else None
        return {"id": f"T{n}", "account_id": self.pick("A", "accounts"),
                "contact_id": self.pick("C", "contacts"), "owner_id": self.pick("U", "users"),
                "channel": self.rng.choice(["email", "phone", "chat"]),
                "priority": self.rng.choice(["low", "medium", "high"]),
                "status": "closed" if resolved else "open",
                "first_response_at": _ts(self.later(created, 0.5)),
                "resolved_at": _ts(resolved), "interactions_count": 1 + n % 4,
                "handle_time_seconds": self.rng.randrange(120, 3600), "created_at": _ts(created)}

    def _survey_responses(self, n: int) -> dict[str, Any]:
        survey = ("nps", "csat", "ces")[n % 3]
        scale = {"nps": (0, 10), "csat": (1, 5), "ces": (1, 7)}[survey]
        responded = self.moment()
        return {"id": f"S{n}", "survey_type": survey,
                "score": self.rng.randint(*scale), "scale_min": scale[0],
                "scale_max": scale[1], "responded_at": _ts(responded),
                "contact_id": self.pick("C", "contacts"),
                "account_id": self.pick("A", "accounts"), "created_at": _ts(responded)}

    def _contracts(self, n: int) -> dict[str, Any]:
        start = self.moment(0, 0.7).date()
        end = start + dt.timedelta(days=self.rng.choice([180, 365, 730]))
        return {"id": f"K{n}", "account_id": self.pick("A", "accounts"), "status": "activated",
                "start_date": start.isoformat(), "end_date": end.isoformat(),
                "total_value": f"{self.rng.randrange(5_000, 100_000)}.00", "currency": "USD",
                "renewed": n % 3 == 0,
                "renewal_of_id": f"K{n - 1}" if n % 5 == 0 and n > 1 else "",
                "created_at": _ts(dt.datetime.combine(start, dt.time(), dt.UTC))}

    def _spend(self, n: int) -> dict[str, Any]:
        day = (START + dt.timedelta(days=(n * 7) % SPAN_DAYS)).date()
        return {"id": f"SP{n}", "date": day.isoformat(),
                "category": ("acquisition", "acquisition", "retention", "support")[n % 4],
                "channel": self.rng.choice(SOURCES),
                "amount": f"{self.rng.randrange(500, 8_000)}.00", "currency": "USD",
                "created_at": _ts(dt.datetime.combine(day, dt.time(), dt.UTC))}


def write_sample_export(folder: str | Path, *, scale: float = 1.0, seed: int = 7) -> dict[str, int]:
    """Write ``<entity>.csv`` files into ``folder``; returns the number of rows per entity."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    generator = _Generator(scale, seed)
    written: dict[str, int] = {}
    for entity in BASE_COUNTS:
        columns = [name for name in ENTITIES[entity].model_fields if name not in ("source",
                                                                                   "extra")]
        with (folder / f"{entity}.csv").open("w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, fieldnames=columns, extrasaction="raise")
            writer.writeheader()
            count = 0
            for row in generator.rows(entity):
                writer.writerow({key: ("" if value is None else value)
                                 for key, value in row.items()})
                count += 1
        written[entity] = count
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("folder")
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    counts = write_sample_export(args.folder, scale=args.scale, seed=args.seed)
    print(f"wrote {sum(counts.values()):,} records to {args.folder}")


if __name__ == "__main__":
    main()
