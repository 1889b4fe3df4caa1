"""Issue 23, part 4: who watches each case type, counted with the pipeline's one eligibility rule, and the
warning for a type nobody watches on Bevaka ärenden (signatories) and Administrera behörigheter."""

import pytest
from django.urls import reverse

from agreements import services as agreement_services
from agreements.coverage import coverage
from agreements.selectors import active_agreement
from companies.models import Membership
from events import eligibility
from notifications.services import suspend_destination
from subscriptions import services
from tests.subscriptions.test_watches import ALL, connect, verify

pytestmark = pytest.mark.django_db


def counts(demo) -> dict[str, tuple[int, int]]:
    rows = coverage(agreement=active_agreement(company=demo.exempelbolaget)).rows
    return {row.case_type.code: (row.by_sms, row.by_email) for row in rows}


def by_the_rule(demo) -> dict[str, tuple[int, int]]:
    """The same counts from eligibility's "why (not)?" annotation, member by member."""
    agreement = active_agreement(company=demo.exempelbolaget)
    found = {}
    for case_type in agreement.case_types.all():
        members = eligibility.first_unmet_by_channel(
            Membership.objects.filter(company=demo.exempelbolaget),
            company=demo.exempelbolaget.pk,
            case_type=case_type.pk,
        )
        found[case_type.code] = (
            sum(1 for m in members if m.sms_unmet == ""),
            sum(1 for m in members if m.email_unmet == ""),
        )
    return found


def test_the_counts_follow_every_condition_of_the_rule(demo):
    connect(demo)
    assert counts(demo) == {code: (0, 0) for code in ALL}
    for user in (demo.bertil, demo.eva):
        verify(user, "sms")
        verify(user, "email")
    services.save_watches(
        user=demo.bertil,
        company=demo.exempelbolaget,
        selections={"e_invoice": {"sms", "email"}, "rejected_payment": {"sms"}},
    )
    services.save_watches(user=demo.eva, company=demo.exempelbolaget, selections={"e_invoice": {"email"}})
    assert counts(demo) == {"e_invoice": (1, 2), "rejected_payment": (1, 0), "personal_message": (0, 0)}
    assert counts(demo) == by_the_rule(demo)

    suspend_destination(channel="sms", destination=demo.bertil.mobile_number, reason="opted_out")  # STOP
    assert counts(demo) == {"e_invoice": (0, 2), "rejected_payment": (0, 0), "personal_message": (0, 0)}
    assert counts(demo) == by_the_rule(demo)

    # A restricted user whose permission is revoked keeps the watch, but gets nothing: not counted.
    agreement_services.grant_case_watch_permission(
        company=demo.exempelbolaget, admin=demo.anna, user_id=demo.cecilia.pk
    )
    verify(demo.cecilia, "sms")
    services.save_watches(user=demo.cecilia, company=demo.exempelbolaget, selections={"personal_message": {"sms"}})
    assert counts(demo)["personal_message"] == (1, 0)
    agreement_services.revoke_case_watch_permission(
        company=demo.exempelbolaget, admin=demo.anna, user_id=demo.cecilia.pk
    )
    assert counts(demo)["personal_message"] == (0, 0)
    assert counts(demo) == by_the_rule(demo)


def test_no_agreement_no_coverage(demo):
    assert coverage(agreement=None) is None


def test_a_signatory_sees_the_warning_until_someone_watches_the_type(client, demo):
    connect(demo)
    verify(demo.bertil, "sms")
    client.force_login(demo.anna)
    url = reverse("service", args=[demo.exempelbolaget.pk])
    html = client.get(url).content.decode()
    assert "Vem bevakar ärendena" in html and "Ingen bevakar Avvisad betalning" in html
    services.save_watches(user=demo.bertil, company=demo.exempelbolaget, selections={"rejected_payment": {"sms"}})
    html = client.get(url).content.decode()
    assert "Ingen bevakar Avvisad betalning" not in html and "Ingen bevakar Inkommen e-faktura" in html


def test_the_coverage_is_for_signatories_on_the_service_page_and_administrators_on_theirs(client, demo):
    connect(demo)
    client.force_login(demo.bertil)  # neither signatory nor permission administrator
    assert "Vem bevakar ärendena" not in client.get(reverse("service", args=[demo.exempelbolaget.pk])).content.decode()
    assert client.get(reverse("permissions", args=[demo.exempelbolaget.pk])).status_code == 404
    client.force_login(demo.anna)
    html = client.get(reverse("permissions", args=[demo.exempelbolaget.pk])).content.decode()
    assert "Ingen bevakar Avvisad betalning" in html
    assert reverse("delivery-ledger", args=[demo.exempelbolaget.pk]) in html
