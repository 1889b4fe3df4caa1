"""Brute force (PSD2 RTS art. 4(3)(b)): at most five failed attempts in a row before a block, counted per
person in the database, so that one address cannot lock out a whole company; per address only a loose
outer bound."""

import dataclasses
import datetime

import pytest
from django.test import Client, override_settings
from django.utils import timezone

from signing.models import SecurityToken, SignatureOrder, SigningMethod
from signing.services import start_signature
from subscriptions import services as subscription_services
from subscriptions.models import ContactVerification, VerifiedContact
from throttling import services as throttling
from throttling.models import AttemptCounter

pytestmark = pytest.mark.django_db

UNKNOWN = "19891231-9889"  # Luhn-valid, nobody in the demo


def _login(client, personnummer, address="192.0.2.10"):
    return client.post("/logga-in/", {"personnummer": personnummer}, REMOTE_ADDR=address)


@override_settings(DEBUG=True)
def test_the_personnummer_login_blocks_after_five_failures_in_a_row_for_that_personnummer_only(demo):
    client = Client()
    for attempt in range(5):
        response = _login(client, UNKNOWN)
        assert response.status_code == 400, attempt
        assert "Det finns ingen användare" in response.content.decode()
    blocked = _login(client, UNKNOWN)
    assert blocked.status_code == 429
    assert "För många misslyckade försök. Försök igen om 15 minuter." in blocked.content.decode()
    # The same address, another person of the same company: not locked out.
    assert _login(client, "19780412-9802").status_code == 302


@override_settings(DEBUG=True)
def test_the_block_ends_by_itself(demo):
    client = Client()
    for _ in range(5):
        _login(client, UNKNOWN)
    assert _login(client, UNKNOWN).status_code == 429
    AttemptCounter.objects.update(blocked_until=timezone.now() - datetime.timedelta(seconds=1))
    assert _login(client, UNKNOWN).status_code == 400  # judged again, and counted afresh


@override_settings(DEBUG=True)
def test_a_success_forgets_the_failures_in_a_row(demo):
    anna = "19780412-9802"
    throttling.record_failure(limit=throttling.LOGIN_PERSON, key="197804129802")
    assert _login(Client(), anna).status_code == 302
    assert not AttemptCounter.objects.filter(scope="login-person").exists()


@override_settings(DEBUG=True)
def test_one_address_is_bounded_loosely_and_other_addresses_go_on(demo, monkeypatch):
    monkeypatch.setattr(
        throttling, "LOGIN_ADDRESS", throttling.Limit("login-address", 3, datetime.timedelta(minutes=15))
    )
    client = Client()
    for n in range(3):
        _login(client, f"1989123{n}-0000"[:13])  # malformed or unknown: each a failure of this address
    assert _login(client, "19780412-9802").status_code == 429
    assert _login(client, "19780412-9802", address="198.51.100.7").status_code == 302


def test_the_counters_hold_no_personnummer_or_address(demo):
    throttling.record_failure(limit=throttling.LOGIN_PERSON, key="197804129802")
    throttling.record_failure(limit=throttling.LOGIN_ADDRESS, key="192.0.2.10")
    for counter in AttemptCounter.objects.all():
        assert "197804129802" not in counter.key and "192.0.2" not in counter.key
        assert len(counter.key) == 64


def test_bankid_login_starts_block_after_five_in_a_row_in_one_browser_not_in_another(demo, mock_bankid):
    browser = Client()
    for _ in range(5):
        response = browser.post("/bankid/logga-in/", REMOTE_ADDR="192.0.2.10")
        assert response["Location"].startswith("/bankid/logga-in/")
    assert SignatureOrder.objects.filter(kind="auth").count() == 5
    blocked = browser.post("/bankid/logga-in/", REMOTE_ADDR="192.0.2.10", follow=True)
    assert "påbörjats för många gånger i rad i den här webbläsaren" in blocked.content.decode()
    assert SignatureOrder.objects.filter(kind="auth").count() == 5  # BankID was not asked again
    colleague = Client()  # the same office address
    assert colleague.post("/bankid/logga-in/", REMOTE_ADDR="192.0.2.10")["Location"].startswith("/bankid/logga-in/")


def test_bankid_login_starts_are_bounded_per_address(demo, monkeypatch, settings):
    settings.BANKID_API_URL = "http://127.0.0.1:9/rp/v6.0/"  # starts fail at once; they still count
    monkeypatch.setattr(
        throttling, "BANKID_LOGIN_ADDRESS", dataclasses.replace(throttling.BANKID_LOGIN_ADDRESS, max_failures=4)
    )
    for _ in range(4):
        Client().post("/bankid/logga-in/", REMOTE_ADDR="192.0.2.99")
    refused = Client().post("/bankid/logga-in/", REMOTE_ADDR="192.0.2.99", follow=True).content.decode()
    # The refused person may not have made any of those starts: the message does not say they did.
    assert "Just nu görs ovanligt många inloggningsförsök från ditt nätverk. Försök igen om 1 minut." in refused
    assert "misslyckade" not in refused


def test_a_hundred_abandoned_anonymous_bankid_starts_from_one_address_do_not_refuse_a_colleague(demo, mock_bankid):
    # The attack of issue 19: starts without cookies (a new browser session each), never finished.
    for _ in range(100):
        assert Client().post("/bankid/logga-in/", REMOTE_ADDR="192.0.2.50")["Location"].startswith("/bankid/")
    colleague = Client().post("/bankid/logga-in/", REMOTE_ADDR="192.0.2.50", follow=True)
    assert colleague.redirect_chain[0][0].startswith("/bankid/logga-in/")  # to the wait page: BankID was asked
    assert SignatureOrder.objects.filter(kind="auth").count() == 101


def test_the_per_address_bound_on_bankid_starts_is_a_short_cool_down_far_above_an_office(settings):
    assert throttling.BANKID_LOGIN_ADDRESS.max_failures >= 1000
    assert throttling.BANKID_LOGIN_ADDRESS.block <= datetime.timedelta(minutes=1)


def _wrong(code: str) -> str:
    return f"{(int(code) + 1) % 10**6:06d}"


def _code(verification) -> str:
    from notifications.models import Delivery

    body = Delivery.objects.get(pk=verification.delivery_id).body
    return next(word for word in body.replace(".", " ").split() if word.isdigit() and len(word) == 6)


def test_five_wrong_contact_codes_in_a_row_block_the_user_across_codes(demo):
    user = demo.bertil
    first = subscription_services.start_verification(user=user, channel="sms", destination="0701740699")
    for _ in range(3):
        with pytest.raises(subscription_services.WatchError, match="Fel kod"):
            subscription_services.confirm_verification(user=user, channel="sms", code=_wrong(_code(first)))
    ContactVerification.objects.update(created_at=timezone.now() - datetime.timedelta(minutes=2))
    second = subscription_services.start_verification(user=user, channel="sms", destination="0701740699")
    with pytest.raises(subscription_services.WatchError, match="1 försök kvar"):
        subscription_services.confirm_verification(user=user, channel="sms", code=_wrong(_code(second)))
    with pytest.raises(subscription_services.WatchError, match="Försök igen om 15 minuter"):
        subscription_services.confirm_verification(user=user, channel="sms", code=_wrong(_code(second)))
    # Blocked: neither the right code nor a new code now.
    with pytest.raises(subscription_services.WatchError, match="Försök igen om"):
        subscription_services.confirm_verification(user=user, channel="sms", code=_code(second))
    with pytest.raises(subscription_services.WatchError, match="Försök igen om"):
        subscription_services.start_verification(user=user, channel="email", destination="b@example.se")
    assert not VerifiedContact.objects.filter(user=user).exists()
    # A colleague in the same company is not affected.
    colleague = demo.eva
    verification = subscription_services.start_verification(user=colleague, channel="sms", destination="0701740698")
    subscription_services.confirm_verification(user=colleague, channel="sms", code=_code(verification))
    assert VerifiedContact.objects.filter(user=colleague).exists()


def test_a_right_contact_code_forgets_earlier_wrong_ones(demo):
    user = demo.bertil
    verification = subscription_services.start_verification(user=user, channel="sms", destination="0701740699")
    for _ in range(4):
        with pytest.raises(subscription_services.WatchError):
            subscription_services.confirm_verification(user=user, channel="sms", code=_wrong(_code(verification)))
    subscription_services.confirm_verification(user=user, channel="sms", code=_code(verification))
    assert not AttemptCounter.objects.filter(scope="contact-code").exists()


def test_the_blocked_message_reaches_the_page_in_swedish(client, demo):
    from agreements import services as agreement_services
    from tests.agreements.conftest import make_evidence

    proposal = agreement_services.propose_connect(
        company=demo.exempelbolaget, signer=demo.anna, case_type_codes=["e_invoice"], internet_bank="corporate"
    )
    agreement_services.apply_signed_proposal(
        proposal=proposal, signer=demo.anna, evidence=make_evidence(demo.anna, proposal.content)
    )
    for _ in range(5):
        throttling.record_failure(limit=throttling.CONTACT_CODE, key=demo.bertil.pk)
    client.force_login(demo.bertil)
    url = f"/foretag/{demo.exempelbolaget.pk}/mina-bevakningar/kontaktuppgift/kod/"
    page = client.post(url, {"channel": "sms", "code": "123456"}, follow=True).content.decode()
    assert "För många misslyckade försök. Försök igen om 15 minuter." in page


def _token_order(user):
    return start_signature(
        user=user,
        method=SigningMethod.SECURITY_TOKEN,
        purpose="bevaka_arenden.agreement",
        visible_text="test",
        canonical_content="{}",
        object_ref="company:1",
        return_url="/",
        end_user_ip="127.0.0.1",
    )


def test_five_wrong_token_responses_in_a_row_over_http_lock_that_token_only(client, demo):
    client.force_login(demo.anna)
    for _ in range(2):  # an order allows three tries: five in a row span two orders
        order = _token_order(demo.anna)
        for _ in range(3 if order == SignatureOrder.objects.order_by("created_at").first() else 2):
            client.post(f"/signera/{order.pk}/svar/", {"svar": "00000000"})
    assert SecurityToken.objects.get(user=demo.anna).status == SecurityToken.Status.LOCKED
    assert SecurityToken.objects.get(user=demo.eva).status == SecurityToken.Status.ACTIVE
    assert _token_order(demo.eva).status == SignatureOrder.Status.PENDING


def _admin_login(client: Client, personnummer: str, password: str, address: str = "192.0.2.20"):
    data = {"username": personnummer, "password": password, "next": "/admin/"}
    return client.post("/admin/login/", data, REMOTE_ADDR=address)


def test_the_admins_password_login_blocks_after_five_wrong_passwords_in_a_row_for_that_person_only():
    from tests.factories import UserFactory

    staff, colleague = UserFactory(is_staff=True), UserFactory(is_staff=True)
    for person in (staff, colleague):
        person.set_password("rätt lösenord 2026")
        person.save()
    client = Client()
    for _ in range(5):
        assert _admin_login(client, staff.personnummer, "fel").status_code == 200
    blocked = _admin_login(client, staff.personnummer, "rätt lösenord 2026")  # even the right one, now
    assert blocked.status_code == 200 and "_auth_user_id" not in client.session
    assert "För många misslyckade försök. Försök igen om 15 minuter." in blocked.content.decode()
    # A colleague at the same address (the bank's office) is not locked out.
    assert _admin_login(Client(), colleague.personnummer, "rätt lösenord 2026").status_code == 302
