import re

import pytest
from django.conf import settings
from django.test import Client, override_settings
from django.urls import reverse

pytestmark = pytest.mark.django_db


def test_pages_carry_the_security_headers(client, demo):
    client.force_login(demo.anna)
    response = client.get(reverse("service", args=[demo.exempelbolaget.pk]))
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"
    csp = response["Content-Security-Policy"]
    assert "default-src 'self'" in csp
    assert "frame-ancestors 'none'" in csp
    nonce = re.search(r"script-src 'self' 'nonce-([^']+)'", csp).group(1)
    assert "unsafe-inline" not in csp
    html = response.content.decode()
    assert f'nonce="{nonce}"' in html
    # No inline script or style without the nonce.
    for tag in re.findall(r"<(?:script|style)\b[^>]*>", html):
        assert f'nonce="{nonce}"' in tag, tag
    assert " style=" not in html and " onclick=" not in html


def test_the_nonce_is_new_for_every_response(client):
    first = client.get(reverse("help"))["Content-Security-Policy"]
    second = client.get(reverse("help"))["Content-Security-Policy"]
    assert first != second


@override_settings(DEBUG=True)
def test_the_session_cookie_is_host_prefixed_secure_httponly_and_samesite(client, demo):
    response = client.post(reverse("login"), {"personnummer": "197804129802"})
    cookie = response.cookies[settings.SESSION_COOKIE_NAME]
    assert settings.SESSION_COOKIE_NAME.startswith("__Host-")
    assert cookie["secure"] is True
    assert cookie["httponly"] is True
    assert cookie["samesite"] == "Lax"
    assert cookie["path"] == "/"
    assert not cookie["domain"]


def test_forms_are_protected_against_csrf(demo):
    client = Client(enforce_csrf_checks=True)
    client.force_login(demo.anna)
    response = client.post(reverse("logout"))
    assert response.status_code == 403
    assert "_auth_user_id" in client.session
    page = client.get(reverse("service", args=[demo.exempelbolaget.pk])).content.decode()
    assert page.count('name="csrfmiddlewaretoken"') == page.count("<form")


def test_the_csrf_cookie_is_host_prefixed_and_secure(client):
    response = Client(enforce_csrf_checks=True).get(reverse("help"))
    cookie = response.cookies[settings.CSRF_COOKIE_NAME]
    assert settings.CSRF_COOKIE_NAME.startswith("__Host-")
    assert cookie["secure"] is True


def test_https_responses_carry_hsts_for_a_year_with_subdomains_and_preload(client):
    response = client.get(reverse("help"), secure=True)
    assert response["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains; preload"
    assert settings.SECURE_HSTS_SECONDS >= 31536000


@pytest.mark.parametrize(
    "path", ["/logga-in/", "/hjalp/bevaka-arenden/", "/api/v1/openapi.json", "/finns-inte/", "/admin/login/"]
)
def test_every_kind_of_page_has_the_policy_without_unsafe_directives(client, path):
    response = client.get(path, secure=True)
    csp = response["Content-Security-Policy"]
    directives = dict(part.strip().split(" ", 1) for part in csp.split(";") if part.strip())
    assert directives["frame-ancestors"] == "'none'"
    assert directives["object-src"] == "'none'" and directives["base-uri"] == "'none'"
    # 'self' and, where the page has inline code, its nonce (django-csp adds one only when a page uses it).
    assert re.fullmatch(r"'self'( 'nonce-[^']+')?", directives["script-src"]), directives["script-src"]
    assert re.fullmatch(r"'self'( 'nonce-[^']+')?", directives["style-src"]), directives["style-src"]
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp and "*" not in csp
    assert response["X-Frame-Options"] == "DENY"
    assert response["Referrer-Policy"] == "same-origin"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Strict-Transport-Security"].startswith("max-age=31536000")


def test_every_cookie_we_set_is_secure_and_httponly(client, demo):
    client.force_login(demo.anna)
    response = client.post(reverse("switch-language"), {"language": "en", "next": "/"}, secure=True)
    cookie = response.cookies[settings.LANGUAGE_COOKIE_NAME]
    assert cookie["secure"] is True and cookie["httponly"] is True and cookie["samesite"] == "Lax"
