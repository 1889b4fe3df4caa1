"""The fan-out and a provider's acceptance of an alert record their latencies in the shared histograms."""

import pytest
from prometheus_client.parser import text_string_to_metric_families

from events import fanout
from events.services import clean_events, record_events
from notifications.models import Delivery, DeliveryStatus
from notifications.ratelimit import redis_connection

from .conftest import event

pytestmark = pytest.mark.django_db


def histogram_counts(client) -> dict[tuple[str, tuple], float]:
    text = client.get("/metrics").content.decode()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name.endswith("_seconds_count")
    }


def test_a_fan_out_and_a_sent_alert_record_their_latencies(client, world, source, send_settings):
    send_settings.METRICS_ALLOWED = ["127.0.0.1"]  # the test client's address, as Prometheus' would be
    redis = redis_connection()
    for key in redis.scan_iter("bevaka:metrics:*"):
        redis.delete(key)
    [row] = record_events(source=source.system, events=clean_events([event("inv-metrics-1")], batch=True))
    fanout.fan_out(event_id=row.event.pk)
    delivery = Delivery.objects.get(event=row.event, user=world.anna, channel="sms")
    from notifications import services

    services.send_delivery(delivery_id=delivery.pk)
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.SENT

    counts = histogram_counts(client)
    assert counts[("bevaka_fanout_latency_seconds_count", ())] == 1
    assert counts[("bevaka_event_to_provider_seconds_count", (("channel", "sms"),))] == 1
