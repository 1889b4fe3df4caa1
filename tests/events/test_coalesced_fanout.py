"""Single events fanned out together (events/coalesce.py): one task for the events that arrive while
another runs, each batch of them a constant number of statements, whatever the number of events."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from events import coalesce, fanout
from events.models import Event
from events.services import clean_events, record_events
from notifications.models import Delivery

from .conftest import EXPECTED_E_INVOICE, event

pytestmark = pytest.mark.django_db

PER_EVENT = sum(len(channels) for _person, channels, _why in EXPECTED_E_INVOICE)


def _single(source, source_id: str) -> Event:
    [recorded] = record_events(source=source.system, events=clean_events([event(source_id)], batch=False))
    return recorded.event


def test_single_events_ask_for_one_fan_out_until_it_runs(
    world, source, published_fan_outs, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        for n in range(4):
            _single(source, f"one-{n}")
    assert published_fan_outs == ["pending"]  # the first asks; the rest find it pending
    assert len(coalesce.fan_out_pending()) == 4 * PER_EVENT
    with django_capture_on_commit_callbacks(execute=True):
        _single(source, "after")
    assert published_fan_outs == ["pending", "pending"]  # it cleared the flag before it scanned


def test_a_coalesced_fan_out_costs_the_same_queries_for_one_event_as_for_many(
    world, source, published_fan_outs, settings, django_capture_on_commit_callbacks
):
    settings.EVENTS_COALESCE_BOUND = 32
    counts, created = {}, {}
    for size in (1, 3, 12, 31):
        events = [_single(source, f"c{size}-{n}") for n in range(size)]
        with CaptureQueriesContext(connection) as queries, django_capture_on_commit_callbacks(execute=True):
            created[size] = coalesce.fan_out_pending()
        counts[size] = len(queries)
        assert len(created[size]) == size * PER_EVENT
        assert not Event.objects.filter(pk__in=[e.pk for e in events], fanned_out_at__isnull=True).exists()
        assert {e.recipient_count for e in Event.objects.filter(pk__in=[e.pk for e in events])} == {PER_EVENT}
    # The lock, one INSERT … SELECT of the deliveries, one of the decisions, one UPDATE; the savepoint and its
    # release (the test's transaction; in a worker BEGIN and COMMIT).
    assert counts == dict.fromkeys(counts, 6), counts


def test_a_full_batch_is_followed_by_the_next_and_each_event_is_fanned_out_once(
    world, source, published_fan_outs, settings
):
    settings.EVENTS_COALESCE_BOUND = 4
    events = [_single(source, f"full-{n}") for n in range(9)]
    assert len(coalesce.fan_out_pending()) == 9 * PER_EVENT  # 4 + 4 + 1, in order of arrival
    assert coalesce.fan_out_pending() == [] and fanout.fan_out_events(event_ids=[e.pk for e in events]) == []
    assert Delivery.objects.filter(event__in=events).count() == 9 * PER_EVENT
    # The same people as the fan-out of one event alone (test_fanout): anna twice, david and eva once.
    per_user = Delivery.objects.filter(event=events[0]).values_list("user__first_name", "channel")
    assert len(per_user) == PER_EVENT
