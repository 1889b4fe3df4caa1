"""/metrics: figures computed from PostgreSQL and Redis, the same whichever process or machine answers."""

import datetime
import os
import uuid

import pytest
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from bevaka.metrics import HISTOGRAMS, observe, observe_many
from harness import MANAGE, run_command
from notifications.models import DeliveryStatus
from notifications.ratelimit import redis_connection

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def scraper_address(settings):
    """The test client's address (127.0.0.1) may scrape, as a Prometheus server in METRICS_ALLOWED would."""
    settings.METRICS_ALLOWED = ["127.0.0.1"]


@pytest.fixture(autouse=True)
def fresh_histograms():
    """Forget the histograms in this test run's Redis database (only our own keys)."""
    redis = redis_connection()
    for key in redis.scan_iter("bevaka:metrics:*"):
        redis.delete(key)
    yield


def scrape(client, **headers) -> dict[str, list]:
    response = client.get("/metrics", **headers)
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/plain")
    families = text_string_to_metric_families(response.content.decode())
    return {family.name: family.samples for family in families}


def value(samples, name=None, **labels) -> float:
    matching = [
        s.value
        for s in samples
        if all(s.labels.get(k) == v for k, v in labels.items()) and (not name or s.name == name)
    ]
    assert len(matching) == 1, (labels, samples)
    return matching[0]


def test_it_counts_deliveries_by_channel_and_status(client, make_delivery):
    make_delivery(status=DeliveryStatus.DELIVERED)
    make_delivery(status=DeliveryStatus.DELIVERED)
    make_delivery(status=DeliveryStatus.FAILED, channel="email", destination="anna@exempel.se")
    metrics = scrape(client)
    samples = metrics["bevaka_deliveries"]
    assert value(samples, channel="sms", status="delivered") == 2
    assert value(samples, channel="email", status="failed") == 1
    assert value(samples, channel="sms", status="queued") == 0


def test_the_relay_backlog_counts_due_and_overdue_rows_and_unfanned_events(client, make_delivery, make_event):
    due = make_delivery(status=DeliveryStatus.QUEUED)
    overdue = make_delivery(status=DeliveryStatus.SENDING)
    later = make_delivery(status=DeliveryStatus.QUEUED)
    now = timezone.now()
    type(due).objects.filter(pk__in=[due.pk, overdue.pk]).update(next_attempt_at=now - datetime.timedelta(minutes=1))
    type(later).objects.filter(pk=later.pk).update(next_attempt_at=now + datetime.timedelta(hours=1))
    make_event()
    metrics = scrape(client)
    assert value(metrics["bevaka_relay_backlog"], kind="due") == 1
    assert value(metrics["bevaka_relay_backlog"], kind="overdue_sending") == 1
    assert value(metrics["bevaka_events_unfanned"]) == 1


def test_the_queue_depth_is_the_length_of_the_celery_queue_in_redis(client, settings):
    from bevaka.celery import ping

    queue = f"ops-metrics-{uuid.uuid4().hex[:8]}"
    settings.CELERY_TASK_ROUTES = {"bevaka.ping": {"queue": queue}}
    try:
        for _ in range(3):
            ping.apply_async(queue=queue)
        assert value(scrape(client)["bevaka_celery_queue_length"], queue=queue) == 3
    finally:
        redis_connection().delete(queue)
    assert value(scrape(client)["bevaka_celery_queue_length"], queue=queue) == 0


def test_latency_observed_in_another_process_shows_in_this_ones_histogram(client):
    result = run_command(
        [
            *MANAGE,
            "shell",
            "-c",
            "from bevaka.metrics import observe; "
            "[observe('bevaka_event_to_provider_seconds', s, channel='sms') for s in (0.2, 3.0, 4000)]",
        ],
        env={**os.environ},
    )
    assert result.returncode == 0, result.stdout
    observe("bevaka_event_to_provider_seconds", 0.04, channel="email")
    samples = scrape(client)["bevaka_event_to_provider_seconds"]
    assert value(samples, "bevaka_event_to_provider_seconds_count", channel="sms") == 3
    assert value(samples, "bevaka_event_to_provider_seconds_bucket", channel="sms", le="0.25") == 1
    assert value(samples, "bevaka_event_to_provider_seconds_bucket", channel="sms", le="5.0") == 2
    assert value(samples, "bevaka_event_to_provider_seconds_bucket", channel="sms", le="+Inf") == 3
    assert value(samples, "bevaka_event_to_provider_seconds_sum", channel="sms") == pytest.approx(4003.2)
    assert value(samples, "bevaka_event_to_provider_seconds_count", channel="email") == 1


def test_a_batch_of_observations_is_one_round_trip_and_counts_each(client, monkeypatch):
    redis = redis_connection()
    pipelines = []
    real_pipeline = redis.pipeline
    monkeypatch.setattr(redis, "pipeline", lambda **kw: pipelines.append(kw) or real_pipeline(**kw))
    observe_many(
        "bevaka_event_to_provider_seconds",
        [(0.2, {"channel": "sms"}), (0.3, {"channel": "sms"}), (7.0, {"channel": "sms"}), (0.04, {"channel": "email"})],
    )
    assert len(pipelines) == 1
    samples = scrape(client)["bevaka_event_to_provider_seconds"]
    assert value(samples, "bevaka_event_to_provider_seconds_count", channel="sms") == 3
    assert value(samples, "bevaka_event_to_provider_seconds_bucket", channel="sms", le="0.25") == 1
    assert value(samples, "bevaka_event_to_provider_seconds_bucket", channel="sms", le="0.5") == 2
    assert value(samples, "bevaka_event_to_provider_seconds_sum", channel="sms") == pytest.approx(7.5)
    assert value(samples, "bevaka_event_to_provider_seconds_count", channel="email") == 1


def test_with_a_token_set_a_scrape_needs_it_as_a_bearer(client, settings):
    settings.METRICS_TOKEN = "scrape-secret"
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 401
    assert "bevaka_deliveries" in scrape(client, HTTP_AUTHORIZATION="Bearer scrape-secret")


def test_no_personal_data_reaches_the_metrics(client, make_delivery):
    make_delivery(destination="+46701234567")
    make_delivery(channel="email", destination="anna@exempel.se")
    body = client.get("/metrics").content.decode()
    assert "46701234567" not in body and "anna" not in body
    assert set(HISTOGRAMS["bevaka_event_to_provider_seconds"][1]) == {"channel"}


def test_metrics_are_exempt_from_the_https_redirect_like_healthz(client, settings):
    settings.SECURE_SSL_REDIRECT = True
    assert client.get("/metrics").status_code == 200
    assert client.get("/hjalp/bevaka-arenden/").status_code == 301
