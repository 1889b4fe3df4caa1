"""Issue 18, defect 6: an agreement the bank ends is visible to the customer, and its signatories are told."""

import pytest
from django.urls import reverse
from django.utils import formats, timezone, translation

from agreements.models import Agreement
from companies import demo as demo_world
from companies.models import User
from notifications.models import Delivery, Purpose
from tests.subscriptions.test_watches import connect, verify

pytestmark = pytest.mark.django_db(transaction=True)


def end_by_bank(client, agreement) -> Agreement:
    """Olof in Drift ends the agreement on the admin's page, choosing a reason category."""
    olof = next(s for s in demo_world.STAFF if s.group == demo_world.OPERATIONS_GROUP)
    client.force_login(User.objects.get(personnummer=olof.personnummer))
    response = client.post(
        reverse("admin:agreements_agreement_end_by_bank", args=[agreement.pk]),
        {"category": "terms", "reason": "Ärende 4711 hos kundtjänst"},
    )
    assert response.status_code == 302, response.content.decode()
    client.logout()
    agreement.refresh_from_db()
    return agreement


@pytest.mark.slow
def test_bevaka_arenden_and_mina_bevakningar_show_that_the_bank_ended_the_service(page, client, demo):
    agreement = end_by_bank(client, connect(demo, ["e_invoice"]).agreement)
    with translation.override("sv"):
        when = formats.date_format(timezone.localtime(agreement.ended_at), "DATE_FORMAT")
    page.login(demo.anna)
    for url in [
        reverse("service", args=[demo.exempelbolaget.pk]),
        reverse("my-watches", args=[demo.exempelbolaget.pk]),
    ]:
        page.goto(url)
        notice = page.get_by_role("region", name="Banken har avslutat tjänsten")
        text = notice.inner_text()
        assert f"Banken avslutade tjänsten Bevaka ärenden för företaget den {when}." in text
        assert "Orsak: Villkoren för tjänsten har inte följts" in text
        assert "Ärende 4711" not in page.content()  # the bank's own note stays with the bank


def test_the_signatories_get_a_notice_by_each_verified_channel(client, demo):
    agreement = connect(demo, ["e_invoice"]).agreement
    verify(demo.anna, "sms")
    verify(demo.anna, "email")
    verify(demo.eva, "email")
    verify(demo.bertil, "sms")  # not a signatory: nothing
    end_by_bank(client, agreement)
    notices = Delivery.objects.filter(purpose=Purpose.NOTICE, company=demo.exempelbolaget)
    sent = sorted((d.user.first_name, d.channel) for d in notices)
    assert sent == [("Anna", "email"), ("Anna", "sms"), ("Eva", "email")]
    for delivery in notices:
        assert "Banken har avslutat tjänsten Bevaka ärenden" in delivery.body
        assert "Villkoren för tjänsten har inte följts" in delivery.body
        assert "4711" not in delivery.body
