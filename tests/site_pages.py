"""Every page a customer or bank staff sees, in each state that shows different text, as (name, user, url).

Built once per test from the demo world with the real services (and the real views, through a logged-in
``django.test.Client``, where a page needs state in the session, like the signing step). The English-text
test and the accessibility scan walk the same list, so a new page added here is checked by both.
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Iterator
from dataclasses import dataclass

from django.test import Client
from django.urls import reverse
from django.utils import timezone

from agreements import services as agreements
from agreements.models import Agreement
from notifications.models import Delivery
from subscriptions.models import VerifiedContact
from subscriptions.services import save_watches
from tests.agreements.conftest import make_evidence

ALL = ["e_invoice", "personal_message", "rejected_payment"]


@dataclass
class SitePage:
    name: str
    user: object | None  # None: not logged in
    url: str
    client: Client | None = None  # a client whose session the page needs (the signing step)


def _connect(demo, codes=ALL):
    proposal = agreements.propose_connect(company=demo.exempelbolaget, signer=demo.anna, case_type_codes=codes)
    return agreements.apply_signed_proposal(
        proposal=proposal, signer=demo.anna, evidence=make_evidence(demo.anna, proposal.content)
    ).version


def _logged_in(user, language: str) -> Client:
    client = Client()
    client.cookies["bevaka-language"] = language
    client.force_login(user)
    return client


def _superuser():
    """Olof Drift with every permission: these tests read text, the staff's rights are tested elsewhere."""
    from companies import demo as demo_world
    from companies.models import User

    olof = next(s for s in demo_world.STAFF if s.group == demo_world.OPERATIONS_GROUP)
    user = User.objects.get(personnummer=olof.personnummer)
    User.objects.filter(pk=user.pk).update(is_superuser=True, is_staff=True)
    user.refresh_from_db()
    return user


def customer_pages(demo, *, language: str = "sv") -> Iterator[SitePage]:
    """The customer's pages, building each state just before its pages are yielded: visit each page as it
    comes (the generator moves the world on, e.g. ends the agreement, once the previous pages are seen)."""
    company = demo.exempelbolaget.pk
    svenssons = demo.svenssons.pk
    yield SitePage("login", None, reverse("login"))
    yield SitePage("company picker", demo.gustav, reverse("company-picker") + "?byt=1")
    yield SitePage("help", demo.anna, reverse("help") + f"?tillbaka=/foretag/{company}/bevaka-arenden/")
    yield SitePage("service, not connected, signatory", demo.anna, reverse("service", args=[company]))
    yield SitePage("service, not connected, no mandate", demo.bertil, reverse("service", args=[company]))
    yield SitePage("service, sole proprietorship", demo.gustav, reverse("service", args=[svenssons]))
    yield SitePage("my watches, not connected", demo.bertil, reverse("my-watches", args=[company]))
    yield SitePage("permissions, not connected", demo.anna, reverse("permissions", args=[company]))

    # The signing step of a connect, and the signing page of the security-token method.
    anna = _logged_in(demo.anna, language)
    sign_step = anna.post(reverse("agreements:connect", args=[company]), {"case_types": ALL})["Location"]
    yield SitePage("sign step", demo.anna, sign_step, anna)
    started = anna.post(sign_step, {"method": "security_token"})
    yield SitePage("sign page, security token", demo.anna, started["Location"], anna)

    version = _connect(demo)
    yield SitePage("connect receipt", demo.anna, reverse("agreements:receipt", args=[company, version.pk]))
    yield SitePage("service, connected", demo.anna, reverse("service", args=[company]))
    yield SitePage("change agreement", demo.anna, reverse("agreements:change", args=[company]))
    yield SitePage("end agreement", demo.anna, reverse("agreements:end", args=[company]))
    yield SitePage("permissions", demo.anna, reverse("permissions", args=[company]))
    yield SitePage("my watches, no access", demo.cecilia, reverse("my-watches", args=[company]))

    # Bertil: verified contact details, watches and alert history.
    now = timezone.now()
    VerifiedContact.objects.create(user=demo.bertil, channel="sms", destination="+46701740698", verified_at=now)
    # The e-mail address not yet verified: its Verifiera action, and Ändra with the e-mail boxes disabled.
    yield SitePage("my watches, e-mail not verified", demo.bertil, reverse("my-watches", args=[company]))
    yield SitePage("edit my watches, e-mail not verified", demo.bertil, reverse("edit-watches", args=[company]))
    VerifiedContact.objects.create(user=demo.bertil, channel="email", destination="bertil@example.se", verified_at=now)
    save_watches(
        user=demo.bertil, company=demo.exempelbolaget, selections={"e_invoice": {"sms"}, "rejected_payment": {"email"}}
    )
    for status, minutes in [("delivered", 5), ("failed", 50)]:
        Delivery.objects.create(
            user=demo.bertil,
            company=demo.exempelbolaget,
            channel="sms",
            destination="+46701740698",
            purpose="alert",
            body="alert",
            status=status,
            created_at=now - datetime.timedelta(minutes=minutes),
        )
    yield SitePage("my watches with history", demo.bertil, reverse("my-watches", args=[company]))
    yield SitePage("edit my watches", demo.bertil, reverse("edit-watches", args=[company]))
    yield SitePage("quiet hours", demo.bertil, reverse("alert-preferences", args=[company]))
    # Issue 23: the coverage with some types watched and one not, and the delivery ledger with counts.
    yield SitePage("permissions, coverage and ledger link", demo.anna, reverse("permissions", args=[company]))
    yield SitePage("delivery ledger", demo.anna, reverse("delivery-ledger", args=[company]))

    # Eva signs jointly (i förening): her signed change waits for Fredrik, another joint signatory.
    proposal = agreements.propose_change(company=demo.exempelbolaget, signer=demo.eva, case_type_codes=["e_invoice"])
    pending = agreements.apply_signed_proposal(
        proposal=proposal, signer=demo.eva, evidence=make_evidence(demo.eva, proposal.content)
    ).pending
    assert pending is not None, "Eva signs jointly: her change must wait for a second signatory"
    yield SitePage("service, change pending joint signature", demo.fredrik, reverse("service", args=[company]))
    yield SitePage("pending receipt", demo.eva, reverse("agreements:pending-receipt", args=[company, pending.pk]))
    yield SitePage(
        "withdraw a colleague's change", demo.fredrik, reverse("agreements:withdraw", args=[company, pending.pk])
    )

    agreements.withdraw_pending(pending_id=pending.pk, user=demo.eva)
    ended = agreements.end_agreement(company=demo.exempelbolaget, user=demo.anna)
    yield SitePage("end receipt", demo.anna, reverse("agreements:end-receipt", args=[company, ended.pk]))
    yield SitePage("service, ended", demo.anna, reverse("service", args=[company]))

    # Connected again, then ended by the bank: the customer sees that, when and why (issue 18, defect 6).
    again = _connect(demo).agreement
    agreements.end_agreement_by_bank(agreement_id=again.pk, staff_user=_superuser(), reason="x", category="terms")
    yield SitePage("service, ended by the bank", demo.anna, reverse("service", args=[company]))
    yield SitePage("my watches, ended by the bank", demo.bertil, reverse("my-watches", args=[company]))


def staff_pages(demo) -> list[SitePage]:
    """The admin as bank staff see it: the index, every changelist, an agreement and an event's Why (not)?."""
    from django.contrib import admin

    _connect(demo)
    superuser = _superuser()
    pages = [SitePage("admin index", superuser, reverse("admin:index"))]
    for model in admin.site._registry:
        meta = model._meta
        pages.append(
            SitePage(
                f"admin {meta.app_label}.{meta.model_name}",
                superuser,
                reverse(f"admin:{meta.app_label}_{meta.model_name}_changelist"),
            )
        )
    agreement = Agreement.objects.get(company=demo.exempelbolaget)
    pages.append(
        SitePage("admin agreement", superuser, reverse("admin:agreements_agreement_change", args=[agreement.pk]))
    )
    end_page = reverse("admin:agreements_agreement_end_by_bank", args=[agreement.pk])
    pages.append(SitePage("admin end by bank", superuser, end_page))
    why = reverse("admin:events_event_why", args=[_event(demo).pk])
    pages.append(SitePage("admin why (not)?", superuser, why))
    pages.append(SitePage("admin why (not)?, a mistyped personnummer", superuser, why + "?q=19800101-0000"))
    return pages


def _event(demo):
    """An event of Exempelbolaget, for its "why (not)?" page (paged, with its search form)."""
    import hashlib

    from agreements.models import CaseType
    from events.models import Event, SourceSystem

    source, _created = SourceSystem.objects.get_or_create(name="site-pages")
    event, _created = Event.objects.get_or_create(
        source=source,
        external_id="site-pages-why",
        defaults={
            "case_type": CaseType.objects.get(code="e_invoice"),
            "company": demo.exempelbolaget,
            "occurred_at": timezone.now(),
            "content_sha256": hashlib.sha256(b"site-pages-why").hexdigest(),
        },
    )
    return event


def visible_text(html: str) -> str:
    """The text a reader meets: text nodes and the accessible names in attributes, minus scripts and styles,
    and minus anything marked lang="sv" (the language switch names Svenska in Swedish on purpose)."""
    from html.parser import HTMLParser

    class Reader(HTMLParser):
        VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}

        def __init__(self):
            super().__init__(convert_charrefs=True)
            self.parts: list[str] = []
            self.stack: list[tuple[str, bool]] = []

        def _skipping(self) -> bool:
            return any(skip for _tag, skip in self.stack)

        def handle_starttag(self, tag, attrs):
            attributes = dict(attrs)
            skip = tag in {"script", "style", "template"} or (attributes.get("lang") or "").startswith("sv")
            if not self._skipping() and not skip:
                for name in (
                    "aria-label",
                    "title",
                    "alt",
                    "placeholder",
                    "data-session-warning-text",
                    "data-session-stay-text",
                ):
                    if attributes.get(name):
                        self.parts.append(attributes[name])
                if tag == "input" and attributes.get("type") in {"submit", "button"} and attributes.get("value"):
                    self.parts.append(attributes["value"])
            if tag not in self.VOID:
                self.stack.append((tag, skip))

        def handle_endtag(self, tag):
            while self.stack:
                open_tag, _skip = self.stack.pop()
                if open_tag == tag:
                    break

        def handle_data(self, data):
            if not self._skipping():
                self.parts.append(data)

    reader = Reader()
    reader.feed(html)
    return re.sub(r"\s+", " ", " ".join(reader.parts))


def bankid_pages(demo, *, language: str = "sv") -> Iterator[SitePage]:
    """The pages that wait for BankID (the mock BankID server must run): login with a QR code, and the
    signing page of Mobile BankID and of BankID on card."""
    visitor = Client()
    visitor.cookies["bevaka-language"] = language
    started = visitor.post(reverse("signing:login-start"), {"enhet": "annan"})
    yield SitePage("login, waiting for Mobile BankID", None, started["Location"], visitor)

    company = demo.exempelbolaget.pk
    for method in ("bankid_mobile", "bankid_card"):
        anna = _logged_in(demo.anna, language)
        sign_step = anna.post(reverse("agreements:connect", args=[company]), {"case_types": ALL})["Location"]
        started = anna.post(sign_step, {"method": method})
        yield SitePage(f"sign page, {method}", demo.anna, started["Location"], anna)
