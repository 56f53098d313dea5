"""The SOQL subset a connector uses: parse, bind to the org's metadata, evaluate, project.

::

    SELECT f1, f2, Rel.Field FROM Obj
      [WHERE cond [AND|OR cond] ...]  [ORDER BY f [ASC|DESC] [NULLS FIRST|LAST], ...]
      [LIMIT n] [OFFSET n]
    SELECT COUNT() FROM Obj [WHERE ...]          -- totalSize, no records
    SELECT COUNT(Id) FROM Obj [WHERE ...]        -- one AggregateResult row, expr0

Conditions: ``= != <> < <= > >= LIKE IN (...) NOT IN (...)``, ``NOT``, parentheses; literals are
'strings', numbers, true/false/null, datetimes (``2026-05-01T07:25:37.000+0000``,
``...Z``, ``...+00:00``), dates (``2026-05-01``) and TODAY / YESTERDAY / TOMORROW /
LAST_N_DAYS:n / NEXT_N_DAYS:n.  Errors carry Salesforce's error codes and caret messages
(``MALFORMED_QUERY``, ``INVALID_TYPE``, ``INVALID_FIELD``).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .metadata import NUMBER_TYPES, TEXT_TYPES, FieldDef, ObjectDef

UTC = dt.UTC


class SoqlError(Exception):
    """A query Salesforce would refuse; ``code`` is its ``errorCode``."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


_TOKEN = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<string>'(?:\\.|[^'\\])*')
  | (?P<datetime>\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,6})?(?:Z|[+-]\d{2}:?\d{2}))
  | (?P<date>\d{4}-\d{2}-\d{2})
  | (?P<number>-?\d+(?:\.\d+)?)
  | (?P<ident>[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*(?::\d+)?)
  | (?P<op>!=|<>|<=|>=|=|<|>)
  | (?P<punct>[(),])
    """,
    re.VERBOSE,
)

_KEYWORDS = {
    "select",
    "from",
    "where",
    "and",
    "or",
    "not",
    "order",
    "by",
    "asc",
    "desc",
    "limit",
    "offset",
    "in",
    "like",
    "nulls",
    "first",
    "last",
    "true",
    "false",
    "null",
    "count",
}
_DATE_LITERALS = re.compile(r"^(TODAY|YESTERDAY|TOMORROW|LAST_N_DAYS:\d+|NEXT_N_DAYS:\d+)$", re.I)


@dataclass
class Token:
    kind: str
    text: str
    pos: int  # 0-based offset in the query


@dataclass
class Path:
    parts: tuple[str, ...]
    pos: int
    # bound after parsing
    chain: list[FieldDef] = field(default_factory=list)  # reference fields walked
    leaf: FieldDef | None = None
    leaf_objects: tuple[str, ...] = ()

    @property
    def text(self) -> str:
        return ".".join(self.parts)


@dataclass
class Literal:
    kind: str  # string, number, bool, null, datetime, date, range
    value: Any
    pos: int


@dataclass
class Cond:
    path: Path
    op: str
    value: Literal | list[Literal]


@dataclass
class BoolExpr:
    op: str  # AND / OR
    items: list[Any]


@dataclass
class NotExpr:
    item: Any


@dataclass
class OrderItem:
    path: Path
    descending: bool
    nulls_last: bool


@dataclass
class Query:
    text: str
    object: str
    object_pos: int
    fields: list[Path]
    count: bool = False  # SELECT COUNT()
    count_field: Path | None = None  # SELECT COUNT(Id)
    where: Any = None
    order: list[OrderItem] = field(default_factory=list)
    limit: int | None = None
    offset: int = 0
    obj: ObjectDef | None = None

    def where_fields(self) -> list[Cond]:
        out: list[Cond] = []

        def walk(node: Any) -> None:
            if isinstance(node, Cond):
                out.append(node)
            elif isinstance(node, BoolExpr):
                for item in node.items:
                    walk(item)
            elif isinstance(node, NotExpr):
                walk(node.item)

        walk(self.where)
        return out


def _caret(text: str, pos: int, message: str) -> str:
    """Salesforce's error layout: the query, a caret under the culprit, row and column."""
    line_start = text.rfind("\n", 0, pos) + 1
    line_end = text.find("\n", pos)
    line = text[line_start : line_end if line_end >= 0 else len(text)]
    row = text.count("\n", 0, pos) + 1
    col = pos - line_start + 1
    return f"\n{line}\n{' ' * (col - 1)}^\nERROR at Row:{row}:Column:{col}\n{message}"


def _tokenize(text: str) -> list[Token]:
    tokens = []
    pos = 0
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if match is None:
            raise SoqlError(
                "MALFORMED_QUERY", _caret(text, pos, f"unexpected token: '{text[pos]}'")
            )
        kind = match.lastgroup or ""
        if kind != "ws":
            tokens.append(Token(kind, match.group(), pos))
        pos = match.end()
    return tokens


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = _tokenize(text)
        self.i = 0

    def peek(self, offset: int = 0) -> Token | None:
        j = self.i + offset
        return self.tokens[j] if j < len(self.tokens) else None

    def kw(self, word: str) -> bool:
        tok = self.peek()
        return tok is not None and tok.kind == "ident" and tok.text.lower() == word

    def take(self) -> Token:
        tok = self.peek()
        if tok is None:
            raise SoqlError(
                "MALFORMED_QUERY", _caret(self.text, len(self.text), "unexpected end of query")
            )
        self.i += 1
        return tok

    def expect_kw(self, word: str) -> Token:
        tok = self.peek()
        if tok is None or tok.kind != "ident" or tok.text.lower() != word:
            pos = tok.pos if tok else len(self.text)
            got = tok.text if tok else "<EOF>"
            raise SoqlError("MALFORMED_QUERY", _caret(self.text, pos, f"unexpected token: '{got}'"))
        return self.take()

    def expect_punct(self, char: str) -> Token:
        tok = self.peek()
        if tok is None or tok.text != char:
            pos = tok.pos if tok else len(self.text)
            got = tok.text if tok else "<EOF>"
            raise SoqlError("MALFORMED_QUERY", _caret(self.text, pos, f"unexpected token: '{got}'"))
        return self.take()

    def path(self) -> Path:
        tok = self.take()
        if tok.kind != "ident" or tok.text.lower() in _KEYWORDS or ":" in tok.text:
            raise SoqlError(
                "MALFORMED_QUERY", _caret(self.text, tok.pos, f"unexpected token: '{tok.text}'")
            )
        return Path(tuple(tok.text.split(".")), tok.pos)

    def parse(self) -> Query:
        self.expect_kw("select")
        fields: list[Path] = []
        count = False
        count_field = None
        if self.kw("count") and self.peek(1) is not None and self.peek(1).text == "(":  # type: ignore[union-attr]
            self.take()
            self.take()
            if self.peek() is not None and self.peek().text == ")":  # type: ignore[union-attr]
                count = True
            else:
                count_field = self.path()
            self.expect_punct(")")
        else:
            fields.append(self.path())
            while self.peek() is not None and self.peek().text == ",":  # type: ignore[union-attr]
                self.take()
                fields.append(self.path())
        self.expect_kw("from")
        obj_tok = self.take()
        if obj_tok.kind != "ident" or "." in obj_tok.text:
            raise SoqlError(
                "MALFORMED_QUERY",
                _caret(self.text, obj_tok.pos, f"unexpected token: '{obj_tok.text}'"),
            )
        query = Query(
            self.text, obj_tok.text, obj_tok.pos, fields, count=count, count_field=count_field
        )
        if self.kw("where"):
            self.take()
            query.where = self.or_expr()
        if self.kw("order"):
            self.take()
            self.expect_kw("by")
            while True:
                path = self.path()
                descending = False
                if self.kw("asc") or self.kw("desc"):
                    descending = self.take().text.lower() == "desc"
                nulls_last = descending
                if self.kw("nulls"):
                    self.take()
                    which = self.take().text.lower()
                    if which not in ("first", "last"):
                        raise SoqlError(
                            "MALFORMED_QUERY",
                            _caret(
                                self.text,
                                self.tokens[self.i - 1].pos,
                                f"unexpected token: '{which}'",
                            ),
                        )
                    nulls_last = which == "last"
                query.order.append(OrderItem(path, descending, nulls_last))
                if self.peek() is not None and self.peek().text == ",":  # type: ignore[union-attr]
                    self.take()
                    continue
                break
        if self.kw("limit"):
            self.take()
            query.limit = self.integer()
        if self.kw("offset"):
            self.take()
            query.offset = self.integer()
        tok = self.peek()
        if tok is not None:
            raise SoqlError(
                "MALFORMED_QUERY", _caret(self.text, tok.pos, f"unexpected token: '{tok.text}'")
            )
        return query

    def integer(self) -> int:
        tok = self.take()
        if tok.kind != "number" or "." in tok.text or tok.text.startswith("-"):
            raise SoqlError(
                "MALFORMED_QUERY", _caret(self.text, tok.pos, f"unexpected token: '{tok.text}'")
            )
        return int(tok.text)

    def or_expr(self) -> Any:
        items = [self.and_expr()]
        while self.kw("or"):
            self.take()
            items.append(self.and_expr())
        return items[0] if len(items) == 1 else BoolExpr("OR", items)

    def and_expr(self) -> Any:
        items = [self.not_expr()]
        while self.kw("and"):
            self.take()
            items.append(self.not_expr())
        return items[0] if len(items) == 1 else BoolExpr("AND", items)

    def not_expr(self) -> Any:
        if self.kw("not"):
            self.take()
            return NotExpr(self.not_expr())
        tok = self.peek()
        if tok is not None and tok.text == "(":
            self.take()
            inner = self.or_expr()
            self.expect_punct(")")
            return inner
        return self.condition()

    def condition(self) -> Cond:
        path = self.path()
        tok = self.take()
        if tok.kind == "op":
            op = "!=" if tok.text == "<>" else tok.text
            return Cond(path, op, self.literal())
        word = tok.text.lower()
        if word == "like":
            return Cond(path, "like", self.literal())
        negate = False
        if word == "not" and self.kw("in"):
            self.take()
            negate = True
        elif word != "in":
            raise SoqlError(
                "MALFORMED_QUERY", _caret(self.text, tok.pos, f"unexpected token: '{tok.text}'")
            )
        self.expect_punct("(")
        values = [self.literal()]
        while self.peek() is not None and self.peek().text == ",":  # type: ignore[union-attr]
            self.take()
            values.append(self.literal())
        self.expect_punct(")")
        return Cond(path, "not in" if negate else "in", values)

    def literal(self) -> Literal:
        tok = self.take()
        if tok.kind == "string":
            raw = tok.text[1:-1]
            value = re.sub(
                r"\\(.)",
                lambda m: {"n": "\n", "t": "\t", "r": "\r"}.get(m.group(1), m.group(1)),
                raw,
            )
            return Literal("string", value, tok.pos)
        if tok.kind == "number":
            return Literal("number", float(tok.text), tok.pos)
        if tok.kind == "datetime":
            return Literal("datetime", parse_datetime(tok.text), tok.pos)
        if tok.kind == "date":
            return Literal("date", dt.date.fromisoformat(tok.text), tok.pos)
        if tok.kind == "ident":
            word = tok.text.lower()
            if word in ("true", "false"):
                return Literal("bool", word == "true", tok.pos)
            if word == "null":
                return Literal("null", None, tok.pos)
            if _DATE_LITERALS.match(tok.text):
                return Literal("range", tok.text.upper(), tok.pos)
        raise SoqlError(
            "MALFORMED_QUERY", _caret(self.text, tok.pos, f"unexpected token: '{tok.text}'")
        )


def parse_datetime(text: str) -> dt.datetime:
    """Salesforce datetime text (``...+0000``, ``...Z``, ``...+00:00``) to an aware UTC datetime."""
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    elif re.search(r"[+-]\d{4}$", text):
        text = text[:-2] + ":" + text[-2:]
    return dt.datetime.fromisoformat(text).astimezone(UTC)


def parse(text: str) -> Query:
    return _Parser(text).parse()


# --- binding to metadata ---------------------------------------------------------------------


def bind(query: Query, objects: dict[str, ObjectDef]) -> Query:
    """Resolve the object and every field path; raise Salesforce's errors for unknown ones."""
    by_lower = {name.lower(): o for name, o in objects.items()}
    obj = by_lower.get(query.object.lower())
    if obj is None:
        raise SoqlError(
            "INVALID_TYPE",
            _caret(
                query.text,
                query.object_pos,
                f"sObject type '{query.object}' is not supported. If you are attempting to use "
                "a custom object, be sure to append the '__c' after the entity name. Please "
                "reference your WSDL or the describe "
                "call for the appropriate names.",
            ),
        )
    query.obj = obj
    paths = list(query.fields)
    if query.count_field is not None:
        paths.append(query.count_field)
    paths += [c.path for c in query.where_fields()]
    paths += [o.path for o in query.order]
    for path in paths:
        _bind_path(query, path, obj, by_lower)
    for cond in query.where_fields():
        _check_literal(query, cond)
    return query


def _bind_path(query: Query, path: Path, obj: ObjectDef, by_lower: dict[str, ObjectDef]) -> None:
    current: tuple[ObjectDef, ...] = (obj,)
    parts = path.parts
    # Salesforce accepts the object name as a prefix: Account.Name FROM Account
    if (
        len(parts) > 1
        and parts[0].lower() == obj.name.lower()
        and obj.relationships.get(parts[0].lower()) is None
    ):
        parts = parts[1:]
    chain: list[FieldDef] = []
    for rel in parts[:-1]:
        found = None
        for candidate in current:
            found = candidate.relationships.get(rel.lower())
            if found is not None:
                break
        if found is None:
            raise SoqlError(
                "INVALID_FIELD",
                _caret(
                    query.text,
                    path.pos,
                    f"Didn't understand relationship '{rel}' in field path. If you are "
                    "attempting to use a custom relationship, be sure to append the '__r' after "
                    "the custom relationship name. Please reference "
                    "your WSDL or the describe call for the appropriate names.",
                ),
            )
        chain.append(found)
        current = tuple(by_lower[t.lower()] for t in found.reference_to if t.lower() in by_lower)
    leaf_name = parts[-1]
    leaf = None
    for candidate in current:
        leaf = candidate.field(leaf_name)
        if leaf is not None:
            break
    if leaf is None and chain and chain[-1].polymorphic and leaf_name.lower() == "type":
        leaf = FieldDef("Type", "string", "Type", length=40)
    if leaf is None:
        entity = current[0].name if len(current) == 1 else "Name"
        raise SoqlError(
            "INVALID_FIELD",
            _caret(
                query.text,
                path.pos,
                f"No such column '{leaf_name}' on entity '{entity}'. If you are attempting to "
                "use a custom field, be sure to append the '__c' after the custom field name. "
                "Please reference your WSDL or the "
                "describe call for the appropriate names.",
            ),
        )
    path.chain = chain
    path.leaf = leaf
    path.leaf_objects = tuple(o.name for o in current)
    path.parts = (*(f.relationship_name or f.name for f in chain), leaf.name)


def _type_error(query: Query, lit: Literal, leaf: FieldDef, wanted: str, quoted: bool) -> SoqlError:
    quote = "should be enclosed in quotes" if quoted else "should not be enclosed in quotes"
    return SoqlError(
        "INVALID_FIELD",
        _caret(
            query.text,
            lit.pos,
            f"value of filter criterion for field '{leaf.name}' must be of type {wanted} "
            f"and {quote}",
        ),
    )


def _check_literal(query: Query, cond: Cond) -> None:
    leaf = cond.path.leaf
    assert leaf is not None
    values = cond.value if isinstance(cond.value, list) else [cond.value]
    for lit in values:
        if lit.kind == "null":
            continue
        t = leaf.type
        if t == "datetime" and lit.kind not in ("datetime", "range"):
            raise _type_error(query, lit, leaf, "dateTime", quoted=False)
        if t == "date" and lit.kind not in ("date", "range"):
            raise _type_error(query, lit, leaf, "date", quoted=False)
        if t == "boolean" and lit.kind != "bool":
            raise _type_error(query, lit, leaf, "boolean", quoted=False)
        if t in NUMBER_TYPES and lit.kind != "number":
            raise _type_error(query, lit, leaf, "double" if t != "int" else "int", quoted=False)
        if t in TEXT_TYPES and lit.kind != "string":
            raise _type_error(query, lit, leaf, "string", quoted=True)
    if cond.op == "like" and leaf.type not in TEXT_TYPES:
        raise SoqlError(
            "INVALID_FIELD",
            _caret(query.text, cond.path.pos, f"invalid operator on {leaf.type} field: LIKE"),
        )


# --- evaluation ------------------------------------------------------------------------------

Resolver = Callable[[dict[str, Any], "Path"], Any]


def _range(name: str, now: dt.datetime) -> tuple[dt.datetime, dt.datetime]:
    today = dt.datetime(now.year, now.month, now.day, tzinfo=UTC)
    day = dt.timedelta(days=1)
    upper = name.upper()
    if upper == "TODAY":
        return today, today + day
    if upper == "YESTERDAY":
        return today - day, today
    if upper == "TOMORROW":
        return today + day, today + 2 * day
    n = int(upper.split(":")[1])
    if upper.startswith("LAST_N_DAYS"):
        return today - n * day, today + day
    return today + day, today + (n + 1) * day


def _norm(value: Any, leaf: FieldDef) -> Any:
    if isinstance(value, str) and leaf.type in TEXT_TYPES:
        return value.lower()
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return float(value)
    return value


def _compare(actual: Any, op: str, lit: Literal, leaf: FieldDef, now: dt.datetime) -> bool:
    if lit.kind == "null":
        if op == "=":
            return actual is None
        if op == "!=":
            return actual is not None
        return False
    if lit.kind == "range":
        if actual is None:
            return op == "!="
        lo, hi = _range(lit.value, now)
        if isinstance(actual, dt.date) and not isinstance(actual, dt.datetime):
            lo_v: Any = lo.date()
            hi_v: Any = hi.date()
        else:
            lo_v, hi_v = lo, hi
        inside = bool(lo_v <= actual < hi_v)
        result: dict[str, bool] = {
            "=": inside,
            "!=": not inside,
            "<": actual < lo_v,
            "<=": actual < hi_v,
            ">": actual >= hi_v,
            ">=": actual >= lo_v,
        }
        return result[op]
    if actual is None:
        return op == "!="
    a = _norm(actual, leaf)
    b = _norm(lit.value, leaf)
    if op == "=":
        return bool(a == b)
    if op == "!=":
        return bool(a != b)
    if op == "<":
        return bool(a < b)
    if op == "<=":
        return bool(a <= b)
    if op == ">":
        return bool(a > b)
    if op == ">=":
        return bool(a >= b)
    if op == "like":
        pattern = "^" + re.escape(str(b)).replace("%", ".*").replace("_", ".") + "$"
        return re.match(pattern, str(a), re.I | re.S) is not None
    raise AssertionError(op)


def matches(node: Any, rec: dict[str, Any], resolve: Resolver, now: dt.datetime) -> bool:
    """Whether ``rec`` satisfies the WHERE tree ``node``."""
    if node is None:
        return True
    if isinstance(node, BoolExpr):
        if node.op == "AND":
            return all(matches(item, rec, resolve, now) for item in node.items)
        return any(matches(item, rec, resolve, now) for item in node.items)
    if isinstance(node, NotExpr):
        return not matches(node.item, rec, resolve, now)
    assert isinstance(node, Cond) and node.path.leaf is not None
    actual = resolve(rec, node.path)
    if node.op in ("in", "not in"):
        assert isinstance(node.value, list)
        hit = any(_compare(actual, "=", lit, node.path.leaf, now) for lit in node.value)
        return hit if node.op == "in" else (not hit and actual is not None)
    assert isinstance(node.value, Literal)
    return _compare(actual, node.op, node.value, node.path.leaf, now)


def sort_key(item: OrderItem, value: Any) -> tuple[int, Any]:
    """A sort key for one ORDER BY item (apply with ``reverse=item.descending``)."""
    if value is None:
        # nulls first ascending by default; the rank flips with reverse
        rank = 1 if item.nulls_last != item.descending else -1
        return (rank, 0)
    if isinstance(value, str):
        value = value.lower()
    elif isinstance(value, bool):
        value = int(value)
    return (0, value)


def time_window(
    query: Query, field_types: tuple[str, ...] = ("datetime", "date")
) -> dict[str, tuple[Any, Any]]:
    """Per date/datetime field, the (lower, upper) bounds the WHERE clause puts on it (AND only)."""
    bounds: dict[str, tuple[Any, Any]] = {}

    def walk(node: Any) -> None:
        if isinstance(node, BoolExpr) and node.op == "AND":
            for item in node.items:
                walk(item)
        elif isinstance(node, Cond) and node.path.leaf is not None and not node.path.chain:
            if node.path.leaf.type not in field_types or not isinstance(node.value, Literal):
                return
            if node.value.kind not in ("datetime", "date"):
                return
            lo, hi = bounds.get(node.path.leaf.name, (None, None))
            v = node.value.value
            if node.op in (">", ">="):
                lo = v if lo is None else max(lo, v)
            elif node.op in ("<", "<="):
                hi = v if hi is None else min(hi, v)
            elif node.op == "=":
                lo, hi = v, v
            bounds[node.path.leaf.name] = (lo, hi)

    walk(query.where)
    return bounds
