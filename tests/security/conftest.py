"""The security suite's world: two connected companies full of objects, one without an agreement, and the
personas who attack them. Also a fingerprint of the app's tables, to prove that a refused request changed
nothing, and the URLconf enumerated, so that a new view is attacked without anyone remembering to add it.
"""

from __future__ import annotations

import datetime
import uuid
from dataclasses import dataclass, field

import pytest
from django.db import connection
from django.urls import URLPattern, URLResolver, get_resolver
from django.utils import timezone

from agreements import services as agreement_services
from companies.models import Authority, SigningMandate
from tests.agreements.conftest import make_evidence
from tests.factories import CompanyFactory, MembershipFactory
from tests.signing.conftest import mock_bankid  # noqa: F401 - the mock BankID server, for the login tests

# Tables whose change is not a change of customer state: sessions (every page remembers the current
# company; logging in and out) and the failed-attempt counters, which a refused attempt must increase.
UNWATCHED_TABLES = {"django_session", "django_migrations", "throttling_attemptcounter"}


def app_tables() -> list[str]:
    return sorted(t for t in connection.introspection.table_names() if t not in UNWATCHED_TABLES)


def fingerprint() -> dict[str, str]:
    """Row count and an md5 over every row of every app table, in one query."""
    tables = app_tables()
    # Table names come from the database's own catalogue.
    row_hash = "count(*)::text || ':' || coalesce(md5(string_agg(t::text, '|' ORDER BY t::text)), '')"
    parts = [f'(SELECT {row_hash} FROM "{table}" t)' for table in tables]  # noqa: S608
    with connection.cursor() as cursor:
        cursor.execute("SELECT " + ", ".join(parts))
        row = cursor.fetchone()
    return dict(zip(tables, row, strict=True))


def changed_tables(before: dict[str, str], after: dict[str, str]) -> list[str]:
    return sorted(table for table in after if before.get(table) != after[table])


# --- the URLconf, enumerated ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Route:
    """One URL pattern: its full name (``namespace:name``), its regex-ish text and its callback."""

    name: str
    pattern: str
    callback: object
    converters: dict = field(default_factory=dict, hash=False, compare=False)
    kwargs: tuple[str, ...] = ()

    @property
    def is_admin(self) -> bool:
        return self.name.startswith("admin:")

    def url(self, values: dict[str, object]) -> str:
        """The path with each kwarg filled from ``values`` (by kwarg name)."""
        import re

        text = self.pattern
        for kwarg in self.kwargs:
            value = str(values[kwarg])
            text = re.sub(r"<(?:\w+:)?" + kwarg + ">", value, text)
            text = re.sub(r"\(\?P<" + kwarg + r">[^)]*\)", value, text)
        text = text.lstrip("^").rstrip("$").replace("\\", "")
        return "/" + text


def _walk(resolver: URLResolver, prefix: str, namespace: str):
    for entry in resolver.url_patterns:
        if isinstance(entry, URLResolver):
            inner = f"{namespace}{entry.namespace}:" if entry.namespace else namespace
            yield from _walk(entry, prefix + str(entry.pattern), inner)
        elif isinstance(entry, URLPattern):
            import re

            text = prefix + str(entry.pattern)
            kwargs = tuple(dict.fromkeys(re.findall(r"<(?:\w+:)?(\w+)>", text)))
            name = f"{namespace}{entry.name}" if entry.name else f"{namespace}<unnamed {text}>"
            yield Route(name=name, pattern=text, callback=entry.callback, kwargs=kwargs)


def all_routes() -> list[Route]:
    """Every URL pattern of the project, includes followed (the admin's too)."""
    return list(_walk(get_resolver(), "", ""))


# --- the world -----------------------------------------------------------------------------------------


@dataclass
class Furnished:
    """A company with an ended agreement, an active one, a pending change and a signature order."""

    company: object
    alone: object  # signatory alone and permission administrator
    joint: object  # signatory jointly, who started the pending change
    ended_agreement_id: int
    version_id: int
    pending_id: int
    order_id: uuid.UUID
    delivery_id: int
    event_id: int


def _order(user):
    from signing.models import SignatureOrder

    return SignatureOrder.objects.create(
        user=user,
        method="security_token",
        purpose="bevaka_arenden.agreement",
        visible_text="test",
        content_sha256="0" * 64,
        return_url="/",
        end_user_ip="127.0.0.1",
        nonce=uuid.uuid4().hex,
        expires_at=timezone.now() + datetime.timedelta(minutes=5),
        challenge="12345678",
    )


def _event(company) -> int:
    from events import services as event_services
    from events.models import SourceSystem

    source = SourceSystem.objects.get_or_create(name="security-core")[0]
    item = {
        "id": f"ev-{company.pk}",
        "type": "e_invoice",
        "company": company.org_number,
        "occurred_at": "2026-03-02T09:15:00+01:00",
    }
    [recorded] = event_services.record_events(source=source, events=event_services.clean_events([item], batch=False))
    return recorded.event.pk


def furnish(company=None) -> Furnished:
    from notifications.models import Delivery

    company = company or CompanyFactory()
    alone = MembershipFactory(company=company, signing_mandate=SigningMandate.ALONE, is_permission_admin=True).user
    joint = MembershipFactory(company=company, signing_mandate=SigningMandate.JOINTLY).user
    for codes in (["e_invoice"], ["e_invoice", "personal_message"]):
        proposal = agreement_services.propose_connect(
            company=company, signer=alone, case_type_codes=codes, internet_bank="corporate"
        )
        version = agreement_services.apply_signed_proposal(
            proposal=proposal, signer=alone, evidence=make_evidence(alone, proposal.content)
        ).version
        if codes == ["e_invoice"]:
            ended = agreement_services.end_agreement(company=company, user=alone)
    proposal = agreement_services.propose_change(company=company, signer=joint, case_type_codes=["e_invoice"])
    pending = agreement_services.apply_signed_proposal(
        proposal=proposal, signer=joint, evidence=make_evidence(joint, proposal.content)
    ).pending
    delivery = Delivery.objects.create(
        user=alone, company=company, channel="sms", destination="+46701740699", purpose="alert", body="x"
    )
    return Furnished(
        company=company,
        alone=alone,
        joint=joint,
        ended_agreement_id=ended.pk,
        version_id=version.pk,
        pending_id=pending.pk,
        order_id=_order(alone).pk,
        delivery_id=delivery.pk,
        event_id=_event(company),
    )


@dataclass
class Persona:
    """Who attacks: ``user`` (None: anonymous), the company in the URL, and the foreign objects used."""

    name: str
    user: object | None
    company_id: int
    objects: Furnished
    has_membership: bool = False
    has_access: bool = False
    is_signatory: bool = False
    is_permission_admin: bool = False
    logged_out: bool = False  # anonymous, or a user the bank deactivated: the session no longer counts


@dataclass
class World:
    target: Furnished  # "Målbolaget": what outsiders attack
    other: Furnished  # a second connected company: the foreign objects members attack
    unconnected: object  # a company with no active agreement
    login_order_id: uuid.UUID  # a BankID login of another browser
    personas: dict[str, Persona]


def _login_order():
    from signing.models import SignatureOrder

    return SignatureOrder.objects.create(
        kind=SignatureOrder.Kind.AUTH,
        method="bankid_mobile",
        purpose="login",
        visible_text="Logga in",
        content_sha256="0" * 64,
        return_url="/",
        end_user_ip="127.0.0.1",
        nonce=uuid.uuid4().hex,
        order_ref=uuid.uuid4().hex,
        expires_at=timezone.now() + datetime.timedelta(minutes=3),
        last_collect_at=timezone.now() + datetime.timedelta(hours=1),  # never asks BankID
    )


def build_world() -> World:
    target, other = furnish(), furnish()
    unconnected = CompanyFactory()
    MembershipFactory(company=unconnected, signing_mandate=SigningMandate.ALONE)
    outsider = MembershipFactory(
        company=other.company, signing_mandate=SigningMandate.ALONE, is_permission_admin=True
    ).user  # powerful in its own company, which must not carry over
    without_access = MembershipFactory(company=unconnected, authority=Authority.UNRESTRICTED).user
    restricted = MembershipFactory(company=target.company, authority=Authority.RESTRICTED).user
    non_signatory = MembershipFactory(company=target.company, authority=Authority.UNRESTRICTED).user
    revoked = MembershipFactory(company=target.company, authority=Authority.RESTRICTED).user
    for grant in (agreement_services.grant_case_watch_permission, agreement_services.revoke_case_watch_permission):
        grant(company=target.company, admin=target.alone, user_id=revoked.pk)
    deactivated = MembershipFactory(company=target.company, signing_mandate=SigningMandate.ALONE).user
    deactivated.is_active = False
    deactivated.save(update_fields=["is_active"])
    tc, oc = target.company.pk, other.company.pk
    member = {"has_membership": True}
    personas = [
        Persona("anonymous", None, tc, target, logged_out=True),
        Persona("a user of another company", outsider, tc, target),
        Persona("a member without access", without_access, unconnected.pk, target, **member),
        Persona("a restricted user without the permission", restricted, tc, other, **member),
        Persona("a non-signatory with access", non_signatory, tc, other, **member, has_access=True),
        Persona("a user whose permission was revoked", revoked, tc, other, **member),
        Persona("a user the bank deactivated", deactivated, tc, target, logged_out=True),
    ]
    del oc
    return World(
        target=target,
        other=other,
        unconnected=unconnected,
        login_order_id=_login_order().pk,
        personas={p.name: p for p in personas},
    )


@pytest.fixture
def world(db, settings):
    # Nothing in these tests may reach BankID: a closed port refuses at once.
    settings.BANKID_API_URL = "http://127.0.0.1:9/rp/v6.0/"
    return build_world()


def fill_values(persona: Persona, world: World) -> dict[str, object]:
    """Path values for a persona: its company in the URL, every other object foreign to it."""
    from django.contrib.contenttypes.models import ContentType

    objects = persona.objects
    return {
        "company_id": persona.company_id,
        "pending_id": objects.pending_id,
        "version_id": objects.version_id,
        "agreement_id": objects.ended_agreement_id,
        "order_id": objects.order_id,
        "delivery_id": objects.delivery_id,
        "event_id": objects.event_id,
        "proposal_id": "made-in-another-session",  # a proposal lives in the session that made it
        # The admin's: the object id is chosen per model by admin_object_id(); the rest are harmless.
        "object_id": None,
        "content_type_id": ContentType.objects.get_for_model(type(objects.company)).pk,
        "app_label": "companies",
        "path": "anything/else",  # the API's catch-all
        "url": "anything/else",  # the admin's catch-all
    }
