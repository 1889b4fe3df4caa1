"""The whole pipeline with real parts: queue_delivery commits to PostgreSQL and publishes to Redis; a Celery
worker process (prefork) sends through the real twilio client to the fake Twilio server or through Django's
SMTP backend to the SMTP sink; the fake posts signed status callbacks to the live server; beat's relay
retries and recovers. Each fault ends in the right state with nothing lost and nothing sent twice."""

import time
import urllib.request

import pytest
from django.utils import timezone

from notifications import services
from notifications.models import Delivery, DeliveryStatus, SuspendedDestination

from .conftest import wait_for

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

NUMBER = "+46701234567"
ADDRESS = "bertil@example.se"
FINAL = {DeliveryStatus.DELIVERED, DeliveryStatus.FAILED, DeliveryStatus.CANCELLED}


@pytest.fixture
def live(pipeline, settings, fake_twilio, smtp_sink):
    """The test process agrees with the worker (the live server validates the fake's callbacks)."""
    for key, value in pipeline.settings.items():
        setattr(settings, key, value)
    from notifications.ratelimit import redis_connection

    redis_connection().delete("bevaka:ratelimit:sms", "bevaka:ratelimit:email")
    return pipeline


def queue_sms(number: str = NUMBER) -> Delivery:
    return services.queue_delivery(channel="sms", destination=number, purpose="alert", body="Nytt ärende i banken.")


def queue_email(address: str = ADDRESS) -> Delivery:
    return services.queue_delivery(
        channel="email",
        destination=address,
        purpose="verification",
        subject="Din kod",
        body="Koden är 123456.",
    )


def wait_status(delivery: Delivery, statuses, timeout: float = 20) -> Delivery:
    statuses = {statuses} if isinstance(statuses, str) else set(statuses)

    def reached():
        delivery.refresh_from_db()
        return delivery.status in statuses

    try:
        wait_for(reached, timeout, message=f"delivery {delivery.pk} in {statuses}")
    except AssertionError as error:
        raise AssertionError(f"{error}: {delivery.status} {delivery.last_error!r}") from None
    return delivery


def test_an_sms_goes_through_the_worker_and_the_callbacks_mark_it_delivered(live, fake_twilio):
    delivery = wait_status(queue_sms(), DeliveryStatus.DELIVERED)
    [message] = fake_twilio.messages()
    assert delivery.provider_id == message["sid"]
    assert delivery.attempts == 1
    assert message["status"] == "delivered"
    assert message["status_callback"].endswith(f"/webhooks/twilio/status/{delivery.pk}")


def test_an_email_goes_through_the_worker_to_the_smtp_sink(live, smtp_sink):
    delivery = wait_status(queue_email(), DeliveryStatus.SENT)
    [message] = smtp_sink.messages
    assert message["X-Bevaka-Delivery"] == str(delivery.pk)


@pytest.mark.parametrize(
    ("fault", "status", "attempts", "messages"),
    [
        ({"mode": "http_429", "count": 2}, DeliveryStatus.DELIVERED, 3, 1),
        ({"mode": "http_500", "count": 1}, DeliveryStatus.DELIVERED, 2, 1),
        ({"mode": "timeout", "count": 1, "hang_seconds": 3}, DeliveryStatus.DELIVERED, 2, 1),
        ({"mode": "accept_then_500", "count": 1}, DeliveryStatus.DELIVERED, 1, 1),
        ({"mode": "http_429", "seconds": 1.5}, DeliveryStatus.DELIVERED, None, 1),
        ({"mode": "invalid_number"}, DeliveryStatus.FAILED, 1, 0),
        ({"mode": "opted_out"}, DeliveryStatus.FAILED, 1, 0),
        ({"mode": "undelivered", "error_code": 30003}, DeliveryStatus.FAILED, 1, 1),
        ({"mode": "undelivered", "error_code": 30006}, DeliveryStatus.FAILED, 1, 1),
    ],
    ids=lambda value: "-".join(f"{v}" for v in value.values()) if isinstance(value, dict) else None,
)
def test_each_twilio_fault_ends_in_the_right_state_with_nothing_lost_or_doubled(
    live, fake_twilio, fault, status, attempts, messages
):
    fake_twilio.fault(**fault)
    delivery = wait_status(queue_sms(), FINAL, timeout=30)
    assert delivery.status == status, delivery.last_error
    if attempts is not None:
        assert delivery.attempts == attempts, delivery.last_error
    time.sleep(0.5)  # a doubled send would show up by now
    assert len(fake_twilio.messages()) == messages
    delivery.refresh_from_db()
    assert delivery.status == status  # and stays there
    if fault["mode"] in {"invalid_number", "opted_out"} or fault.get("error_code") == 30006:
        assert SuspendedDestination.objects.filter(channel="sms", destination=NUMBER).exists()
        assert delivery.error_code in {"21211", "21610", "30006"}
    elif status == DeliveryStatus.FAILED:
        assert delivery.error_code == "30003"
        assert not SuspendedDestination.objects.exists()


@pytest.mark.parametrize(
    ("code", "status", "attempts", "received"),
    [(451, DeliveryStatus.SENT, 2, 1), (550, DeliveryStatus.FAILED, 1, 0)],
)
def test_smtp_failures_are_retried_or_fail_at_once(live, smtp_sink, code, status, attempts, received):
    smtp_sink.fail(code, count=1)
    delivery = wait_status(queue_email(), {DeliveryStatus.SENT, DeliveryStatus.FAILED}, timeout=30)
    assert (delivery.status, delivery.attempts, len(smtp_sink.messages)) == (status, attempts, received)
    assert delivery.error_code == ("" if status == DeliveryStatus.SENT else "550")


def test_a_task_published_several_times_sends_once(live, fake_twilio):
    from notifications import tasks

    delivery = queue_sms()
    for _ in range(4):
        tasks.send_delivery.delay(delivery_id=delivery.pk)
    tasks.send_batch.delay(delivery_ids=[delivery.pk, delivery.pk])
    wait_status(delivery, DeliveryStatus.DELIVERED)
    time.sleep(1)
    assert len(fake_twilio.messages()) == 1
    delivery.refresh_from_db()
    assert delivery.attempts == 1


def test_the_relay_sends_a_delivery_whose_task_was_never_published(live, fake_twilio):
    """A lost on_commit or a Redis restart without persistence: the row alone is enough."""
    delivery = Delivery.objects.create(
        channel="sms",
        destination=NUMBER,
        purpose="alert",
        body="Förlorad uppgift",
        next_attempt_at=timezone.now(),
    )
    wait_status(delivery, DeliveryStatus.DELIVERED)
    assert [m["body"] for m in fake_twilio.messages()] == ["Förlorad uppgift"]


def test_a_delivery_claimed_by_a_worker_that_died_is_sent_by_another(live, fake_twilio):
    """The row is left in `sending` with a deadline (as a killed worker leaves it); the relay requeues it."""
    delivery = Delivery.objects.create(
        channel="sms",
        destination=NUMBER,
        purpose="alert",
        body="Efter krasch",
        status=DeliveryStatus.SENDING,
        attempts=1,
        claimed_at=timezone.now(),
        next_attempt_at=timezone.now(),
    )
    delivery = wait_status(delivery, DeliveryStatus.DELIVERED)
    assert delivery.attempts == 2
    assert len(fake_twilio.messages()) == 1


def test_a_hundred_messages_at_150_ms_latency_go_out_concurrently_under_the_rate_limit(live, fake_twilio):
    """Our Redis token bucket (40/s in this worker) keeps the fake (80/s) from ever answering 429."""
    from notifications import tasks

    fake_twilio.configure(latency_ms=150, rate_limit=80)
    now = timezone.now()
    deliveries = Delivery.objects.bulk_create(
        Delivery(
            channel="sms",
            destination=f"+4670123{n:04d}",
            purpose="alert",
            body=f"Ärende {n}",
            next_attempt_at=now,
            relayed_at=now,
        )
        for n in range(100)
    )
    ids = [d.pk for d in deliveries]
    for start in range(0, 100, 50):
        tasks.send_batch.delay(delivery_ids=ids[start : start + 50])

    def all_sent():
        return Delivery.objects.filter(pk__in=ids, status__in=["sent", "delivered"]).count() == 100

    wait_for(all_sent, timeout=60, message="100 deliveries sent")
    # Proven by what the provider saw, not by the clock (speed belongs to `make bench`): requests
    # overlapped, and none was refused for going over its rate.
    stats = fake_twilio.stats()
    assert stats["max_in_flight"] > 1, stats
    assert stats["rejected_429"] == 0, stats
    assert not Delivery.objects.filter(pk__in=ids, error_code="20429").exists()
    # Every delivery reached the provider. (On a loaded machine a send queued behind the bucket can outlive
    # these tests' 4-second "worker lost" clock and be sent again; that is the relay's job, not a 429.)
    reached = {int(m["status_callback"].rstrip("/").rsplit("/", 1)[1]) for m in fake_twilio.messages()}
    assert reached == set(ids)


def test_statusz_sees_the_worker_consume_the_relay_tasks(live, settings):
    settings.METRICS_ALLOWED = ["127.0.0.1"]  # /statusz answers the monitoring's address
    time.sleep(1)
    with urllib.request.urlopen(live.env["PUBLIC_BASE_URL"] + "/statusz", timeout=10) as response:
        import json

        body = json.loads(response.read())
    assert body["worker"]["status"] == "ok" and body["worker"]["last_task_seconds_ago"] < 5


def test_a_worker_child_killed_mid_send_loses_nothing_and_sends_once(live, fake_twilio):
    """SIGKILL the worker's pool children while the fake holds the request; prefork starts new ones."""
    import os
    import signal
    from pathlib import Path

    fake_twilio.configure(latency_ms=1500)
    delivery = queue_sms()
    wait_status(delivery, DeliveryStatus.SENDING, timeout=10)
    time.sleep(0.3)  # the request is at the fake now
    pid = live.worker.process.pid
    children = [
        int(child) for task in Path(f"/proc/{pid}/task").iterdir() for child in (task / "children").read_text().split()
    ]
    assert children, "the worker has no pool children"
    for child in children:
        os.kill(child, signal.SIGKILL)
    delivery = wait_status(delivery, DeliveryStatus.DELIVERED, timeout=30)
    time.sleep(1)
    assert len(fake_twilio.messages()) == 1
    assert live.worker.alive()


def test_the_worker_logs_no_phone_number_or_address(live):
    output = live.worker.output + live.beat.output
    assert "celery@" in output or "ready" in output
    for secret in (NUMBER, ADDRESS, NUMBER[1:]):
        assert secret not in output
