"""Issue 22: "why (not)?" costs what it shows — a page of members, whatever the company's size — with a
search by name or personnummer that is never logged, and the whole event's summary on top."""

import hashlib
import logging

import pytest
from django.urls import reverse
from django.utils import timezone

from agreements.models import CaseType
from companies.models import Authority, Company, Membership, SigningMandate, User
from companies.staff import SUPPORT_GROUP
from events import fanout
from events.admin import WHY_PAGE_SIZE
from events.models import Event
from events.selectors import explain_event, why_members
from subscriptions.models import Watch
from tests.factories import AgreementFactory, _org_number, _personnummer

from .conftest import verify
from .test_commands_and_admin import staff

pytestmark = pytest.mark.django_db


def company_with(size: int, *, n: int, source) -> tuple[Company, Event, Event]:
    """A company of ``size`` members (names out of order), an event fanned out and one not yet."""
    company = Company.objects.create(org_number=_org_number(880000 + n), name=f"Storbolag {n} AB", legal_form="AB")
    users = User.objects.bulk_create(
        [
            User(
                personnummer=_personnummer(60000 + n * 1000 + i),
                first_name=f"Förnamn{i:03d}",
                last_name=f"Efternamn{(i * 37) % size:03d}",
                mobile_number=f"+4670{n:02d}{i:05d}",
                password="!",
            )
            for i in range(size)
        ]
    )
    Membership.objects.bulk_create(
        [
            Membership(user=u, company=company, authority=Authority.UNRESTRICTED, signing_mandate=SigningMandate.NONE)
            for u in users
        ]
    )
    verify(users[0], "sms")  # one destination: the suspension lookup of an event not fanned out runs
    case_type = CaseType.objects.get(code="e_invoice")
    Watch.objects.create(user=users[0], company=company, case_type=case_type, by_sms=True)  # first on page 1
    AgreementFactory(company=company).case_types.add(case_type)
    made = []
    for kind in ("fanned", "not-fanned"):
        made.append(
            Event.objects.create(
                source=source.system,
                external_id=f"{kind}-{n}",
                case_type=case_type,
                company=company,
                occurred_at=timezone.now(),
                content_sha256=hashlib.sha256(f"{kind}-{n}".encode()).hexdigest(),
            )
        )
    fanout.fan_out(event_id=made[0].pk)
    made[0].refresh_from_db()
    return company, made[0], made[1]


def test_a_page_of_why_costs_the_same_queries_for_250_members_as_for_5(source, django_assert_num_queries):
    _small, small_fanned, small_new = company_with(5, n=1, source=source)
    _big, big_fanned, big_new = company_with(250, n=2, source=source)
    for small, big in ((small_fanned, big_fanned), (small_new, big_new)):
        # The docstring's three: the members, the deliveries, the decisions or the suspensions.
        with django_assert_num_queries(3):
            assert len(explain_event(small, why_members(small)[:WHY_PAGE_SIZE])) == 5 * 2
        with django_assert_num_queries(3):
            rows = explain_event(big, why_members(big)[:WHY_PAGE_SIZE])
        assert len(rows) == WHY_PAGE_SIZE * 2
    # Without a page: every member, in the same order, as before.
    assert len(explain_event(big_fanned)) == 250 * 2


def test_the_pages_are_stable_complete_and_ordered_by_last_then_first_name(client, source):
    _company, fanned, _new = company_with(250, n=3, source=source)
    client.force_login(staff(SUPPORT_GROUP))
    url = reverse("admin:events_event_why", args=[fanned.pk])
    seen = []
    for number in (1, 2, 3):
        page = client.get(url, {"p": number})
        assert page.status_code == 200
        members = [row.membership for row in page.context["rows"] if row.channel == "sms"]
        seen += [(m.user.last_name, m.user.first_name, m.user_id) for m in members]
    assert len(seen) == 250 and seen == sorted(seen) and len(set(seen)) == 250
    first = client.get(url).content.decode()
    assert "250 användare" in first and "sida 1 av 3" in first and 'rel="next"' in first
    # The summary on top covers the whole event, not the page.
    summary = dict(client.get(url, {"p": 3}).context["summary"])
    assert summary == {"queued": 1} and fanned.recipient_count == 1
    assert client.get(url, {"p": "999"}).context["page"].number == 3  # out of range: the last page, no 404


def test_support_finds_a_member_by_name_or_personnummer_and_the_term_is_not_logged(client, source, caplog):
    _company, fanned, _new = company_with(250, n=4, source=source)
    client.force_login(staff(SUPPORT_GROUP))
    url = reverse("admin:events_event_why", args=[fanned.pk])
    person = Membership.objects.filter(company=fanned.company).select_related("user").order_by("pk")[7].user
    dashed = f"{person.personnummer[:8]}-{person.personnummer[8:]}"
    with caplog.at_level(logging.DEBUG):
        found = client.get(url, {"q": dashed})
    assert {row.membership.user_id for row in found.context["rows"]} == {person.pk}
    assert "1 användare" in found.content.decode()
    assert person.personnummer not in caplog.text and dashed not in caplog.text
    by_name = client.get(url, {"q": f"{person.first_name} {person.last_name}"}).context["rows"]
    assert {row.membership.user_id for row in by_name} == {person.pk}
    assert client.get(url, {"q": "Förnamn24"}).context["page"].paginator.count == 10  # Förnamn240–249


def test_a_mistyped_personnummer_is_an_announced_error_not_a_5xx(client, source):
    _company, fanned, _new = company_with(5, n=5, source=source)
    client.force_login(staff(SUPPORT_GROUP))
    url = reverse("admin:events_event_why", args=[fanned.pk])
    page = client.get(url, {"q": "19800101-0000"})
    assert page.status_code == 200 and page.context["rows"] == []
    html = page.content.decode()
    assert 'role="alert"' in html and "kontrollsiffra" in html and 'aria-invalid="true"' in html
    assert 'accesskey="s"' in html and '<label for="id_q">' in html
    assert client.get(url, {"q": "x" * 101}).context["rows"] == []
