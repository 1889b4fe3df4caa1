"""The ingestion API in process: every documented answer, problem+json for each failure, and nothing
stored unless the whole request is good. The pipeline behind it is in test_pipeline.py."""

import io
import json
import time

import pytest
from django.test import RequestFactory

from events import views
from events.models import Event
from events.openapi import openapi_document
from events.services import create_source_key, deactivate_source_key

from .conftest import Source, event

pytestmark = pytest.mark.django_db

SINGLE = "/api/v1/events"
BATCH = "/api/v1/events/batch"


@pytest.fixture
def customer(demo):
    return demo.exempelbolaget


def assert_problem(response, status: int) -> dict:
    assert response.status_code == status, response.content
    assert response["Content-Type"] == "application/problem+json"
    body = json.loads(response.content)
    assert body["status"] == status and body["title"] and body["type"].startswith("https://")
    return body


def test_an_event_is_accepted_with_202_and_our_id(
    client, source, customer, published_fan_outs, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = source.post(client, SINGLE, event("inv-1", reference="Faktura 17"))
    assert response.status_code == 202
    body = response.json()
    stored = Event.objects.get()
    assert body == {"id": str(stored.uuid), "source_id": "inv-1", "status": "accepted"}
    assert (stored.company, stored.case_type.code, stored.reference) == (customer, "e_invoice", "Faktura 17")
    assert stored.occurred_at.isoformat() == "2026-03-02T08:15:00+00:00"
    assert published_fan_outs == ["pending"]


def test_the_same_id_with_the_same_content_answers_200_with_the_first_result_and_stores_nothing(
    client, source, customer, published_fan_outs, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        first = source.post(client, SINGLE, event("inv-1"))
    # The same instant written with another offset is the same content.
    with django_capture_on_commit_callbacks(execute=True):
        again = source.post(client, SINGLE, event("inv-1", occurred_at="2026-03-02T08:15:00Z"))
    assert again.status_code == 200
    assert again.json() == first.json()
    assert Event.objects.count() == 1
    assert len(published_fan_outs) == 1


def test_the_same_id_with_other_content_is_a_409_conflict(client, source, customer):
    source.post(client, SINGLE, event("inv-1"))
    body = assert_problem(source.post(client, SINGLE, event("inv-1", type="rejected_payment")), 409)
    assert body["source_ids"] == ["inv-1"]
    assert Event.objects.get().case_type.code == "e_invoice"


def test_the_same_id_from_another_source_is_another_event(client, source, customer):
    other = Source("payments")
    assert source.post(client, SINGLE, event("inv-1")).status_code == 202
    assert other.post(client, SINGLE, event("inv-1", type="rejected_payment")).status_code == 202
    assert Event.objects.count() == 2


@pytest.mark.parametrize(
    ("payload", "fields"),
    [
        (b"{not json", ["body"]),
        (b"\xff\xfe", ["body"]),
        ([event()], ["body"]),
        ({"id": "x"}, ["type", "company", "occurred_at"]),
        (event(type="loan_offer"), ["type"]),
        (event(company="5599990108"), ["company"]),  # bad check digit
        (event(occurred_at="2026-03-02 09:15"), ["occurred_at"]),  # no offset
        (event(occurred_at="yesterday"), ["occurred_at"]),
        (event(occurred_at="2999-01-01T00:00:00+00:00"), ["occurred_at"]),
        (event(reference="x" * 65), ["reference"]),
        (event(reference=17), ["reference"]),
        (event(amount="1 000 kr"), ["amount"]),
        (event("has space"), ["id"]),
        (event(1234), ["id"]),
    ],
    ids=lambda v: None if isinstance(v, list) else "",
)
def test_invalid_json_or_fields_are_a_400_listing_each_field_and_store_nothing(
    client, source, customer, payload, fields
):
    body = assert_problem(source.post(client, SINGLE, payload), 400)
    assert sorted(e["field"] for e in body["errors"]) == sorted(fields)
    assert all(e["detail"] for e in body["errors"])
    assert not Event.objects.exists()


def test_an_unknown_company_is_a_422(client, source, customer):
    body = assert_problem(source.post(client, SINGLE, event(company="5560000001")), 422)
    assert body["errors"] == [{"field": "company", "detail": "no customer with this organisationsnummer"}]
    assert not Event.objects.exists()


@pytest.mark.parametrize(
    "tamper",
    ["no_signature", "wrong_key", "unknown_source", "old_timestamp", "future_timestamp", "body_changed", "bad_ts"],
)
def test_a_request_that_is_not_properly_signed_is_a_401_and_stores_nothing(client, source, customer, tamper):
    body = json.dumps(event()).encode()
    headers = source.headers(body)
    if tamper == "no_signature":
        del headers["X-Bevaka-Signature"]
    elif tamper == "wrong_key":
        headers = source.headers(body, secret="not-the-key")
    elif tamper == "unknown_source":
        headers["X-Bevaka-Source"] = "someone-else"
    elif tamper == "old_timestamp":
        headers = source.headers(body, timestamp=int(time.time()) - 301)
    elif tamper == "future_timestamp":
        headers = source.headers(body, timestamp=int(time.time()) + 301)
    elif tamper == "body_changed":
        body = body.replace(b"e_invoice", b"rejected_payment")
    elif tamper == "bad_ts":
        headers["X-Bevaka-Timestamp"] = "1e9"
    meta = {f"HTTP_{k.upper().replace('-', '_')}": v for k, v in headers.items()}
    response = client.post(SINGLE, data=body, content_type="application/json", **meta)
    assert_problem(response, 401)
    assert response["WWW-Authenticate"]
    assert not Event.objects.exists()


def test_a_timestamp_inside_the_window_is_accepted(client, source, customer):
    response = source.post(client, SINGLE, event(), timestamp=int(time.time()) - 290)
    assert response.status_code == 202


def test_both_active_keys_are_accepted_during_a_rotation_and_a_deactivated_one_is_not(client, source, customer):
    new_key, new_secret = create_source_key(source=source.system)
    assert new_key.slot == 2
    assert source.post(client, SINGLE, event("a"), secret=new_secret).status_code == 202
    assert source.post(client, SINGLE, event("b")).status_code == 202
    deactivate_source_key(key_id=source.key.pk)
    assert_problem(source.post(client, SINGLE, event("c")), 401)
    assert source.post(client, SINGLE, event("d"), secret=new_secret).status_code == 202


def test_a_deactivated_key_is_refused_at_once_in_this_process_and_within_the_cache_time_in_others(
    client, source, customer, settings, django_assert_num_queries
):
    from events.models import SourceKey

    settings.EVENTS_SOURCE_CACHE_SECONDS = 2
    assert source.post(client, SINGLE, event("a")).status_code == 202
    with django_assert_num_queries(1):  # the insert: source, keys and case types are remembered
        assert source.post(client, SINGLE, event("b")).status_code == 202
    # Another process deactivates the key (a queryset update here sends no signal, as in another process).
    SourceKey.objects.filter(pk=source.key.pk).update(is_active=False)
    time.sleep(2.1)  # the memory is at most EVENTS_SOURCE_CACHE_SECONDS old
    assert_problem(source.post(client, SINGLE, event("c")), 401)


def test_a_key_saved_in_this_process_is_seen_by_the_next_request(client, source, customer, settings):
    settings.EVENTS_SOURCE_CACHE_SECONDS = 60
    assert source.post(client, SINGLE, event("a")).status_code == 202
    source.key.is_active = False
    source.key.save()
    assert_problem(source.post(client, SINGLE, event("b")), 401)


def test_without_the_cache_every_request_reads_source_and_keys(
    client, source, customer, settings, django_assert_num_queries
):
    settings.EVENTS_SOURCE_CACHE_SECONDS = 0
    assert source.post(client, SINGLE, event("a")).status_code == 202
    with django_assert_num_queries(4):  # source, keys, case types, the insert
        assert source.post(client, SINGLE, event("b")).status_code == 202


def test_a_batch_conflicting_with_a_stored_event_stores_none_of_its_new_events(client, source, customer):
    assert source.post(client, SINGLE, event("old")).status_code == 202
    payload = {"events": [event("new-1"), event("old", reference="other"), event("new-2")]}
    body = assert_problem(source.post(client, BATCH, payload), 409)
    assert body["source_ids"] == ["old"]
    assert list(Event.objects.values_list("external_id", flat=True)) == ["old"]


def test_an_unknown_company_beside_a_duplicate_is_a_422_listing_each_event_and_stores_nothing(client, source, customer):
    assert source.post(client, SINGLE, event("old")).status_code == 202
    payload = {
        "events": [event("new-1"), event("old"), event("x", company="5560000001"), event("y", company="5560000001")]
    }
    body = assert_problem(source.post(client, BATCH, payload), 422)
    assert [e["field"] for e in body["errors"]] == ["events[2].company", "events[3].company"]
    assert Event.objects.count() == 1


def test_a_duplicate_single_event_costs_one_read_more(client, source, customer, django_assert_num_queries):
    first = source.post(client, SINGLE, event("a"))
    with django_assert_num_queries(2):  # the insert that skips it, and the read of the stored one
        again = source.post(client, SINGLE, event("a"))
    assert again.status_code == 200 and again.json()["id"] == first.json()["id"]


def test_a_source_never_has_more_than_two_active_keys(source):
    from django.db import IntegrityError, transaction

    from events.models import SourceKey
    from events.services import SourceKeyError

    create_source_key(source=source.system)
    with pytest.raises(SourceKeyError):
        create_source_key(source=source.system)
    with pytest.raises(IntegrityError), transaction.atomic():  # and the database says so too
        SourceKey.objects.create(source=source.system, slot=1, secret_encrypted="x", fingerprint="x")


def test_a_batch_is_accepted_with_one_item_per_event_and_duplicates_marked(client, source, customer):
    source.post(client, SINGLE, event("old"))
    payload = {"events": [event("new-1"), event("old"), event("new-2"), event("new-1")]}
    response = source.post(client, BATCH, payload)
    assert response.status_code == 202
    items = response.json()["events"]
    assert [(i["source_id"], i["status"]) for i in items] == [
        ("new-1", "accepted"),
        ("old", "duplicate"),
        ("new-2", "accepted"),
        ("new-1", "duplicate"),
    ]
    assert items[0]["id"] == items[3]["id"]
    assert Event.objects.count() == 3


@pytest.mark.parametrize(
    ("bad", "status", "field"),
    [
        (event("b", type="nope"), 400, "events[1].type"),
        (event("b", company="5560000001"), 422, "events[1].company"),
        (event("a", type="rejected_payment"), 409, None),  # the same id twice with other content
    ],
)
def test_a_batch_is_all_or_nothing(client, source, customer, bad, status, field):
    body = assert_problem(source.post(client, BATCH, {"events": [event("a"), bad, event("c")]}), status)
    if field:
        assert [e["field"] for e in body["errors"]] == [field]
    assert not Event.objects.exists()


@pytest.mark.parametrize(
    "payload", [{"events": []}, {"events": {}}, {"events": [event()], "more": 1}, [event()]], ids=str
)
def test_a_batch_needs_an_object_with_a_list_of_events(client, source, customer, payload):
    assert_problem(source.post(client, BATCH, payload), 400)


def test_a_batch_of_more_than_1000_events_is_refused(client, source, customer):
    payload = {"events": [event(f"e{n}") for n in range(1001)]}
    body = assert_problem(source.post(client, BATCH, payload), 400)
    assert body["errors"] == [{"field": "events", "detail": "at most 1000 events"}]


def test_a_batch_of_1000_events_takes_a_bounded_number_of_queries(
    client, source, customer, django_assert_max_num_queries
):
    payload = {"events": [event(f"e{n}") for n in range(1000)]}
    with django_assert_max_num_queries(12):
        response = source.post(client, BATCH, payload)
    assert response.status_code == 202
    assert Event.objects.count() == 1000


@pytest.mark.parametrize(("path", "limit"), [(SINGLE, 64 * 1024), (BATCH, 1024 * 1024)])
def test_a_body_over_the_limit_is_a_413_from_its_content_length_before_it_is_read(rf: RequestFactory, path, limit):
    class Unreadable(io.RawIOBase):
        def read(self, *args):
            raise AssertionError("the body was read")

    request = rf.post(path, data=b"", content_type="application/json")
    request.META["CONTENT_LENGTH"] = str(limit + 1)
    request.META["wsgi.input"] = Unreadable()
    request._stream = Unreadable()
    view = views.ingest_event if path == SINGLE else views.ingest_batch
    body = assert_problem(view(request), 413)
    assert body["max_bytes"] == limit


def test_a_chunked_body_without_content_length_is_read_only_up_to_the_limit(rf: RequestFactory):
    stream = io.BytesIO(b"x" * (10 * 1024 * 1024))
    request = rf.post(SINGLE, data=b"", content_type="application/json")
    request.META.pop("CONTENT_LENGTH", None)
    request.META["HTTP_TRANSFER_ENCODING"] = "chunked"
    request.META["wsgi.input"] = stream
    assert_problem(views.ingest_event(request), 413)
    assert stream.tell() <= 64 * 1024 + 1


def test_a_body_without_length_or_chunking_is_a_411(rf: RequestFactory):
    request = rf.post(SINGLE, data=b"", content_type="application/json")
    request.META.pop("CONTENT_LENGTH", None)
    assert_problem(views.ingest_event(request), 411)


def test_a_body_at_the_limit_is_read_and_judged(client, source, customer):
    payload = json.dumps(event()).encode()
    padded = payload[:-1] + b" " * (64 * 1024 - len(payload)) + b"}"
    assert len(padded) == 64 * 1024
    assert source.post(client, SINGLE, padded).status_code == 202


def test_other_methods_and_paths_answer_problem_json(client):
    assert_problem(client.get(SINGLE), 405)
    assert_problem(client.put(BATCH), 405)
    assert_problem(client.get("/api/v1/nothing-here"), 404)
    assert_problem(client.post("/api/v1/openapi.json"), 405)


def test_the_openapi_document_describes_both_endpoints_their_headers_and_every_answer(client):
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    document = response.json()
    assert document == json.loads(json.dumps(openapi_document()))
    assert document["openapi"] == "3.1.0"
    for path, codes in [
        ("/api/v1/events", {"200", "202", "400", "401", "405", "409", "411", "413", "422", "500", "503"}),
        ("/api/v1/events/batch", {"202", "400", "401", "405", "409", "411", "413", "422", "500", "503"}),
    ]:
        operation = document["paths"][path]["post"]
        assert set(operation["responses"]) == codes
        assert {p["name"] for p in operation["parameters"]} == {
            "X-Bevaka-Source",
            "X-Bevaka-Timestamp",
            "X-Bevaka-Signature",
        }
        for code, answer in operation["responses"].items():
            media = "application/json" if code in {"200", "202"} else "application/problem+json"
            assert list(answer["content"]) == [media]
    schema = document["components"]["schemas"]["Event"]
    assert schema["properties"]["type"]["enum"] == ["personal_message", "e_invoice", "rejected_payment"]
    assert schema["properties"]["reference"]["maxLength"] == 64
