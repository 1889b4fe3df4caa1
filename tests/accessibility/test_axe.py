"""WCAG 2.1 AA: axe-core (axe-playwright-python) in Chromium finds no serious or critical violation on any page.

The pages are those of tests/site_pages.py, each in the state that shows it, visited in Swedish and English.
"""

import pytest
from axe_playwright_python.sync_playwright import Axe
from django.test import Client

from tests.site_pages import bankid_pages, customer_pages, staff_pages

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

WCAG_21_AA = {"runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]}}


def _open(context, live_server, site_page, language: str):
    """Give the tab the session of the page's user (or of the client that made the page's state)."""
    context.clear_cookies()
    client = site_page.client
    if client is None and site_page.user is not None:
        client = Client()
        client.force_login(site_page.user)
    cookies = [{"name": "bevaka-language", "value": language, "url": live_server.url}]
    if client is not None:
        session = client.cookies["bevaka-session"]
        cookies.append({"name": "bevaka-session", "value": session.value, "url": live_server.url, "httpOnly": True})
    context.add_cookies(cookies)


def _scan(page, live_server, pages, language: str) -> dict[str, list[str]]:
    axe = Axe()
    problems = {}
    for site_page in pages:
        _open(page.context, live_server, site_page, language)
        response = page.goto(site_page.url)
        assert response.status == 200, f"{site_page.name}: {response.status}"
        violations = axe.run(page, options=WCAG_21_AA).response["violations"]
        serious = [
            f"{v['id']} ({v['impact']}): {', '.join(str(n['target']) for n in v['nodes'][:3])}"
            for v in violations
            if v["impact"] in {"serious", "critical"}
        ]
        if serious:
            problems[site_page.name] = serious
    return problems


@pytest.mark.parametrize("language", ["sv", "en"])
def test_no_customer_page_has_a_serious_or_critical_wcag_violation(page, live_server, demo, language):
    problems = _scan(page, live_server, customer_pages(demo, language=language), language)
    assert problems == {}, "\n".join(f"{name}: {found}" for name, found in problems.items())


@pytest.mark.parametrize("language", ["sv", "en"])
def test_no_page_that_waits_for_bankid_has_a_serious_or_critical_wcag_violation(
    page, live_server, demo, mock_bankid, language
):
    problems = _scan(page, live_server, bankid_pages(demo, language=language), language)
    assert problems == {}, "\n".join(f"{name}: {found}" for name, found in problems.items())


def test_no_staff_page_has_a_serious_or_critical_wcag_violation(page, live_server, demo):
    problems = _scan(page, live_server, staff_pages(demo), "sv")
    assert problems == {}, "\n".join(f"{name}: {found}" for name, found in problems.items())


def test_the_scan_finds_a_violation_when_there_is_one(page, live_server, demo):
    """The scan can fail: a page with an unlabelled input and an image without alt text has violations."""
    page.goto(live_server.url + "/logga-in/")
    page.evaluate(
        "document.querySelector('main').insertAdjacentHTML('beforeend',"
        " '<input id=nolabel><img src=/static/bevaka/none.png>')"
    )
    ids = {v["id"] for v in Axe().run(page, options=WCAG_21_AA).response["violations"]}
    assert {"label", "image-alt"} <= ids
