"""The vocabularies and name tables the synthetic org draws its records from.

The picklist vocabularies repeat values the describe files (``describe/*.json``) list, so the
generated records only ever hold values their fields allow.
"""

from __future__ import annotations

LEAD_SOURCES = (
    "Web",
    "Advertisement",
    "Email",
    "Trade Show",
    "Webinar",
    "Partner Referral",
    "Cold Call",
    "Employee Referral",
    "Other",
)
MARKETING_SOURCES = ("Web", "Advertisement", "Email", "Trade Show", "Webinar")
INDUSTRIES = (
    "Technology",
    "Finance",
    "Healthcare",
    "Manufacturing",
    "Retail",
    "Education",
    "Energy",
    "Media",
    "Transportation",
    "Hospitality",
)
INDUSTRIES = (
    "Technology",
    "Finance",
    "Healthcare",
    "Manufacturing",
    "Retail",
    "Education",
    "Energy",
    "Media",
    "Transportation",
    "Hospitality",
)
SEGMENTS = ("SMB", "Mid-Market", "Enterprise")
CURRENCIES = ("USD", "EUR", "GBP")
ORG_CURRENCIES = ("USD", "EUR", "GBP", "JPY", "CAD", "AUD", "CHF")
"""What ``Organization.DefaultCurrencyIsoCode`` may be (the corporate currency)."""
TIME_ZONES = ("America/Los_Angeles", "America/New_York", "Europe/London", "Europe/Paris")
LOCALES = ("en_US", "en_GB", "de_DE_EURO", "fr_FR_EURO")
OPP_STAGES = (
    "Prospecting",
    "Qualification",
    "Needs Analysis",
    "Value Proposition",
    "Id. Decision Makers",
    "Perception Analysis",
    "Proposal/Price Quote",
    "Negotiation/Review",
    "Closed Won",
    "Closed Lost",
)
CURRENCIES = ("USD", "EUR", "GBP")
ORG_CURRENCIES = ("USD", "EUR", "GBP", "JPY", "CAD", "AUD", "CHF")
"""What ``Organization.DefaultCurrencyIsoCode`` may be (the corporate currency)."""
TIME_ZONES = ("America/Los_Angeles", "America/New_York", "Europe/London", "Europe/Paris")
LOCALES = ("en_US", "en_GB", "de_DE_EURO", "fr_FR_EURO")
OPP_STAGES = (
    "Prospecting",
    "Qualification",
    "Needs Analysis",
    "Value Proposition",
    "Id. Decision Makers",
    "Perception Analysis",
    "Proposal/Price Quote",
    "Negotiation/Review",
    "Closed Won",
    "Closed Lost",
)
ORG_CURRENCIES = ("USD", "EUR", "GBP", "JPY", "CAD", "AUD", "CHF")
"""What ``Organization.DefaultCurrencyIsoCode`` may be (the corporate currency)."""
TIME_ZONES = ("America/Los_Angeles", "America/New_York", "Europe/London", "Europe/Paris")
LOCALES = ("en_US", "en_GB", "de_DE_EURO", "fr_FR_EURO")
OPP_STAGES = (
    "Prospecting",
    "Qualification",
    "Needs Analysis",
    "Value Proposition",
    "Id. Decision Makers",
    "Perception Analysis",
    "Proposal/Price Quote",
    "Negotiation/Review",
    "Closed Won",
    "Closed Lost",
)
ROLES = (
    "CEO",
    "VP Sales",
    "Account Executive",
    "Sales Development Rep",
    "Marketing Manager",
    "Support Agent",
    "Customer Success Manager",
)

FIRST = (
    "Ava",
    "Liam",
    "Noah",
    "Emma",
    "Olivia",
    "Mia",
    "Lucas",
    "Sofia",
    "Ethan",
    "Amara",
    "Hiro",
    "Chen",
    "Priya",
    "Mateo",
    "Zoe",
    "Omar",
    "Lena",
    "Jonas",
    "Ines",
    "Kofi",
    "Yuki",
    "Nora",
    "Felix",
    "Leila",
    "Arjun",
    "Maya",
    "Tomas",
    "Elif",
    "Sven",
    "Rosa",
)
LAST = (
    "Smith",
    "Garcia",
    "Chen",
    "Patel",
    "Okafor",
    "Muller",
    "Rossi",
    "Kim",
    "Nguyen",
    "Silva",
    "Novak",
    "Haddad",
    "Tanaka",
    "Johansson",
    "Dubois",
    "Kowalski",
    "Moreau",
    "Costa",
    "Reyes",
    "Schmidt",
    "Ito",
    "Larsen",
    "Bauer",
    "Fischer",
    "Ali",
    "Lopez",
    "Brown",
    "Walker",
    "Young",
    "King",
)
CO_A = (
    "Blue",
    "Nordic",
    "Apex",
    "Quantum",
    "Silver",
    "Green",
    "Bright",
    "Summit",
    "Harbor",
    "Pioneer",
    "Crimson",
    "Atlas",
    "Lumen",
    "Vertex",
    "Cobalt",
    "Granite",
    "Sterling",
    "Orbit",
)
CO_B = (
    "Data",
    "Logistics",
    "Health",
    "Robotics",
    "Foods",
    "Energy",
    "Analytics",
    "Textiles",
    "Systems",
    "Capital",
    "Media",
    "Labs",
    "Mobility",
    "Networks",
    "Retail",
    "Pharma",
)
CO_C = ("Inc.", "Ltd", "GmbH", "LLC", "plc", "Corp.", "SA", "Group", "AB", "BV")
CITIES = (
    ("San Francisco", "United States"),
    ("New York", "United States"),
    ("Austin", "United States"),
    ("London", "United Kingdom"),
    ("Manchester", "United Kingdom"),
    ("Berlin", "Germany"),
    ("Paris", "France"),
    ("Amsterdam", "Netherlands"),
    ("Madrid", "Spain"),
    ("Toronto", "Canada"),
)
CAMPAIGN_TYPE = {
    "Web": "Banner Ads",
    "Advertisement": "Advertisement",
    "Email": "Email",
    "Trade Show": "Trade Show",
    "Webinar": "Webinar",
}
ORIGIN = {
    "Web": "Marketing",
    "Advertisement": "Marketing",
    "Email": "Marketing",
    "Trade Show": "Marketing",
    "Webinar": "Marketing",
    "Partner Referral": "Partner",
    "Cold Call": "Sales",
    "Employee Referral": "Other",
    "Other": "Other",
}
OPEN_STAGES = (
    ("Prospecting", 10),
    ("Qualification", 10),
    ("Needs Analysis", 20),
    ("Value Proposition", 50),
    ("Id. Decision Makers", 60),
    ("Perception Analysis", 70),
    ("Proposal/Price Quote", 75),
    ("Negotiation/Review", 90),
)
COMMENTS = (
    "Great support team.",
    "Onboarding took too long.",
    "Easy to use.",
    "Pricing is confusing.",
    "Would recommend to a colleague.",
    None,
    None,
)
