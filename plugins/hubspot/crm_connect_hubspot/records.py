"""HubSpot objects as the mapping reads them, whichever way they arrived.

The CRM APIs answer ``{"id", "properties": {...}, "createdAt", "updatedAt", "archived",
"archivedAt"?}`` (JSON, or hubspot-api-client's ``SimplePublicObject`` models); owners and
marketing campaigns have shapes of their own.  :class:`HubSpotObject` is the one shape the
mapping takes, with the ids of associated objects (from the v4 associations API) attached.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = ["HubSpotObject", "PipelineStage", "Pipelines"]


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        stamp = value if value.tzinfo else value.replace(tzinfo=dt.UTC)
        return stamp.astimezone(dt.UTC).isoformat(timespec="milliseconds").replace(
            "+00:00", "Z")
    return str(value)


@dataclass
class HubSpotObject:
    """One CRM record: its id, its properties as HubSpot sent them (text or ``None``), the
    record-level timestamps and the ids of associated objects per object type (the primary
    association first)."""

    id: str
    properties: dict[str, Any]
    created_at: str | None = None
    updated_at: str | None = None
    archived: bool = False
    archived_at: str | None = None
    links: dict[str, list[str]] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)
    """Fields outside ``properties`` worth keeping (an owner's ``userId`` and ``teams``)."""

    @classmethod
    def from_json(cls, payload: Mapping[str, Any]) -> HubSpotObject:
        """A CRM object in the API's JSON shape (list, search, batch read and get answers),
        with its inline ``associations`` when the request asked for them."""
        links: dict[str, list[str]] = {}
        associations = payload.get("associations")
        if isinstance(associations, Mapping):
            for to_type, block in associations.items():
                results = block.get("results", []) if isinstance(block, Mapping) else []
                ids = [str(item["id"]) for item in results if isinstance(item, Mapping)
                       and item.get("id") is not None]
                links[str(to_type)] = list(dict.fromkeys(ids))
        return cls(
            id=str(payload["id"]),
            properties=dict(payload.get("properties") or {}),
            created_at=_text(payload.get("createdAt")),
            updated_at=_text(payload.get("updatedAt")),
            archived=bool(payload.get("archived", False)),
            archived_at=_text(payload.get("archivedAt")),
            links=links,
        )

    @classmethod
    def from_model(cls, model: Any) -> HubSpotObject:
        """A hubspot-api-client ``SimplePublicObject`` (or ``...WithAssociations``)."""
        return cls(
            id=str(model.id),
            properties=dict(model.properties or {}),
            created_at=_text(getattr(model, "created_at", None)),
            updated_at=_text(getattr(model, "updated_at", None)),
            archived=bool(getattr(model, "archived", False)),
            archived_at=_text(getattr(model, "archived_at", None)),
        )

    @classmethod
    def from_owner(cls, payload: Mapping[str, Any]) -> HubSpotObject:
        """An owner (``/crm/v3/owners``): its fields become its properties."""
        keep = {key: payload[key] for key in ("userId", "userIdIncludingInactive", "type",
                                              "teams") if payload.get(key) is not None}
        properties = {key: _text(payload.get(key)) for key in ("email", "firstName",
                                                              "lastName")}
        return cls(id=str(payload["id"]), properties=properties,
                   created_at=_text(payload.get("createdAt")),
                   updated_at=_text(payload.get("updatedAt")),
                   archived=bool(payload.get("archived", False)), extra=keep)

    def link(self, to_type: str) -> str | None:
        """The (primary) associated record of ``to_type``, if any."""
        ids = self.links.get(to_type)
        return ids[0] if ids else None

    def as_raw(self) -> dict[str, Any]:
        """The record as quarantine keeps it (the API's field names)."""
        raw: dict[str, Any] = {"id": self.id, "properties": self.properties,
                               "createdAt": self.created_at, "updatedAt": self.updated_at,
                               "archived": self.archived}
        if self.archived_at:
            raw["archivedAt"] = self.archived_at
        if self.links:
            raw["associations"] = self.links
        return raw


@dataclass(frozen=True)
class PipelineStage:
    """A pipeline stage's meaning, from the pipelines API's stage ``metadata``."""

    id: str
    label: str
    pipeline_id: str
    pipeline_label: str
    is_closed: bool | None
    probability: float | None
    """0..1 as HubSpot writes it (``"0.2"``); deals only."""


@dataclass
class Pipelines:
    """Every stage of an object's pipelines, by stage id (ids are unique within an object)."""

    stages: dict[str, PipelineStage] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)
    """pipeline id -> label"""

    @classmethod
    def from_json(cls, payload: Mapping[str, Any] | Sequence[Mapping[str, Any]]
                  ) -> Pipelines:
        """``GET /crm/v3/pipelines/{objectType}``'s answer (or its ``results``).  Stage
        metadata values are text (``"isClosed": "true"``, ``"probability": "0.2"``); tickets
        say ``"ticketState": "CLOSED"`` instead of ``isClosed``."""
        results = payload.get("results", []) if isinstance(payload, Mapping) else payload
        pipelines = cls()
        for pipeline in results:
            pipeline_id = str(pipeline.get("id"))
            label = str(pipeline.get("label") or pipeline_id)
            pipelines.labels[pipeline_id] = label
            for stage in pipeline.get("stages") or []:
                metadata = stage.get("metadata") or {}
                closed = _flag(metadata.get("isClosed"))
                if closed is None and metadata.get("ticketState") is not None:
                    closed = str(metadata["ticketState"]).upper() == "CLOSED"
                stage_id = str(stage.get("id"))
                pipelines.stages[stage_id] = PipelineStage(
                    stage_id, str(stage.get("label") or stage_id), pipeline_id, label, closed,
                    _number(metadata.get("probability")))
        return pipelines


def _flag(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if value is None:
        return None
    text = str(value).strip().lower()
    return True if text == "true" else False if text == "false" else None


def _number(value: Any) -> float | None:
    try:
        return float(value) if value is not None and str(value).strip() else None
    except ValueError:
        return None
