"""The three busy pages cost the same number of queries however many users the company has and however
much history there is (issue 8): an N+1 fails here, not in the bank. The speed of the same pages with
2,000 users and 90 days of history is the benchmark's (`make bench`, docs/PERFORMANCE.md)."""

import datetime

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from agreements import services as agreement_services
from companies.models import Authority, SigningMandate
from notifications.models import Delivery, DeliveryStatus
from subscriptions import services as subscription_services
from subscriptions.models import VerifiedContact
from tests.agreements.conftest import make_evidence
from tests.factories import MembershipFactory

pytestmark = pytest.mark.django_db

ALL = ["e_invoice", "personal_message", "rejected_payment"]


def _signed(demo, proposal):
    agreement_services.apply_signed_proposal(
        proposal=proposal, signer=demo.anna, evidence=make_evidence(demo.anna, proposal.content)
    )


def _connected(demo):
    _signed(
        demo, agreement_services.propose_connect(company=demo.exempelbolaget, signer=demo.anna, case_type_codes=ALL)
    )
    VerifiedContact.objects.update_or_create(
        user=demo.bertil,
        channel="sms",
        defaults={"destination": demo.bertil.mobile_number, "verified_at": timezone.now()},
    )
    subscription_services.save_watches(
        user=demo.bertil, company=demo.exempelbolaget, selections={c: {"sms"} for c in ALL}
    )


def _grow(demo, *, users: int, history: int) -> None:
    """More members (some signatories, some holding the permission), more alerts sent to Bertil over 90
    days, and more versions of the agreement."""
    members = MembershipFactory.create_batch(users, company=demo.exempelbolaget, authority=Authority.RESTRICTED)
    MembershipFactory.create_batch(
        3, company=demo.exempelbolaget, authority=Authority.UNRESTRICTED, signing_mandate=SigningMandate.ALONE
    )
    for membership in members[:5]:
        agreement_services.grant_case_watch_permission(
            company=demo.exempelbolaget, admin=demo.anna, user_id=membership.user_id
        )
    alerts_sent(demo, count=history, days=90)
    for codes in (ALL[:2], ALL):
        _signed(
            demo,
            agreement_services.propose_change(company=demo.exempelbolaget, signer=demo.anna, case_type_codes=codes),
        )


def alerts_sent(demo, *, count: int, days: int) -> None:
    """``count`` alerts sent to Bertil, spread over the last ``days`` days."""
    now = timezone.now()
    Delivery.objects.bulk_create(
        Delivery(
            user=demo.bertil,
            company=demo.exempelbolaget,
            channel="sms",
            destination=demo.bertil.mobile_number,
            purpose="alert",
            subject="Avvisad betalning",
            body="x",
            status=DeliveryStatus.DELIVERED,
            sent_at=now - datetime.timedelta(days=n % days),
            created_at=now - datetime.timedelta(days=n % days),
        )
        for n in range(count)
    )


PAGES = [
    ("service", "bertil"),  # Bevaka ärenden
    ("service", "anna"),  # Bevaka ärenden as a signatory: with the coverage (issue 23)
    ("my-watches", "bertil"),  # Mina bevakningar
    ("permissions", "anna"),  # Administrera behörigheter (with the coverage, issue 23)
    ("delivery-ledger", "anna"),  # Utskick per användare (issue 23)
]


def _queries(client, demo, page: str, person: str) -> int:
    client.force_login(getattr(demo, person))
    url = reverse(page, args=[demo.exempelbolaget.pk])
    client.get(url)  # the session and caches as a second visit finds them
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
    assert response.status_code == 200
    return len(queries)


@pytest.mark.parametrize(("page", "person"), PAGES)
def test_the_page_costs_the_same_queries_with_many_more_users_and_much_more_history(client, demo, page, person):
    _connected(demo)
    _grow(demo, users=2, history=2)
    small = _queries(client, demo, page, person)
    _grow(demo, users=80, history=120)
    large = _queries(client, demo, page, person)
    assert small == large, (small, large)
    assert large <= 25


def test_the_pages_list_at_most_one_page_of_rows(client, demo):
    _connected(demo)
    _grow(demo, users=80, history=120)
    client.force_login(demo.anna)
    permissions = client.get(reverse("permissions", args=[demo.exempelbolaget.pk])).content.decode()
    assert permissions.count('<th scope="row">') == 50
    client.force_login(demo.bertil)
    history = client.get(reverse("my-watches", args=[demo.exempelbolaget.pk])).content.decode()
    assert 0 < history.count("+46 70*** **") <= 25
