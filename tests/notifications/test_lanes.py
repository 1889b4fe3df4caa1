"""The lanes (notifications/lanes.py) with real parts: send tasks published to Redis go to the queue of their
purpose and channel, a batch is of one lane, and with a worker process per lane a code goes out while no
alert worker runs, and SMS keep going out while the SMTP server accepts connections and answers nothing."""

import base64
import json
import os
import socket

import pytest
from django.conf import settings

from harness import ProcessGroup
from notifications import services
from notifications.lanes import CODES, DEFAULT, EMAIL, LANES, SMS, lane_of
from notifications.models import Delivery, DeliveryStatus, Purpose
from notifications.ratelimit import redis_connection

from .conftest import notification_settings, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

SENT = {DeliveryStatus.SENT, DeliveryStatus.DELIVERED}


def test_the_lane_table_says_where_each_purpose_and_channel_goes():
    assert list(LANES) == [CODES, SMS, EMAIL, DEFAULT]  # priority order
    assert all(lane.processes >= 1 and lane.carries for lane in LANES.values())
    assert {
        (purpose, channel): lane_of(purpose, channel) for purpose in Purpose.values for channel in ("sms", "email")
    } == {
        ("verification", "sms"): CODES,
        ("verification", "email"): CODES,
        ("alert", "sms"): SMS,
        ("alert", "email"): EMAIL,
        ("notice", "sms"): SMS,
        ("notice", "email"): EMAIL,
    }
    assert [queue.name for queue in settings.CELERY_TASK_QUEUES] == list(LANES)


def _queued_batches(redis, queue: str) -> list[list[int]]:
    """The delivery ids of each send task waiting in ``queue`` (kombu's Redis list, oldest first)."""
    batches = []
    for raw in reversed(redis.lrange(queue, 0, -1)):
        message = json.loads(raw)
        assert message["headers"]["task"] == "notifications.send_batch"
        _args, kwargs, _embed = json.loads(base64.b64decode(message["body"]))
        batches.append(kwargs["delivery_ids"])
    return batches


def _queue(channel: str, purpose: str, n: int = 0) -> Delivery:
    destination = f"+4670123{n:04d}" if channel == "sms" else f"person{n}@example.se"
    return services.queue_delivery(channel=channel, destination=destination, purpose=purpose, subject="S", body="B")


def test_each_send_task_goes_to_its_lane_and_a_batch_is_of_one_lane(settings):
    from bevaka.celery import app

    app.control.purge()
    redis = redis_connection()
    redis.delete(*LANES)
    settings.NOTIFICATIONS_BATCH_SIZE = 3
    code = _queue("sms", Purpose.VERIFICATION)
    mailed_code = _queue("email", Purpose.VERIFICATION)
    sms = [_queue("sms", Purpose.ALERT, n) for n in range(2)]
    mails = [_queue("email", Purpose.ALERT, n) for n in range(2)]
    # The relay publishes a mix of every lane at once: split by lane, then in batches of NOTIFICATIONS_BATCH_SIZE.
    everything = [code, mailed_code, *sms, *mails]
    Delivery.objects.filter(pk__in=[d.pk for d in everything]).update(relayed_at=None)
    services.relay_due_deliveries()

    queued = {lane: _queued_batches(redis, lane) for lane in LANES}
    by_one = [[code.pk], [mailed_code.pk]]
    assert queued[CODES] == [*by_one, [code.pk, mailed_code.pk]]
    assert queued[SMS] == [[sms[0].pk], [sms[1].pk], [s.pk for s in sms]]
    assert queued[EMAIL] == [[mails[0].pk], [mails[1].pk], [m.pk for m in mails]]
    assert queued[DEFAULT] == []
    app.control.purge()


@pytest.fixture
def stalled_smtp():
    """An SMTP server that accepts connections (the kernel completes them) and never answers."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(256)
    yield sock.getsockname()[1]
    sock.close()


def test_a_code_goes_out_without_the_alert_lanes_and_sms_go_out_while_smtp_stalls(
    fake_twilio, stalled_smtp, settings, django_db_blocker
):
    from django.db import connection

    from bevaka.celery import app

    values = notification_settings(
        fake_url=fake_twilio.url, sink_port=stalled_smtp, public_base_url="http://127.0.0.1:9"
    )
    # The e-mail lane waits a minute on each silent connection; nothing is relayed or retried meanwhile.
    values.update(
        {"EMAIL_TIMEOUT": 60.0, "NOTIFICATIONS_SENDING_TIMEOUT": 300.0, "NOTIFICATIONS_RELAY_LEASE_SECONDS": 300.0}
    )
    for key, value in values.items():
        setattr(settings, key, value)
    db = connection.settings_dict
    env = {
        **os.environ,
        **{key: str(value) for key, value in values.items()},
        "DJANGO_SETTINGS_MODULE": "bevaka.settings_test",
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        "REDIS_URL": settings.REDIS_URL,
        "SMS_RATE_PER_SECOND": "0",
        "EMAIL_RATE_PER_SECOND": "0",
    }
    app.control.purge()
    redis_connection().delete(*LANES)
    with ProcessGroup(env=env) as group:
        group.worker(name=f"lane-codes-{os.getpid()}", queues=[CODES], concurrency=1)
        code = _queue("sms", Purpose.VERIFICATION)
        mails = [_queue("email", Purpose.ALERT, n) for n in range(6)]
        alerts = [_queue("sms", Purpose.ALERT, n) for n in range(12)]

        # Only the codes lane has a worker: the code goes out, the alerts wait in their own queues.
        wait_for(lambda: Delivery.objects.get(pk=code.pk).status in SENT, 30, message="the code sent")
        assert set(Delivery.objects.filter(pk__in=[d.pk for d in mails + alerts]).values_list("status", flat=True)) == {
            DeliveryStatus.QUEUED
        }
        assert redis_connection().llen(SMS) == len(alerts) and redis_connection().llen(EMAIL) == len(mails)

        # A worker per alert lane: the e-mail lane hangs on the silent SMTP server, the SMS lane sends all.
        stalled = group.worker(name=f"lane-email-{os.getpid()}", queues=[EMAIL], concurrency=1, wait=False)
        group.worker(name=f"lane-sms-{os.getpid()}", queues=[SMS], concurrency=1, wait=False)
        group.wait_ready()
        # Each e-mail is a batch of one (queue_delivery publishes each): the lane's one process holds the first.
        wait_for(
            lambda: Delivery.objects.filter(pk__in=[d.pk for d in mails], status=DeliveryStatus.SENDING).exists(),
            30,
            message="an e-mail claimed by the stalled lane",
        )
        wait_for(
            lambda: Delivery.objects.filter(pk__in=[a.pk for a in alerts], status__in=SENT).count() == len(alerts),
            30,
            message="every SMS sent while SMTP stalls",
        )
        assert not Delivery.objects.filter(pk__in=[d.pk for d in mails], status__in=SENT).exists()
        assert sorted(m["to"] for m in fake_twilio.messages()) == sorted(
            [code.destination] + [a.destination for a in alerts]
        )
        stalled.kill()  # its warm shutdown would wait out the silent connections
    app.control.purge()
