"""The benchmark's world, written in bulk: companies connected through the real agreement service, users
with verified contacts and watches, a source system with a key, and 90 days of history for the pages.

Users, memberships, contacts and watches are bulk rows (the services would take minutes for 10,000
users); agreements and the permission grants go through their services, so their rows are the real ones.
"""

from __future__ import annotations

import datetime
import hashlib
import itertools
from dataclasses import dataclass, field

from django.db import connection
from django.utils import timezone

from agreements import services as agreement_services
from agreements.models import CaseType
from companies.identity import luhn_check_digit
from companies.models import Authority, Company, LegalForm, Membership, SigningMandate, User
from events.models import Event, SourceSystem
from events.services import create_source_key
from notifications.models import Delivery, DeliveryStatus
from subscriptions.models import VerifiedContact, Watch

ALL_TYPES = ["e_invoice", "personal_message", "rejected_payment"]
NO_LOGIN = "!"  # an unusable password hash: bench users log in through force_login only
_company_numbers = itertools.count(1)
_people = itertools.count(1)


def _org_number() -> str:
    body = f"559{next(_company_numbers):06d}"
    return body + luhn_check_digit(body)


def _personnummer() -> str:
    # Made-up birth numbers (serial 99x), never a real person's.
    n = next(_people)
    birth = datetime.date(1950, 1, 1) + datetime.timedelta(days=n // 10)
    serial = f"99{n % 10}"
    return birth.strftime("%Y%m%d") + serial + luhn_check_digit(birth.strftime("%y%m%d") + serial)


def _evidence(user, content: str):
    from tests.agreements.conftest import make_evidence

    return make_evidence(user, content)


@dataclass
class SeededCompany:
    company: Company
    signer: User
    users: list[User] = field(default_factory=list)

    @property
    def org_number(self) -> str:
        return self.company.org_number


def company(name: str, *, case_types: list[str] = ALL_TYPES) -> SeededCompany:
    """A company connected to Bevaka ärenden with these case types, by a signatory who signs alone."""
    row = Company.objects.create(org_number=_org_number(), name=name, legal_form=LegalForm.AKTIEBOLAG)
    signer = User.objects.create(
        personnummer=_personnummer(), first_name="Sigrid", last_name="Signatär", password=NO_LOGIN
    )
    Membership.objects.create(
        user=signer,
        company=row,
        authority=Authority.UNRESTRICTED,
        signing_mandate=SigningMandate.ALONE,
        is_permission_admin=True,
    )
    if case_types:
        proposal = agreement_services.propose_connect(
            company=row, signer=signer, case_type_codes=case_types, internet_bank="corporate"
        )
        agreement_services.apply_signed_proposal(
            proposal=proposal, signer=signer, evidence=_evidence(signer, proposal.content)
        )
    return SeededCompany(company=row, signer=signer)


def recipients(
    seeded: SeededCompany,
    count: int,
    *,
    channels: tuple[str, ...] = ("sms", "email"),
    case_types: list[str] = ALL_TYPES,
    english_every: int = 5,
    watching: bool = True,
) -> list[User]:
    """``count`` users with unrestricted authority, verified contacts on ``channels`` and watches for
    ``case_types`` by those channels (every ``english_every``-th user gets alerts in English)."""
    users = User.objects.bulk_create(
        User(
            personnummer=_personnummer(),
            first_name=f"Mottagare{n}",
            last_name=f"Bench{seeded.company.pk}",
            alert_language="en" if english_every and n % english_every == 0 else "sv",
            password=NO_LOGIN,
        )
        for n in range(count)
    )
    Membership.objects.bulk_create(
        Membership(user=u, company=seeded.company, authority=Authority.UNRESTRICTED) for u in users
    )
    now = timezone.now()
    contacts = []
    for u in users:
        if "sms" in channels:
            contacts.append(VerifiedContact(user=u, channel="sms", destination=f"+4670{u.pk:07d}", verified_at=now))
        if "email" in channels:
            contacts.append(
                VerifiedContact(user=u, channel="email", destination=f"mottagare{u.pk}@bench.example", verified_at=now)
            )
    VerifiedContact.objects.bulk_create(contacts, batch_size=5000)
    if watching:
        types = list(CaseType.objects.filter(code__in=case_types))
        Watch.objects.bulk_create(
            (
                Watch(
                    user=u,
                    company=seeded.company,
                    case_type=t,
                    by_sms="sms" in channels,
                    by_email="email" in channels,
                )
                for u in users
                for t in types
            ),
            batch_size=5000,
        )
    seeded.users.extend(users)
    return users


def source() -> tuple[SourceSystem, str]:
    system = SourceSystem.objects.create(name="bench-core")
    _key, secret = create_source_key(source=system, label="bench")
    return system, secret


def history(seeded: SeededCompany, system: SourceSystem, *, days: int, events_per_day: int, per_event: int) -> int:
    """``days`` of past events for the company, each with SMS deliveries to ``per_event`` of its users
    (the first user always among them), sent and delivered. Returns the number of delivery rows."""
    case_type = CaseType.objects.get(code="rejected_payment")
    now = timezone.now()
    events = []
    for day in range(days):
        for n in range(events_per_day):
            at = now - datetime.timedelta(days=day, minutes=n * 7)
            external = f"history-{seeded.company.pk}-{day}-{n}"
            events.append(
                Event(
                    source=system,
                    external_id=external,
                    case_type=case_type,
                    company=seeded.company,
                    occurred_at=at,
                    content_sha256=hashlib.sha256(external.encode()).hexdigest(),
                    received_at=at,
                    fanned_out_at=at,
                    fanout_published_at=at,
                    recipient_count=per_event,
                )
            )
    events = Event.objects.bulk_create(events, batch_size=2000)
    people = seeded.users[:per_event]
    rows = [
        Delivery(
            event=e,
            user=u,
            company=seeded.company,
            channel="sms",
            destination=f"+4670{u.pk:07d}",
            purpose="alert",
            subject="Avvisad betalning",
            body="Bevaka ärenden: Avvisad betalning. Logga in i internetbanken för att se ärendet.",
            status=DeliveryStatus.DELIVERED,
            attempts=1,
            provider_id=f"SM{e.pk:08d}{u.pk:08d}",
            sent_at=e.received_at,
            delivered_at=e.received_at,
            created_at=e.received_at,
        )
        for e in events
        for u in people
    ]
    Delivery.objects.bulk_create(rows, batch_size=5000)
    return len(rows)


def grant_some(seeded: SeededCompany, count: int) -> None:
    """Restricted members holding Hantera Bevaka ärenden, granted through the service."""
    users = User.objects.bulk_create(
        User(personnummer=_personnummer(), first_name=f"Begränsad{n}", last_name="Bench", password=NO_LOGIN)
        for n in range(count)
    )
    Membership.objects.bulk_create(
        Membership(user=u, company=seeded.company, authority=Authority.RESTRICTED) for u in users
    )
    for u in users[: max(1, count // 4)]:
        agreement_services.grant_case_watch_permission(company=seeded.company, admin=seeded.signer, user_id=u.pk)


def analyze() -> None:
    """Fresh planner statistics after bulk loads (autovacuum would get there, later)."""
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
