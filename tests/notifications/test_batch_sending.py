"""send_batch in process: a batch is claimed, checked and recorded with a constant number of queries
(the benchmark's profile found five queries and a new connection per delivery), and every outcome of
``send_delivery`` holds for each delivery of a batch. The same task with a real worker: test_pipeline.py."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from notifications import outcomes, services
from notifications.models import Delivery, DeliveryStatus

pytestmark = pytest.mark.django_db


def _queued(count: int, *, channel: str = "sms", start: int = 0) -> list[Delivery]:
    now = timezone.now()
    return Delivery.objects.bulk_create(
        Delivery(
            channel=channel,
            destination=f"+46701{start + n:06d}" if channel == "sms" else f"mottagare{start + n}@example.se",
            purpose="alert",
            subject="Nytt ärende",
            body="Logga in i banken.",
            next_attempt_at=now,
            relayed_at=now,
        )
        for n in range(count)
    )


def _send(deliveries) -> int:
    with CaptureQueriesContext(connection) as queries:
        services.send_deliveries(delivery_ids=[d.pk for d in deliveries])
    return len(queries)


def test_a_batch_costs_the_same_queries_for_3_and_30_deliveries(send_settings, fake_twilio, settings):
    settings.NOTIFICATIONS_RATE_LIMITS = {"sms": 0, "email": 0}  # a rate-limited send is rescheduled alone
    small = _send(_queued(3))
    large = _send(_queued(30, start=100))
    assert small == large <= 8, (small, large)
    assert Delivery.objects.filter(status__in=["sent", "delivered"]).count() == 33
    assert len(fake_twilio.messages()) == 33


def test_a_batch_sends_each_delivery_once_even_if_listed_twice_or_sent_again(send_settings, fake_twilio):
    deliveries = _queued(4)
    ids = [d.pk for d in deliveries]
    services.send_deliveries(delivery_ids=ids + ids)
    services.send_deliveries(delivery_ids=ids)
    assert len(fake_twilio.messages()) == 4
    assert set(Delivery.objects.filter(pk__in=ids).values_list("attempts", flat=True)) == {1}
    assert all(d.provider_id.startswith("SM") for d in Delivery.objects.filter(pk__in=ids))


def test_a_suspended_destination_in_a_batch_is_cancelled_and_the_rest_are_sent(send_settings, fake_twilio):
    blocked, *others = _queued(3)
    services.suspend_destination(channel="sms", destination=blocked.destination, reason="opted_out")
    services.send_deliveries(delivery_ids=[blocked.pk, *[d.pk for d in others]])
    blocked.refresh_from_db()
    assert blocked.status == DeliveryStatus.CANCELLED and "suspended" in blocked.last_error
    assert sorted(m["to"] for m in fake_twilio.messages()) == sorted(d.destination for d in others)


def test_a_provider_error_in_a_batch_is_recorded_for_that_delivery_only(send_settings, fake_twilio):
    deliveries = _queued(3)
    fake_twilio.fault("invalid_number", count=1)
    services.send_deliveries(delivery_ids=[d.pk for d in deliveries])
    statuses = sorted(Delivery.objects.filter(pk__in=[d.pk for d in deliveries]).values_list("status", flat=True))
    assert statuses == ["failed", "sent", "sent"]


def test_an_email_whose_message_id_is_long_is_recorded_as_sent(send_settings, smtp_sink, settings):
    """A Message-ID is longer than an SMS sid: with a large delivery id it did not fit the column."""
    settings.EMAIL_MESSAGE_ID_DOMAIN = "avisering.foretagsbanken.example.se"
    [delivery] = _queued(1, channel="email")
    Delivery.objects.filter(pk=delivery.pk).update(id=123_456_789)
    services.send_deliveries(delivery_ids=[123_456_789])
    delivery = Delivery.objects.get(pk=123_456_789)
    [message] = smtp_sink.messages
    assert delivery.status == DeliveryStatus.SENT
    assert delivery.provider_id == message["Message-ID"].strip() and len(delivery.provider_id) > 64


def test_each_delivery_of_a_batch_is_sent_at_the_moment_its_provider_answered(send_settings, monkeypatch):
    """Latency is measured to sent_at: the batch's single UPDATE keeps each send's own time."""
    import time

    from notifications.channels.sms import TwilioSmsChannel

    quick, slow = _queued(2)
    answered = {}

    def send(channel, delivery):  # a double for the provider: the slow one answers 0.3 s later
        if delivery.pk == slow.pk:
            time.sleep(0.3)
        answered[delivery.pk] = timezone.now()
        return f"SM{delivery.pk:032d}"

    monkeypatch.setattr(TwilioSmsChannel, "send", send)
    services.send_deliveries(delivery_ids=[quick.pk, slow.pk])
    quick.refresh_from_db()
    slow.refresh_from_db()
    assert (quick.status, slow.status) == (DeliveryStatus.SENT, DeliveryStatus.SENT)
    assert quick.sent_at <= answered[quick.pk] + timezone.timedelta(milliseconds=50)
    assert (slow.sent_at - quick.sent_at).total_seconds() >= 0.25


def test_recording_a_batch_leaves_a_row_that_a_callback_moved_on_and_gives_it_the_provider_id():
    rows = _queued(4)
    Delivery.objects.filter(pk__in=[d.pk for d in rows]).update(status=DeliveryStatus.SENDING)
    early = timezone.now()
    # A "delivered" callback got to rows[1] before the batch stored the answer; rows[2] knew its id already.
    Delivery.objects.filter(pk=rows[1].pk).update(status=DeliveryStatus.DELIVERED, delivered_at=early)
    Delivery.objects.filter(pk=rows[2].pk).update(status=DeliveryStatus.DELIVERED, provider_id="SMknown")
    at = timezone.now()
    with CaptureQueriesContext(connection) as queries:
        outcomes._record_sent([(d, outcomes.Accepted(f"SM{n}", at)) for n, d in enumerate(rows)])
    assert len(queries) == 2  # the batch's UPDATE, and one for the ids that a callback got to first
    stored = {d.pk: d for d in Delivery.objects.filter(pk__in=[d.pk for d in rows])}
    first, moved, known, last = (stored[d.pk] for d in rows)
    assert (first.status, first.provider_id, first.sent_at) == (DeliveryStatus.SENT, "SM0", at)
    assert (last.status, last.provider_id, last.sent_at) == (DeliveryStatus.SENT, "SM3", at)
    assert (moved.status, moved.provider_id, moved.delivered_at) == (DeliveryStatus.DELIVERED, "SM1", early)
    assert (known.status, known.provider_id) == (DeliveryStatus.DELIVERED, "SMknown")
