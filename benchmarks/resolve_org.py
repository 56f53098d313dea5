"""A seeded two-CRM org with ground truth, for measuring ``crm-connect resolve``.

The same companies and people live in two exports (``crm_a/`` and ``crm_b/``, read by the
``files`` connector), written the way two teams would: legal forms spelled differently
(Inc., GmbH, Ltd, or none), typos, a company that moved to a new domain in one CRM, personal
rather than work emails, missing fields, a few duplicates inside one CRM, some records carrying
the other CRM's id (as an integration writes it), and look-alike companies that are *not* the
same (a similar name, another domain, another city).  ``truth.csv`` names the real entity
behind every record.

    python benchmarks/resolve_org.py OUT_DIR [--companies N] [--contacts-per-company K]
                                     [--seed S] [--no-leads]

:func:`pairwise_scores` compares a clustering with the truth (pairwise precision, recall, F1).
"""

from __future__ import annotations

import argparse
import csv
import random
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["Org", "pairwise_scores", "write_org"]

SYLLABLES = ("bright", "wave", "north", "star", "blue", "peak", "iron", "leaf", "cloud", "stone",
             "river", "green", "silver", "oak", "nova", "quant", "zen", "arc", "flux", "pine",
             "delta", "echo", "vista", "terra", "lumen", "orbit", "pixel", "solar", "cedar",
             "maple", "coral", "amber", "falcon", "harbor", "summit", "crest", "glen", "sky")
TRADES = ("Analytics", "Systems", "Logistics", "Labs", "Software", "Foods", "Robotics",
          "Health", "Energy", "Capital", "Media", "Consulting", "Networks", "Materials",
          "Studios", "Dynamics", "Solutions", "Partners", "Works", "Technologies")
LEGAL = {"US": ("Inc.", "Inc", "LLC", "Corp."), "DE": ("GmbH", "AG"), "GB": ("Ltd", "Limited",
         "PLC"), "FR": ("SA", "SAS"), "NL": ("B.V.", "BV")}
COUNTRY_NAMES = {"US": ("United States", "USA", "US"), "DE": ("Germany", "Deutschland", "DE"),
                 "GB": ("United Kingdom", "UK", "GB"), "FR": ("France", "FR"),
                 "NL": ("Netherlands", "NL")}
CITIES = {"US": ("Boston", "Austin", "Denver", "Seattle", "Chicago"),
          "DE": ("Berlin", "Munich", "Hamburg", "Cologne"),
          "GB": ("London", "Leeds", "Bristol", "Manchester"), "FR": ("Paris", "Lyon", "Nantes"),
          "NL": ("Amsterdam", "Utrecht", "Rotterdam")}
TLDS = {"US": ("com", "io"), "DE": ("de", "com"), "GB": ("co.uk", "com"), "FR": ("fr", "com"),
        "NL": ("nl", "com")}
STREETS = ("Main St", "High Street", "Hauptstrasse", "Rue de la Paix", "Market Street",
           "Kingsway", "Elm Avenue", "Station Road", "Park Lane", "Canal Street")
NAME_STARTS = ("Al", "An", "Ar", "Ba", "Be", "Bri", "Ca", "Cla", "Da", "De", "Do", "El", "Em",
               "Fe", "Fre", "Ga", "Gre", "Ha", "He", "Ja", "Jo", "Ju", "Ka", "Ke", "La", "Le",
               "Li", "Lu", "Ma", "Mar", "Mi", "Na", "Ne", "No", "Ol", "Pa", "Pe", "Ra", "Re",
               "Ro", "Sa", "Se", "Sha", "So", "Ta", "Te", "Tho", "Va", "Vi", "Wi", "Ya", "Za")
NAME_MIDDLES = ("", "", "li", "ri", "na", "de", "ve", "ra", "lo", "mi", "sa")
NAME_ENDS = ("n", "na", "ra", "la", "ne", "lie", "ria", "rick", "vin", "lia", "ssa", "tte",
             "mon", "niel", "rah", "o", "us", "an", "el", "ine", "ia", "ica", "ard", "bert",
             "fred", "ric", "mund", "da", "ko", "ren")
SURNAME_STARTS = ("Ander", "Bak", "Berg", "Black", "Brand", "Brook", "Camp", "Car", "Dal",
                  "Eber", "Feld", "Fisch", "Gold", "Gra", "Hal", "Har", "Hoff", "Holm", "Kel",
                  "Kirk", "Lang", "Lind", "Mar", "Mill", "Mor", "Nie", "Ost", "Pen", "Ras",
                  "Rich", "Ros", "Sand", "Schr", "Stan", "Stein", "Strat", "Thom", "Van", "Wal",
                  "War", "Weis", "Whit", "Win", "Wood", "Zimm", "Ash", "Bell", "Cole", "Dun",
                  "Fair", "Fox", "Hart", "Lam", "Nor", "Pol", "Quin", "Sal", "Tor", "Ver")
SURNAME_MIDDLES = ("", "", "er", "en", "el", "in", "ing", "ow")
SURNAME_ENDS = ("son", "sen", "man", "mann", "berg", "ford", "ley", "ton", "wood", "field",
                "er", "ell", "ski", "ova", "ez", "ins", "ham", "well", "stone", "dale",
                "worth", "hardt", "ner", "ke", "by", "croft", "shaw", "ier", "eau", "ink")


def _name_pool(starts: tuple[str, ...], middles: tuple[str, ...], ends: tuple[str, ...],
               size: int, seed: int) -> tuple[str, ...]:
    """``size`` distinct names built from syllables, the same ones for the same seed."""
    everything = sorted({start + middle + end for start in starts for middle in middles
                         for end in ends})
    return tuple(random.Random(seed).sample(everything, size))


def _weights(size: int, offset: int) -> list[float]:
    """Cumulative weights falling off as 1 / (rank + offset): a few common names, a long
    tail of rare ones, the way names are spread in a real population."""
    total, cumulative = 0.0, []
    for rank in range(1, size + 1):
        total += 1.0 / (rank + offset)
        cumulative.append(total)
    return cumulative


FIRST = _name_pool(NAME_STARTS, NAME_MIDDLES, NAME_ENDS, 3000, seed=1)
LAST = _name_pool(SURNAME_STARTS, SURNAME_MIDDLES, SURNAME_ENDS, 8000, seed=2)
"""3,000 first and 8,000 last names: about 650 and 3,400 equally common ones in effect, so
two people share a full name about as rarely as in a real international org."""
FIRST_WEIGHTS, LAST_WEIGHTS = _weights(len(FIRST), 30), _weights(len(LAST), 300)
FREEMAIL = ("gmail.com", "yahoo.com", "outlook.com", "hotmail.com", "web.de", "gmx.de")
ACCOUNT_FIELDS = ("id", "name", "domain", "phone", "street", "city", "postal_code", "country",
                  "linked_crm", "linked_id", "updated_at")
PERSON_FIELDS = ("id", "first_name", "last_name", "email", "phone", "city", "country",
                 "linked_crm", "linked_id", "updated_at")


@dataclass
class Company:
    key: str
    stem: str
    trade: str
    country: str
    city: str
    domain: str
    phone: str
    street: str
    postal_code: str


@dataclass
class Org:
    """Rows per (source, entity), and the truth: (entity, source, id) -> real entity key."""

    rows: dict[tuple[str, str], list[dict[str, str]]] = field(default_factory=dict)
    truth: dict[tuple[str, str, str], str] = field(default_factory=dict)

    def add(self, source: str, entity: str, truth_key: str, row: dict[str, str]) -> None:
        self.rows.setdefault((source, entity), []).append(row)
        self.truth[(entity, source, row["id"])] = truth_key


def _typo(rng: random.Random, text: str) -> str:
    """One keyboard slip: two letters swapped, one dropped or one doubled."""
    if len(text) < 4:
        return text
    i = rng.randrange(1, len(text) - 2)
    kind = rng.random()
    if kind < 0.4:
        return text[:i] + text[i + 1] + text[i] + text[i + 2:]
    if kind < 0.7:
        return text[:i] + text[i + 1:]
    return text[:i] + text[i] + text[i:]


def _company(rng: random.Random, key: str, used: set[str]) -> Company:
    tries = 0
    while True:
        tries += 1
        stem = rng.choice(SYLLABLES) + rng.choice(SYLLABLES)
        if tries > 20:  # a large org: two syllables are running out
            stem += rng.choice(SYLLABLES)
        trade = rng.choice(TRADES)
        if f"{stem} {trade}" not in used and stem[: len(stem) // 2] != stem[len(stem) // 2:]:
            used.add(f"{stem} {trade}")
            break
    country = rng.choice(tuple(CITIES))
    return Company(
        key=key, stem=stem, trade=trade, country=country, city=rng.choice(CITIES[country]),
        domain=f"{stem}{trade.lower()}.{rng.choice(TLDS[country])}",
        phone=f"+{rng.randint(1, 49)} {rng.randint(100, 999)} {rng.randint(1000000, 9999999)}",
        street=f"{rng.randint(1, 250)} {rng.choice(STREETS)}",
        postal_code=f"{rng.randint(10000, 99999)}")


def _company_name(rng: random.Random, company: Company, *, vary: bool) -> str:
    stem = company.stem.capitalize()
    if vary and rng.random() < 0.15:
        stem = _typo(rng, stem)
    if vary and rng.random() < 0.1:
        stem = company.stem[: len(company.stem) // 2].capitalize() + \
            company.stem[len(company.stem) // 2:].capitalize()
    legal = rng.choice(LEGAL[company.country])
    form = rng.random() if vary else 0.0
    if form < 0.5:
        return f"{stem} {company.trade} {legal}"
    if form < 0.7:
        return f"{stem} {company.trade}, {legal}"
    if form < 0.9:
        return f"{stem} {company.trade}"
    return f"{stem.upper()} {company.trade.upper()}"


def _phone(rng: random.Random, phone: str, vary: bool) -> str:
    if not vary:
        return phone
    if rng.random() < 0.3:
        return ""
    digits = "".join(ch for ch in phone if ch.isdigit())
    return rng.choice((phone, f"+{digits}", f"({digits[:3]}) {digits[3:6]}-{digits[6:]}"))


def _account_row(rng: random.Random, company: Company, row_id: str, *, vary: bool,
                 domain: str | None = None) -> dict[str, str]:
    def missing():
        return (vary and rng.random() < 0.2)
    return {
        "id": row_id,
        "name": _company_name(rng, company, vary=vary),
        "domain": "" if missing() else (domain or company.domain) if not vary or
        rng.random() < 0.5 else f"https://www.{domain or company.domain}/",
        "phone": _phone(rng, company.phone, vary),
        "street": "" if missing() else company.street,
        "city": "" if missing() else company.city,
        "postal_code": "" if missing() else company.postal_code,
        "country": "" if missing() else rng.choice(COUNTRY_NAMES[company.country]),
        "linked_crm": "", "linked_id": "",
        "updated_at": f"2026-{rng.randint(1, 11):02d}-{rng.randint(1, 28):02d}T10:00:00Z",
    }


def _look_alike(rng: random.Random, original: Company, key: str) -> Company:
    """Another company with a name one letter or one word away, elsewhere."""
    twin = _company(rng, key, set())
    stem = original.stem
    i = rng.randrange(1, len(stem) - 1)
    twin.stem = stem[:i] + rng.choice("aeiourst") + stem[i + 1:] if rng.random() < 0.5 \
        else stem
    twin.trade = original.trade if twin.stem != stem else rng.choice(
        [t for t in TRADES if t != original.trade])
    twin.domain = f"{twin.stem}{twin.trade.lower()}.{rng.choice(TLDS[twin.country])}"
    return twin


def _person_rows(rng: random.Random, company: Company, domain_b: str, person: int,
                 key: str, ids: tuple[str, str], in_a: bool, in_b: bool
                 ) -> Iterable[tuple[str, dict[str, str]]]:
    first = rng.choices(FIRST, cum_weights=FIRST_WEIGHTS)[0]
    last = rng.choices(LAST, cum_weights=LAST_WEIGHTS)[0]
    local = f"{first}.{last}".lower().replace(" ", "")
    phone = f"+{rng.randint(1, 49)} {rng.randint(100, 999)} {rng.randint(1000000, 9999999)}"

    def row(row_id: str, email: str, vary: bool, company_domain: str) -> dict[str, str]:
        first_name, last_name = first, last
        if vary and rng.random() < 0.1:
            first_name = _typo(rng, first_name)
        if vary and rng.random() < 0.05:
            last_name = _typo(rng, last_name)
        return {"id": row_id, "first_name": first_name, "last_name": last_name,
                "email": email, "phone": _phone(rng, phone, vary),
                "city": "" if vary and rng.random() < 0.3 else company.city,
                "country": "" if vary and rng.random() < 0.3 else rng.choice(
                    COUNTRY_NAMES[company.country]),
                "linked_crm": "", "linked_id": "",
                "updated_at": f"2026-{rng.randint(1, 11):02d}-{rng.randint(1, 28):02d}"
                "T09:00:00Z"}

    work = f"{local}{person % 7 or ''}@{company.domain}"
    if in_a:
        yield "crm_a", row(ids[0], work, False, company.domain)
    if in_b:
        draw = rng.random()
        if draw < 0.2:
            email = f"{local}{rng.randint(1, 99)}@{rng.choice(FREEMAIL)}"
        elif draw < 0.3:
            email = work.upper()
        elif domain_b != company.domain:
            email = work.replace(company.domain, domain_b)
        else:
            email = work
        b_row = row(ids[1], email, True, domain_b)
        if in_a and rng.random() < 0.15:
            b_row["linked_crm"], b_row["linked_id"] = "crm_a", ids[0]
        yield "crm_b", b_row


def write_org(folder: Path, *, companies: int = 200, contacts_per_company: int = 3,
              seed: int = 19, leads: bool = True) -> Org:
    """Generate the org, write ``crm_a/``, ``crm_b/`` and ``truth.csv`` under ``folder``."""
    rng = random.Random(seed)
    org = Org()
    used: set[str] = set()
    people = 0
    for number in range(companies):
        key = f"co{number}"
        company = _company(rng, key, used)
        place = rng.random()
        in_a, in_b = place < 0.85, place >= 0.15
        domain_b = company.domain
        if rng.random() < 0.1:
            domain_b = f"{company.stem}.{rng.choice(TLDS[company.country])}"
        a_id, b_id = f"A{number:07d}", f"B{number:07d}"
        if in_a:
            org.add("crm_a", "accounts", key, _account_row(rng, company, a_id, vary=False))
            if rng.random() < 0.03:  # a duplicate inside one CRM
                org.add("crm_a", "accounts", key,
                        _account_row(rng, company, f"{a_id}d", vary=True))
        if in_b:
            b_row = _account_row(rng, company, b_id, vary=True, domain=domain_b)
            if in_a and rng.random() < 0.2:
                b_row["linked_crm"], b_row["linked_id"] = "crm_a", a_id
            org.add("crm_b", "accounts", key, b_row)
        if rng.random() < 0.08:  # a look-alike that is another company
            twin = _look_alike(rng, company, f"{key}x")
            source = "crm_a" if rng.random() < 0.5 else "crm_b"
            org.add(source, "accounts", twin.key,
                    _account_row(rng, twin, f"{source[-1].upper()}{number:07d}x", vary=False))
        for _person in range(rng.randint(1, 2 * contacts_per_company - 1)):
            people += 1
            person_key = f"p{people}"
            ids = (f"A{people:08d}", f"B{people:08d}")
            both = rng.random()
            for source, row in _person_rows(rng, company, domain_b, people, person_key, ids,
                                            in_a and both < 0.85, in_b and both >= 0.15):
                entity = "leads" if leads and people % 5 == 0 else "contacts"
                org.add(source, entity, person_key, row)
    _write(folder, org)
    return org


def _write(folder: Path, org: Org) -> None:
    for (source, entity), rows in org.rows.items():
        target = folder / source
        target.mkdir(parents=True, exist_ok=True)
        fields = ACCOUNT_FIELDS if entity == "accounts" else PERSON_FIELDS
        with (target / f"{entity}.csv").open("w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, fieldnames=fields)
            writer.writeheader()
            writer.writerows(rows)
    with (folder / "truth.csv").open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(("entity", "source", "id", "truth"))
        writer.writerows((*record, key) for record, key in sorted(org.truth.items()))


def _pairs(sizes: Iterable[int]) -> int:
    return sum(n * (n - 1) // 2 for n in sizes)


def pairwise_scores(truth: Mapping[tuple[str, str], str], clusters: Mapping[tuple[str, str], str]
                    ) -> dict[str, float]:
    """Pairwise precision, recall and F1 of ``clusters`` ((source, id) -> cluster id) against
    ``truth`` ((source, id) -> real entity), over the records both name."""
    records = truth.keys() & clusters.keys()
    both = _pairs(Counter((truth[r], clusters[r]) for r in records).values())
    predicted = _pairs(Counter(clusters[r] for r in records).values())
    actual = _pairs(Counter(truth[r] for r in records).values())
    precision = both / predicted if predicted else 1.0
    recall = both / actual if actual else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1, "true_pairs": actual,
            "predicted_pairs": predicted}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--companies", type=int, default=2000)
    parser.add_argument("--contacts-per-company", type=int, default=3)
    parser.add_argument("--seed", type=int, default=19)
    parser.add_argument("--no-leads", action="store_true")
    args = parser.parse_args()
    org = write_org(args.out, companies=args.companies,
                    contacts_per_company=args.contacts_per_company, seed=args.seed,
                    leads=not args.no_leads)
    counts = Counter(entity for entity, _, _ in org.truth)
    print(", ".join(f"{n:,} {entity}" for entity, n in sorted(counts.items())))


if __name__ == "__main__":
    main()
