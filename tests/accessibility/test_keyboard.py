"""The connect and Mina bevakningar flows with the keyboard alone (Tab, Shift+Tab, Space, Enter, typing: no
clicks), Alt+S to the content, and a focus that can be seen."""

import datetime

import pytest
from django.urls import reverse

from agreements.models import Agreement
from signing.ocra import ocra
from signing.tokens import SUITE, demo_secret, demo_serial
from subscriptions.models import VerifiedContact, Watch
from tests.subscriptions.test_watches import connect

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

# The accessible name of the focused element: its label for a form control, else its text.
FOCUSED_NAME = """() => {
  const e = document.activeElement;
  if (!e) return "";
  const label = e.labels && e.labels.length
    ? e.labels[0].innerText
    : (e.getAttribute("aria-label") || e.innerText || e.value || "");
  return label.trim();
}"""


def tab_to(page, name: str, *, backwards: bool = False, limit: int = 80) -> None:
    """Press Tab (or Shift+Tab) until the focused element is called ``name``; fail after ``limit`` presses."""
    seen = []
    for _ in range(limit):
        page.keyboard.press("Shift+Tab" if backwards else "Tab")
        focused = page.evaluate(FOCUSED_NAME)
        if focused == name:
            return
        seen.append(focused)
    raise AssertionError(f"{name!r} is not reachable with the keyboard; focus went through {seen}")


def test_a_signatory_connects_the_company_with_the_keyboard_alone(page, demo):
    page.login(demo.anna)
    page.goto(reverse("service", args=[demo.exempelbolaget.pk]))

    tab_to(page, "Inkommen e-faktura")
    page.keyboard.press("Space")
    tab_to(page, "Avvisad betalning")
    page.keyboard.press("Space")
    tab_to(page, "Inkommen e-faktura", backwards=True)  # back to check, Shift+Tab works too
    assert page.evaluate("document.activeElement.checked") is True
    tab_to(page, "Anslut")
    page.keyboard.press("Enter")

    page.wait_for_url("**/bevaka-arenden/signera/*/")
    tab_to(page, "Säkerhetsdosa")
    page.keyboard.press("Space")
    assert page.get_by_label("Säkerhetsdosa").is_checked()
    tab_to(page, "Signera")
    page.keyboard.press("Enter")

    page.locator("#challenge").wait_for()
    challenge = "".join(c for c in page.locator("#challenge").inner_text() if c.isdigit())
    # What the signatory's säkerhetsdosa shows for this kontrollkod (the demo token's secret).
    response = ocra(SUITE, demo_secret(demo_serial(demo.anna.personnummer)), challenge)
    tab_to(page, "Svarskod från dosan")
    page.keyboard.type(response)
    page.keyboard.press("Enter")

    page.wait_for_url("**/kvittens/**")
    assert page.get_by_role("heading", level=1).inner_text() == "Företaget är anslutet till tjänsten Bevaka ärenden"
    agreement = Agreement.objects.get(company=demo.exempelbolaget, status="active")
    assert sorted(agreement.case_types.values_list("code", flat=True)) == ["e_invoice", "rejected_payment"]


def test_a_user_changes_mina_bevakningar_with_the_keyboard_alone(page, demo):
    connect(demo, ["e_invoice", "rejected_payment"])
    VerifiedContact.objects.create(
        user=demo.bertil, channel="sms", destination="+46701740698", verified_at=demo.bertil.date_joined
    )
    page.login(demo.bertil)
    page.goto(reverse("service", args=[demo.exempelbolaget.pk]))

    tab_to(page, "Mina bevakningar")
    page.keyboard.press("Enter")
    page.wait_for_url("**/mina-bevakningar/")
    tab_to(page, "Ändra")
    page.keyboard.press("Enter")
    page.wait_for_url("**/mina-bevakningar/andra/")
    tab_to(page, "Avvisad betalning: Sms")
    page.keyboard.press("Space")
    tab_to(page, "Spara")
    page.keyboard.press("Enter")

    page.get_by_text("Dina bevakningar är sparade.").wait_for()
    watch = Watch.objects.get(user=demo.bertil, company=demo.exempelbolaget, case_type__code="rejected_payment")
    assert watch.by_sms and not watch.by_email


def test_a_user_verifies_the_address_and_sets_the_alert_language_with_the_keyboard_alone(page, demo):
    connect(demo, ["e_invoice"])
    page.login(demo.bertil)
    page.goto(reverse("my-watches", args=[demo.exempelbolaget.pk]))

    tab_to(page, "Verifiera adressen")  # the address on file, not yet verified (issue 18)
    page.keyboard.press("Enter")
    page.get_by_text("Vi har skickat en kod med e-post.").wait_for()
    tab_to(page, "Språk för aviseringar")
    page.keyboard.press("ArrowDown")  # Svenska → Engelska
    tab_to(page, "Spara språk")
    page.keyboard.press("Enter")
    page.get_by_text("Språket för aviseringar är sparat.").wait_for()
    demo.bertil.refresh_from_db()
    assert (demo.bertil.alert_language, demo.bertil.language) == ("en", "sv")


def test_a_user_sets_quiet_hours_and_a_bypass_with_the_keyboard_alone(page, demo):
    from subscriptions.models import AlertPreferences

    connect(demo, ["e_invoice", "rejected_payment"])
    page.login(demo.bertil)
    page.goto(reverse("my-watches", args=[demo.exempelbolaget.pk]))
    tab_to(page, "Ändra tysta timmar och e-post")
    page.keyboard.press("Enter")
    page.wait_for_url("**/mina-bevakningar/tysta-timmar/")
    tab_to(page, "Använd tysta timmar")
    page.keyboard.press("Space")
    tab_to(page, "Tyst från (tt:mm)")
    page.keyboard.press("Control+a")
    page.keyboard.type("23:00")
    tab_to(page, "Avvisad betalning")
    page.keyboard.press("Space")
    tab_to(page, "Spara")
    page.keyboard.press("Enter")
    page.get_by_text("Inställningarna är sparade.").wait_for()
    preferences = AlertPreferences.objects.get(user=demo.bertil)
    assert preferences.quiet_hours and preferences.quiet_start == datetime.time(23)
    assert list(preferences.always_direct.values_list("code", flat=True)) == ["rejected_payment"]


def test_alt_s_moves_to_the_main_content(page, demo):
    page.login(demo.anna)
    page.goto(reverse("service", args=[demo.exempelbolaget.pk]))
    assert page.evaluate("document.activeElement.tagName") == "BODY"
    page.keyboard.press("Alt+s")
    page.wait_for_function("() => document.activeElement && document.activeElement.id === 'main'")


def test_the_focused_element_has_a_visible_focus_indicator(page, demo):
    page.login(demo.anna)
    page.goto(reverse("service", args=[demo.exempelbolaget.pk]))
    tab_to(page, "Mina bevakningar")
    style = page.evaluate(
        """() => { const s = getComputedStyle(document.activeElement);
                   return {style: s.outlineStyle, width: s.outlineWidth, shadow: s.boxShadow}; }"""
    )
    has_outline = style["style"] != "none" and style["width"] not in {"0px", ""}
    assert has_outline or style["shadow"] != "none", style
    assert page.evaluate("document.activeElement.matches(':focus-visible')")


def test_a_permission_administrator_reaches_and_exports_the_delivery_ledger_with_the_keyboard_alone(page, demo):
    connect(demo, ["e_invoice"])
    page.login(demo.anna)
    page.goto(reverse("permissions", args=[demo.exempelbolaget.pk]))
    tab_to(page, "Utskick per användare de senaste 90 dagarna")
    page.keyboard.press("Enter")
    page.wait_for_url("**/administrera-behorigheter/utskick/")
    tab_to(page, "Exportera alla användare som CSV-fil")
    with page.expect_download() as download:
        page.keyboard.press("Enter")
    assert download.value.suggested_filename.startswith(f"bevaka-utskick-{demo.exempelbolaget.org_number}-")


def test_a_user_removes_the_mobile_number_with_the_keyboard_alone(page, demo):
    connect(demo, ["e_invoice"])
    VerifiedContact.objects.create(
        user=demo.bertil, channel="sms", destination="+46701740698", verified_at=demo.bertil.date_joined
    )
    page.login(demo.bertil)
    page.goto(reverse("my-watches", args=[demo.exempelbolaget.pk]))
    tab_to(page, "Ta bort mobilnumret")
    page.keyboard.press("Enter")
    page.get_by_text("Mobilnumret är borttaget.").wait_for()
    assert not VerifiedContact.objects.filter(user=demo.bertil, channel="sms").exists()


def test_support_searches_why_not_with_the_keyboard_alone_after_alt_s(page, demo):
    from tests.site_pages import _event, _superuser

    page.login(_superuser())
    page.goto(reverse("admin:events_event_why", args=[_event(demo).pk]))
    page.keyboard.press("Alt+s")
    page.wait_for_function("() => document.activeElement && document.activeElement.id === 'content-start'")
    tab_to(page, "Sök användare")
    page.keyboard.type(demo.anna.first_name)
    page.keyboard.press("Enter")
    page.wait_for_url("**/why/?q=*")
    users = page.eval_on_selector_all("#why tbody tr", "rows => rows.map(r => r.dataset.user)")
    assert users and set(users) == {str(demo.anna.pk)}
