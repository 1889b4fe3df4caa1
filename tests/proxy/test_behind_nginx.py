"""Behind a real TLS proxy (issue 19): Debian's nginx in front of gunicorn, clients from their own loopback
addresses. The rules themselves, one request at a time: tests/security/test_client_address.py."""

import json
import re
import time
import uuid

import httpx
import pytest

from companies import demo as demo_world
from signing.models import SignatureOrder
from tests.signing.helpers import control, rp

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

CSRF_COOKIE = "__Host-bevaka-csrftoken"
SESSION_COOKIE = "__Host-bevaka-session"


def _seen_address(proxied, request_id: str) -> str:
    """The client_ip the web logged for the request with this id (its request log line)."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        for line in proxied.web.output.splitlines():
            if request_id in line and line.startswith("{"):
                entry = json.loads(line)
                if entry.get("logger") == "bevaka.request":
                    return entry["client_ip"]
        time.sleep(0.05)
    raise AssertionError(f"no request log line for {request_id}:\n{proxied.web.tail()}")


def _get(proxied, source: str, path: str = "/logga-in/", **headers) -> tuple[httpx.Response, str]:
    request_id = uuid.uuid4().hex
    with proxied.client(source) as client:
        response = client.get(f"{proxied.https}{path}", headers={"X-Request-ID": request_id, **headers})
    return response, _seen_address(proxied, request_id)


def test_the_app_sees_the_clients_own_address_through_the_proxy(proxied):
    response, seen = _get(proxied, "127.0.0.2")
    assert response.status_code == 200
    assert seen == "127.0.0.2"  # not nginx's 127.0.0.1


def test_a_clients_forged_x_forwarded_for_is_not_believed(proxied):
    forged = {"X-Forwarded-For": "203.0.113.9", "X-Real-IP": "203.0.113.9", "Forwarded": "for=203.0.113.9"}
    response, seen = _get(proxied, "127.0.0.3", **forged)
    assert response.status_code == 200
    assert seen == "127.0.0.3"


def _csrf(client: httpx.Client, proxied) -> str:
    page = client.get(f"{proxied.https}/logga-in/")
    return re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text)[1]


def _start_login(client: httpx.Client, proxied, token: str) -> httpx.Response:
    return client.post(
        f"{proxied.https}/bankid/logga-in/",
        data={"csrfmiddlewaretoken": token},
        headers={"Referer": f"{proxied.https}/logga-in/"},
    )


def _order_id(response: httpx.Response) -> str:
    assert response.status_code == 302, response.text[:500]
    match = re.fullmatch(r"/bankid/logga-in/([0-9a-f-]{36})/", response.headers["Location"])
    assert match, f"refused: redirected to {response.headers['Location']}"
    return match[1]


def test_the_bankid_order_carries_the_clients_address(proxied, demo):
    with proxied.client("127.0.0.4") as client:
        order_id = _order_id(_start_login(client, proxied, _csrf(client, proxied)))
    order = SignatureOrder.objects.get(pk=order_id)
    assert order.end_user_ip == "127.0.0.4"
    # What BankID was told (endUserIp) comes back in the completion data as the device's address.
    anna = demo_world.PEOPLE[0].personnummer
    assert control(proxied.mock_bankid, order.order_ref, "complete", {"personalNumber": anna}).is_success
    collected = rp(proxied.mock_bankid, "collect", {"orderRef": order.order_ref}).json()
    assert collected["completionData"]["device"]["ipAddress"] == "127.0.0.4"


def test_a_hundred_abandoned_login_starts_from_one_client_then_another_client_logs_in(proxied, demo):
    # The attack as it was found: anonymous starts (no session kept), never finished, from one address.
    with proxied.client("127.0.0.5") as attacker:
        token = _csrf(attacker, proxied)
        csrf_cookie = attacker.cookies[CSRF_COOKIE]
        for _ in range(100):
            attacker.cookies.clear()
            attacker.cookies.set(CSRF_COOKIE, csrf_cookie)
            _order_id(_start_login(attacker, proxied, token))
    # A customer at another address logs in with BankID, all the way.
    with proxied.client("127.0.0.6") as customer:
        order_id = _order_id(_start_login(customer, proxied, _csrf(customer, proxied)))
        order = SignatureOrder.objects.get(pk=order_id)
        anna = demo_world.PEOPLE[0].personnummer
        assert control(proxied.mock_bankid, order.order_ref, "complete", {"personalNumber": anna}).is_success
        status = customer.get(f"{proxied.https}/bankid/logga-in/{order_id}/status/").json()
        assert status["status"] == "complete", status
        finished = customer.get(f"{proxied.https}{status['redirect']}")
        assert finished.status_code == 302 and "/logga-in/" not in finished.headers["Location"]
        assert SESSION_COOKIE in customer.cookies
        landing = customer.get(f"{proxied.https}{finished.headers['Location']}", follow_redirects=True)
        assert landing.status_code == 200 and "/logga-in/" not in landing.url.path


def test_https_redirect_and_hsts_follow_the_proxys_x_forwarded_proto_only(proxied):
    with proxied.client("127.0.0.2") as client:
        tls = client.get(f"{proxied.https}/logga-in/")
        assert tls.status_code == 200
        assert tls.headers["Strict-Transport-Security"].startswith("max-age=31536000")
        # Plain HTTP through the proxy: redirected to HTTPS, whatever the client claims.
        plain = client.get(f"{proxied.http}/logga-in/", headers={"X-Forwarded-Proto": "https"})
        assert plain.status_code == 301 and plain.headers["Location"].startswith("https://")
        assert "Strict-Transport-Security" not in plain.headers
        # Straight to the web, not through the proxy: the claim is not the proxy's, so it is not believed.
        direct = client.get(f"{proxied.direct}/logga-in/", headers={"X-Forwarded-Proto": "https"})
        assert direct.status_code == 301 and direct.headers["Location"].startswith("https://")
        assert "Strict-Transport-Security" not in direct.headers


def test_without_behind_tls_proxy_a_clients_own_x_forwarded_proto_is_not_trusted(unproxied_web):
    # From 127.0.0.1 itself, which gunicorn's own default (--forwarded-allow-ips 127.0.0.1) would trust.
    with httpx.Client(timeout=20) as client:
        response = client.get(f"{unproxied_web}/logga-in/", headers={"X-Forwarded-Proto": "https"})
    assert response.status_code == 301 and response.headers["Location"].startswith("https://")
    assert "Strict-Transport-Security" not in response.headers
