"""The relay: due and stuck rows, SKIP LOCKED between concurrent relays, bounded resends."""

import datetime
import threading

import pytest
from django.db import connections, transaction
from django.utils import timezone

from notifications import relay, services
from notifications.models import Delivery, DeliveryStatus


def make(**fields) -> Delivery:
    defaults = {"channel": "sms", "destination": "+46701234567", "purpose": "alert", "body": "x"}
    defaults.update(fields)
    return Delivery.objects.create(**defaults)


@pytest.fixture
def no_publish(monkeypatch):
    """Record what the relay would publish instead of publishing (the pipeline tests publish for real)."""
    published: list[int] = []
    monkeypatch.setattr(relay, "publish_sends", lambda sends: published.extend(pk for pk, _p, _c in sends))
    return published


@pytest.mark.django_db(transaction=True)
def test_it_publishes_due_rows_once_per_lease(no_publish, settings):
    settings.NOTIFICATIONS_RELAY_LEASE_SECONDS = 60
    now = timezone.now()
    due = make(next_attempt_at=now)
    make(next_attempt_at=now + datetime.timedelta(minutes=1))  # not due
    recently_published = make(next_attempt_at=now, relayed_at=now)
    stale_publish = make(next_attempt_at=now, relayed_at=now - datetime.timedelta(minutes=5))
    make(status=DeliveryStatus.DELIVERED, next_attempt_at=None)

    assert sorted(services.relay_due_deliveries()) == sorted([due.pk, stale_publish.pk])
    assert services.relay_due_deliveries() == []
    assert recently_published.pk not in no_publish


@pytest.mark.django_db(transaction=True)
def test_a_row_locked_by_another_relay_is_skipped_not_waited_for(no_publish):
    now = timezone.now()
    locked, free = make(next_attempt_at=now), make(next_attempt_at=now)
    holding, release = threading.Event(), threading.Event()

    def other_relay():
        with transaction.atomic():
            list(Delivery.objects.select_for_update().filter(pk=locked.pk))
            holding.set()
            release.wait(10)
        connections.close_all()

    thread = threading.Thread(target=other_relay)
    thread.start()
    holding.wait(10)
    try:
        assert services.relay_due_deliveries() == [free.pk]
    finally:
        release.set()
        thread.join()
    assert services.relay_due_deliveries() == [locked.pk]


@pytest.mark.django_db(transaction=True)
def test_an_overdue_send_is_requeued_then_given_up_after_its_resends(no_publish, settings):
    settings.NOTIFICATIONS_MAX_AMBIGUOUS_RESENDS = 1
    past = timezone.now() - datetime.timedelta(seconds=1)
    ambiguous = make(status=DeliveryStatus.SENDING, attempts=1, next_attempt_at=past, last_error="ambiguous: 500")
    services.relay_due_deliveries()
    ambiguous.refresh_from_db()
    assert (ambiguous.status, ambiguous.ambiguous_resends) == (DeliveryStatus.QUEUED, 1)
    assert ambiguous.pk in no_publish

    Delivery.objects.filter(pk=ambiguous.pk).update(
        status=DeliveryStatus.SENDING, attempts=2, next_attempt_at=past, last_error="ambiguous: timeout"
    )
    services.relay_due_deliveries()
    ambiguous.refresh_from_db()
    assert ambiguous.status == DeliveryStatus.FAILED
    assert "no outcome" in ambiguous.last_error


@pytest.mark.django_db(transaction=True)
def test_an_overdue_send_the_provider_acknowledged_is_never_resent(no_publish):
    past = timezone.now() - datetime.timedelta(seconds=1)
    acknowledged = make(status=DeliveryStatus.SENDING, attempts=1, next_attempt_at=past, provider_id="SM1")
    services.relay_due_deliveries()
    acknowledged.refresh_from_db()
    assert acknowledged.status == DeliveryStatus.SENT
    assert no_publish == []


@pytest.mark.django_db
def test_sending_one_delivery_takes_a_bounded_number_of_queries(send_settings, django_assert_max_num_queries):
    delivery = services.queue_delivery(channel="sms", destination="+46701234567", purpose="alert", body="x")
    # The claim (a locking SELECT and an UPDATE, in a savepoint in a test), the suspension lookup, the outcome.
    with django_assert_max_num_queries(6):
        services.send_delivery(delivery_id=delivery.pk)
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.SENT


def test_retry_delays_grow_exponentially_with_jitter_and_a_cap(settings):
    settings.NOTIFICATIONS_RETRY_BASE_SECONDS = 10
    settings.NOTIFICATIONS_RETRY_MAX_SECONDS = 100
    for attempts, ceiling in [(1, 10), (2, 20), (3, 40), (4, 80), (5, 100), (9, 100)]:
        delays = {services.retry_delay(attempts) for _ in range(50)}
        assert all(ceiling / 2 <= d <= ceiling for d in delays)
        assert len(delays) > 1  # jittered
