"""The base layout in a real browser: the skip link, keyboard focus, the company switch, printing."""

import pytest
from django.urls import reverse

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


def test_the_skip_link_is_the_first_stop_and_moves_focus_to_the_main_content(page, demo):
    page.login(demo.gustav)
    page.goto(reverse("service", args=[demo.exempelbolaget.pk]))
    skip = page.locator("a.skip-link")
    assert not skip.is_visible() or skip.bounding_box()["y"] < 0

    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.className") == "skip-link"
    assert skip.bounding_box()["y"] >= 0  # visible once focused
    assert skip.inner_text() == "Till textinnehållet på sidan. Tryck Alt+S"

    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "main"


def test_a_user_switches_company_from_the_header(page, demo):
    page.login(demo.gustav)
    page.goto(reverse("company-picker"))
    page.get_by_role("link", name="Svenssons Bygg").click()
    assert page.locator("header .company-name").inner_text().startswith("Svenssons Bygg")
    page.get_by_role("link", name="Byt företag").click()
    page.get_by_role("link", name="Exempelbolaget i Sverige AB").click()
    assert page.locator("header .company-name").inner_text().startswith("Exempelbolaget i Sverige AB")
    assert page.get_by_role("heading", level=1).inner_text() == "Bevaka ärenden"


def test_the_help_page_prints_without_navigation_and_closes_back(page, demo):
    page.login(demo.anna)
    back = reverse("service", args=[demo.exempelbolaget.pk])
    page.goto(back)
    page.get_by_role("link", name="Hjälp").click()
    assert page.get_by_role("heading", level=1).inner_text() == "Bevaka ärenden"
    page.emulate_media(media="print")
    assert not page.get_by_role("button", name="Skriv ut").is_visible()
    assert not page.locator("nav.service-nav").is_visible()
    assert page.get_by_role("heading", name="Ansluta till tjänsten Bevaka ärenden").is_visible()
    page.emulate_media(media="screen")
    page.evaluate("window.print = () => { window.__printed = true }")
    page.get_by_role("button", name="Skriv ut").click()
    assert page.evaluate("window.__printed") is True
    page.get_by_role("link", name="Stäng").click()
    page.wait_for_url(f"**{back}")
