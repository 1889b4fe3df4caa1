"""Hostile input to the ingestion API and the Twilio webhook.

The API is fuzzed with hypothesis: events drawn from its own OpenAPI document (the schema's patterns,
enums and formats), those events mutated (a field dropped, a wrong type, an unknown field), and arbitrary
JSON and bytes — each request signed by the test source (tests/events/conftest.Source), so that it gets
past authentication into the parsing. Whatever comes: no 5xx, every 4xx is problem+json, and a request is
stored whole or not at all.
"""

from __future__ import annotations

import datetime
import io
import json
import socket
import time

import pytest
from django.test import RequestFactory
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from twilio.request_validator import RequestValidator

from events import views
from events.models import Event
from events.openapi import openapi_document
from notifications.models import Delivery, DeliveryStatus
from tests.events.conftest import Source

pytestmark = pytest.mark.django_db

FUZZ = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    database=None,
)
CUSTOMER = "5599990107"  # Exempelbolaget: some drawn events name a real customer and are stored


def _schema_strategy(schema: dict) -> st.SearchStrategy:
    """A strategy for one property of the OpenAPI Event schema (the simple cases it uses)."""
    if "enum" in schema:
        return st.sampled_from(schema["enum"])
    types = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
    options = []
    if "null" in types:
        options.append(st.none())
    if "string" in types:
        if "pattern" in schema:
            options.append(st.from_regex(schema["pattern"], fullmatch=True))
        elif schema.get("format") == "date-time":
            options.append(
                st.datetimes(timezones=st.just(datetime.UTC)).map(lambda d: d.isoformat()) | st.text(max_size=30)
            )
        else:
            options.append(st.text(max_size=schema.get("maxLength", 100) + 2))
    return st.one_of(options)


def _event_strategy() -> st.SearchStrategy:
    schema = openapi_document()["components"]["schemas"]["Event"]
    properties = {name: _schema_strategy(prop) for name, prop in schema["properties"].items()}
    properties["company"] = st.sampled_from([CUSTOMER]) | properties["company"]
    required = {name: properties[name] for name in schema["required"]}
    optional = {name: properties[name] for name in properties if name not in schema["required"]}
    return st.fixed_dictionaries(required, optional=optional)


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=12,
)


@st.composite
def _mutated_event(draw) -> dict:
    event = dict(draw(_event_strategy()))
    mutation = draw(st.sampled_from(["none", "drop", "retype", "extra"]))
    if mutation == "drop":
        event.pop(draw(st.sampled_from(sorted(event))))
    elif mutation == "retype":
        event[draw(st.sampled_from(sorted(event)))] = draw(JSON)
    elif mutation == "extra":
        event[draw(st.text(min_size=1, max_size=12))] = draw(JSON)
    return event


EVENT = _event_strategy() | _mutated_event()
BODY = (
    EVENT.map(lambda e: json.dumps(e).encode()) | JSON.map(lambda j: json.dumps(j).encode()) | st.binary(max_size=200)
)
BATCH_BODY = (
    st.lists(EVENT, min_size=1, max_size=6).map(lambda events: json.dumps({"events": events}).encode())
    | JSON.map(lambda j: json.dumps({"events": j}).encode())
    | BODY
)


def assert_answer_is_sound(response, *, stored_before: int, batch_size: int | None) -> None:
    assert response.status_code < 500, response.content
    stored = Event.objects.count() - stored_before
    if response.status_code >= 400:
        assert response["Content-Type"] == "application/problem+json"
        problem = json.loads(response.content)
        assert problem["status"] == response.status_code and problem["title"] and problem["type"]
        assert stored == 0, "a refused request stored something"
    else:
        answer = response.json()
        items = answer.get("events", [answer])
        if batch_size is not None:
            assert len(items) == batch_size
        assert stored == sum(item["status"] == "accepted" for item in items) or response.status_code == 200


@pytest.fixture
def signed(demo):
    return Source("fuzz-core")


@FUZZ
@given(body=BODY)
def test_single_events_never_crash_and_are_stored_whole_or_not_at_all(client, signed, body):
    before = Event.objects.count()
    response = signed.post(client, "/api/v1/events", body)
    assert_answer_is_sound(response, stored_before=before, batch_size=None)


@FUZZ
@given(body=BATCH_BODY)
def test_batches_never_crash_and_are_stored_whole_or_not_at_all(client, signed, body):
    before = Event.objects.count()
    try:
        size = len(json.loads(body)["events"])
    except Exception:
        size = None
    response = signed.post(client, "/api/v1/events/batch", body)
    assert_answer_is_sound(response, stored_before=before, batch_size=size if response.status_code == 202 else None)


def test_the_fuzzing_reaches_past_the_signature(client, signed):
    """The control: a drawn-like valid event is accepted, so the fuzz above was not all refused at the door."""
    body = json.dumps({"id": "ok-1", "type": "e_invoice", "company": CUSTOMER, "occurred_at": "2026-03-02T09:15Z"})
    assert signed.post(client, "/api/v1/events", body.encode()).status_code == 202


@FUZZ
@given(signature=st.text(max_size=80) | st.from_regex(r"^sha256=[0-9a-f]{64}$", fullmatch=True))
def test_a_forged_signature_is_refused(client, signed, signature):
    body = json.dumps({"id": "f-1", "type": "e_invoice", "company": CUSTOMER, "occurred_at": "2026-03-02T09:15Z"})
    headers = signed.headers(body.encode())
    headers["X-Bevaka-Signature"] = signature
    meta = {f"HTTP_{k.upper().replace('-', '_')}": v for k, v in headers.items() if "\n" not in v and "\r" not in v}
    response = client.post("/api/v1/events", data=body, content_type="application/json", **meta)
    assert response.status_code == 401
    assert response["Content-Type"] == "application/problem+json"
    assert not Event.objects.exists()


@FUZZ
@given(skew=st.integers(min_value=301, max_value=10**9) | st.integers(min_value=-(10**9), max_value=-301))
def test_a_stale_or_future_timestamp_is_refused_though_the_signature_is_right(client, signed, skew):
    body = json.dumps({"id": "s-1", "type": "e_invoice", "company": CUSTOMER, "occurred_at": "2026-03-02T09:15Z"})
    response = signed.post(client, "/api/v1/events", body.encode(), timestamp=max(0, int(time.time()) - skew))
    assert response.status_code == 401
    assert not Event.objects.exists()


def test_a_replayed_request_inside_the_window_is_answered_idempotently(client, signed):
    body = json.dumps({"id": "r-1", "type": "e_invoice", "company": CUSTOMER, "occurred_at": "2026-03-02T09:15Z"})
    headers = signed.headers(body.encode(), timestamp=int(time.time()) - 200)
    meta = {f"HTTP_{k.upper().replace('-', '_')}": v for k, v in headers.items()}
    first = client.post("/api/v1/events", data=body, content_type="application/json", **meta)
    replay = client.post("/api/v1/events", data=body, content_type="application/json", **meta)
    assert (first.status_code, replay.status_code) == (202, 200)
    assert replay.json() == first.json()
    assert Event.objects.count() == 1


# --- the Twilio webhook --------------------------------------------------------------------------------

TOKEN = "security-suite-auth-token"
PUBLIC = "https://bank.example"


@pytest.fixture
def sent_delivery(settings):
    settings.TWILIO_AUTH_TOKEN = TOKEN
    settings.PUBLIC_BASE_URL = PUBLIC
    return Delivery.objects.create(
        channel="sms", destination="+46701740699", purpose="alert", body="x", status=DeliveryStatus.SENT
    )


@FUZZ
@given(
    signature=st.text(max_size=60).filter(lambda s: "\n" not in s and "\r" not in s),
    status=st.sampled_from(["delivered", "failed", "undelivered"]),
)
def test_a_forged_twilio_signature_is_refused_and_changes_nothing(client, sent_delivery, signature, status):
    path = f"/webhooks/twilio/status/{sent_delivery.pk}"
    params = {"MessageSid": "SM" + "a" * 32, "MessageStatus": status}
    assert signature != RequestValidator(TOKEN).compute_signature(PUBLIC + path, params)
    response = client.post(path, params, HTTP_X_TWILIO_SIGNATURE=signature)
    assert response.status_code == 403
    sent_delivery.refresh_from_db()
    assert sent_delivery.status == DeliveryStatus.SENT


def test_a_twilio_signature_for_another_delivery_is_refused(client, sent_delivery):
    other = Delivery.objects.create(channel="sms", destination="+46701740698", purpose="alert", body="x", status="sent")
    params = {"MessageSid": "SM" + "a" * 32, "MessageStatus": "failed"}
    signature = RequestValidator(TOKEN).compute_signature(f"{PUBLIC}/webhooks/twilio/status/{other.pk}", params)
    response = client.post(f"/webhooks/twilio/status/{sent_delivery.pk}", params, HTTP_X_TWILIO_SIGNATURE=signature)
    assert response.status_code == 403
    assert (
        client.post(f"/webhooks/twilio/status/{other.pk}", params, HTTP_X_TWILIO_SIGNATURE=signature).status_code == 200
    )  # the control: the signature is right for its own URL


# --- oversized bodies ----------------------------------------------------------------------------------


class EndlessBody(io.RawIOBase):
    """A request body that never ends; counts what was read."""

    def __init__(self) -> None:
        self.read_bytes = 0

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        if size is None or size < 0:
            raise AssertionError("the whole body was asked for")
        self.read_bytes += size
        return b"x" * size


@pytest.mark.parametrize(("view", "limit"), [(views.ingest_event, 64 * 1024), (views.ingest_batch, 1024 * 1024)])
def test_an_endless_chunked_body_is_refused_after_the_limit(view, limit):
    stream = EndlessBody()
    request = RequestFactory().post("/api/v1/events", data=b"", content_type="application/json")
    request.META.pop("CONTENT_LENGTH", None)
    request.META["HTTP_TRANSFER_ENCODING"] = "chunked"
    request.META["wsgi.input"] = stream
    response = view(request)
    assert response.status_code == 413
    assert response["Content-Type"] == "application/problem+json"
    assert stream.read_bytes <= limit + 1


def test_a_declared_oversized_body_is_refused_over_http_before_it_is_sent(live_server):
    """Over a real socket: the server answers 413 though we never send the 10 MB we announced."""
    host, port = live_server.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as connection:
        connection.sendall(
            b"POST /api/v1/events HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            b"Content-Length: 10485760\r\n\r\n{"
        )
        answer = b""
        while b"\r\n\r\n" not in answer:
            chunk = connection.recv(4096)
            if not chunk:
                break
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert b"application/problem+json" in answer
