"""Logging in with BankID in a real browser, through the mock server's simulated BankID app."""

import pytest

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


def test_a_user_logs_in_with_bankid_on_this_device_through_the_simulated_app(page, demo, mock_bankid):
    page.goto("/logga-in/")
    page.get_by_role("button", name="BankID på den här enheten").click()
    page.get_by_role("heading", name="Logga in med BankID").wait_for()
    page.get_by_role("link", name="Öppna BankID på den här enheten").click()

    # The simulated BankID app, on the mock server's own port.
    page.wait_for_url(f"{mock_bankid.url}/app/**")
    page.get_by_label("Personnummer").fill(demo.eva.personnummer)
    page.get_by_role("button", name="Fortsätt").click()
    assert "Logga in i Internetbanken Företag" in page.locator("pre").inner_text()
    page.get_by_label("Säkerhetskod").fill("123456")
    page.get_by_role("button", name="Identifiera").click()
    page.get_by_role("link", name="Tillbaka till webbplatsen").click()

    # Back on the bank's page, which polls and logs in once BankID reports complete.
    page.wait_for_url("**/foretag/**", timeout=15_000)
    assert page.locator("header .user-name").inner_text() == "Eva Ek"


def test_the_qr_code_on_another_device_logs_in_too(page, demo, mock_bankid, browser):
    page.goto("/logga-in/")
    page.get_by_role("button", name="Mobilt BankID på en annan enhet").click()
    qr = page.locator("#bankid-qr")
    qr.wait_for()
    assert qr.get_attribute("src").startswith("data:image/svg+xml")

    phone = browser.new_context().new_page()  # "another device"
    phone.goto(f"{mock_bankid.url}/app/")
    shown = qr.get_attribute("data-qr")  # scan a code as it changes, like a camera would: never a stale one
    for _ in range(50):  # (wait_for_function would need eval, which the CSP forbids)
        if qr.get_attribute("data-qr") != shown:
            break
        page.wait_for_timeout(100)
    phone.get_by_label("QR-kod").fill(page.locator("#bankid-qr").get_attribute("data-qr"))
    phone.get_by_label("Personnummer").fill(demo.anna.personnummer)
    phone.get_by_role("button", name="Läs av").click()
    phone.get_by_label("Säkerhetskod").fill("123456")
    phone.get_by_role("button", name="Identifiera").click()
    phone.get_by_role("heading", name="Klart").wait_for()

    page.wait_for_url("**/foretag/**", timeout=15_000)
    assert page.locator("header .user-name").inner_text() == "Anna Andersson"
