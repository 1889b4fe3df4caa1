"""The mock BankID server against the request/response fields and codes of ../shared/docs/SIGNING.md."""

import base64
import hashlib
import hmac
import re
import time

import httpx
import pytest

from tests.signing.helpers import control, orders, rp

pytestmark = pytest.mark.slow

ANNA = "197804129802"
EVA = "197203059865"
UUID = re.compile(r"^[0-9a-f-]{36}$")


@pytest.fixture
def mock(mock_bankid):
    return mock_bankid


def _sign(mock, person=ANNA, **extra):
    body = {
        "endUserIp": "192.0.2.1",
        "userVisibleData": base64.b64encode(b"Skriv under").decode(),
        "requirement": {"personalNumber": person},
        **extra,
    }
    return rp(mock, "sign", body)


def test_auth_and_sign_answer_the_four_start_fields(mock):
    for answer in (_sign(mock), rp(mock, "auth", {"endUserIp": "2001:db8::1"})):
        assert answer.status_code == 200
        assert answer.headers["Content-Type"] == "application/json"
        body = answer.json()
        assert set(body) == {"orderRef", "autoStartToken", "qrStartToken", "qrStartSecret"}
        assert all(UUID.match(v) for v in body.values())


def test_collect_answers_pending_with_a_hint_then_complete_with_completion_data_once(mock):
    ref = _sign(mock).json()["orderRef"]
    assert rp(mock, "collect", {"orderRef": ref}).json() == {
        "orderRef": ref,
        "status": "pending",
        "hintCode": "outstandingTransaction",
    }
    control(mock, ref, "complete", {"personalNumber": ANNA})
    body = rp(mock, "collect", {"orderRef": ref}).json()
    assert body["status"] == "complete" and "hintCode" not in body
    data = body["completionData"]
    assert data["user"] == {
        "personalNumber": ANNA,
        "name": "Anna Andersson",
        "givenName": "Anna",
        "surname": "Andersson",
    }
    assert set(data) >= {"user", "device", "bankIdIssueDate", "signature", "ocspResponse"}
    assert set(data["device"]) == {"ipAddress", "uhi"}
    again = rp(mock, "collect", {"orderRef": ref})
    assert again.status_code == 400 and again.json()["errorCode"] == "invalidParameters"


def test_a_wrong_content_type_is_415(mock):
    answer = rp(mock, "sign", b"{}", content_type="application/json; charset=UTF-8")
    assert answer.status_code == 415
    assert answer.json()["errorCode"] == "unsupportedMediaType" and "details" in answer.json()


def test_unknown_paths_are_404_and_other_methods_405(mock):
    assert rp(mock, "payment/other", {}).json()["errorCode"] == "notFound"
    answer = httpx.get(f"{mock.url}/rp/v6.0/sign")
    assert answer.status_code == 405 and answer.json()["errorCode"] == "methodNotAllowed"


@pytest.mark.parametrize(
    "body",
    [
        {"userVisibleData": "eA=="},  # no endUserIp
        {"endUserIp": "not-an-ip", "userVisibleData": "eA=="},
        {"endUserIp": "192.0.2.1"},  # sign without userVisibleData
        {"endUserIp": "192.0.2.1", "userVisibleData": "***"},
        {"endUserIp": "192.0.2.1", "userVisibleData": "eA==", "userVisibleDataFormat": "html"},
        {"endUserIp": "192.0.2.1", "userVisibleData": "eA==", "returnUrl": ""},
        {"endUserIp": "192.0.2.1", "userVisibleData": "eA==", "personalNumber": ANNA},  # v5 leftover
        {
            "endUserIp": "192.0.2.1",
            "userVisibleData": "eA==",
            "requirement": {"personalNumber": "197804129801"},
        },
        {"endUserIp": "192.0.2.1", "userVisibleData": "eA==", "requirement": {"cardReader": "class3"}},
        {"endUserIp": "192.0.2.1", "userVisibleData": "eA" * 20_001},
    ],
)
def test_invalid_parameters_are_400_with_details(mock, body):
    answer = rp(mock, "sign", body)
    assert answer.status_code == 400
    assert answer.json()["errorCode"] == "invalidParameters" and answer.json()["details"]


def test_auth_user_visible_data_is_limited_to_1500(mock):
    answer = rp(mock, "auth", {"endUserIp": "192.0.2.1", "userVisibleData": "eA==" * 400})
    assert answer.status_code == 400


def test_a_second_order_for_the_same_person_is_already_in_progress_and_cancels_the_first(mock):
    first = _sign(mock).json()["orderRef"]
    second = _sign(mock)
    assert second.status_code == 400 and second.json()["errorCode"] == "alreadyInProgress"
    assert rp(mock, "collect", {"orderRef": first}).json() == {
        "orderRef": first,
        "status": "failed",
        "hintCode": "cancelled",
    }


def test_cancel_answers_an_empty_object_and_forgets_the_order(mock):
    ref = _sign(mock).json()["orderRef"]
    answer = rp(mock, "cancel", {"orderRef": ref})
    assert answer.status_code == 200 and answer.json() == {}
    assert rp(mock, "collect", {"orderRef": ref}).status_code == 400


def test_the_phone_endpoints_answer_an_order_ref(mock):
    answer = rp(mock, "phone/sign", {"personalNumber": EVA, "callInitiator": "RP", "userVisibleData": "eA=="})
    assert set(answer.json()) == {"orderRef"}
    assert rp(mock, "phone/auth", {"personalNumber": EVA, "callInitiator": "bank"}).status_code == 400


def test_the_control_api_lists_completes_fails_and_hints(mock):
    ref = _sign(mock).json()["orderRef"]
    assert orders(mock, ANNA)[0] == {
        "orderRef": ref,
        "status": "pending",
        "hintCode": "outstandingTransaction",
        "personalNumber": ANNA,
        "userVisibleData": "Skriv under",
        "kind": "sign",
    }
    assert control(mock, ref, "hint", {"hintCode": "userSign"}).json()["hintCode"] == "userSign"
    assert control(mock, ref, "complete", {"personalNumber": EVA}).status_code == 409
    assert control(mock, ref, "fail", {"hintCode": "certificateErr"}).status_code == 200
    assert control(mock, ref, "complete", {"personalNumber": ANNA}).status_code == 409  # no longer pending
    assert control(mock, "00000000-0000-0000-0000-000000000000", "complete", {}).status_code == 404
    assert rp(mock, "collect", {"orderRef": ref}).json()["hintCode"] == "certificateErr"


def test_the_simulated_app_checks_the_qr_codes_hmac_and_refuses_another_person(mock):
    body = rp(mock, "auth", {"endUserIp": "192.0.2.1", "requirement": {"personalNumber": ANNA}}).json()
    t = "0"
    code = hmac.new(body["qrStartSecret"].encode(), t.encode(), hashlib.sha256).hexdigest()
    good = f"bankid.{body['qrStartToken']}.{t}.{code}"
    forged = f"bankid.{body['qrStartToken']}.{t}.{'0' * 64}"
    assert httpx.post(f"{mock.url}/app/open", data={"qr": forged, "personalNumber": ANNA}).status_code == 400
    assert httpx.post(f"{mock.url}/app/open", data={"qr": good, "personalNumber": EVA}).status_code == 403
    opened = httpx.post(f"{mock.url}/app/open", data={"qr": good, "personalNumber": ANNA})
    assert opened.status_code == 200 and "Identifiera" in opened.text
    time.sleep(0.1)
    assert orders(mock, ANNA)[0]["hintCode"] == "userSign"


def test_the_simulated_token_computes_the_ocra_response(mock):
    from signing.ocra import ocra
    from signing.tokens import SUITE, demo_secret, demo_serial

    serial = demo_serial(ANNA)
    page = httpx.post(f"{mock.url}/token/", data={"serial": serial, "challenge": "1234 5678"})
    expected = ocra(SUITE, demo_secret(serial), "12345678")
    assert f"{expected[:4]} {expected[4:]}" in page.text
