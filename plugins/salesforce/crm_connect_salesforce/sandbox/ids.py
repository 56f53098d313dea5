"""Salesforce-style record ids: 15 case-sensitive characters plus the 3-character checksum.

The sandbox encodes a record's position in its object (its *index*) in the id, so any id can
be turned back into ``(object, index)`` without a lookup table: ``prefix + "Sb" + base62(index)``
padded to 15 characters, then the real case-safe suffix Salesforce computes.
"""

from __future__ import annotations

_BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_SUFFIX = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"
_POD = "Sb"
_BODY = 10  # characters left for the index after the 3-char prefix and the 2-char pod


def checksum(id15: str) -> str:
    """The 3-character suffix that makes a 15-character id case-insensitive-safe."""
    out = []
    for chunk in range(3):
        bits = 0
        for pos, char in enumerate(id15[chunk * 5 : chunk * 5 + 5]):
            if "A" <= char <= "Z":
                bits |= 1 << pos
        out.append(_SUFFIX[bits])
    return "".join(out)


def make_id(prefix: str, index: int) -> str:
    """The 18-character id of record ``index`` of the object whose key prefix is ``prefix``."""
    digits = []
    value = index
    while True:
        value, rem = divmod(value, 62)
        digits.append(_BASE62[rem])
        if value == 0:
            break
    body = "".join(reversed(digits)).rjust(_BODY, "0")
    id15 = f"{prefix}{_POD}{body}"
    return id15 + checksum(id15)


def parse_id(record_id: str) -> tuple[str, int] | None:
    """``(key prefix, index)`` of a sandbox id (15 or 18 characters), ``None`` when not one."""
    if len(record_id) not in (15, 18) or record_id[3:5] != _POD:
        return None
    id15 = record_id[:15]
    if len(record_id) == 18 and record_id[15:].upper() != checksum(id15):
        return None
    value = 0
    for char in id15[5:]:
        pos = _BASE62.find(char)
        if pos < 0:
            return None
        value = value * 62 + pos
    return id15[:3], value


def opaque_id(prefix: str, number: int) -> str:
    """An id for things that are not records (query locators, bulk jobs, sessions)."""
    return make_id(prefix, number)
