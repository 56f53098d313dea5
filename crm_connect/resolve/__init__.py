"""Identity resolution: which accounts, contacts and leads, within and across sources, are
the same company or person (``crm-connect resolve``).

Deterministic rules first (:mod:`~crm_connect.resolve.links`), then a Fellegi-Sunter model
trained on the data (:mod:`~crm_connect.resolve.model`, splink), a reviewer's decisions over
both (:mod:`~crm_connect.resolve.review`), connected components with stable ids
(:mod:`~crm_connect.resolve.clusters`) and golden records
(:mod:`~crm_connect.resolve.golden`), written to the store's ``resolved_entities`` and
``entity_links`` tables (:mod:`~crm_connect.resolve.tables`).
"""

from __future__ import annotations

from crm_connect.resolve.runner import EntityResult, resolve_entity

__all__ = ["ENTITIES", "EntityResult", "resolve_entity"]

ENTITIES = ("accounts", "contacts", "leads")
"""The entities ``resolve`` links."""
