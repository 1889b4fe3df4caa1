"""The säkerhetsdosa flow: start → challenge → response (OCRA) → evidence → consume, and its limits."""

import datetime

import pytest
from django.utils import timezone

from signing.crypto import decrypt_secret
from signing.evidence import consume_signature
from signing.models import SecurityToken, SignatureEvidence, SignatureOrder, SigningMethod
from signing.ocra import ocra
from signing.services import (
    SigningError,
    answer_token_challenge,
    poll_order,
    start_signature,
)
from signing.tokens import SUITE, demo_secret, token_secret

pytestmark = pytest.mark.django_db

CONTENT = '{"agreement": 1, "caseTypes": ["personal_message"]}'


def _start(user, content=CONTENT):
    return start_signature(
        user=user,
        method=SigningMethod.SECURITY_TOKEN,
        purpose="agreement.connect",
        visible_text="Anslut Bevaka ärenden för Exempelbolaget i Sverige AB",
        canonical_content=content,
        object_ref="agreement:1",
        return_url="/foretag/1/bevaka-arenden/",
        end_user_ip="127.0.0.1",
    )


def _response(order) -> str:
    return ocra(SUITE, token_secret(order.token), order.challenge)


def test_every_demo_signatory_has_a_token_whose_secret_is_encrypted_at_rest(demo):
    token = SecurityToken.objects.get(user=demo.anna)
    assert decrypt_secret(token.secret_encrypted) == demo_secret(token.serial)
    assert demo_secret(token.serial).hex() not in token.secret_encrypted
    assert not SecurityToken.objects.filter(user=demo.bertil).exists()  # no mandate, no token
    assert SecurityToken.objects.filter(user=demo.eva).exists() and SecurityToken.objects.filter(user=demo.gustav)


def test_the_right_response_completes_the_order_and_stores_evidence_first(demo):
    order = _start(demo.anna)
    assert order.status == "pending" and len(order.challenge) == 8
    order = answer_token_challenge(order_id=order.pk, user=demo.anna, response=_response(order))
    assert order.status == SignatureOrder.Status.COMPLETE
    evidence = SignatureEvidence.objects.get(order=order)
    assert evidence.signer_personnummer == demo.anna.personnummer
    assert evidence.completion_data["challenge"] == order.challenge
    assert evidence.completion_data["seal"] and evidence.verification["ok"]
    evidence = consume_signature(
        order_id=order.pk, user=demo.anna, purpose="agreement.connect", canonical_content=CONTENT
    )
    assert evidence.used_at is not None


def test_a_replayed_signature_is_refused(demo):
    order = _start(demo.anna)
    answer_token_challenge(order_id=order.pk, user=demo.anna, response=_response(order))
    consume_signature(order_id=order.pk, user=demo.anna, purpose="agreement.connect", canonical_content=CONTENT)
    with pytest.raises(SigningError, match="redan använd"):
        consume_signature(order_id=order.pk, user=demo.anna, purpose="agreement.connect", canonical_content=CONTENT)


def test_a_replayed_challenge_response_is_refused(demo):
    order = _start(demo.anna)
    answer_token_challenge(order_id=order.pk, user=demo.anna, response=_response(order))
    with pytest.raises(SigningError):
        answer_token_challenge(order_id=order.pk, user=demo.anna, response=_response(order))


def test_content_changed_in_between_is_refused(demo):
    order = _start(demo.anna)
    answer_token_challenge(order_id=order.pk, user=demo.anna, response=_response(order))
    with pytest.raises(SigningError, match="ändrats"):
        consume_signature(
            order_id=order.pk, user=demo.anna, purpose="agreement.connect", canonical_content=CONTENT + " "
        )
    assert SignatureEvidence.objects.get(order=order).used_at is None


def test_another_user_or_purpose_cannot_use_the_signature(demo):
    order = _start(demo.anna)
    answer_token_challenge(order_id=order.pk, user=demo.anna, response=_response(order))
    with pytest.raises(SigningError):
        consume_signature(order_id=order.pk, user=demo.eva, purpose="agreement.connect", canonical_content=CONTENT)
    with pytest.raises(SigningError):
        consume_signature(order_id=order.pk, user=demo.anna, purpose="agreement.end", canonical_content=CONTENT)
    with pytest.raises(SigningError):
        answer_token_challenge(order_id=order.pk, user=demo.eva, response="12345678")


def test_a_wrong_response_is_refused_and_three_fail_the_attempt(demo):
    order = _start(demo.anna)
    wrong = str((int(_response(order)) + 1) % 10**8).zfill(8)
    order = answer_token_challenge(order_id=order.pk, user=demo.anna, response=wrong)
    assert order.status == "pending" and order.message_code == "TOKEN_WRONG_RESPONSE"
    answer_token_challenge(order_id=order.pk, user=demo.anna, response=wrong)
    order = answer_token_challenge(order_id=order.pk, user=demo.anna, response=wrong)
    assert order.status == "failed" and order.message_code == "TOKEN_TOO_MANY_ATTEMPTS"
    with pytest.raises(SigningError):
        answer_token_challenge(order_id=order.pk, user=demo.anna, response=_response(order))
    assert not SignatureEvidence.objects.filter(order=order).exists()


def test_five_wrong_responses_in_a_row_lock_the_token(demo):
    first = _start(demo.anna)
    for _ in range(3):
        answer_token_challenge(order_id=first.pk, user=demo.anna, response="00000000")
    second = _start(demo.anna)
    answer_token_challenge(order_id=second.pk, user=demo.anna, response="00000000")
    second = answer_token_challenge(order_id=second.pk, user=demo.anna, response="00000000")
    assert second.message_code == "TOKEN_LOCKED" and second.status == "failed"
    assert SecurityToken.objects.get(user=demo.anna).status == SecurityToken.Status.LOCKED
    with pytest.raises(SigningError, match="spärrad"):
        _start(demo.anna)


def test_a_right_response_resets_the_failure_count(demo):
    order = _start(demo.anna)
    answer_token_challenge(order_id=order.pk, user=demo.anna, response="00000000")
    answer_token_challenge(order_id=order.pk, user=demo.anna, response=_response(order))
    assert SecurityToken.objects.get(user=demo.anna).consecutive_failures == 0


def test_an_expired_challenge_is_refused(demo):
    order = _start(demo.anna)
    SignatureOrder.objects.filter(pk=order.pk).update(expires_at=timezone.now() - datetime.timedelta(seconds=1))
    order = answer_token_challenge(order_id=order.pk, user=demo.anna, response=_response(order))
    assert order.status == "failed" and order.message_code == "TOKEN_CHALLENGE_EXPIRED"


def test_a_challenge_lives_five_minutes(demo):
    order = _start(demo.anna)
    assert (
        datetime.timedelta(minutes=4, seconds=59) < order.expires_at - timezone.now() <= datetime.timedelta(minutes=5)
    )
    SignatureOrder.objects.filter(pk=order.pk).update(expires_at=timezone.now())
    assert poll_order(order_id=order.pk).message_code == "TOKEN_CHALLENGE_EXPIRED"


def test_starting_again_cancels_the_earlier_challenge(demo):
    first = _start(demo.anna)
    second = _start(demo.anna)
    first.refresh_from_db()
    assert first.status == "cancelled" and second.status == "pending"


def test_a_user_without_a_token_is_told_so(demo):
    with pytest.raises(SigningError, match="ingen säkerhetsdosa"):
        _start(demo.bertil)


def test_evidence_cannot_be_changed(demo):
    order = _start(demo.anna)
    answer_token_challenge(order_id=order.pk, user=demo.anna, response=_response(order))
    evidence = SignatureEvidence.objects.get(order=order)
    evidence.signer_name = "Someone else"
    with pytest.raises(ValueError):
        evidence.save()
