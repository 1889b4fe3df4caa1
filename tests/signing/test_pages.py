"""The sign page, its status JSON, BankID login through /auth, and the session's lifetime."""

import time

import pytest
from django.contrib.sessions.models import Session
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from signing.middleware import LAST_ACTIVITY_KEY, LOGIN_TIME_KEY
from signing.models import SignatureOrder, SigningMethod
from signing.ocra import ocra
from signing.services import start_signature
from signing.tokens import SUITE, token_secret
from tests.signing.helpers import control, orders

pytestmark = pytest.mark.django_db

RETURN = "/foretag/1/bevaka-arenden/?signerat=1"


def _start(user, method=SigningMethod.SECURITY_TOKEN):
    return start_signature(
        user=user,
        method=method,
        purpose="agreement.connect",
        visible_text="Anslut **Bevaka ärenden**",
        canonical_content="content",
        object_ref="agreement:1",
        return_url=RETURN,
        end_user_ip="127.0.0.1",
    )


def test_only_the_orders_own_user_sees_the_sign_page(client, demo):
    order = _start(demo.anna)
    client.force_login(demo.eva)
    assert client.get(reverse("signing:sign", args=[order.pk])).status_code == 404
    assert client.get(reverse("signing:status", args=[order.pk])).status_code == 404
    assert client.post(reverse("signing:cancel", args=[order.pk])).status_code == 404


def test_the_token_page_shows_the_text_and_challenge_and_a_right_answer_returns_to_the_caller(client, demo):
    order = _start(demo.anna)
    client.force_login(demo.anna)
    page = client.get(reverse("signing:sign", args=[order.pk]))
    assert "Anslut **Bevaka ärenden**" in page.content.decode()
    assert f"{order.challenge[:4]} {order.challenge[4:]}" in page.content.decode()
    wrong = client.post(reverse("signing:answer", args=[order.pk]), {"svar": "00000000"})
    assert "Svarskoden stämmer inte" in wrong.content.decode()
    response = ocra(SUITE, token_secret(order.token), order.challenge)
    done = client.post(reverse("signing:answer", args=[order.pk]), {"svar": f"{response[:4]} {response[4:]}"})
    assert done.status_code == 302 and done["Location"] == RETURN


def test_avbryt_cancels_and_returns(client, demo):
    order = _start(demo.anna)
    client.force_login(demo.anna)
    answer = client.post(reverse("signing:cancel", args=[order.pk]))
    assert answer["Location"] == RETURN
    order.refresh_from_db()
    assert order.status == "cancelled"


@pytest.mark.slow
def test_the_mobile_page_shows_a_fresh_qr_code_and_the_status_follows_bankid(client, demo, mock_bankid):
    order = _start(demo.anna, SigningMethod.BANKID_MOBILE)
    client.force_login(demo.anna)
    page = client.get(reverse("signing:sign", args=[order.pk])).content.decode()
    assert 'src="data:image/svg+xml' in page and "autostarttoken=" in page
    status = client.get(reverse("signing:status", args=[order.pk])).json()
    assert status["status"] == "pending" and status["qr"].startswith("data:image/svg+xml")
    assert status["message"] == "Starta BankID-appen."
    control(mock_bankid, order.order_ref, "complete", {"personalNumber": demo.anna.personnummer})
    SignatureOrder.objects.filter(pk=order.pk).update(last_collect_at=None)
    status = client.get(reverse("signing:status", args=[order.pk])).json()
    assert status == {**status, "status": "complete", "redirect": RETURN, "qr": None}


@pytest.mark.slow
def test_the_card_page_offers_no_qr_code(client, demo, mock_bankid):
    order = _start(demo.anna, SigningMethod.BANKID_CARD)
    client.force_login(demo.anna)
    page = client.get(reverse("signing:sign", args=[order.pk])).content.decode()
    assert "bankid-qr" not in page and "autostarttoken=" in page and "redirect=null" in page


@pytest.mark.slow
def test_bankid_login_rotates_the_session_and_logs_in_the_identified_person(client, demo, mock_bankid):
    client.get(reverse("login"))
    before = client.cookies.get("__Host-bevaka-session")
    started = client.post(reverse("signing:login-start"), {"enhet": "annan"})
    order = SignatureOrder.objects.get(kind="auth")
    assert started["Location"] == reverse("signing:login-wait", args=[order.pk])
    assert client.get(started["Location"]).status_code == 200
    session_before = client.session.session_key
    assert [o["kind"] for o in orders(mock_bankid, "") if o["orderRef"] == order.order_ref] == ["auth"]
    control(mock_bankid, order.order_ref, "complete", {"personalNumber": demo.eva.personnummer})
    SignatureOrder.objects.filter(pk=order.pk).update(last_collect_at=None)
    status = client.get(reverse("signing:login-status", args=[order.pk])).json()
    assert status["redirect"] == reverse("signing:login-finish", args=[order.pk])
    done = client.get(status["redirect"])
    assert done.status_code == 302
    assert client.session.session_key != session_before
    assert int(client.session["_auth_user_id"]) == demo.eva.pk
    assert before is None or before.value != client.cookies["__Host-bevaka-session"].value
    # The identification is used once: replaying the finish URL does not log in again.
    client.logout()
    assert client.get(reverse("signing:login-finish", args=[order.pk])).status_code == 404


def test_another_sessions_login_order_is_not_found(client, demo):
    from uuid import uuid4

    assert client.get(reverse("signing:login-wait", args=[uuid4()])).status_code == 404


def _recorded(client) -> float:
    return client.session[LAST_ACTIVITY_KEY]


def _backdate_activity(client, seconds: float) -> float:
    session = client.session
    session[LAST_ACTIVITY_KEY] = time.time() - seconds
    session.save()
    return session[LAST_ACTIVITY_KEY]


def test_the_session_ends_after_five_idle_minutes(client, demo, settings):
    client.force_login(demo.anna)
    assert client.get(reverse("company-picker")).status_code in {200, 302}
    _backdate_activity(client, settings.SESSION_IDLE_TIMEOUT + 1)
    key = client.session.session_key
    answer = client.get(reverse("company-picker"))
    assert answer.status_code == 302 and answer["Location"] == reverse("login") + "?inaktiv=1"
    assert not Session.objects.filter(session_key=key).exists()  # ended server-side


def test_activity_keeps_the_session_alive(client, demo, settings):
    client.force_login(demo.anna)
    client.get(reverse("company-picker"))
    _backdate_activity(client, settings.SESSION_IDLE_TIMEOUT - 30)
    assert client.get(reverse("signing:session-alive")).json()["authenticated"] is True
    assert client.get(reverse("company-picker")).status_code != 302 or "logga-in" not in client.get(
        reverse("company-picker")
    ).get("Location", "")


def test_a_request_soon_after_the_last_recorded_one_does_not_save_the_session(client, demo, settings):
    client.force_login(demo.anna)
    client.get(reverse("company-picker"))
    recorded = _backdate_activity(client, settings.SESSION_ACTIVITY_SAVE_INTERVAL - 5)
    with CaptureQueriesContext(connection) as queries:
        assert client.get(reverse("company-picker")).status_code in {200, 302}
    assert not [q for q in queries if "django_session" in q["sql"] and q["sql"].startswith("UPDATE")]
    assert _recorded(client) == recorded
    # Once the time recorded is the interval old, the next request records its own.
    _backdate_activity(client, settings.SESSION_ACTIVITY_SAVE_INTERVAL + 1)
    client.get(reverse("company-picker"))
    assert time.time() - _recorded(client) < 5


def test_the_page_counts_the_warning_down_from_the_activity_recorded(client, demo, settings):
    client.force_login(demo.bertil)
    client.get(reverse("company-picker"))
    _backdate_activity(client, 10)
    page = client.get(reverse("my-watches", args=[demo.exempelbolaget.pk])).content.decode()
    left = settings.SESSION_IDLE_TIMEOUT - 10
    assert f'data-session-idle="{left}"' in page or f'data-session-idle="{left - 1}"' in page


def test_staying_logged_in_records_the_activity_however_recent(client, demo, settings):
    client.force_login(demo.anna)
    client.get(reverse("company-picker"))
    recorded = _backdate_activity(client, 5)
    answer = client.get(reverse("signing:session-alive")).json()
    assert answer == {"authenticated": True, "idleTimeout": settings.SESSION_IDLE_TIMEOUT}
    assert _recorded(client) > recorded + 4


def test_the_session_ends_after_its_absolute_lifetime(client, demo, settings):
    client.force_login(demo.anna)
    client.get(reverse("company-picker"))
    session = client.session
    session[LOGIN_TIME_KEY] = time.time() - settings.SESSION_ABSOLUTE_LIFETIME - 1
    session.save()
    assert client.get(reverse("company-picker"))["Location"] == reverse("login") + "?inaktiv=1"


def test_logout_ends_the_session_on_the_server(client, demo):
    client.force_login(demo.anna)
    key = client.session.session_key
    client.post(reverse("logout"))
    assert not Session.objects.filter(session_key=key).exists()


def test_the_layout_carries_the_idle_warning_for_logged_in_users(client, demo):
    client.force_login(demo.anna)
    page = client.get(reverse("company-picker"), follow=True).content.decode()
    assert 'data-session-idle="300"' in page and "signing/session.js" in page


def test_the_login_page_offers_bankid_on_another_or_this_device(client):
    page = client.get(reverse("login")).content.decode()
    assert "Mobilt BankID på en annan enhet" in page and "BankID på den här enheten" in page
    assert 'name="personnummer"' not in page  # the personnummer form exists only with DEBUG


@pytest.mark.slow
def test_a_failure_stays_on_the_page_with_bankids_message(client, demo, mock_bankid):
    order = _start(demo.anna, SigningMethod.BANKID_MOBILE)
    client.force_login(demo.anna)
    control(mock_bankid, order.order_ref, "fail", {"hintCode": "userCancel"})
    status = client.get(reverse("signing:status", args=[order.pk])).json()
    assert (status["status"], status["message"], status["redirect"]) == ("failed", "Åtgärden avbröts.", None)
    page = client.get(reverse("signing:sign", args=[order.pk])).content.decode()
    assert "Åtgärden avbröts." in page and 'data-status="failed"' in page


def test_the_status_message_follows_the_users_language(client, demo):
    order = _start(demo.anna)
    client.force_login(demo.anna)
    client.cookies["bevaka-language"] = "en"
    status = client.get(reverse("signing:status", args=[order.pk])).json()
    assert status["message"].startswith("Start your security token")
