"""Staff unlock tokens in the admin (operations only); messages in English; the hot path's query count."""

import pytest
from django.urls import reverse
from django.utils import translation

from companies import demo as demo_world
from companies.models import User
from signing import rfa
from signing.models import SecurityToken, SigningMethod
from signing.services import start_signature

pytestmark = pytest.mark.django_db


def _staff(group: str) -> User:
    member = next(s for s in demo_world.STAFF if s.group == group)
    return User.objects.get(personnummer=member.personnummer)


def _lock(user) -> SecurityToken:
    SecurityToken.objects.filter(user=user).update(status="locked", consecutive_failures=5)
    return SecurityToken.objects.get(user=user)


def _unlock_via_admin(client, token):
    return client.post(
        reverse("admin:signing_securitytoken_changelist"),
        {"action": "unlock", "_selected_action": [token.pk]},
    )


def test_operations_staff_unlock_a_locked_token_in_the_admin(client, demo):
    token = _lock(demo.anna)
    client.force_login(_staff(demo_world.OPERATIONS_GROUP))
    assert _unlock_via_admin(client, token).status_code == 302
    token.refresh_from_db()
    assert (token.status, token.consecutive_failures) == ("active", 0)


def test_support_staff_see_tokens_but_cannot_unlock_them(client, demo):
    token = _lock(demo.anna)
    client.force_login(_staff(demo_world.SUPPORT_GROUP))
    page = client.get(reverse("admin:signing_securitytoken_changelist"))
    assert page.status_code == 200 and token.serial in page.content.decode()
    _unlock_via_admin(client, token)
    token.refresh_from_db()
    assert token.status == "locked"


def test_the_admin_never_shows_a_tokens_secret(client, demo):
    token = SecurityToken.objects.get(user=demo.anna)
    client.force_login(_staff(demo_world.OPERATIONS_GROUP))
    page = client.get(reverse("admin:signing_securitytoken_change", args=[token.pk])).content.decode()
    assert token.serial in page and token.secret_encrypted not in page


def test_bankids_messages_are_in_english_when_english_is_chosen():
    with translation.override("en"):
        assert rfa.message("RFA4") == (
            "An identification or signature is already in progress for your personal identity number. Please try again."
        )
        assert str(SigningMethod.SECURITY_TOKEN.label) == "Security token"
    assert rfa.message("RFA9") == "Skriv in din säkerhetskod i BankID-appen och välj Identifiera eller Skriv under."


@pytest.mark.parametrize(
    ("hint", "launch", "code"),
    [
        ("outstandingTransaction", "qr", "RFA1"),
        ("outstandingTransaction", "mobile", "RFA13"),
        ("started", "desktop", "RFA15A"),
        ("started", "mobile", "RFA15B"),
        ("userSign", "qr", "RFA9"),
        ("userMrtd", "qr", "RFA23"),
        ("somethingNew", "qr", "RFA21"),
    ],
)
def test_each_pending_hint_gets_bankids_recommended_message(hint, launch, code):
    assert rfa.code_for_pending(hint, launch=launch) == code


@pytest.mark.parametrize(
    ("hint", "launch", "code"),
    [
        ("expiredTransaction", "qr", "RFA8"),
        ("certificateErr", "qr", "RFA16"),
        ("userCancel", "qr", "RFA6"),
        ("cancelled", "qr", "RFA3"),
        ("startFailed", "qr", "RFA17B"),
        ("startFailed", "desktop", "RFA17A"),
        ("transactionRiskBlocked", "qr", "RFA22"),
    ],
)
def test_each_failure_gets_bankids_recommended_message(hint, launch, code):
    assert rfa.code_for_failed(hint, launch=launch) == code


def test_the_status_poll_makes_few_queries(client, demo, django_assert_max_num_queries):
    order = start_signature(
        user=demo.anna,
        method=SigningMethod.SECURITY_TOKEN,
        purpose="agreement.connect",
        visible_text="Text",
        canonical_content="c",
        object_ref="a:1",
        return_url="/",
        end_user_ip="127.0.0.1",
    )
    client.force_login(demo.anna)
    client.get(reverse("signing:status", args=[order.pk]))
    with django_assert_max_num_queries(9):  # session, user, order, locked order, session save (+4 savepoints)
        assert client.get(reverse("signing:status", args=[order.pk])).json()["status"] == "pending"
