"""Many events at once (the batch API): their fan-outs go in tasks of several events, whose sends are
published together in full batches, so that a batch of small events is not a task per event twice over."""

import pytest

from events import fanout
from events.models import Event
from events.services import clean_events, record_events
from notifications.models import Delivery

from .conftest import event

pytestmark = pytest.mark.django_db


def _clear_pending_flag() -> None:
    from django.conf import settings

    from events.coalesce import FLAG
    from notifications.ratelimit import redis_connection

    if settings.REDIS_URL:
        redis_connection().delete(FLAG)


@pytest.fixture
def published(monkeypatch):
    from events import tasks as event_tasks
    from notifications import tasks as notification_tasks

    sent: dict[str, list] = {"send_batch": [], "fan_out": [], "fan_out_batch": []}
    monkeypatch.setattr(
        notification_tasks.send_batch,
        "apply_async",
        lambda args=(), kwargs=None, **options: sent["send_batch"].append(kwargs),
    )
    monkeypatch.setattr(event_tasks.fan_out, "delay", lambda **kw: sent["fan_out"].append(kw))
    # A single event asks for a coalesced fan-out (events/coalesce.py); none is pending at the start.
    monkeypatch.setattr(event_tasks.fan_out_pending, "delay", lambda **kw: sent["fan_out"].append("pending"))
    _clear_pending_flag()
    # A batch's fan-out tasks are published through one producer (apply_async with producer=…).
    monkeypatch.setattr(
        event_tasks.fan_out_batch,
        "apply_async",
        lambda args=(), kwargs=None, **options: sent["fan_out_batch"].append(kwargs),
    )
    return sent


def test_a_batch_of_events_is_fanned_out_by_tasks_of_several_events(
    world, source, published, settings, django_capture_on_commit_callbacks
):
    settings.EVENTS_FANOUT_BATCH_SIZE = 2
    with django_capture_on_commit_callbacks(execute=True):
        rows = record_events(source=source.system, events=clean_events([event(f"b-{n}") for n in range(5)], batch=True))
    ids = [r.event.pk for r in rows]
    assert published["fan_out"] == []
    assert published["fan_out_batch"] == [{"event_ids": ids[0:2]}, {"event_ids": ids[2:4]}, {"event_ids": ids[4:]}]


def test_the_sends_of_a_fan_out_batch_are_published_together_in_full_batches(
    world, source, published, settings, django_capture_on_commit_callbacks
):
    settings.NOTIFICATIONS_BATCH_SIZE = 6
    rows = record_events(source=source.system, events=clean_events([event(f"s-{n}") for n in range(4)], batch=True))
    with django_capture_on_commit_callbacks(execute=True):
        created = fanout.fan_out_events(event_ids=[r.event.pk for r in rows])
        assert published["send_batch"] == []  # not before the commit
    assert len(created) == 16  # four recipients each (test_fanout's world)
    # Full batches of one lane each (notifications/lanes.py), the last of each lane the rest.
    channels = dict(Delivery.objects.filter(pk__in=created).values_list("pk", "channel"))
    lanes = [{channels[i] for i in b["delivery_ids"]} for b in published["send_batch"]]
    assert all(len(lane) == 1 for lane in lanes), lanes
    for channel in ("sms", "email"):
        sizes = [
            len(b["delivery_ids"]) for b, lane in zip(published["send_batch"], lanes, strict=True) if channel in lane
        ]
        count = list(channels.values()).count(channel)
        assert sizes == [6] * (count // 6) + ([count % 6] if count % 6 else []), (channel, sizes)
    assert sorted(i for b in published["send_batch"] for i in b["delivery_ids"]) == sorted(created)
    assert not Event.objects.filter(pk__in=[r.event.pk for r in rows], fanned_out_at__isnull=True).exists()
    # Running it again (a redelivered task) creates and publishes nothing.
    assert fanout.fan_out_events(event_ids=[r.event.pk for r in rows]) == []
    assert Delivery.objects.filter(event__in=[r.event for r in rows]).count() == 16
    assert len(published["send_batch"]) == len(lanes)


def test_a_batch_of_events_costs_the_same_statements_as_one_event(world, source, published, django_assert_num_queries):
    rows = record_events(source=source.system, events=clean_events([event(f"q-{n}") for n in range(5)], batch=True))
    ids = [r.event.pk for r in rows]
    # The lock, one INSERT … SELECT of the five events' deliveries (their SELECTs joined by UNION ALL), one
    # INSERT … SELECT of why the others missed them (for the whole batch: "why (not)?" explains a past
    # event as decided, issue 18), one UPDATE for all; and here the savepoint and its release (the test's
    # own transaction around it; in a worker they are BEGIN and COMMIT).
    with django_assert_num_queries(6):
        created = fanout.fan_out_events(event_ids=ids)
    assert len(created) == 20
    counts = dict(Event.objects.filter(pk__in=ids).values_list("pk", "recipient_count"))
    assert counts == {pk: 4 for pk in ids}
