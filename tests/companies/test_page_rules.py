"""The two rules every page follows (bevaka/pages.py): no bare 405 for a browser, nothing stored after logout."""

import uuid

import pytest
from django.urls import reverse

pytestmark = pytest.mark.django_db

BROWSER = {"HTTP_ACCEPT": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}


@pytest.mark.parametrize(
    ("name", "args", "page"),
    [
        ("agreements:connect", ["company"], "service"),
        ("agreements:cosign", ["company", 1], "service"),  # (Återkalla answers GET: it asks first, issue 18)
        ("change-contact", ["company"], "my-watches"),
        ("confirm-contact", ["company"], "change-contact"),  # POST-only too: the rule moves on from there
        ("switch-language", [], "home"),
        ("logout", [], "home"),
    ],
)
def test_a_browser_get_of_a_post_only_url_goes_to_its_page(client, demo, name, args, page):
    client.force_login(demo.anna)
    company = demo.exempelbolaget.pk
    args = [company if a == "company" else a for a in args]
    response = client.get(reverse(name, args=args), **BROWSER)
    assert response.status_code == 302
    page_args = [company] if page in ("service", "my-watches", "change-contact") else []
    assert response["Location"] == reverse(page, args=page_args)


def test_the_signing_answer_url_goes_to_its_signing_page(client, demo):
    client.force_login(demo.anna)
    order = uuid.uuid4()
    response = client.get(reverse("signing:answer", args=[order]), **BROWSER)
    assert response["Location"] == reverse("signing:sign", args=[order])


def test_a_get_that_does_not_ask_for_html_still_gets_405(client, demo):
    client.force_login(demo.anna)
    response = client.get(reverse("change-contact", args=[demo.exempelbolaget.pk]), HTTP_ACCEPT="application/json")
    assert response.status_code == 405


def test_a_signed_in_users_pages_are_not_stored_by_the_browser(client, demo):
    client.force_login(demo.anna)
    for name in ("service", "my-watches"):
        response = client.get(reverse(name, args=[demo.exempelbolaget.pk]))
        assert "no-store" in response["Cache-Control"], name


def test_the_login_page_may_be_stored(client):
    assert "no-store" not in client.get(reverse("login")).get("Cache-Control", "")


def test_the_apis_405_stays_problem_json_even_for_a_browser(client):
    response = client.get("/api/v1/events", **BROWSER)
    assert response.status_code == 405
    assert response["Content-Type"].startswith("application/problem+json")
