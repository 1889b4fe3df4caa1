"""Both BankID methods end to end: our httpx client and services against the mock server as a real process."""

import time

import pytest
from django.utils import timezone

from signing.bankid import BankIDClient, signed_data_from_signature
from signing.evidence import consume_signature
from signing.models import SignatureEvidence, SignatureOrder, SigningMethod
from signing.services import SigningError, cancel_signature, poll_order, start_signature
from tests.signing.helpers import control, orders

pytestmark = [pytest.mark.django_db, pytest.mark.slow]

CONTENT = '{"agreement": 7, "version": 2}'
TEXT = "# Anslut Bevaka ärenden\n\nExempelbolaget i Sverige AB, 559999-0107"


def _start(user, method=SigningMethod.BANKID_MOBILE, content=CONTENT):
    return start_signature(
        user=user,
        method=method,
        purpose="agreement.connect",
        visible_text=TEXT,
        canonical_content=content,
        object_ref="agreement:7",
        return_url="http://testserver/foretag/1/bevaka-arenden/",
        end_user_ip="192.0.2.10",
    )


def _poll(order, **kwargs):
    SignatureOrder.objects.filter(pk=order.pk).update(last_collect_at=None)  # skip the 1.5 s throttle
    return poll_order(order_id=order.pk, **kwargs)


@pytest.mark.parametrize("method", [SigningMethod.BANKID_MOBILE, SigningMethod.BANKID_CARD])
def test_a_signature_completes_with_evidence_echoing_exactly_what_was_sent(mock_bankid, demo, method):
    order = _start(demo.anna, method)
    listed = orders(mock_bankid, demo.anna.personnummer)
    assert [o["orderRef"] for o in listed] == [order.order_ref]
    assert listed[0]["userVisibleData"] == TEXT
    assert _poll(order).message_code == ("RFA1" if method == SigningMethod.BANKID_MOBILE else "RFA13")

    control(mock_bankid, order.order_ref, "hint", {"hintCode": "userSign"})
    assert _poll(order).message_code == "RFA9"
    assert control(mock_bankid, order.order_ref, "complete", {"personalNumber": demo.anna.personnummer}).is_success
    order = _poll(order)
    assert order.status == "complete"
    evidence = SignatureEvidence.objects.get(order=order)
    assert evidence.signer_name == "Anna Andersson"  # the mock's names come from companies/demo.py
    assert evidence.order_ref == order.order_ref and evidence.method == method
    signed = signed_data_from_signature(evidence.completion_data["signature"])
    assert signed == {
        "usrVisibleData": order.user_visible_data,
        "usrNonVisibleData": order.user_non_visible_data,
        "funcId": "Signing",
    }
    assert evidence.completion_data["device"]["ipAddress"] == "192.0.2.10"
    assert consume_signature(
        order_id=order.pk, user=demo.anna, purpose="agreement.connect", canonical_content=CONTENT
    ).used_at


def test_the_card_method_asks_for_the_card_policy_and_reader(mock_bankid, demo):
    order = _start(demo.anna, SigningMethod.BANKID_CARD)
    control(mock_bankid, order.order_ref, "hint", {"hintCode": "started"})
    assert _poll(order).message_code == "RFA15A"


def test_a_user_cancel_in_the_app_fails_the_order_with_rfa6(mock_bankid, demo):
    order = _start(demo.anna)
    control(mock_bankid, order.order_ref, "fail", {"hintCode": "userCancel"})
    order = _poll(order)
    assert (order.status, order.message_code) == ("failed", "RFA6")
    with pytest.raises(SigningError):
        consume_signature(order_id=order.pk, user=demo.anna, purpose="agreement.connect", canonical_content=CONTENT)


def test_cancel_on_our_side_cancels_at_bankid(mock_bankid, demo):
    order = _start(demo.anna)
    cancel_signature(order_id=order.pk, user=demo.anna)
    order.refresh_from_db()
    assert order.status == "cancelled"
    assert orders(mock_bankid, demo.anna.personnummer) == []


def test_an_order_not_picked_up_in_30_seconds_fails_with_start_failed(fast_mock_bankid, demo):
    order = _start(demo.anna)
    time.sleep(0.8)  # 48 mock seconds
    order = _poll(order)
    assert (order.status, order.hint_code, order.message_code) == ("failed", "startFailed", "RFA17B")


def test_an_order_expires_after_three_minutes(fast_mock_bankid, demo):
    order = _start(demo.anna)
    control(fast_mock_bankid, order.order_ref, "hint", {"hintCode": "userSign"})
    assert _poll(order).status == "pending"
    time.sleep(3.3)  # 198 mock seconds
    order = _poll(order)
    assert (order.status, order.hint_code, order.message_code) == ("failed", "expiredTransaction", "RFA8")


def test_another_person_cannot_complete_the_order(mock_bankid, demo):
    order = _start(demo.anna)
    answer = control(mock_bankid, order.order_ref, "complete", {"personalNumber": demo.eva.personnummer})
    assert answer.status_code == 409
    assert _poll(order).status == "pending"


def test_a_signature_made_by_someone_else_is_not_accepted(mock_bankid, demo):
    order = _start(demo.anna)
    control(mock_bankid, order.order_ref, "complete", {"personalNumber": demo.anna.personnummer})
    _poll(order)
    with pytest.raises(SigningError):
        consume_signature(order_id=order.pk, user=demo.eva, purpose="agreement.connect", canonical_content=CONTENT)


def test_changed_content_and_replay_are_refused(mock_bankid, demo):
    order = _start(demo.anna)
    control(mock_bankid, order.order_ref, "complete", {"personalNumber": demo.anna.personnummer})
    _poll(order)
    with pytest.raises(SigningError, match="ändrats"):
        consume_signature(
            order_id=order.pk, user=demo.anna, purpose="agreement.connect", canonical_content=CONTENT + "x"
        )
    consume_signature(order_id=order.pk, user=demo.anna, purpose="agreement.connect", canonical_content=CONTENT)
    with pytest.raises(SigningError, match="redan använd"):
        consume_signature(order_id=order.pk, user=demo.anna, purpose="agreement.connect", canonical_content=CONTENT)


def test_an_order_already_in_progress_at_bankid_is_shown_as_rfa4(mock_bankid, demo):
    # Another relying party (or another tab of ours that we don't know about) has an order for Anna.
    BankIDClient().sign(
        end_user_ip="192.0.2.1",
        user_visible_data="T3RoZXI=",
        requirement={"personalNumber": demo.anna.personnummer},
    )
    with pytest.raises(SigningError) as raised:
        _start(demo.anna)
    assert raised.value.code == "alreadyInProgress"
    assert str(raised.value).startswith("En identifiering eller underskrift pågår redan för ditt personnummer")


def test_a_terminal_result_is_collected_once_and_the_evidence_survives(mock_bankid, demo):
    order = _start(demo.anna)
    control(mock_bankid, order.order_ref, "complete", {"personalNumber": demo.anna.personnummer})
    assert _poll(order).status == "complete"
    assert _poll(order).status == "complete"  # no second collect: the order is finished on our side
    with pytest.raises(Exception) as raised:
        BankIDClient().collect(order.order_ref)
    assert raised.value.error_code == "invalidParameters"


def _completion_signing(order, *, visible: str, hidden: str, kind: str = "sign") -> dict:
    """completionData as the mock builds it, for an order that received these base64 strings."""
    import base64

    from signing.mock.completion import ocsp_response, signature_xml
    from signing.mock.state import Order

    received = Order(
        order_ref=order.order_ref,
        kind=kind,
        phone=False,
        end_user_ip="192.0.2.10",
        user_visible_data=visible,
        user_non_visible_data=hidden,
        visible_format="simpleMarkdownV1",
        requirement={},
        return_url=None,
        return_risk=False,
        auto_start_token="",
        qr_start_token="",
        qr_start_secret="",
        created=0,
        created_real=0,
    )
    signature = base64.b64encode(signature_xml(received, order.user.personnummer, "uhi", "Mock").encode()).decode()
    return {
        "user": {"personalNumber": order.user.personnummer, "name": order.user.get_full_name()},
        "signature": signature,
        "ocspResponse": base64.b64encode(ocsp_response(signature, order.user.personnummer)).decode(),
    }


@pytest.mark.parametrize("tampered", ["visible", "hidden", "kind"])
def test_a_signature_that_does_not_echo_what_we_sent_is_not_accepted(demo, settings, tampered):
    from signing.bankid import b64

    settings.BANKID_PRODUCTION = False  # signatures chain to the mock's root
    from signing.services import _complete_bankid

    order = SignatureOrder.objects.create(
        user=demo.anna,
        method=SigningMethod.BANKID_MOBILE,
        purpose="agreement.connect",
        visible_text=TEXT,
        content_sha256="0" * 64,
        return_url="/",
        end_user_ip="192.0.2.10",
        nonce="n",
        user_visible_data=b64(TEXT),
        user_non_visible_data=b64("{}"),
        order_ref="ref-1",
        expires_at="2030-01-01T00:00:00Z",
        order_time=timezone.now(),
    )
    visible = b64(TEXT + " (ändrad)") if tampered == "visible" else order.user_visible_data
    hidden = b64('{"x":1}') if tampered == "hidden" else order.user_non_visible_data
    completion = _completion_signing(
        order, visible=visible, hidden=hidden, kind="auth" if tampered == "kind" else "sign"
    )
    _complete_bankid(order, completion)
    order.refresh_from_db()
    assert (order.status, order.hint_code, order.message_code) == ("failed", "signatureRefused", "SIGNATURE_INVALID")
    assert not SignatureEvidence.objects.filter(order=order).exists()

    # The same, echoed exactly, is accepted: the check is what makes the difference.
    other = SignatureOrder.objects.create(
        **{
            f.name: getattr(order, f.name)
            for f in SignatureOrder._meta.concrete_fields
            if f.name not in {"id", "order_ref", "status", "hint_code", "message_code", "finished_at"}
        },
        order_ref="ref-2",
    )
    _complete_bankid(
        other, _completion_signing(other, visible=other.user_visible_data, hidden=other.user_non_visible_data)
    )
    assert SignatureEvidence.objects.filter(order=other).exists()
