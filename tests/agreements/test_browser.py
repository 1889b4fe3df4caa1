"""The bank's help page, followed word by word in a real browser, as the demo users.

Signing goes through the mock BankID server (a real process): the simulated säkerhetsdosa for the token,
the simulated BankID app for BankID på kort, and the mock's test control API for BankID i mobil.
"""

import re

import pytest
from django.urls import reverse

from agreements.models import Agreement
from signing.tokens import demo_serial
from tests.signing.helpers import control, orders
from tests.subscriptions.test_watches import connect

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


def sign_with_token(page, browser, mock, user):
    page.get_by_label("Säkerhetsdosa").check()
    page.get_by_role("button", name="Signera").click()
    challenge = page.locator("#challenge").inner_text()
    token = browser.new_context().new_page()
    token.goto(f"{mock.url}/token/")
    token.get_by_label("Dosans serienummer").select_option(demo_serial(user.personnummer))
    token.get_by_label("Kontrollkod").fill(challenge)
    token.get_by_role("button", name="OK").click()
    response = token.locator("#response").inner_text()
    token.context.close()
    page.get_by_label("Svarskod från dosan").fill(response)
    page.get_by_role("button", name="Signera").click()


def sign_with_mobile_bankid(page, mock, user):
    page.get_by_label("BankID i mobil").check()
    page.get_by_role("button", name="Signera").click()
    page.locator("#bankid-qr").wait_for()
    [order] = [o for o in orders(mock, user.personnummer) if o["status"] == "pending"]
    assert "Bevaka ärenden" in order["userVisibleData"]
    assert control(mock, order["orderRef"], "complete", {"personalNumber": user.personnummer}).status_code == 200


def sign_with_bankid_on_card(page, browser, mock, user):
    page.get_by_label("BankID på kort").check()
    page.get_by_role("button", name="Signera").click()
    assert page.locator("#bankid-qr").count() == 0  # a card reader on this computer: no QR code
    link = page.get_by_role("link", name="Starta BankID-programmet").get_attribute("href")
    assert link.startswith(f"{mock.url}/app/?autostarttoken=")
    desktop_app = browser.new_context().new_page()  # the BankID program, a window of its own
    desktop_app.goto(link)
    desktop_app.get_by_label("Personnummer").fill(user.personnummer)
    desktop_app.get_by_role("button", name="Fortsätt").click()
    assert "Bevaka ärenden" in desktop_app.locator("pre").inner_text()
    desktop_app.get_by_label("Säkerhetskod").fill("123456")
    desktop_app.get_by_role("button", name="Skriv under").click()
    desktop_app.get_by_role("heading", name="Klart").wait_for()
    desktop_app.context.close()


def heading(page) -> str:
    return page.get_by_role("heading", level=1).inner_text()


def test_connect_change_and_end_as_the_help_page_says(page, browser, demo, mock_bankid):
    page.login(demo.anna)
    page.goto(reverse("service", args=[demo.exempelbolaget.pk]))

    # Ansluta: 1. choose the cases, click Anslut. 2. Sign. 3. A confirmation that the company is connected.
    page.get_by_label("Inkommen e-faktura").check()
    page.get_by_label("Avvisad betalning").check()
    page.get_by_role("button", name="Anslut").click()
    summary = page.locator("dl.summary").inner_text()
    assert "559999-0107" in summary and "Inkommen e-faktura, Avvisad betalning" in summary
    sign_with_token(page, browser, mock_bankid, demo.anna)
    page.wait_for_url("**/kvittens/**")
    assert heading(page) == "Företaget är anslutet till tjänsten Bevaka ärenden"

    # The permission administrator goes on through "Till administrera behörigheter".
    page.get_by_role("link", name="Till administrera behörigheter").click()
    page.get_by_role("button", name="Ge Cecilia Carlsson behörigheten").click()
    assert page.get_by_text("Cecilia Carlsson har fått behörigheten Hantera Bevaka ärenden.").is_visible()

    # Ändra avtal: 1. Ändra avtal. 2. choose, click Ändra. 3. Sign; a confirmation that it changed.
    page.get_by_role("link", name="Bevaka ärenden", exact=True).click()
    page.get_by_role("link", name="Ändra avtal").click()
    page.get_by_label("Mottaget personligt meddelande").check()
    page.get_by_role("button", name="Ändra", exact=True).click()
    sign_with_mobile_bankid(page, mock_bankid, demo.anna)
    page.wait_for_url("**/kvittens/**", timeout=15_000)
    assert heading(page) == "Avtalet för tjänsten Bevaka ärenden är ändrat"

    page.get_by_role("link", name="Bevaka ärenden", exact=True).click()
    page.get_by_role("link", name="Ändra avtal").click()
    page.get_by_label("Avvisad betalning").uncheck()
    page.get_by_role("button", name="Ändra", exact=True).click()
    sign_with_bankid_on_card(page, browser, mock_bankid, demo.anna)
    page.wait_for_url("**/kvittens/**", timeout=15_000)
    assert heading(page) == "Avtalet för tjänsten Bevaka ärenden är ändrat"
    agreement = Agreement.objects.get(company=demo.exempelbolaget, status="active")
    assert sorted(agreement.case_types.values_list("code", flat=True)) == ["e_invoice", "personal_message"]
    assert [v.number for v in agreement.versions.all()] == [1, 2, 3]
    methods = [v.signatures.get().evidence.method for v in agreement.versions.order_by("number")]
    assert methods == ["security_token", "bankid_mobile", "bankid_card"]

    # Avsluta: 1. Avsluta. 2. Avsluta; a confirmation that the service is ended.
    page.get_by_role("link", name="Bevaka ärenden", exact=True).click()
    page.get_by_role("link", name="Avsluta").click()
    page.get_by_role("button", name="Avsluta").click()
    assert heading(page) == "Tjänsten Bevaka ärenden är avslutad"
    assert not Agreement.objects.filter(company=demo.exempelbolaget, status="active").exists()


def test_a_joint_connect_takes_effect_when_the_second_signatory_signs(page, browser, demo, mock_bankid):
    page.login(demo.eva)
    page.goto(reverse("service", args=[demo.exempelbolaget.pk]))
    page.get_by_label("Inkommen e-faktura").check()
    page.get_by_role("button", name="Anslut").click()
    sign_with_token(page, browser, mock_bankid, demo.eva)
    page.wait_for_url("**/vantande/**")
    assert heading(page) == "Din signatur är registrerad"
    assert not Agreement.objects.exists()

    page.context.clear_cookies()
    page.login(demo.fredrik)
    page.goto(reverse("service", args=[demo.exempelbolaget.pk]))
    assert "Eva Ek signerade" in page.locator("main").inner_text()
    page.get_by_role("button", name="Signera").click()
    assert "Inkommen e-faktura" in page.locator("dl.summary").inner_text()
    sign_with_token(page, browser, mock_bankid, demo.fredrik)
    page.wait_for_url("**/kvittens/**")
    assert heading(page) == "Företaget är anslutet till tjänsten Bevaka ärenden"
    assert "Eva Ek" in page.locator("main").inner_text() and "Fredrik Falk" in page.locator("main").inner_text()


def test_a_restricted_user_gets_access_once_granted_and_a_user_without_mandate_cannot_connect(page, demo):
    page.login(demo.bertil)
    page.goto(reverse("service", args=[demo.exempelbolaget.pk]))
    assert page.get_by_role("button", name="Anslut").count() == 0
    assert "fullmakt att teckna avtal" in page.locator("main").inner_text()

    connect(demo, ["e_invoice"])
    page.context.clear_cookies()
    page.login(demo.cecilia)
    page.goto(reverse("my-watches", args=[demo.exempelbolaget.pk]))
    assert "Du har inte tillgång till tjänsten" in page.locator("main").inner_text()

    page.context.clear_cookies()
    page.login(demo.anna)
    page.goto(reverse("service", args=[demo.exempelbolaget.pk]))
    page.get_by_role("link", name="Administrera behörigheter").click()
    page.get_by_label("Sök användare på namn").fill("Cecilia")
    page.get_by_role("button", name="Sök").click()
    page.get_by_role("button", name="Ge Cecilia Carlsson behörigheten").click()

    page.context.clear_cookies()
    page.login(demo.cecilia)
    page.goto(reverse("my-watches", args=[demo.exempelbolaget.pk]))
    assert page.get_by_role("heading", name="Ärenden som bevakas").is_visible()
    assert page.get_by_role("row", name=re.compile("Inkommen e-faktura")).is_visible()
