"""How the sandbox writes values and errors on the wire, the way the Salesforce REST API does."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from crm_connect.testing.server import Response

from .metadata import FieldDef

JSON_UTF8 = "application/json;charset=UTF-8"

ERROR_INVALID_SESSION = [
    {"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}
]
ERROR_TIMEOUT = [
    {"message": "Your query request was running for too long.", "errorCode": "QUERY_TIMEOUT"}
]
ERROR_NOT_FOUND = [{"errorCode": "NOT_FOUND", "message": "The requested resource does not exist"}]


def sf_json(status: int, payload: Any, headers: Mapping[str, str] | None = None) -> Response:
    """A JSON answer with Salesforce's content type (non-ASCII text sent as UTF-8)."""
    return Response.json(status, payload, headers, content_type=JSON_UTF8, ascii_only=False)


def sf_datetime(value: dt.datetime) -> str:
    """``2026-05-01T07:25:37.000+0000``, the way the REST API writes datetimes."""
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.000+0000")


def json_value(value: Any, fdef: FieldDef | None) -> Any:
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        return sf_datetime(value)
    if isinstance(value, dt.date):
        return value.isoformat()
    if (
        isinstance(value, float)
        and fdef is not None
        and fdef.type in ("currency", "percent", "int")
        and value.is_integer()
    ):
        return int(value)
    return value


def csv_value(value: Any, fdef: FieldDef | None) -> str:
    """Bulk API 2.0 CSV cell text (datetimes in ``...000Z`` form, booleans lower case)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    if isinstance(value, dt.date):
        return value.isoformat()
    out = json_value(value, fdef)
    return str(out)
