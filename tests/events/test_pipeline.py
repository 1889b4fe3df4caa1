"""Case events end to end with real parts: the API in this process commits to PostgreSQL and publishes to
Redis; a Celery worker process fans out and sends through the real twilio client to the fake Twilio server
and through Django's SMTP backend to the SMTP sink; beat's relays recover what was lost.

Few tests, each covering a table of cases: every process start costs seconds."""

import json
import os
import signal
import time
from collections import Counter

import pytest
from django.db import transaction
from django.utils import timezone

from agreements import services as agreement_services
from events import fanout
from events.models import Event
from notifications.channels.email import DELIVERY_HEADER
from notifications.models import Delivery, DeliveryStatus
from subscriptions import services as subscription_services

from .conftest import EXPECTED_E_INVOICE, build_world, event, wait_for
from .test_fanout import _company_with_recipients

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

FINAL = [DeliveryStatus.SENT, DeliveryStatus.DELIVERED, DeliveryStatus.FAILED, DeliveryStatus.CANCELLED]


def wait_final(deliveries, timeout: float = 30) -> None:
    ids = list(deliveries.values_list("pk", flat=True))

    def done():
        return Delivery.objects.filter(pk__in=ids, status__in=FINAL).count() == len(ids)

    try:
        wait_for(done, timeout, message=f"{len(ids)} deliveries final")
    except AssertionError as error:
        statuses = Counter(Delivery.objects.filter(pk__in=ids).values_list("status", "last_error"))
        stuck = list(
            Delivery.objects.filter(pk__in=ids, status=DeliveryStatus.SENDING).values_list(
                "channel", "attempts", "claimed_at", "next_attempt_at", "relayed_at"
            )[:3]
        )
        raise AssertionError(f"{error}: {dict(statuses)} {stuck} now {timezone.now()}") from None


def received(fake_twilio, smtp_sink) -> tuple[list[str], list[str]]:
    """Destinations the fakes got messages for (SMS numbers, e-mail addresses), one entry per message."""
    return [m["to"] for m in fake_twilio.messages()], [m["To"] for m in smtp_sink.messages]


def test_events_reach_exactly_the_right_users_once_through_the_fakes(
    live, client, demo, source, fake_twilio, smtp_sink, monkeypatch
):
    world = build_world(demo)
    response = source.post(client, "/api/v1/events", event("inv-1"))
    assert response.status_code == 202
    batch = source.post(
        client,
        "/api/v1/events/batch",
        {"events": [event("pm-1", type="personal_message"), event("rp-1", type="rejected_payment")]},
    )
    assert batch.status_code == 202
    # A fan-out whose task is lost (never published): beat's relay finds the event unfanned.
    from events import services as event_services

    monkeypatch.setattr(event_services, "_publish_fan_out", lambda ids: None)
    assert source.post(client, "/api/v1/events", event("sv-1", company="5802279892")).status_code == 202
    monkeypatch.undo()

    wait_for(lambda: Event.objects.filter(fanned_out_at__isnull=False).count() == 4, 20, message="4 fanned out")
    wait_final(Delivery.objects.filter(event__isnull=False))
    deliveries = Delivery.objects.filter(event__isnull=False)
    assert set(deliveries.values_list("status", flat=True)) <= {DeliveryStatus.SENT, DeliveryStatus.DELIVERED}

    numbers, addresses = received(fake_twilio, smtp_sink)
    expected_numbers, expected_addresses = [], []
    for person, channels, _why in EXPECTED_E_INVOICE:
        user = getattr(world, person)
        expected_numbers += [user.mobile_number] if "sms" in channels else []
        expected_addresses += [user.email] if "email" in channels else []
    expected_numbers += [world.eva.mobile_number, world.gustav.mobile_number]  # personal_message; Svenssons
    alert_mail = [m for m in smtp_sink.messages if Delivery.objects.get(pk=m[DELIVERY_HEADER]).event_id]
    assert sorted(numbers) == sorted(expected_numbers)
    assert sorted(m["To"] for m in alert_mail) == sorted(expected_addresses)
    david_mail = next(m for m in alert_mail if m["To"] == world.david.email)
    assert david_mail["Subject"] == "E-invoice received"
    assert Event.objects.get(external_id="rp-1").recipient_count == 0

    # The same ids again, alone and in a batch: 200 / duplicates, nothing new is made or sent.
    count = deliveries.count()
    again = source.post(client, "/api/v1/events", event("inv-1"))
    assert again.status_code == 200 and again.json() == response.json()
    batch_again = source.post(client, "/api/v1/events/batch", {"events": [event("pm-1", type="personal_message")]})
    assert batch_again.json()["events"][0]["status"] == "duplicate"
    conflict = source.post(client, "/api/v1/events", event("inv-1", type="rejected_payment"))
    assert conflict.status_code == 409
    time.sleep(1.5)  # a fan-out or a send would show by now
    assert deliveries.count() == count and Event.objects.count() == 4
    assert received(fake_twilio, smtp_sink) == (numbers, addresses)


def test_a_revocation_committed_before_the_send_cancels_the_alert(live, demo, source, fake_twilio, smtp_sink):
    """Fan out, then revoke in the same transaction: the worker's send-time check sees the revocation."""
    from events.services import clean_events, record_events

    world = build_world(demo)
    with transaction.atomic():
        events = record_events(
            source=source.system,
            events=clean_events([event("inv-9"), event("sv-9", company="5802279892")], batch=True),
        )
        for recorded in events:
            fanout.fan_out(event_id=recorded.event.pk)
        Event.objects.update(fanned_out_at=None)  # not yet: the worker's fan-out (after commit) must do nothing
        for recorded in events:
            fanout.fan_out(event_id=recorded.event.pk)
        agreement_services.revoke_case_watch_permission(
            company=world.exempelbolaget, admin=world.anna, user_id=world.david.pk
        )
        subscription_services.save_watches(
            user=world.anna, company=world.exempelbolaget, selections={"e_invoice": {"email"}}
        )
        agreement_services.end_agreement(company=world.svenssons, user=world.gustav)
    deliveries = Delivery.objects.filter(event__isnull=False)
    wait_final(deliveries)
    outcome = {
        (d.user.first_name.lower(), d.channel): (d.status, d.last_error) for d in deliveries.select_related("user")
    }
    assert outcome == {
        ("anna", "sms"): (DeliveryStatus.CANCELLED, fanout.STOP_NO_WATCH),
        ("anna", "email"): (DeliveryStatus.SENT, ""),
        ("david", "email"): (DeliveryStatus.CANCELLED, fanout.STOP_NO_ACCESS),
        ("eva", "email"): (DeliveryStatus.SENT, ""),
        ("gustav", "sms"): (DeliveryStatus.CANCELLED, fanout.STOP_NOT_INCLUDED),
    }
    numbers, _addresses = received(fake_twilio, smtp_sink)
    assert numbers == []
    alert_mail = [m["To"] for m in smtp_sink.messages if Delivery.objects.get(pk=m[DELIVERY_HEADER]).event_id]
    assert sorted(alert_mail) == sorted([world.anna.email, world.eva.email])


def _pool_children(pid: int) -> list[int]:
    from pathlib import Path

    return [int(c) for task in Path(f"/proc/{pid}/task").iterdir() for c in (task / "children").read_text().split()]


def test_a_worker_killed_mid_fan_out_of_1000_recipients_loses_nothing_and_a_new_one_sends_each_once(
    live, client, source, fake_twilio, smtp_sink, record_property
):
    """SIGKILL the whole worker (parent and pool) while 1,000 SMS alerts go out; start a new worker. Every
    delivery ends sent, each once at the fake Twilio server — except those a provider accepted just as the worker
    died, before it could record them: counted, reported, and bounded by the sends in flight."""
    company = _company_with_recipients(1000)
    fake_twilio.configure(latency_ms=20)

    assert source.post(client, "/api/v1/events", event("big-1", company=company.org_number)).status_code == 202
    deliveries = Delivery.objects.filter(event__external_id="big-1")
    wait_for(lambda: deliveries.count() == 1000, 20, message="1000 deliveries")
    wait_for(
        lambda: deliveries.filter(status__in=FINAL).count() >= 150,
        30,
        interval=0.02,
        message="150 sent before the kill",
    )
    worker = live.worker
    for child in _pool_children(worker.process.pid):
        os.kill(child, signal.SIGKILL)
    os.killpg(worker.process.pid, signal.SIGKILL)
    worker.process.wait(10)
    in_flight = deliveries.filter(status=DeliveryStatus.SENDING).count()
    done_at_kill = deliveries.filter(status__in=FINAL).count()
    assert done_at_kill < 1000, "the kill came too late to prove anything"

    live.start_worker()
    wait_final(deliveries, timeout=90)
    outcomes = Counter(
        (d.channel, d.status, d.last_error[:50]) for d in deliveries.only("channel", "status", "last_error")
    )
    assert {status for _channel, status, _error in outcomes} <= {DeliveryStatus.SENT, DeliveryStatus.DELIVERED}, (
        outcomes
    )

    def delivery_id_of_sms(message) -> int:
        return int(message["status_callback"].rstrip("/").rsplit("/", 1)[1])

    per_delivery: dict[int, int] = {}
    for message in fake_twilio.messages():
        per_delivery[delivery_id_of_sms(message)] = per_delivery.get(delivery_id_of_sms(message), 0) + 1
    for message in smtp_sink.messages:
        per_delivery[int(message[DELIVERY_HEADER])] = per_delivery.get(int(message[DELIVERY_HEADER]), 0) + 1
    ids = set(deliveries.values_list("pk", flat=True))
    assert set(per_delivery) == ids  # every delivery reached its provider
    doubled = sum(1 for n in per_delivery.values() if n > 1)
    assert max(per_delivery.values()) <= 2
    assert doubled <= in_flight  # only sends in flight at the kill can have been accepted twice
    record_property("sent_before_kill", done_at_kill)
    record_property("in_flight_at_kill", in_flight)
    record_property("accepted_twice", doubled)
    print(f"\nSIGKILL: {done_at_kill} sent before, {in_flight} in flight, {doubled} accepted twice by a provider")


def test_a_worker_killed_between_accept_and_the_coalesced_fan_out_loses_no_event(
    live, client, demo, source, fake_twilio, smtp_sink, settings
):
    """The worker dies (SIGKILL) as single events come in: their one coalesced fan-out task is lost with it,
    and the events after the first find that fan-out pending and publish none. The relay fans them all out."""
    from bevaka.celery import app
    from events.coalesce import FLAG
    from notifications.ratelimit import redis_connection

    build_world(demo)
    settings.EVENTS_COALESCE_FLAG_SECONDS = 600  # the lost task's flag outlives the test: only the relay is left
    redis = redis_connection()
    redis.delete(FLAG)
    worker = live.worker
    for child in _pool_children(worker.process.pid):
        os.kill(child, signal.SIGKILL)
    os.killpg(worker.process.pid, signal.SIGKILL)
    worker.process.wait(10)
    for n in range(3):
        assert source.post(client, "/api/v1/events", event(f"lost-{n}")).status_code == 202
    waiting = [json.loads(raw)["headers"]["task"] for raw in redis.lrange("celery", 0, -1)]
    assert waiting.count("events.fan_out_pending") == 1, waiting  # one for the three: the rest found it pending
    assert redis.exists(FLAG)
    app.control.purge()  # the task is lost with the worker
    for n in range(3, 5):  # and the events after it find it pending: they publish nothing
        assert source.post(client, "/api/v1/events", event(f"lost-{n}")).status_code == 202
    assert [json.loads(raw)["headers"]["task"] for raw in redis.lrange("celery", 0, -1)].count(
        "events.fan_out_pending"
    ) == 0

    live.start_worker()
    events = Event.objects.filter(external_id__startswith="lost-")
    wait_for(lambda: events.filter(fanned_out_at__isnull=False).count() == 5, 30, message="5 fanned out by the relay")
    deliveries = Delivery.objects.filter(event__in=events)
    wait_final(deliveries)
    assert deliveries.count() == 5 * len([p for p, channels, _ in EXPECTED_E_INVOICE for _c in channels])
    assert set(deliveries.values_list("status", flat=True)) <= {DeliveryStatus.SENT, DeliveryStatus.DELIVERED}
    redis.delete(FLAG)  # the next tests' single events publish their own fan-out again
