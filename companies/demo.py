"""The demo world of ../shared/docs/DEMO.md, in one place.

``seed_demo`` builds it; the mock BankID server takes its names from here, so that the same people
appear everywhere. All numbers are made up (birth numbers 980–999) and Luhn-valid; the mobile numbers
are from the range the Swedish regulator keeps for fiction (070-174 06 05 – 070-174 06 99) and the
e-mail domains end in the reserved ``.example``.
"""

from dataclasses import dataclass, field

EXEMPELBOLAGET = "5599990107"
SVENSSONS_BYGG = "5802279892"


@dataclass(frozen=True)
class DemoCompany:
    org_number: str
    name: str
    legal_form: str
    owner: str | None = None  # personnummer of a sole proprietorship's owner


@dataclass(frozen=True)
class DemoRole:
    authority: str
    signing_mandate: str = "none"
    is_permission_admin: bool = False


@dataclass(frozen=True)
class DemoPerson:
    personnummer: str
    first_name: str
    last_name: str
    mobile_number: str
    email: str
    roles: dict[str, DemoRole] = field(default_factory=dict)
    bankid_revoked: bool = False  # the mock BankID's OCSP answers "revoked" for this person's certificate

    @property
    def name(self) -> str:
        return f"{self.first_name} {self.last_name}"


@dataclass(frozen=True)
class DemoStaff:
    personnummer: str
    first_name: str
    last_name: str
    group: str


COMPANIES = [
    DemoCompany(EXEMPELBOLAGET, "Exempelbolaget i Sverige AB", "aktiebolag"),
    DemoCompany(SVENSSONS_BYGG, "Svenssons Bygg", "enskild_firma", owner="195802279892"),
]

PEOPLE = [
    DemoPerson(
        "197804129802",
        "Anna",
        "Andersson",
        "+46701740605",
        "anna.andersson@exempelbolaget.example",
        {EXEMPELBOLAGET: DemoRole("unrestricted", "alone", is_permission_admin=True)},
    ),
    DemoPerson(
        "196509239833",
        "Bertil",
        "Berg",
        "+46701740606",
        "bertil.berg@exempelbolaget.example",
        {EXEMPELBOLAGET: DemoRole("unrestricted")},
    ),
    DemoPerson(
        "199001309823",
        "Cecilia",
        "Carlsson",
        "+46701740607",
        "cecilia.carlsson@exempelbolaget.example",
        {EXEMPELBOLAGET: DemoRole("restricted")},
    ),
    DemoPerson(
        "198511179858",
        "David",
        "Dahl",
        "+46701740608",
        "david.dahl@exempelbolaget.example",
        {EXEMPELBOLAGET: DemoRole("restricted")},
    ),
    DemoPerson(
        "197203059865",
        "Eva",
        "Ek",
        "+46701740609",
        "eva.ek@exempelbolaget.example",
        {EXEMPELBOLAGET: DemoRole("unrestricted", "jointly")},
    ),
    DemoPerson(
        "196908189878",
        "Fredrik",
        "Falk",
        "+46701740610",
        "fredrik.falk@exempelbolaget.example",
        {EXEMPELBOLAGET: DemoRole("unrestricted", "jointly")},
    ),
    DemoPerson(
        "195802279892",
        "Gustav",
        "Svensson",
        "+46701740611",
        "gustav@svenssonsbygg.example",
        {
            EXEMPELBOLAGET: DemoRole("restricted"),
            SVENSSONS_BYGG: DemoRole("unrestricted", "alone", is_permission_admin=True),
        },
    ),
    DemoPerson(
        "198203149839",
        "Hanna",
        "Hult",
        "+46701740612",
        "hanna.hult@exempelbolaget.example",
        {EXEMPELBOLAGET: DemoRole("restricted")},
        bankid_revoked=True,
    ),
]

from .staff import OPERATIONS_GROUP, SUPPORT_GROUP  # noqa: E402

STAFF = [
    DemoStaff("198001019861", "Sara", "Stöd", SUPPORT_GROUP),
    DemoStaff("197506159875", "Olof", "Drift", OPERATIONS_GROUP),
]


def person_by_personnummer(personnummer: str) -> DemoPerson | DemoStaff | None:
    """The demo person or staff member with that 12-digit personnummer, if any."""
    for person in [*PEOPLE, *STAFF]:
        if person.personnummer == personnummer:
            return person
    return None
