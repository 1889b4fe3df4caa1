"""Mina bevakningar in a real browser, as the help page says, with a code read from the fake Twilio server."""

import re

import pytest
from django.urls import reverse

from tests.subscriptions.test_watches import connect

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


def test_a_user_verifies_a_phone_number_then_changes_and_saves_the_watches(page, demo, send_settings, fake_twilio):
    send_settings.CELERY_TASK_ALWAYS_EAGER = True  # the code is sent at once, by the real twilio client
    connect(demo, ["e_invoice", "rejected_payment"])
    page.login(demo.bertil)
    page.goto(reverse("service", args=[demo.exempelbolaget.pk]))

    page.get_by_role("link", name="Mina bevakningar", exact=True).first.click()
    assert page.get_by_role("heading", level=1).inner_text() == "Mina bevakningar"
    page.get_by_label("Nytt mobilnummer").fill("070-174 06 98")
    page.locator("form:has(#destination-sms)").get_by_role("button", name="Skicka kod").click()
    assert page.get_by_text("Vi har skickat en kod i ett sms.").is_visible()

    sms = [m for m in fake_twilio.messages() if m["to"] == "+46701740698"]
    assert len(sms) == 1
    code = re.search(r"\b(\d{6})\b", sms[0]["body"]).group(1)
    page.get_by_label("Kod som skickades till +46701740698").fill(code)
    page.get_by_role("button", name="Verifiera", exact=True).click()
    assert page.get_by_text("Uppgiften är verifierad.").is_visible()

    page.get_by_role("link", name="Ändra", exact=True).click()
    assert page.get_by_role("heading", level=1).inner_text() == "Ändra Mina bevakningar"
    assert page.get_by_label("Avvisad betalning: E-post").is_disabled()  # no verified e-mail yet
    page.get_by_label("Avvisad betalning: Sms").check()
    page.get_by_role("button", name="Spara").click()

    assert page.get_by_text("Dina bevakningar är sparade.").is_visible()
    row = page.get_by_role("row", name=re.compile("Avvisad betalning"))
    assert row.get_by_role("cell").all_inner_texts() == ["Ja", "Nej"]
    row = page.get_by_role("row", name=re.compile("Inkommen e-faktura"))
    assert row.get_by_role("cell").all_inner_texts() == ["Nej", "Nej"]
