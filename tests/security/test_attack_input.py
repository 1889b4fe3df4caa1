"""The input defects an outside attack found (issue 19), each held here: non-ASCII digits, deeply nested
JSON, a trailing newline in an id, NUL in search and form fields."""

import json

import pytest

from events.models import Event
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
