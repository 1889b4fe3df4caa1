"""Issue 18, defect 8: the smaller things a customer notices on the agreement pages."""

import pytest
from django.urls import reverse

from agreements import services
from agreements.models import PendingAgreementChange
from notifications.models import Delivery, Purpose
from tests.agreements.conftest import make_evidence
from tests.subscriptions.test_watches import connect, verify

pytestmark = pytest.mark.django_db


def _signing_page(client, company_id: int) -> tuple[str, str]:
    sign_step = client.post(reverse("agreements:connect", args=[company_id]), {"case_types": ["e_invoice"]})
    step_html = client.get(sign_step["Location"]).content.decode()
    started = client.post(sign_step["Location"], {"method": "security_token"})
    return step_html, client.get(started["Location"]).content.decode()


def test_the_act_is_called_signera_throughout_as_on_the_help_page(client, demo):
    client.force_login(demo.anna)
    step, signing = _signing_page(client, demo.exempelbolaget.pk)
    for html in (step, signing):
        assert "Signera" in html
        assert "Skriv under" not in html and "skriver du under" not in html


def test_the_signing_page_keeps_the_company_name_and_the_menu(client, demo):
    client.force_login(demo.anna)
    _step, signing = _signing_page(client, demo.exempelbolaget.pk)
    assert 'class="company-name">Exempelbolaget i Sverige AB' in signing
    assert 'class="service-nav"' in signing and "Mina bevakningar</a>" in signing


def test_a_sole_proprietor_is_not_asked_as_if_they_might_not_be_one(client, demo):
    client.force_login(demo.gustav)
    html = client.get(reverse("service", args=[demo.svenssons.pk])).content.decode()
    assert "Om du har enskild firma" not in html
    assert "Företaget är en enskild firma" in html


def test_granting_the_permission_says_to_whom(client, demo):
    connect(demo, ["e_invoice"])
    client.force_login(demo.anna)
    response = client.post(
        reverse("permissions", args=[demo.exempelbolaget.pk]), {"action": "grant", "user": demo.cecilia.pk}, follow=True
    )
    assert "Cecilia Carlsson har fått behörigheten Hantera Bevaka ärenden." in response.content.decode()


def test_the_termination_email_says_that_all_alerts_stopped(demo):
    from subscriptions.services import save_watches

    connect(demo, ["e_invoice"])
    verify(demo.anna, "email")
    save_watches(user=demo.anna, company=demo.exempelbolaget, selections={"e_invoice": {"email"}})
    services.end_agreement(company=demo.exempelbolaget, user=demo.anna)
    body = Delivery.objects.get(purpose=Purpose.NOTICE, user=demo.anna).body
    assert "Du får inte längre några aviseringar" in body
    assert "vissa" not in body


def test_withdrawing_a_colleagues_signed_change_asks_first(client, demo):
    connect(demo, ["e_invoice"])
    proposal = services.propose_change(
        company=demo.exempelbolaget, signer=demo.eva, case_type_codes=["rejected_payment"]
    )
    pending = services.apply_signed_proposal(
        proposal=proposal, signer=demo.eva, evidence=make_evidence(demo.eva, proposal.content)
    ).pending
    client.force_login(demo.fredrik)
    url = reverse("agreements:withdraw", args=[demo.exempelbolaget.pk, pending.pk])
    asked = client.post(url, follow=True)
    html = asked.content.decode()
    assert "Vill du återkalla ändringen som Eva Ek har signerat?" in html
    assert PendingAgreementChange.objects.get(pk=pending.pk).status == "pending"
    done = client.post(url, {"bekraftat": "ja"}, follow=True)
    assert "Ändringen är återkallad." in done.content.decode()
    assert PendingAgreementChange.objects.get(pk=pending.pk).status == "withdrawn"
