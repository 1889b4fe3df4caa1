"""The sign page in a real browser: the token with the simulated säkerhetsdosa, leaving cancels, idle warning."""

import time

import pytest
from django.urls import reverse

from signing.models import SignatureOrder, SigningMethod
from signing.services import start_signature
from signing.tokens import demo_serial
from tests.signing.helpers import orders

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


def _start(user, method):
    return start_signature(
        user=user,
        method=method,
        purpose="agreement.connect",
        visible_text="Anslut Bevaka ärenden\nExempelbolaget i Sverige AB",
        canonical_content="content",
        object_ref="agreement:1",
        return_url=reverse("help") + "?signerat=1",
        end_user_ip="127.0.0.1",
    )


def test_a_signatory_signs_with_the_simulated_security_token(page, demo, mock_bankid, browser):
    order = _start(demo.anna, SigningMethod.SECURITY_TOKEN)
    page.login(demo.anna)
    page.goto(reverse("signing:sign", args=[order.pk]))
    assert "Exempelbolaget i Sverige AB" in page.locator("#signed-text").inner_text()
    challenge = page.locator("#challenge").inner_text()

    token = browser.new_context().new_page()
    token.goto(f"{mock_bankid.url}/token/")
    token.get_by_label("Dosans serienummer").select_option(demo_serial(demo.anna.personnummer))
    token.get_by_label("Kontrollkod").fill(challenge)
    token.get_by_role("button", name="OK").click()
    response = token.locator("#response").inner_text()

    page.get_by_label("Svarskod från dosan").fill(response)
    page.get_by_role("button", name="Signera").click()
    page.wait_for_url("**/hjalp/bevaka-arenden/?signerat=1")
    assert SignatureOrder.objects.get(pk=order.pk).status == "complete"


def test_leaving_the_bankid_sign_page_cancels_the_order_at_bankid(page, demo, mock_bankid):
    order = _start(demo.anna, SigningMethod.BANKID_MOBILE)
    page.login(demo.anna)
    page.goto(reverse("signing:sign", args=[order.pk]))
    assert page.locator("#bankid-qr").is_visible()
    page.goto(reverse("help"))
    for _ in range(150):  # the beacon is sent as the page is left; give a loaded machine time
        # The order is marked cancelled before the cancel reaches BankID: wait for both.
        if SignatureOrder.objects.get(pk=order.pk).status == "cancelled" and not orders(
            mock_bankid, demo.anna.personnummer
        ):
            break
        time.sleep(0.1)
    assert SignatureOrder.objects.get(pk=order.pk).status == "cancelled"
    assert orders(mock_bankid, demo.anna.personnummer) == []


def test_a_warning_comes_before_the_idle_timeout_and_staying_keeps_the_session(page, demo, settings):
    settings.SESSION_IDLE_TIMEOUT = 4
    settings.SESSION_IDLE_WARNING = 3
    page.login(demo.anna)
    page.goto(reverse("company-picker"))
    warning = page.get_by_role("alertdialog")
    warning.wait_for(timeout=5_000)
    assert "Du loggas snart ut" in warning.inner_text()
    page.get_by_role("button", name="Fortsätt vara inloggad").click()
    warning.wait_for(state="hidden")
    assert page.locator("header .user-name").inner_text() == "Anna Andersson"
    # Then idle past the timeout: the page goes to the login page and the server has ended the session.
    page.wait_for_url("**/logga-in/**", timeout=10_000)
    assert "inte har varit aktiv" in page.locator("main").inner_text()


def test_answering_or_checking_on_the_sign_page_does_not_cancel_the_order(page, demo, mock_bankid):
    order = _start(demo.anna, SigningMethod.BANKID_MOBILE)
    page.login(demo.anna)
    page.goto(reverse("signing:sign", args=[order.pk]))
    page.get_by_role("link", name="Jag har signerat").click()
    page.wait_for_load_state()
    time.sleep(1)
    assert SignatureOrder.objects.get(pk=order.pk).status == "pending"

    token_order = _start(demo.anna, SigningMethod.SECURITY_TOKEN)
    page.goto(reverse("signing:sign", args=[token_order.pk]))
    page.get_by_label("Svarskod från dosan").fill("00000000")
    page.get_by_role("button", name="Signera").click()
    assert "Svarskoden stämmer inte" in page.get_by_role("alert").inner_text()  # an error, not an instruction
    time.sleep(1)
    assert SignatureOrder.objects.get(pk=token_order.pk).status == "pending"
