"""Issue 18's walk through `make run` in a real browser: the mistakes people make, and what they then see."""

import re

import pytest
from django.urls import reverse

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


def heading(page) -> str:
    return page.get_by_role("heading", level=1).inner_text()


def assert_no_serious_axe_finding(page) -> None:
    """The state a POST left the page in (which tests/site_pages.py's GET list cannot reach), scanned by axe."""
    from axe_playwright_python.sync_playwright import Axe

    from tests.accessibility.test_axe import WCAG_21_AA

    violations = Axe().run(page, options=WCAG_21_AA).response["violations"]
    assert [v["id"] for v in violations if v["impact"] in {"serious", "critical"}] == []


def switch_screen_language(page, language: str) -> None:
    page.locator("#language-select").select_option(language)
    page.locator("form.language-switch").get_by_role("button").click()
    page.wait_for_load_state()


def _on_my_watches(page, demo, user):
    """Exempelbolaget connected for e-invoices, ``user`` logged in on Mina bevakningar."""
    from tests.subscriptions.test_watches import connect

    connect(demo, ["e_invoice"])
    page.login(user)
    page.goto(reverse("my-watches", args=[demo.exempelbolaget.pk]))


def test_changing_language_after_anslut_with_nothing_ticked_shows_the_service_page(page, demo):
    service = reverse("service", args=[demo.exempelbolaget.pk])
    page.login(demo.anna)
    page.goto(service)
    page.get_by_role("button", name="Anslut").click()
    assert page.url.endswith(reverse("agreements:connect", args=[demo.exempelbolaget.pk]))

    switch_screen_language(page, "en")

    assert page.url.endswith(service)
    assert heading(page) == "Watch cases"


def test_changing_language_after_a_wrong_svarskod_shows_the_signing_page(page, demo):
    page.login(demo.anna)
    page.goto(reverse("service", args=[demo.exempelbolaget.pk]))
    page.get_by_label("Inkommen e-faktura").check()
    page.get_by_role("button", name="Anslut").click()
    page.get_by_label("Säkerhetsdosa").check()
    page.get_by_role("button", name="Signera").click()
    signing_page = page.url
    page.get_by_label("Svarskod från dosan").fill("12345678")
    page.get_by_role("button", name="Signera").click()
    assert page.url.endswith("/svar/")

    switch_screen_language(page, "en")

    assert page.url == signing_page
    assert heading(page).startswith("Sign")
    assert page.get_by_label("Response from the token").is_visible()


def test_back_after_avsluta_shows_the_service_as_it_is_now(page, demo):
    _on_my_watches(page, demo, demo.anna)  # the cookies of a visit under way
    page.get_by_role("link", name="Bevaka ärenden").click()
    assert page.get_by_text("Företaget är anslutet till tjänsten Bevaka ärenden sedan").is_visible()
    page.get_by_role("link", name="Avsluta").click()
    page.get_by_role("button", name="Avsluta").click()
    page.wait_for_url("**/avslutat/**")

    page.go_back()  # the Avsluta page: the agreement has ended, so it sends the user on to the service page
    page.wait_for_load_state()
    page.go_back()
    page.wait_for_load_state()

    assert page.get_by_role("button", name="Anslut").is_visible()  # the connect form, as for any company not connected
    assert page.get_by_role("link", name="Avsluta").count() == 0
    assert page.get_by_role("link", name="Ändra avtal").count() == 0


def test_the_alert_language_and_the_screen_language_are_two_settings(page, demo):
    _on_my_watches(page, demo, demo.bertil)

    page.get_by_label("Språk för aviseringar").select_option("en")
    page.get_by_role("button", name="Spara språk").click()
    assert heading(page) == "Mina bevakningar"  # the screen stays Swedish
    assert page.get_by_label("Språk för aviseringar").input_value() == "en"

    switch_screen_language(page, "en")
    assert heading(page) == "My watches"
    page.get_by_label("Language of alerts").select_option("sv")
    page.get_by_role("button", name="Save language").click()
    assert heading(page) == "My watches"  # the screen stays English
    assert page.get_by_label("Language of alerts").input_value() == "sv"

    demo.bertil.refresh_from_db()
    assert (demo.bertil.language, demo.bertil.alert_language) == ("en", "sv")


ERROR_RED = "rgb(176, 0, 32)"  # --error in site.css


def test_a_mistyped_mobile_number_is_kept_and_shown_as_an_announced_error(page, demo):
    _on_my_watches(page, demo, demo.bertil)
    page.get_by_label("Nytt mobilnummer").fill("abc")
    page.locator("form:has(#destination-sms)").get_by_role("button", name="Skicka kod").click()

    assert page.get_by_label("Nytt mobilnummer").input_value() == "abc"
    alert = page.get_by_role("alert")
    assert "mobilnummer" in alert.inner_text().lower()
    assert alert.evaluate("e => getComputedStyle(e).color") == ERROR_RED
    assert page.get_by_label("Nytt mobilnummer").get_attribute("aria-invalid") == "true"
    assert_no_serious_axe_finding(page)


def test_a_wrong_code_for_a_contact_is_an_error_not_an_instruction(page, demo, settings):
    settings.CELERY_TASK_ALWAYS_EAGER = False
    _on_my_watches(page, demo, demo.bertil)
    page.locator("form:has(#destination-sms)").get_by_role("button", name="Skicka kod").click()
    info = page.locator(".message").first
    info_colour = info.evaluate("e => getComputedStyle(e).borderLeftColor")
    page.locator("#code-sms").fill("000000")
    page.get_by_role("button", name="Verifiera", exact=True).click()

    error = page.get_by_role("alert").filter(has_text="Fel kod")
    assert error.is_visible()
    assert error.locator(".message-error").evaluate("e => getComputedStyle(e).borderLeftColor") == ERROR_RED
    assert info_colour != ERROR_RED


def test_a_wrong_svarskod_is_shown_as_an_error(page, demo):
    page.login(demo.anna)
    page.goto(reverse("service", args=[demo.exempelbolaget.pk]))
    page.get_by_label("Inkommen e-faktura").check()
    page.get_by_role("button", name="Anslut").click()
    page.get_by_label("Säkerhetsdosa").check()
    page.get_by_role("button", name="Signera").click()
    page.get_by_label("Svarskod från dosan").fill("12345678")
    page.get_by_role("button", name="Signera").click()

    error = page.get_by_role("alert")
    assert "svarskod" in error.inner_text().lower() or "fel" in error.inner_text().lower()
    assert error.evaluate("e => getComputedStyle(e).color") == ERROR_RED
    assert page.locator("#signing-message").inner_text().strip() == ""  # not in the instructions' blue box
    assert_no_serious_axe_finding(page)


def test_an_international_address_is_shown_back_as_it_was_typed(page, demo):
    _on_my_watches(page, demo, demo.bertil)
    page.get_by_label("Ny e-postadress").fill("bertil@räksmörgås.example")
    page.locator("form:has(#destination-email)").get_by_role("button", name="Skicka kod").click()

    assert page.get_by_label("Kod som skickades till bertil@räksmörgås.example").is_visible()
    assert "xn--" not in page.locator("main").inner_text()


def test_avbryt_on_the_token_page_is_not_an_error(page, demo):
    page.login(demo.anna)
    page.goto(reverse("service", args=[demo.exempelbolaget.pk]))
    page.get_by_label("Inkommen e-faktura").check()
    page.get_by_role("button", name="Anslut").click()
    page.get_by_label("Säkerhetsdosa").check()
    page.get_by_role("button", name="Signera").click()
    page.get_by_role("button", name="Avbryt").click()
    page.wait_for_load_state()

    assert page.get_by_text("Du avbröt signeringen").is_visible()
    assert page.get_by_role("alert").count() == 0
    assert page.locator(".message-error").count() == 0


def test_the_idle_warning_counts_down_without_announcing_every_second(page, demo, settings):
    import time

    settings.SESSION_IDLE_TIMEOUT = 12
    settings.SESSION_IDLE_WARNING = 10
    page.login(demo.anna)
    page.goto(reverse("company-picker"))
    page.get_by_role("alertdialog").wait_for(timeout=5_000)
    timer = page.get_by_role("timer")
    first = timer.inner_text()
    assert re.fullmatch(r"Tid kvar innan du loggas ut: 0:(0\d|10)", first), first
    time.sleep(2.1)
    assert timer.inner_text() < first  # "0:07" < "0:09": it counts down
    # Not a live region, and inside none: a screen reader is not told every second (the timer role is off).
    live = "e => e.closest('[aria-live]:not([aria-live=off]), [role=alert], [role=status], [role=log]')"
    assert timer.evaluate(live) is None
    assert_no_serious_axe_finding(page)


def contrast(rgb_a: str, rgb_b: str) -> float:
    def luminance(rgb: str) -> float:
        channels = [int(c) / 255 for c in re.findall(r"\d+", rgb)[:3]]
        linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
        return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]

    high, low = sorted((luminance(rgb_a), luminance(rgb_b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def test_a_checkbox_that_cannot_be_chosen_is_clearly_visible(page, demo):
    from tests.subscriptions.test_watches import connect, verify

    connect(demo, ["e_invoice"])
    verify(demo.bertil, "sms")  # no verified e-mail: the e-mail box is disabled
    page.login(demo.bertil)
    page.goto(reverse("edit-watches", args=[demo.exempelbolaget.pk]))
    box = page.get_by_label("Inkommen e-faktura: E-post")
    assert box.is_disabled()
    style = box.evaluate("e => { const s = getComputedStyle(e); return [s.appearance, s.borderTopColor] }")
    assert style[0] == "none"  # drawn by the site, not the browser's pale native box
    assert contrast(style[1], "rgb(255, 255, 255)") >= 3  # WCAG 1.4.11: a component's edge at 3:1
