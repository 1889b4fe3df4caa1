"""The input defects an outside attack found (issue 19), each held here: non-ASCII digits, deeply nested
JSON, a trailing newline in an id, NUL in search and form fields."""

import json

import pytest
from django.test import Client

from events.models import Event
from subscriptions.models import ContactVerification
from tests.events.conftest import Source, event

pytestmark = pytest.mark.django_db


@pytest.fixture
def signed(db):
    return Source("attack-core")


def _problem(response, status: int) -> dict:
    assert response.status_code == status, response.content[:300]
    assert response["Content-Type"] == "application/problem+json"
    return json.loads(response.content)


@pytest.mark.parametrize("timestamp", ["²", "¹²³", "١٧٦٤٨٥٠٠٠٠", "１７６４８５００００"])
def test_a_timestamp_in_non_ascii_digits_is_a_401_problem_not_a_crash(client, signed, timestamp):
    body = json.dumps(event("ev-ts")).encode()
    headers = signed.headers(body)
    response = client.post(
        "/api/v1/events",
        data=body,
        content_type="application/json",
        HTTP_X_BEVAKA_SOURCE=headers["X-Bevaka-Source"],
        HTTP_X_BEVAKA_TIMESTAMP=timestamp,
        HTTP_X_BEVAKA_SIGNATURE=headers["X-Bevaka-Signature"],
    )
    _problem(response, 401)


@pytest.mark.parametrize("company", ["٥٥٩٩٩٩٠١٠٧", "５５９９９９０１０７", "559999010７"])
def test_a_company_number_in_non_ascii_digits_is_a_400(client, signed, company):
    problem = _problem(signed.post(client, "/api/v1/events", event("ev-co", company=company)), 400)
    assert [error["field"] for error in problem["errors"]] == ["company"]
    assert not Event.objects.exists()


@pytest.mark.parametrize("sign", [True, False])
def test_deeply_nested_json_is_a_400_signed_or_not(client, signed, sign):
    body = b"[" * 30_000 + b"]" * 30_000
    if sign:
        _problem(signed.post(client, "/api/v1/events", body), 400)
        _problem(signed.post(client, "/api/v1/events/batch", b'{"events": ' + body[:30_000] + b"}"), 400)
    else:
        _problem(client.post("/api/v1/events", data=body, content_type="application/json"), 401)


def test_a_source_id_with_a_trailing_newline_is_refused_not_stored_as_a_second_event(client, signed):
    assert signed.post(client, "/api/v1/events", event("ev-nl")).status_code == 202
    problem = _problem(signed.post(client, "/api/v1/events", event("ev-nl\n")), 400)
    assert [error["field"] for error in problem["errors"]] == ["id"]
    assert list(Event.objects.values_list("external_id", flat=True)) == ["ev-nl"]


@pytest.mark.parametrize("written", ["١٩٧٨٠٤١٢٩٨٠٢", "１９７８０４１２９８０２", "1978041２-9802"])
def test_a_personnummer_or_organisationsnummer_takes_ascii_digits_only(written):
    from django.core.exceptions import ValidationError

    from companies.identity import parse_organisationsnummer, parse_personnummer

    with pytest.raises(ValidationError):
        parse_personnummer(written)
    with pytest.raises(ValidationError):
        parse_organisationsnummer(written[2:])


NUL_MESSAGE = "Förfrågan innehåller tecknet NUL"


def test_a_nul_in_the_permission_search_is_a_clear_400_not_a_crash(client, demo):
    client.force_login(demo.anna)  # permission administrator of Exempelbolaget
    response = client.get(f"/foretag/{demo.exempelbolaget.pk}/administrera-behorigheter/?q=%00", secure=True)
    assert response.status_code == 400
    assert NUL_MESSAGE in response.content.decode()


def test_a_nul_in_the_event_apis_query_gets_the_apis_own_problem_json_answer(client):
    # The API answers in problem+json, also here (the page rule's text/plain 400 is for pages and forms).
    response = client.post("/api/v1/events?x=%00", b"{}", content_type="application/json", secure=True)
    assert response.status_code == 401 and response["Content-Type"] == "application/problem+json"


def test_a_nul_in_an_admin_search_or_any_form_is_a_clear_400(client, demo):
    from tests.factories import UserFactory

    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    for path in ("/admin/companies/user/", "/admin/audit/auditentry/", "/admin/events/event/"):
        response = client.get(f"{path}?q=a%00b", secure=True)
        assert response.status_code == 400, path
        assert NUL_MESSAGE in response.content.decode()
    client.force_login(demo.anna)
    url = f"/foretag/{demo.exempelbolaget.pk}/mina-bevakningar/kontaktuppgift/"
    response = client.post(url, {"channel": "sms", "destination": "+4670\x001234567"}, secure=True)
    assert response.status_code == 400 and NUL_MESSAGE in response.content.decode()


# --- SMS pumping: mobile numbers only in the allowed countries (SMS_ALLOWED_COUNTRIES) ----------------------
def _connected(demo):
    from agreements import services as agreement_services
    from tests.agreements.conftest import make_evidence

    proposal = agreement_services.propose_connect(
        company=demo.exempelbolaget, signer=demo.anna, case_type_codes=["e_invoice"], internet_bank="corporate"
    )
    agreement_services.apply_signed_proposal(
        proposal=proposal, signer=demo.anna, evidence=make_evidence(demo.anna, proposal.content)
    )


def _contact_page(client, demo, destination: str) -> str:
    client.force_login(demo.bertil)
    url = f"/foretag/{demo.exempelbolaget.pk}/mina-bevakningar/kontaktuppgift/"
    return client.post(url, {"channel": "sms", "destination": destination}, follow=True, secure=True).content.decode()


def test_no_code_is_sent_to_a_mobile_number_outside_the_allowed_countries(client, demo):
    from notifications.models import Delivery

    _connected(demo)
    page = _contact_page(client, demo, "+1 202 456 1111")
    assert "Vi skickar inte sms till landsnummer +1." in page
    assert "+46" in page and "+47" in page and "+358" in page  # the allowed ones, named
    assert not ContactVerification.objects.exists() and not Delivery.objects.exists()
    assert "Vi har skickat en kod" in _contact_page(Client(), demo, "+47 912 34 567")  # Norway: Nordic


def test_an_overlong_mobile_number_or_field_gets_a_message_saying_so(client, demo):
    _connected(demo)
    assert "Mobilnumret är för långt" in _contact_page(client, demo, "070 " + "1" * 40)
    too_long = _contact_page(client, demo, "0" * 300)
    assert "Uppgiften är för lång: högst 254 tecken, inte 300." in too_long
    assert "Ange ett mobilnummer eller en e-postadress." not in too_long


def test_a_mobile_number_with_a_nul_is_named_as_such():
    from django.core.exceptions import ValidationError

    from companies.phone import parse_mobile_number

    with pytest.raises(ValidationError, match="otillåtet tecken"):
        parse_mobile_number("070\x00-123 45 67")
