"""The sandbox org's metadata: objects, fields, and the describe payloads built from them.

Field metadata follows the keys of real describe responses (see
``reference-payloads/salesforce/nango_describe_account.json``); values are derived from each
field's type the way Salesforce fills them (``soapType``, ``byteLength``, ``groupable``...).

Custom fields (``__c``) hold the KPI inputs that standard Salesforce objects do not have; they are
listed in the plugin README so the connector's default mapping can name them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# Salesforce's own type names, and the SOAP type each maps to.
_SOAP_TYPES = {
    "id": "tns:ID",
    "reference": "tns:ID",
    "boolean": "xsd:boolean",
    "string": "xsd:string",
    "textarea": "xsd:string",
    "picklist": "xsd:string",
    "email": "xsd:string",
    "phone": "xsd:string",
    "url": "xsd:string",
    "datetime": "xsd:dateTime",
    "date": "xsd:date",
    "currency": "xsd:double",
    "double": "xsd:double",
    "percent": "xsd:double",
    "int": "xsd:int",
}
TEXT_TYPES = frozenset(
    {"id", "reference", "string", "textarea", "picklist", "email", "phone", "url"}
)
NUMBER_TYPES = frozenset({"currency", "double", "percent", "int"})


@dataclass(frozen=True)
class FieldDef:
    """One field of an sObject."""

    name: str
    type: str
    label: str = ""
    nillable: bool = True
    custom: bool = False
    reference_to: tuple[str, ...] = ()
    relationship_name: str | None = None
    picklist: tuple[str, ...] = ()
    length: int = 0
    precision: int = 0
    scale: int = 0
    createable: bool = True
    updateable: bool = True
    name_field: bool = False
    auto_number: bool = False
    calculated: bool = False
    external_id: bool = False

    @property
    def polymorphic(self) -> bool:
        return len(self.reference_to) > 1


@dataclass
class ObjectDef:
    """One sObject type and its fields (in describe order)."""

    name: str
    key_prefix: str
    label: str
    label_plural: str
    fields: list[FieldDef]
    custom: bool = False
    has_is_deleted: bool = True
    by_lower: dict[str, FieldDef] = field(default_factory=dict, init=False, repr=False)
    relationships: dict[str, FieldDef] = field(default_factory=dict, init=False, repr=False)

    def __post_init__(self) -> None:
        self.by_lower = {f.name.lower(): f for f in self.fields}
        self.relationships = {
            f.relationship_name.lower(): f for f in self.fields if f.relationship_name is not None
        }

    def field(self, name: str) -> FieldDef | None:
        return self.by_lower.get(name.lower())


# --- field helpers ---------------------------------------------------------------------------


def _label(name: str) -> str:
    base = name.removesuffix("__c").replace("_", " ")
    if base.endswith("Id") and len(base) > 2:
        base = base[:-2] + " ID"
    out = []
    for i, char in enumerate(base):
        if i and char.isupper() and base[i - 1].islower():
            out.append(" ")
        out.append(char)
    return "".join(out)


def text(name: str, length: int = 255, **kw: Any) -> FieldDef:
    return FieldDef(name, "string", kw.pop("label", _label(name)), length=length, **kw)


def pick(name: str, values: tuple[str, ...], **kw: Any) -> FieldDef:
    return FieldDef(
        name, "picklist", kw.pop("label", _label(name)), picklist=values, length=255, **kw
    )


def ref(name: str, to: tuple[str, ...], rel: str | None, **kw: Any) -> FieldDef:
    return FieldDef(
        name,
        "reference",
        kw.pop("label", _label(name)),
        reference_to=to,
        relationship_name=rel,
        length=18,
        **kw,
    )


def typed(name: str, type_: str, **kw: Any) -> FieldDef:
    return FieldDef(name, type_, kw.pop("label", _label(name)), **kw)


def money(name: str, **kw: Any) -> FieldDef:
    return FieldDef(name, "currency", kw.pop("label", _label(name)), precision=18, scale=2, **kw)


def number(name: str, precision: int = 18, scale: int = 0, **kw: Any) -> FieldDef:
    return FieldDef(
        name, "double", kw.pop("label", _label(name)), precision=precision, scale=scale, **kw
    )


def _system(
    label: str,
    *,
    owner: tuple[str, ...] | None = ("User",),
    is_deleted: bool = True,
    created: bool = True,
) -> tuple[list[FieldDef], list[FieldDef]]:
    """(leading, trailing) standard fields: Id/IsDeleted first, audit fields last."""
    lead = [
        FieldDef(
            "Id", "id", f"{label} ID", nillable=False, length=18, createable=False, updateable=False
        )
    ]
    if is_deleted:
        lead.append(
            FieldDef(
                "IsDeleted",
                "boolean",
                "Deleted",
                nillable=False,
                createable=False,
                updateable=False,
            )
        )
    tail: list[FieldDef] = []
    if owner is not None:
        tail.append(ref("OwnerId", owner, "Owner", label="Owner ID", nillable=False))
    audit: dict[str, Any] = {"createable": False, "updateable": False, "nillable": False}
    if created:
        tail += [
            FieldDef("CreatedDate", "datetime", "Created Date", **audit),
            ref("CreatedById", ("User",), "CreatedBy", label="Created By ID", **audit),
        ]
    tail += [
        FieldDef("LastModifiedDate", "datetime", "Last Modified Date", **audit),
        ref("LastModifiedById", ("User",), "LastModifiedBy", label="Last Modified By ID", **audit),
        FieldDef("SystemModstamp", "datetime", "System Modstamp", **audit),
    ]
    return lead, tail




def _person_name_fields() -> list[FieldDef]:
    """User, Contact and Lead name a person the same way: the parts and a computed full name."""
    return [
        text("LastName", 80, label="Last Name", nillable=False),
        text("FirstName", 40, label="First Name"),
        text("Name", 121, label="Full Name", name_field=True, nillable=False,
             createable=False, updateable=False),
    ]

def _activity_fields() -> list[FieldDef]:
    """The fields Task and Event share (both are activities in Salesforce)."""
    return [
        ref("WhoId", ("Contact", "Lead"), "Who", label="Name ID"),
        ref(
            "WhatId",
            ("Account", "Opportunity", "Case", "Campaign", "Contract"),
            "What",
            label="Related To ID",
        ),
        ref("AccountId", ("Account",), "Account", label="Account ID", createable=False,
            updateable=False),
        text("Subject", 255),
        typed("ActivityDate", "date", label="Due Date Only"),
    ]

def _object(
    name: str,
    prefix: str,
    label: str,
    plural: str,
    body: list[FieldDef],
    *,
    owner: tuple[str, ...] | None = ("User",),
    custom: bool = False,
    is_deleted: bool = True,
    created: bool = True,
) -> ObjectDef:
    lead, tail = _system(label, owner=owner, is_deleted=is_deleted, created=created)
    return ObjectDef(
        name, prefix, label, plural, lead + body + tail, custom=custom, has_is_deleted=is_deleted
    )


# --- picklists -------------------------------------------------------------------------------

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
OPP_TYPES = (
    "New Business",
    "Existing Customer - Upgrade",
    "Existing Customer - Replacement",
    "Existing Customer - Downgrade",
    "Renewal",
)
LEAD_STATUSES = (
    "Open - Not Contacted",
    "Working - Contacted",
    "Closed - Converted",
    "Closed - Not Converted",
)
CASE_STATUSES = ("New", "Working", "Escalated", "Waiting on Customer", "Closed")
CASE_ORIGINS = ("Phone", "Email", "Web", "Chat")
PRIORITIES = ("High", "Medium", "Low")
CAMPAIGN_TYPES = (
    "Conference",
    "Webinar",
    "Trade Show",
    "Public Relations",
    "Partners",
    "Referral Program",
    "Advertisement",
    "Banner Ads",
    "Direct Mail",
    "Email",
    "Telemarketing",
    "Other",
)
CAMPAIGN_STATUSES = ("Planned", "In Progress", "Completed", "Aborted")
TASK_SUBTYPES = ("Task", "Email", "ListEmail", "Cadence", "Call", "LinkedIn")
DIRECTIONS = ("Inbound", "Outbound")
SURVEY_TYPES = ("NPS", "CSAT", "CES")
ROLES = (
    "CEO",
    "VP Sales",
    "Account Executive",
    "Sales Development Rep",
    "Marketing Manager",
    "Support Agent",
    "Customer Success Manager",
)


def build_objects(multi_currency: bool = True, custom_fields: bool = True) -> dict[str, ObjectDef]:
    """Every sObject the sandbox org has, by API name.

    ``custom_fields=False`` gives a plain org: no ``__c`` field and no custom object, as a real
    org that never added the KPI fields the connector's default mapping names.
    """
    cur = (
        [pick("CurrencyIsoCode", CURRENCIES, label="Currency ISO Code", nillable=False)]
        if multi_currency
        else []
    )
    objects = [
        _object(
            "UserRole",
            "00E",
            "Role",
            "Roles",
            [
                text("Name", 80, name_field=True, nillable=False),
                text("DeveloperName", 80, label="Developer Name", nillable=False),
                ref("ParentRoleId", ("UserRole",), None, label="Parent Role ID"),
            ],
            owner=None,
            is_deleted=False,
            created=False,
        ),
        _object(
            "User",
            "005",
            "User",
            "Users",
            [
                text("Username", 80, nillable=False),
                *_person_name_fields(),
                typed("Email", "email", length=128, nillable=False),
                text("Alias", 8, nillable=False),
                typed("IsActive", "boolean", label="Active", nillable=False),
                ref("UserRoleId", ("UserRole",), "UserRole", label="Role ID"),
                text("Title", 80),
                text("Department", 80),
                pick(
                    "UserType",
                    ("Standard", "AutomatedProcess", "CloudIntegrationUser"),
                    label="User Type",
                    createable=False,
                    updateable=False,
                ),
                typed(
                    "LastLoginDate",
                    "datetime",
                    label="Last Login",
                    createable=False,
                    updateable=False,
                ),
                pick("TimeZoneSidKey", TIME_ZONES, label="Time Zone", nillable=False),
                *cur,
            ],
            owner=None,
            is_deleted=False,
        ),
        _object(
            "Account",
            "001",
            "Account",
            "Accounts",
            [
                text("Name", 255, label="Account Name", name_field=True, nillable=False),
                pick(
                    "Type",
                    (
                        "Prospect",
                        "Customer - Direct",
                        "Customer - Channel",
                        "Channel Partner / Reseller",
                        "Installation Partner",
                        "Technology Partner",
                        "Other",
                    ),
                    label="Account Type",
                ),
                ref("ParentId", ("Account",), "Parent", label="Parent Account ID"),
                text("BillingCity", 40, label="Billing City"),
                text("BillingCountry", 80, label="Billing Country"),
                typed("Phone", "phone", label="Account Phone", length=40),
                typed("Website", "url", length=255),
                pick("Industry", INDUSTRIES),
                money("AnnualRevenue", label="Annual Revenue"),
                typed("NumberOfEmployees", "int", label="Employees"),
                pick("AccountSource", LEAD_SOURCES, label="Account Source"),
                typed(
                    "LastActivityDate",
                    "date",
                    label="Last Activity",
                    createable=False,
                    updateable=False,
                ),
                *cur,
                typed("Customer_Since__c", "datetime", label="Customer Since", custom=True),
                typed("Churned_At__c", "datetime", label="Churned At", custom=True),
                pick("Segment__c", SEGMENTS, label="Segment", custom=True),
                pick(
                    "Acquisition_Channel__c", LEAD_SOURCES, label="Acquisition Channel", custom=True
                ),
            ],
        ),
        _object(
            "Contact",
            "003",
            "Contact",
            "Contacts",
            [
                ref("AccountId", ("Account",), "Account", label="Account ID"),
                *_person_name_fields(),
                typed("Email", "email", length=80),
                typed("Phone", "phone", label="Business Phone", length=40),
                text("Title", 128),
                pick("LeadSource", LEAD_SOURCES, label="Lead Source"),
                typed(
                    "LastActivityDate",
                    "date",
                    label="Last Activity",
                    createable=False,
                    updateable=False,
                ),
                *cur,
            ],
        ),
        _object(
            "Lead",
            "00Q",
            "Lead",
            "Leads",
            [
                *_person_name_fields(),
                text("Title", 128),
                text("Company", 255, nillable=False),
                typed("Email", "email", length=80),
                pick("LeadSource", LEAD_SOURCES, label="Lead Source"),
                pick("Status", LEAD_STATUSES, nillable=False),
                pick("Industry", INDUSTRIES),
                pick("Rating", ("Hot", "Warm", "Cold")),
                typed(
                    "IsConverted",
                    "boolean",
                    label="Converted",
                    nillable=False,
                    createable=False,
                    updateable=False,
                ),
                typed(
                    "ConvertedDate",
                    "date",
                    label="Converted Date",
                    createable=False,
                    updateable=False,
                ),
                ref(
                    "ConvertedAccountId",
                    ("Account",),
                    "ConvertedAccount",
                    label="Converted Account ID",
                    createable=False,
                    updateable=False,
                ),
                ref(
                    "ConvertedContactId",
                    ("Contact",),
                    "ConvertedContact",
                    label="Converted Contact ID",
                    createable=False,
                    updateable=False,
                ),
                ref(
                    "ConvertedOpportunityId",
                    ("Opportunity",),
                    "ConvertedOpportunity",
                    label="Converted Opportunity ID",
                    createable=False,
                    updateable=False,
                ),
                *cur,
                pick(
                    "Origin__c",
                    ("Marketing", "Sales", "Partner", "Other"),
                    label="Origin",
                    custom=True,
                ),
            ],
            owner=("Group", "User"),
        ),
        _object(
            "Campaign",
            "701",
            "Campaign",
            "Campaigns",
            [
                text("Name", 80, label="Campaign Name", name_field=True, nillable=False),
                ref("ParentId", ("Campaign",), "Parent", label="Parent Campaign ID"),
                pick("Type", CAMPAIGN_TYPES),
                pick("Status", CAMPAIGN_STATUSES),
                typed("StartDate", "date", label="Start Date"),
                typed("EndDate", "date", label="End Date"),
                money("ExpectedRevenue", label="Expected Revenue in Campaign"),
                money("BudgetedCost", label="Budgeted Cost in Campaign"),
                money("ActualCost", label="Actual Cost in Campaign"),
                typed("IsActive", "boolean", label="Active", nillable=False),
                *cur,
                pick("Channel__c", LEAD_SOURCES, label="Channel", custom=True),
                pick(
                    "Spend_Category__c",
                    ("Acquisition", "Retention", "Support"),
                    label="Spend Category",
                    custom=True,
                ),
            ],
        ),
        _object(
            "Opportunity",
            "006",
            "Opportunity",
            "Opportunities",
            [
                ref("AccountId", ("Account",), "Account", label="Account ID"),
                text("Name", 120, name_field=True, nillable=False),
                pick("StageName", OPP_STAGES, label="Stage", nillable=False),
                money("Amount"),
                FieldDef("Probability", "percent", "Probability (%)", precision=3, scale=0),
                typed("CloseDate", "date", label="Close Date", nillable=False),
                pick("Type", OPP_TYPES, label="Opportunity Type"),
                pick("LeadSource", LEAD_SOURCES, label="Lead Source"),
                typed(
                    "IsClosed",
                    "boolean",
                    label="Closed",
                    nillable=False,
                    createable=False,
                    updateable=False,
                ),
                typed(
                    "IsWon",
                    "boolean",
                    label="Won",
                    nillable=False,
                    createable=False,
                    updateable=False,
                ),
                pick(
                    "ForecastCategoryName",
                    ("Omitted", "Pipeline", "Best Case", "Commit", "Closed"),
                    label="Forecast Category",
                ),
                ref("CampaignId", ("Campaign",), "Campaign", label="Campaign ID"),
                *cur,
            ],
        ),
        _object(
            "Task",
            "00T",
            "Task",
            "Tasks",
            [
                *_activity_fields(),
                pick(
                    "Status",
                    (
                        "Not Started",
                        "In Progress",
                        "Completed",
                        "Waiting on someone else",
                        "Deferred",
                    ),
                    nillable=False,
                ),
                pick("Priority", ("High", "Normal", "Low"), nillable=False),
                typed(
                    "IsClosed",
                    "boolean",
                    label="Closed",
                    nillable=False,
                    createable=False,
                    updateable=False,
                ),
                pick("TaskSubtype", TASK_SUBTYPES, label="Task Subtype", updateable=False),
                pick("Type", ("Call", "Email", "Meeting", "Other")),
                pick("CallType", ("Internal", "Inbound", "Outbound"), label="Call Type"),
                typed("CallDurationInSeconds", "int", label="Call Duration"),
                typed(
                    "CompletedDateTime",
                    "datetime",
                    label="Completed Date/Time",
                    createable=False,
                    updateable=False,
                ),
                pick("Direction__c", DIRECTIONS, label="Direction", custom=True),
                typed("Email_Opened__c", "boolean", label="Email Opened", custom=True),
                typed("Email_Clicked__c", "boolean", label="Email Clicked", custom=True),
            ],
            owner=("Group", "User"),
        ),
        _object(
            "Event",
            "00U",
            "Event",
            "Events",
            [
                *_activity_fields(),
                typed("ActivityDateTime", "datetime", label="Due Date Time"),
                typed("StartDateTime", "datetime", label="Start Date Time"),
                typed("EndDateTime", "datetime", label="End Date Time"),
                typed("DurationInMinutes", "int", label="Duration"),
                pick("EventSubtype", ("Event",), label="Event Subtype", updateable=False),
                pick("Type", ("Call", "Email", "Meeting", "Other")),
                pick("Direction__c", DIRECTIONS, label="Direction", custom=True),
            ],
            owner=("Calendar", "User"),
        ),
        _object(
            "Case",
            "500",
            "Case",
            "Cases",
            [
                FieldDef(
                    "CaseNumber",
                    "string",
                    "Case Number",
                    nillable=False,
                    length=30,
                    auto_number=True,
                    createable=False,
                    updateable=False,
                    name_field=True,
                ),
                ref("ContactId", ("Contact",), "Contact", label="Contact ID"),
                ref("AccountId", ("Account",), "Account", label="Account ID"),
                text("Subject", 255),
                pick("Status", CASE_STATUSES),
                pick("Origin", CASE_ORIGINS, label="Case Origin"),
                pick("Priority", PRIORITIES),
                pick("Type", ("Question", "Problem", "Feature Request")),
                typed(
                    "IsClosed",
                    "boolean",
                    label="Closed",
                    nillable=False,
                    createable=False,
                    updateable=False,
                ),
                typed(
                    "ClosedDate",
                    "datetime",
                    label="Closed Date",
                    createable=False,
                    updateable=False,
                ),
                typed("IsEscalated", "boolean", label="Escalated", nillable=False),
                *cur,
                typed("First_Response_At__c", "datetime", label="First Response At", custom=True),
                number("Interactions__c", 18, 0, label="Interactions", custom=True),
                number("Handle_Time_Minutes__c", 10, 2, label="Handle Time (Minutes)", custom=True),
            ],
            owner=("Group", "User"),
        ),
        _object(
            "Contract",
            "800",
            "Contract",
            "Contracts",
            [
                ref("AccountId", ("Account",), "Account", label="Account ID", nillable=False),
                FieldDef(
                    "ContractNumber",
                    "string",
                    "Contract Number",
                    nillable=False,
                    length=30,
                    auto_number=True,
                    createable=False,
                    updateable=False,
                    name_field=True,
                ),
                pick("Status", ("Draft", "In Approval Process", "Activated"), nillable=False),
                pick(
                    "StatusCode",
                    ("Draft", "InApproval", "Activated", "Terminated", "Expired"),
                    label="Status Category",
                    nillable=False,
                    createable=False,
                    updateable=False,
                ),
                typed("StartDate", "date", label="Contract Start Date"),
                FieldDef(
                    "EndDate",
                    "date",
                    "Contract End Date",
                    calculated=True,
                    createable=False,
                    updateable=False,
                ),
                typed("ContractTerm", "int", label="Contract Term"),
                typed(
                    "ActivatedDate",
                    "datetime",
                    label="Activated Date",
                    createable=False,
                    updateable=False,
                ),
                *cur,
                money("Total_Value__c", label="Total Contract Value", custom=True),
                typed("Renewed__c", "boolean", label="Renewed", custom=True),
                ref(
                    "Renewal_Of__c", ("Contract",), "Renewal_Of__r", label="Renewal Of", custom=True
                ),
            ],
        ),
        _object(
            "Survey_Response__c",
            "a0S",
            "Survey Response",
            "Survey Responses",
            [
                FieldDef(
                    "Name",
                    "string",
                    "Survey Response Name",
                    nillable=False,
                    length=80,
                    auto_number=True,
                    createable=False,
                    updateable=False,
                    name_field=True,
                ),
                pick("Type__c", SURVEY_TYPES, label="Type", custom=True),
                number("Score__c", 5, 1, label="Score", custom=True),
                number("Scale_Min__c", 5, 1, label="Scale Min", custom=True),
                number("Scale_Max__c", 5, 1, label="Scale Max", custom=True),
                ref("Contact__c", ("Contact",), "Contact__r", label="Contact", custom=True),
                ref("Account__c", ("Account",), "Account__r", label="Account", custom=True),
                typed("Responded_At__c", "datetime", label="Responded At", custom=True),
                FieldDef("Comment__c", "textarea", "Comment", custom=True, length=32768),
            ],
            custom=True,
            owner=("Group", "User"),
        ),
        _object(
            "Organization",
            "00D",
            "Organization",
            "Organizations",
            [
                text("Name", 80, name_field=True, nillable=False),
                text("Division", 80),
                text("Country", 80),
                typed("Phone", "phone", length=40),
                text("PrimaryContact", 80, label="Primary Contact"),
                pick("DefaultLocaleSidKey", LOCALES, label="Locale", nillable=False),
                pick("TimeZoneSidKey", TIME_ZONES, label="Time Zone", nillable=False),
                pick("LanguageLocaleKey", ("en_US",), label="Language", nillable=False),
                typed("FiscalYearStartMonth", "int", label="Fiscal Year Starts In"),
                pick(
                    "DefaultCurrencyIsoCode",
                    ORG_CURRENCIES,
                    label="Currency ISO Code",
                    createable=False,
                    updateable=False,
                ),
                pick(
                    "OrganizationType", ("Enterprise Edition",), label="Edition", nillable=False
                ),
                text("InstanceName", 5, label="Instance Name"),
                typed("IsSandbox", "boolean", label="Is Sandbox", nillable=False),
            ],
            owner=None,
            is_deleted=False,
        ),
    ]
    if not custom_fields:
        objects = [
            ObjectDef(
                o.name,
                o.key_prefix,
                o.label,
                o.label_plural,
                [f for f in o.fields if not f.custom],
                custom=o.custom,
                has_is_deleted=o.has_is_deleted,
            )
            for o in objects
            if not o.custom
        ]
    return {o.name: o for o in objects}


# --- describe payloads -----------------------------------------------------------------------


def _byte_length(f: FieldDef) -> int:
    if f.type in ("id", "reference"):
        return 18
    if f.type in TEXT_TYPES:
        return f.length * 3
    return 0


def field_describe(f: FieldDef, obj: ObjectDef) -> dict[str, Any]:
    """The describe entry of one field, with the keys (in the order) Salesforce sends."""
    is_text = f.type in TEXT_TYPES
    digits = 9 if f.type == "int" else 0
    return {
        "aggregatable": f.type not in ("textarea",) or f.length <= 255,
        "aiPredictionField": False,
        "autoNumber": f.auto_number,
        "byteLength": _byte_length(f),
        "calculated": f.calculated,
        "calculatedFormula": "StartDate + ContractTerm months" if f.calculated else None,
        "cascadeDelete": False,
        "caseSensitive": False,
        "compoundFieldName": "Name" if f.name in ("FirstName", "LastName") else None,
        "controllerName": None,
        "createable": f.createable,
        "custom": f.custom,
        "defaultValue": False if f.type == "boolean" and f.nillable is False else None,
        "defaultValueFormula": None,
        "defaultedOnCreate": f.type == "boolean"
        or f.name
        in (
            "Id",
            "OwnerId",
            "CreatedDate",
            "CreatedById",
            "LastModifiedDate",
            "LastModifiedById",
            "SystemModstamp",
        ),
        "dependentPicklist": False,
        "deprecatedAndHidden": False,
        "digits": digits,
        "displayLocationInDecimal": False,
        "encrypted": False,
        "externalId": f.external_id,
        "extraTypeInfo": "personname"
        if f.name in ("Name", "FirstName", "LastName") and obj.name in ("Contact", "Lead", "User")
        else None,
        "filterable": f.type != "textarea" or f.length <= 255,
        "filteredLookupInfo": None,
        "formulaTreatNullNumberAsZero": False,
        "groupable": f.type not in ("datetime", "double", "currency", "percent", "textarea"),
        "highScaleNumber": False,
        "htmlFormatted": False,
        "idLookup": f.type == "id" or f.auto_number or f.name in ("Email", "Username"),
        "inlineHelpText": None,
        "label": f.label,
        "length": f.length
        if is_text and f.type not in ("id", "reference")
        else (18 if is_text else 0),
        "mask": None,
        "maskType": None,
        "name": f.name,
        "nameField": f.name_field,
        "namePointing": f.polymorphic,
        "nillable": f.nillable,
        "permissionable": f.custom or (f.nillable and f.createable and f.type != "id"),
        "picklistValues": [
            {"active": True, "defaultValue": False, "label": v, "validFor": None, "value": v}
            for v in f.picklist
        ],
        "polymorphicForeignKey": f.polymorphic,
        "precision": f.precision if f.type in ("currency", "double", "percent") else 0,
        "queryByDistance": False,
        "referenceTargetField": None,
        "referenceTo": list(f.reference_to),
        "relationshipName": f.relationship_name,
        "relationshipOrder": None,
        "restrictedDelete": False,
        "restrictedPicklist": False,
        "scale": f.scale if f.type in ("currency", "double", "percent") else 0,
        "searchPrefilterable": False,
        "soapType": _SOAP_TYPES[f.type],
        "sortable": f.type != "textarea" or f.length <= 255,
        "type": f.type,
        "unique": False,
        "updateable": f.updateable,
        "writeRequiresMasterRead": False,
    }


def _urls(obj: ObjectDef, version: str, instance_url: str, full: bool) -> dict[str, str]:
    base = f"/services/data/v{version}/sobjects/{obj.name}"
    if not full:
        return {"rowTemplate": f"{base}/{{ID}}", "describe": f"{base}/describe", "sobject": base}
    return {
        "compactLayouts": f"{base}/describe/compactLayouts",
        "rowTemplate": f"{base}/{{ID}}",
        "approvalLayouts": f"{base}/describe/approvalLayouts",
        "uiDetailTemplate": f"{instance_url}/{{ID}}",
        "uiEditTemplate": f"{instance_url}/{{ID}}/e",
        "listviews": f"{base}/listviews",
        "describe": f"{base}/describe",
        "uiNewRecord": f"{instance_url}/{obj.key_prefix}/e",
        "quickActions": f"{base}/quickActions",
        "layouts": f"{base}/describe/layouts",
        "sobject": base,
    }


def _object_flags(obj: ObjectDef) -> dict[str, Any]:
    readonly = obj.name in ("UserRole",)
    return {
        "activateable": False,
        "associateEntityType": None,
        "associateParentEntity": None,
        "createable": not readonly,
        "custom": obj.custom,
        "customSetting": False,
        "deepCloneable": False,
        "deletable": obj.has_is_deleted,
        "deprecatedAndHidden": False,
        "feedEnabled": obj.name not in ("UserRole", "Task", "Event"),
        "hasSubtypes": False,
        "isInterface": False,
        "isSubtype": False,
        "keyPrefix": obj.key_prefix,
        "label": obj.label,
        "labelPlural": obj.label_plural,
        "layoutable": obj.name != "UserRole",
        "mergeable": obj.name in ("Account", "Contact", "Lead"),
        "mruEnabled": obj.name != "UserRole",
        "name": obj.name,
        "queryable": True,
        "replicateable": True,
        "retrieveable": True,
        "searchable": obj.name != "UserRole",
        "triggerable": True,
        "undeletable": obj.has_is_deleted,
        "updateable": not readonly,
    }


def describe_global_entry(obj: ObjectDef, version: str, instance_url: str) -> dict[str, Any]:
    return {**_object_flags(obj), "urls": _urls(obj, version, instance_url, full=False)}


def describe_object(
    obj: ObjectDef, objects: dict[str, ObjectDef], version: str, instance_url: str
) -> dict[str, Any]:
    """``GET /sobjects/{name}/describe``."""
    children = []
    for other in objects.values():
        for f in other.fields:
            if obj.name in f.reference_to and f.name not in ("CreatedById", "LastModifiedById"):
                rel = None
                if f.name == "AccountId" or f.name == "Account__c":
                    rel = (
                        other.label_plural.replace(" ", "")
                        if not other.custom
                        else f"{other.name[:-3]}s__r"
                    )
                children.append(
                    {
                        "cascadeDelete": False,
                        "childSObject": other.name,
                        "deprecatedAndHidden": False,
                        "field": f.name,
                        "junctionIdListNames": [],
                        "junctionReferenceTo": [],
                        "relationshipName": rel,
                        "restrictedDelete": False,
                    }
                )
    flags = _object_flags(obj)
    payload: dict[str, Any] = {
        "actionOverrides": [],
        **{k: flags[k] for k in ("activateable", "associateEntityType", "associateParentEntity")},
        "childRelationships": children,
        "compactLayoutable": flags["layoutable"],
        **{k: flags[k] for k in ("createable", "custom", "customSetting", "deepCloneable")},
        "defaultImplementation": None,
        **{k: flags[k] for k in ("deletable", "deprecatedAndHidden")},
        "extendedBy": None,
        "extendsInterfaces": None,
        "feedEnabled": flags["feedEnabled"],
        "fields": [field_describe(f, obj) for f in obj.fields],
        "hasSubtypes": False,
        "implementedBy": None,
        "implementsInterfaces": None,
        "isInterface": False,
        "isSubtype": False,
        "keyPrefix": obj.key_prefix,
        "label": obj.label,
        "labelPlural": obj.label_plural,
        "layoutable": flags["layoutable"],
        "listviewable": None,
        "lookupLayoutable": None,
        "mergeable": flags["mergeable"],
        "mruEnabled": flags["mruEnabled"],
        "name": obj.name,
        "namedLayoutInfos": [],
        "networkScopeFieldName": None,
        "queryable": True,
        "recordTypeInfos": [
            {
                "active": True,
                "available": True,
                "defaultRecordTypeMapping": True,
                "developerName": "Master",
                "master": True,
                "name": "Master",
                "recordTypeId": "012000000000000AAA",
                "urls": {
                    "layout": f"/services/data/v{version}/sobjects/{obj.name}/describe/layouts/"
                    "012000000000000AAA"
                },
            }
        ],
        "replicateable": True,
        "retrieveable": True,
        "searchLayoutable": flags["searchable"],
        "searchable": flags["searchable"],
        "sobjectDescribeOption": "FULL",
        "supportedScopes": [
            {"label": f"All {obj.label_plural.lower()}", "name": "everything"},
            {"label": f"My {obj.label_plural.lower()}", "name": "mine"},
        ],
        "triggerable": True,
        "undeletable": flags["undeletable"],
        "updateable": flags["updateable"],
        "urls": _urls(obj, version, instance_url, full=True),
    }
    return payload
