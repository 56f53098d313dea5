"""Match keys: the fields of accounts, contacts and leads cleaned so that equal things compare
equal (case, punctuation, legal forms, phone formatting, ``www.`` and paths on a website).

Everything runs on whole Arrow columns (:mod:`pyarrow.compute`); the registrable domain of
each distinct host is looked up once in the public suffix list that ``tldextract`` ships (its
bundled snapshot: no network).  Freemail providers are never a company key.
"""

from __future__ import annotations

import functools
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

__all__ = ["FREEMAIL_DOMAINS", "LEGAL_FORMS", "RESERVED_DOMAINS", "match_keys",
           "registrable_domain"]

LEGAL_FORMS = (
    "inc", "incorporated", "llc", "llp", "lp", "ltd", "limited", "plc", "corp", "corporation",
    "co", "company", "gmbh", "ag", "kg", "ug", "se", "sa", "sas", "sarl", "srl", "spa", "bv",
    "nv", "oy", "ab", "as", "aps", "pty", "pvt", "kk", "sl", "group", "holding", "holdings")
"""Words that say what kind of company it is, not which one; dropped from company names."""

FREEMAIL_DOMAINS = frozenset((
    "gmail.com", "googlemail.com", "yahoo.com", "yahoo.co.uk", "yahoo.fr", "yahoo.de",
    "outlook.com", "hotmail.com", "hotmail.co.uk", "hotmail.fr", "live.com", "msn.com",
    "icloud.com", "me.com", "mac.com", "aol.com", "gmx.de", "gmx.net", "gmx.com", "web.de",
    "t-online.de", "proton.me", "protonmail.com", "mail.com", "yandex.ru", "mail.ru",
    "qq.com", "163.com", "126.com", "orange.fr", "free.fr", "laposte.net", "libero.it",
    "zoho.com", "fastmail.com", "hey.com", "btinternet.com", "comcast.net", "verizon.net"))
"""Email providers anyone can sign up to: a shared domain there says nothing about a company."""

RESERVED_DOMAINS = frozenset(("example.com", "example.net", "example.org"))
"""Domains reserved for examples (RFC 2606): test data of many companies share them, so the
label below is the company's key (``acme.example.com``), and the bare domain is none."""

COUNTRY_ALIASES = {
    "united states": "us", "united states of america": "us", "usa": "us", "u.s.": "us",
    "u.s.a.": "us", "america": "us", "united kingdom": "gb", "uk": "gb", "great britain": "gb",
    "england": "gb", "germany": "de", "deutschland": "de", "france": "fr",
    "netherlands": "nl", "the netherlands": "nl", "holland": "nl", "nederland": "nl",
    "spain": "es", "espana": "es", "italy": "it", "italia": "it", "switzerland": "ch",
    "schweiz": "ch", "austria": "at", "osterreich": "at", "canada": "ca", "australia": "au",
    "ireland": "ie", "belgium": "be", "sweden": "se", "denmark": "dk", "norway": "no",
    "poland": "pl", "portugal": "pt", "japan": "jp", "india": "in", "brazil": "br"}

_LEGAL_PATTERN = r"\b(" + "|".join(LEGAL_FORMS) + r")\b"


@functools.lru_cache(maxsize=1)
def _extractor() -> Any:
    import tldextract

    # suffix_list_urls=() and no cache dir: only the snapshot inside the package is read.
    return tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None)


@functools.lru_cache(maxsize=1 << 16)
def registrable_domain(host: str) -> str | None:
    """``shop.example.co.uk`` -> ``example.co.uk``; ``None`` for a bare suffix or an IP.

    Under a domain reserved for examples the label below it counts: ``shop.acme.example.com``
    -> ``acme.example.com``, and ``example.com`` alone is no company's domain."""
    parts = _extractor()(host)
    if not parts.domain or not parts.suffix:
        return None
    domain = f"{parts.domain}.{parts.suffix}"
    if domain in RESERVED_DOMAINS:
        below = parts.subdomain.rsplit(".", 1)[-1]
        return f"{below}.{domain}" if below else None
    return domain


def _text(column: pa.ChunkedArray | pa.Array) -> Any:
    """Lower case, trimmed, accents kept; blanks become null."""
    lowered = pc.utf8_trim_whitespace(pc.utf8_lower(column.cast(pa.string())))
    return pc.if_else(pc.equal(lowered, ""), pa.scalar(None, pa.string()), lowered)


def _squeeze(column: Any, pattern: str) -> Any:
    """Remove ``pattern``, turn what is left into single spaces; blanks become null."""
    cleaned = pc.replace_substring_regex(column, pattern, " ")
    cleaned = pc.utf8_trim_whitespace(pc.replace_substring_regex(cleaned, r"\s+", " "))
    return pc.if_else(pc.equal(cleaned, ""), pa.scalar(None, pa.string()), cleaned)


def company_name(column: Any) -> Any:
    """``"Brightwave Analytics, Inc."`` -> ``"brightwave analytics"``."""
    text = _squeeze(_text(column), r"[^\w\s]")
    return _squeeze(text, _LEGAL_PATTERN)


def person_name(column: Any) -> Any:
    return _squeeze(_text(column), r"[^\w\s]")


def phone(column: Any) -> Any:
    """The last nine digits: the same number written with or without a country code, spaces,
    brackets or dashes gives the same key; fewer than seven digits is no number."""
    digits = pc.replace_substring_regex(column.cast(pa.string()), r"\D", "")
    long_enough = pc.greater_equal(pc.utf8_length(digits), 7)
    tail = pc.utf8_slice_codeunits(pc.utf8_reverse(digits), 0, 9)
    return pc.if_else(long_enough, pc.utf8_reverse(tail), pa.scalar(None, pa.string()))


def email(column: Any) -> Any:
    """Lower case, trimmed, a ``+tag`` dropped; text without one ``@`` is no email."""
    text = pc.replace_substring_regex(_text(column), r"\+[^@]*@", "@")
    valid = pc.match_substring_regex(text, r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
    return pc.if_else(valid, text, pa.scalar(None, pa.string()))


def host(column: Any) -> Any:
    """The host of a website or a bare domain: scheme, ``www.``, port and path dropped."""
    text = pc.replace_substring_regex(_text(column), r"^[a-z][a-z0-9+.-]*://", "")
    text = pc.replace_substring_regex(text, r"[/?#:].*$", "")
    return pc.replace_substring_regex(text, r"^www\d*\.", "")


def company_domain(hosts: Any) -> pa.Array:
    """The registrable domain of each host, null for freemail providers and non-domains."""
    encoded = pc.dictionary_encode(hosts).combine_chunks() if isinstance(
        hosts, pa.ChunkedArray) else pc.dictionary_encode(hosts)
    keys = []
    for value in encoded.dictionary.to_pylist():
        domain = registrable_domain(value) if value else None
        keys.append(None if domain in FREEMAIL_DOMAINS else domain)
    return pc.take(pa.array(keys, pa.string()), encoded.indices)


def country(column: Any) -> Any:
    """A country as a short code where its name is a known spelling, else its cleaned text."""
    text = _squeeze(_text(column), r"[^\w\s.]")
    mapped = pc.take(pa.array(list(COUNTRY_ALIASES.values()), pa.string()),
                     pc.index_in(text, pa.array(list(COUNTRY_ALIASES), pa.string())))
    return pc.coalesce(mapped, text)


def _column(table: pa.Table, name: str) -> Any:
    if name in table.column_names:
        return table.column(name).cast(pa.string())
    return pa.nulls(table.num_rows, pa.string())


def match_keys(entity: str, records: pa.Table) -> pa.Table:
    """The keys the rules and the model compare, one row per record, in ``records``' order."""
    columns: dict[str, Any] = {
        "phone_key": phone(_column(records, "phone")),
        "city_key": person_name(_column(records, "city")),
        "postal_key": pc.replace_substring_regex(_text(_column(records, "postal_code")),
                                               r"\s", ""),
        "country_key": country(_column(records, "country")),
    }
    if entity == "accounts":
        columns["name_key"] = company_name(_column(records, "name"))
        columns["domain_key"] = company_domain(host(_column(records, "domain")))
        columns["street_key"] = person_name(_column(records, "street"))
        return pa.table(columns)
    mail = email(_column(records, "email"))
    columns["email_key"] = mail
    columns["email_user"] = pc.replace_substring_regex(
        pc.replace_substring_regex(mail, r"@.*$", ""), r"[._\-]", "")
    columns["domain_key"] = company_domain(pc.replace_substring_regex(mail, r"^.*@", ""))
    columns["first_key"] = person_name(_column(records, "first_name"))
    columns["last_key"] = person_name(_column(records, "last_name"))
    if entity == "leads":
        columns["company_key"] = company_name(_column(records, "company"))
    return pa.table(columns)
