"""CSRF, for every route of the URLconf: a POST without a valid token is refused before any view runs, the
only exempt views authenticate by a signature instead, and no GET changes anything."""

from __future__ import annotations

import json

import pytest
from django.test import Client

from companies.models import User

from .conftest import all_routes, changed_tables, fingerprint
from .test_access_matrix import _admin_object_ids, _url

pytestmark = pytest.mark.django_db

# Views that take no CSRF token, and what authenticates them instead.
CSRF_EXEMPT = {
    "api-events": "the source system's HMAC-SHA256 signature over timestamp and body",
    "api-events-batch": "the source system's HMAC-SHA256 signature over timestamp and body",
    "api-openapi": "GET only: a published document",
    "<unnamed ^api/v1/(?P<path>.*)$>": "answers 404 to everything",
    "twilio-status-callback": "Twilio's X-Twilio-Signature over the URL and the form",
}
# GETs that change a row, and why that is harmless.
GET_CHANGES: dict[str, str] = {
    "my-watches": "marks the user's own notices seen as it shows them (a forged GET can only hide a notice "
    "from the user it was for, who sees the effect on the page anyway)",
}


def _exempt(route) -> bool:
    return bool(getattr(route.callback, "csrf_exempt", False))


def test_only_the_signed_endpoints_are_exempt_from_csrf():
    exempt = {route.name for route in all_routes() if _exempt(route)}
    assert exempt == set(CSRF_EXEMPT)


def test_every_post_without_a_csrf_token_is_refused_and_changes_nothing(world):
    owner = world.target.alone  # may do nearly everything: a refusal here is CSRF's, not the access rule's
    owner.is_staff = owner.is_superuser = True  # and the admin too
    owner.save(update_fields=["is_staff", "is_superuser"])
    owner_persona = world.personas["a non-signatory with access"]
    owner_persona.user, owner_persona.objects = owner, world.target
    client = Client(enforce_csrf_checks=True)
    client.force_login(owner)
    admin_ids = _admin_object_ids()
    problems = []
    after = fingerprint()
    checked = 0
    for route in all_routes():
        if _exempt(route):
            continue
        url = _url(route, owner_persona, world, admin_ids)
        before = after
        response = client.post(url, {"case_types": ["e_invoice"], "action": "grant", "language": "en"})
        after = fingerprint()
        checked += 1
        if response.status_code != 403:
            problems.append(f"POST {url} [{route.name}]: answered {response.status_code}")
        if changed := changed_tables(before, after):
            problems.append(f"POST {url} [{route.name}]: changed {changed}")
    assert not problems, "\n".join(problems)
    assert checked > 100
    assert "_auth_user_id" in client.session  # not even logout went through


def test_a_post_with_the_token_gets_through(world):
    """The control: the refusals above are CSRF's."""
    client = Client(enforce_csrf_checks=True)
    client.force_login(world.target.alone)
    client.get("/hjalp/bevaka-arenden/")
    from django.conf import settings

    token = client.cookies[settings.CSRF_COOKIE_NAME].value
    response = client.post("/logga-ut/", {"csrfmiddlewaretoken": token})
    assert response.status_code == 302
    assert "_auth_user_id" not in client.session


def test_the_exempt_endpoints_refuse_a_forged_signature(world, settings):
    settings.TWILIO_AUTH_TOKEN = "the-real-token"
    settings.PUBLIC_BASE_URL = "https://bank.example"
    client = Client(enforce_csrf_checks=True)
    before = fingerprint()
    webhook = client.post(
        f"/webhooks/twilio/status/{world.target.delivery_id}",
        {"MessageSid": "SM1", "MessageStatus": "delivered"},
        HTTP_X_TWILIO_SIGNATURE="Zm9yZ2Vk",
    )
    assert webhook.status_code == 403
    body = json.dumps({"id": "x", "type": "e_invoice", "company": "5599990107", "occurred_at": "2026-03-02T09:15Z"})
    for path in ("/api/v1/events", "/api/v1/events/batch"):
        api = client.post(
            path,
            data=body,
            content_type="application/json",
            HTTP_X_BEVAKA_SOURCE="security-core",
            HTTP_X_BEVAKA_TIMESTAMP="1700000000",
            HTTP_X_BEVAKA_SIGNATURE="sha256=" + "0" * 64,
        )
        assert api.status_code == 401
    assert changed_tables(before, fingerprint()) == []


def test_no_get_changes_anything(world):
    """GET every route as the company's owner (a superuser too, for the admin) and as a visitor."""
    from subscriptions.models import UserNotice

    owner = world.target.alone
    owner.is_staff = owner.is_superuser = True
    owner.save(update_fields=["is_staff", "is_superuser"])
    UserNotice.objects.create(user=owner, company=world.target.company, kind=UserNotice.Kind.ACCESS_RESTORED)
    persona = world.personas["a non-signatory with access"]
    persona.user, persona.objects = owner, world.target
    visitor = world.personas["anonymous"]
    admin_ids = _admin_object_ids()
    problems, statuses = [], {}
    for who, user in ((persona, owner), (visitor, None)):
        client = Client()
        if user is not None:
            client.force_login(user)
        after = fingerprint()
        for route in all_routes():
            url = _url(route, who, world, admin_ids)
            before = after
            response = client.get(url)
            after = fingerprint()
            statuses[(who.name, route.name)] = response.status_code
            if (changed := changed_tables(before, after)) and route.name not in GET_CHANGES:
                problems.append(f"GET {url} [{route.name}] as {who.name}: changed {changed}")
            if user is not None and "_auth_user_id" not in client.session:
                client.force_login(user)
                after = fingerprint()
    assert not problems, "\n".join(problems)
    assert UserNotice.objects.get().seen_at is not None  # the one listed change did happen: the list is needed
    # The owner really saw the pages (the GETs were not all refused).
    assert statuses[(persona.name, "agreements:receipt")] == 200
    assert statuses[(persona.name, "admin:companies_company_changelist")] == 200
    assert User.objects.filter(pk=owner.pk, is_active=True).exists()
