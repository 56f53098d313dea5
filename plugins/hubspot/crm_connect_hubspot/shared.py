"""One read of a CRM object for two streams: the ``leads`` stream from the contacts read.

``contacts`` and ``leads`` both read HubSpot's contacts object.  When a connection has both,
the contacts read asks for the properties and associations of both streams, maps every page
for each, and keeps the leads' pages in a :class:`Spill`: a temporary file, page by page, so
memory stays flat whatever the portal's size.  The ``leads`` stream then replays them instead
of reading contacts again, provided it starts from the state the contacts read started from
(the same records, the same checkpoints: a first sync, a ``--full-refresh``, or runs that
both finished).  Otherwise (an earlier run stopped between the two, ``--stream leads``, a
contacts read that failed) ``leads`` reads HubSpot itself, as it always could.
"""

from __future__ import annotations

import json
import logging
import pickle
import tempfile
from collections.abc import Iterator
from dataclasses import replace
from typing import IO, Any

from crm_connect.connector import Page
from crm_connect_hubspot.objects import ObjectSpec
from crm_connect_hubspot.records import HubSpotObject

__all__ = ["PARTNERS", "SharedReads", "Spill", "view"]

log = logging.getLogger("crm_connect_hubspot")

PARTNERS = {"contacts": "leads"}
"""A stream whose read also yields the pages of another stream of the same object type."""


def view(obj: HubSpotObject, properties: set[str], associations: tuple[str, ...]
         ) -> HubSpotObject:
    """The record as a read of one stream alone would have returned it: only the properties
    and associations that stream asks for."""
    return replace(obj, properties={key: value for key, value in obj.properties.items()
                                    if key in properties},
                   links={key: ids for key, ids in obj.links.items() if key in associations})


def _same_state(first: dict[str, Any] | None, second: dict[str, Any] | None) -> bool:
    return json.dumps(first, sort_keys=True, default=str) == json.dumps(
        second, sort_keys=True, default=str)


class Spill:
    """The pages of ``stream`` a read of its partner produced, on disk until replayed."""

    def __init__(self, spec: ObjectSpec, start: dict[str, Any] | None) -> None:
        self.spec = spec
        self.start = json.loads(json.dumps(start, default=str)) if start is not None else None
        self.complete = False
        self.pages = 0
        # open until replayed or closed, across generator steps: no `with` can hold it
        self._file: IO[bytes] | None = tempfile.TemporaryFile(  # noqa: SIM115
            prefix="crm-connect-hubspot-")

    def add(self, page: Page) -> None:
        if self._file is not None:
            pickle.dump(page, self._file, protocol=pickle.HIGHEST_PROTOCOL)
            self.pages += 1

    def serves(self, stream: str, state: dict[str, Any] | None) -> bool:
        """Whether a read of ``stream`` from ``state`` can replay these pages."""
        return (self._file is not None and self.complete and stream == self.spec.stream
                and _same_state(self.start, state))

    def replay(self) -> Iterator[Page]:
        """The pages, in order; the file is gone once they are all read."""
        assert self._file is not None
        self._file.seek(0)
        log.debug("%s: %d pages from the shared %s read", self.spec.stream, self.pages,
                  self.spec.object_type)
        try:
            for _ in range(self.pages):
                page = pickle.load(self._file)  # our own file of this run
                assert isinstance(page, Page)
                yield page
        finally:
            self.close()

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


class SharedReads:
    """A connector's shared reads: the partner pages of the page being read, and the spill
    of the last shared read, until its partner stream replays it."""

    def __init__(self) -> None:
        self._spill: Spill | None = None
        self._partner_pages: dict[int, Page] = {}

    def keep(self, page: Page, partner_page: Page) -> None:
        """``partner_page`` holds the partner's records of what ``page`` holds."""
        self._partner_pages[id(page)] = partner_page

    def replay(self, stream: str, state: dict[str, Any] | None) -> Iterator[Page] | None:
        """The pages a shared read kept for ``stream`` from ``state``, if it kept them."""
        spill, self._spill = self._spill, None
        if spill is not None and spill.serves(stream, state):
            return spill.replay()
        if spill is not None:
            spill.close()
        return None

    def share(self, pages: Iterator[Page], partner: ObjectSpec, state: dict[str, Any] | None
              ) -> Iterator[Page]:
        """``pages`` as they come, keeping the partner's pages (same states, same id
        sweeps) for its replay once they have all been read."""
        spill = Spill(partner, state)
        try:
            for page in pages:
                kept = self._partner_pages.pop(id(page), None) or Page([])
                spill.add(Page(kept.records, page.state, raw=kept.raw, rejected=kept.rejected,
                               id_sweep=page.id_sweep, total=page.total))
                yield page
            spill.complete = True
            self._spill = spill
        finally:
            self._partner_pages.clear()
            if self._spill is not spill:
                spill.close()

    def close(self) -> None:
        if self._spill is not None:
            self._spill.close()
            self._spill = None
