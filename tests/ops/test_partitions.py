"""Monthly partitions of deliveries, events and fan-out decisions (PostgreSQL, issue 22): made ahead, unique
across months, dropped whole by retention after an audit entry, never touching what is kept longer."""

import datetime

import pytest
from django.apps import apps
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from audit.models import AuditEntry
from bevaka import partitions
from events import retention
from events import services as event_services
from events.models import Event, EventKey, FanoutDecision, SourceSystem
from events.validation import clean_events
from notifications.models import Delivery, SuspendedDestination
from tests.events.conftest import event
from tests.factories import UserFactory
from tests.test_page_query_counts import PAGES, _connected, _queries, alerts_sent

pytestmark = pytest.mark.django_db

TABLES = list(partitions.PARTITIONED)


@pytest.fixture(autouse=True)
def _postgresql_only():
    if connection.vendor != "postgresql":
        pytest.skip("partitions are PostgreSQL's")


def _month(offset: int) -> datetime.datetime:
    start = partitions.month_start(timezone.now())
    for _ in range(abs(offset)):
        start = partitions.next_month(start) if offset > 0 else (start - datetime.timedelta(days=1)).replace(day=1)
    return start


def test_the_migrations_partition_the_hot_tables_with_this_and_the_next_month():
    for table in TABLES:
        assert partitions.is_partitioned(table)
        names = partitions.partitions(table)
        assert partitions.partition_name(table, _month(0)) in names
        assert partitions.partition_name(table, _month(1)) in names


def test_partitions_are_made_ahead_once():
    created = partitions.ensure_partitions(now=timezone.now(), months_ahead=3)
    for table in TABLES:
        for offset in (2, 3):
            assert partitions.partition_name(table, _month(offset)) in created
    assert partitions.ensure_partitions(now=timezone.now(), months_ahead=3) == []


def test_a_row_beyond_the_partitions_is_kept_in_the_default_one_and_moved_when_its_month_is_made(make_delivery):
    far = _month(8) + datetime.timedelta(days=3)
    delivery = make_delivery(age=timezone.now() - far)
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM notifications_delivery_default")
        assert cursor.fetchone()[0] == 1
    partitions.ensure_partitions(now=timezone.now(), months_ahead=8)
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM notifications_delivery_default")
        assert cursor.fetchone()[0] == 0
        cursor.execute(f"SELECT id FROM {partitions.partition_name('notifications_delivery', _month(8))}")  # noqa: S608
        assert cursor.fetchall() == [(delivery.pk,)]


def test_a_delivery_is_filed_under_its_events_month_and_a_second_one_is_refused_in_any_month(make_event, make_delivery):
    partitions.ensure_partitions(now=timezone.now(), months_ahead=1, months_back=3)
    event = make_event(age=datetime.timedelta(days=62))
    first = make_delivery(event=event)  # created now, filed under the event's month
    assert first.filed_at == event.received_at
    duplicate = Delivery(
        user=first.user, event=event, company=event.company, channel="sms", destination="+46701234567", body="x"
    )
    duplicate.purpose = "alert"
    with pytest.raises(IntegrityError), transaction.atomic():
        duplicate.save()
    # The other channel is another alert.
    make_delivery(event=event, channel="email")


def test_a_repeated_source_id_is_a_duplicate_even_when_the_first_is_in_an_earlier_month(demo):
    source = SourceSystem.objects.create(name="core-partitions")
    payload = event("ev-partitioned", company=demo.exempelbolaget.org_number)
    partitions.ensure_partitions(now=timezone.now(), months_ahead=1, months_back=3)
    [first] = event_services.record_events(source=source, events=clean_events([payload], batch=False))
    assert first.status == "accepted"
    # Move the stored event (and its key) two months back: PostgreSQL moves the row to that partition.
    earlier = timezone.now() - datetime.timedelta(days=62)
    Event.objects.filter(pk=first.pk).update(received_at=earlier)
    EventKey.objects.filter(external_id=payload["id"]).update(received_at=earlier)
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT count(*) FROM {partitions.partition_name('events_event', partitions.month_start(earlier))}"  # noqa: S608
        )
        assert cursor.fetchone()[0] == 1
    [again] = event_services.record_events(source=source, events=clean_events([payload], batch=False))
    assert (again.status, again.pk) == ("duplicate", first.pk)
    assert Event.objects.filter(external_id=payload["id"]).count() == 1


def test_retention_drops_only_whole_months_past_the_window_and_audits_each(make_event, make_delivery, settings):
    settings.RETENTION_DAYS = 180
    partitions.ensure_partitions(now=timezone.now(), months_ahead=1, months_back=9)
    old_event = make_event(age=datetime.timedelta(days=250))
    old = make_delivery(event=old_event)
    FanoutDecision.objects.create(event=old_event, user=UserFactory(), sms_reason="watch")
    suspension = SuspendedDestination.objects.create(
        channel="sms", destination="+46701234567", reason="invalid", delivery=old
    )
    EventKey.objects.create(
        source=old_event.source, external_id=old_event.external_id, received_at=old_event.received_at
    )
    # 170 days old: inside the window, and its month may straddle the cutoff: it stays whole.
    kept_event = make_event(age=datetime.timedelta(days=170))
    kept = make_delivery(event=kept_event)
    recent = make_delivery()
    entries_before = list(AuditEntry.objects.values_list("pk", flat=True))

    dropped = retention.run_retention()["dropped"]

    old_month = partitions.month_start(old_event.received_at)
    for table in TABLES:
        assert partitions.partition_name(table, old_month) not in partitions.partitions(table)
        assert partitions.partition_name(
            table, partitions.month_start(kept_event.received_at)
        ) in partitions.partitions(table)
    assert any(partitions.partition_name("events_event", old_month) in name for name in dropped)
    assert not Delivery.objects.filter(pk=old.pk).exists()
    assert not Event.objects.filter(pk=old_event.pk).exists()
    assert not FanoutDecision.objects.filter(event_id=old_event.pk).exists()
    assert not EventKey.objects.filter(external_id=old_event.external_id).exists()
    assert Delivery.objects.filter(pk__in=[kept.pk, recent.pk]).count() == 2
    suspension.refresh_from_db()
    assert suspension.delivery_id is None
    # The audit log keeps every entry and gains one per dropped partition, before its drop.
    assert set(entries_before) <= set(AuditEntry.objects.values_list("pk", flat=True))
    audited = AuditEntry.objects.filter(action="retention.partition_dropped").values_list("before", flat=True)
    assert {entry["partition"] for entry in audited} >= {partitions.partition_name(t, old_month) for t in TABLES}
    # A second run drops nothing more.
    assert retention.run_retention()["dropped"] == []


def test_nothing_kept_longer_refers_into_the_partitioned_tables():
    """The audit log, agreements, versions, signatures and evidence never point at a delivery, an event or a
    decision: dropping a month cannot take what they need. Only the partitioned tables themselves (an
    event's rows) and a suspension (cleared before a drop) refer into them."""
    partitioned = {Delivery, Event, FanoutDecision}
    allowed = {Delivery, FanoutDecision, SuspendedDestination}
    for model in apps.get_models():
        for field in model._meta.get_fields():
            if field.is_relation and field.concrete and field.related_model in partitioned:
                assert model in allowed, f"{model.__name__}.{field.name}"


def test_every_delivery_of_an_event_is_filed_under_the_events_received_time(make_event, make_delivery):
    event = make_event(age=datetime.timedelta(days=20))
    make_delivery(event=event)
    Delivery.objects.bulk_create(
        [
            Delivery(
                event=event, user=UserFactory(), channel="email", destination="a@example.se", purpose="alert", body="x"
            )
        ]
    )
    assert set(Delivery.objects.filter(event=event).values_list("filed_at", flat=True)) == {event.received_at}


@pytest.mark.parametrize(("page", "person"), PAGES)
def test_the_page_costs_the_same_queries_with_one_month_and_with_three_months_of_history(client, demo, page, person):
    partitions.ensure_partitions(now=timezone.now(), months_ahead=1, months_back=4)
    _connected(demo)

    alerts_sent(demo, count=40, days=30)
    one_month = _queries(client, demo, page, person)
    alerts_sent(demo, count=40, days=90)
    three_months = _queries(client, demo, page, person)
    assert one_month == three_months
