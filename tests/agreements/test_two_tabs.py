"""Issue 18, defect 4: a proposal is identified by its own id, so two tabs never swap what is signed."""

import pytest
from django.urls import reverse

from agreements.models import Agreement
from tests.agreements.test_browser import sign_with_token
from tests.subscriptions.test_watches import change, connect

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


def propose_in(tab, company, tick: list[str], untick: list[str]) -> None:
    tab.goto(reverse("agreements:change", args=[company.pk]))
    for label in tick:
        tab.get_by_label(label).check()
    for label in untick:
        tab.get_by_label(label).uncheck()
    tab.get_by_role("button", name="Ändra", exact=True).click()


def test_each_tab_signs_exactly_what_it_showed(page, browser, demo, mock_bankid):
    connect(demo, ["e_invoice", "rejected_payment"])
    page.login(demo.anna)
    second = page.context.new_page()
    propose_in(page, demo.exempelbolaget, ["Mottaget personligt meddelande"], [])
    assert "Mottaget personligt meddelande" in page.locator("dl.summary").inner_text()
    propose_in(second, demo.exempelbolaget, [], ["Avvisad betalning"])
    assert "Avvisad betalning" not in second.locator("dl.summary").inner_text()

    # Tab 1 signs: its signing page shows tab 1's three types, and tab 1's content is what takes effect.
    sign_with_token(page, browser, mock_bankid, demo.anna)
    page.wait_for_url("**/kvittens/**")
    agreement = Agreement.objects.get(company=demo.exempelbolaget, status="active")
    assert sorted(agreement.case_types.values_list("code", flat=True)) == [
        "e_invoice",
        "personal_message",
        "rejected_payment",
    ]

    # Tab 2's proposal was made from the version that is no longer in force: refused before signing.
    second.get_by_label("Säkerhetsdosa").check()
    second.get_by_role("button", name="Signera").click()
    assert "Avtalet har ändrats sedan ändringen gjordes" in second.locator("main").inner_text()
    assert agreement.versions.count() == 2


def test_a_proposal_that_became_stale_is_refused_with_a_clear_message(client, demo):
    connect(demo, ["e_invoice"])
    client.force_login(demo.anna)
    response = client.post(
        reverse("agreements:change", args=[demo.exempelbolaget.pk]), {"case_types": ["e_invoice", "rejected_payment"]}
    )
    sign_url = response["Location"]
    change(demo, ["e_invoice", "personal_message"])  # someone else's change takes effect meanwhile
    response = client.get(sign_url, follow=True)
    assert "Avtalet har ändrats sedan ändringen gjordes" in response.content.decode()
    assert response.redirect_chain[-1][0] == reverse("service", args=[demo.exempelbolaget.pk])


def test_after_a_cancelled_signature_the_choice_of_cases_is_kept(client, demo, mock_bankid):
    client.force_login(demo.anna)
    company = demo.exempelbolaget.pk
    sign_step = client.post(
        reverse("agreements:connect", args=[company]), {"case_types": ["e_invoice", "personal_message"]}
    )["Location"]
    signing_page = client.post(sign_step, {"method": "security_token"})["Location"]
    back = client.post(f"{signing_page}avbryt/", follow=True)
    assert back.redirect_chain[-1][0] == sign_step  # the same proposal, ready to be signed again
    html = back.content.decode()
    assert "Mottaget personligt meddelande" in html and "Inkommen e-faktura" in html, html
    assert not Agreement.objects.exists()
