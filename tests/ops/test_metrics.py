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
    from bevaka import metrics

    metrics._pending.clear()  # counted by an earlier test without a flush after it
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
    settings.METRICS_TOKEN, settings.METRICS_ALLOWED = "scrape-secret", []
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


# -- the operator's series (issue 24) --------------------------------------------------------------------------


def test_http_requests_are_counted_by_view_method_and_status_with_their_latency(client):
    from bevaka.http_metrics import DURATION, REQUESTS

    before = REQUESTS.labels("help", "GET", "200")._value.get()
    assert client.get("/hjalp/bevaka-arenden/").status_code == 200
    client.get("/no-such-page/")
    samples = scrape(client)
    assert (
        value(samples["bevaka_http_requests"], "bevaka_http_requests_total", view="help", method="GET", status="200")
        == before + 1
    )
    assert value(samples["bevaka_http_requests"], view="unmatched", method="GET", status="404") >= 1
    durations = samples["bevaka_http_request_duration_seconds"]
    count = value(durations, "bevaka_http_request_duration_seconds_count", view="help", method="GET")
    assert count >= 1
    assert value(durations, "bevaka_http_request_duration_seconds_sum", view="help", method="GET") == pytest.approx(
        DURATION.labels("help", "GET")._sum.get()
    )


def test_a_task_is_counted_by_name_and_outcome_with_its_run_time(client):
    """Celery's signals around a task, as a worker sends them (the pipeline test runs a real worker)."""
    from bevaka.celery import _record_task, _task_started_at, ping

    for task_id in ("task-1", "task-2"):
        _task_started_at(task_id=task_id)
        _record_task(task_id=task_id, task=ping, state="SUCCESS")
    samples = scrape(client)
    assert value(samples["bevaka_celery_tasks"], task="bevaka.ping", outcome="success") == 2
    duration = samples["bevaka_celery_task_duration_seconds"]
    assert value(duration, "bevaka_celery_task_duration_seconds_count", task="bevaka.ping") == 2


def test_counts_are_kept_in_memory_until_a_flush_writes_them_in_one_round_trip(client, monkeypatch):
    from bevaka import metrics

    metrics.count("bevaka_provider_errors_total", channel="sms", kind="transient")
    metrics.count("bevaka_provider_errors_total", channel="sms", kind="transient")
    metrics.count("bevaka_rate_limit_wait_seconds_total", 0.25, channel="email")
    assert "bevaka_provider_errors" not in {n for n, s in scrape_raw().items() if s}
    redis = redis_connection()
    pipelines = []
    real_pipeline = redis.pipeline
    monkeypatch.setattr(redis, "pipeline", lambda **kw: pipelines.append(kw) or real_pipeline(**kw))
    metrics.flush()
    assert len(pipelines) == 1
    monkeypatch.undo()
    samples = scrape(client)
    assert value(samples["bevaka_provider_errors"], channel="sms", kind="transient") == 2
    assert value(samples["bevaka_rate_limit_wait_seconds"], channel="email") == 0.25


def scrape_raw() -> dict[str, list]:
    """The cluster-wide series straight from Redis, without a request (whose end would flush)."""
    from bevaka.metrics import _counters

    return {family.name: family.samples for family in _counters(redis_connection())}


def test_counts_survive_a_flush_that_cannot_reach_redis(client, monkeypatch):
    from bevaka import metrics
    from notifications import ratelimit

    def unreachable():
        raise ConnectionError("redis is down")

    metrics.count("bevaka_throttle_blocks_total", scope="login")
    monkeypatch.setattr(ratelimit, "redis_connection", unreachable)
    metrics.flush()
    assert metrics.has_pending()
    monkeypatch.undo()
    assert value(scrape(client)["bevaka_throttle_blocks"], scope="login") == 1


def test_a_throttling_block_and_the_refusals_after_it_are_counted(client):
    import throttling.services as throttling

    limit = throttling.Limit(scope="ops-test", max_failures=2, block=datetime.timedelta(minutes=5))
    for _ in range(3):
        try:
            throttling.check(limit=limit, key="someone")
            throttling.record_failure(limit=limit, key="someone")
        except throttling.Blocked:
            pass
    samples = scrape(client)  # the request's end wrote what this process counted
    assert value(samples["bevaka_throttle_blocks"], scope="ops-test") == 1
    assert value(samples["bevaka_throttle_refusals"], scope="ops-test") == 1


def test_signing_orders_are_counted_by_kind_and_outcome(client, demo):
    from signing.models import SignatureOrder, SigningMethod
    from signing.services import _finish, cancel_signature

    def order() -> SignatureOrder:
        return SignatureOrder.objects.create(
            user=demo.anna,
            method=SigningMethod.BANKID_MOBILE,
            purpose="agreement.connect",
            visible_text="Avtal",
            content_sha256="0" * 64,
            return_url="/",
            end_user_ip="192.0.2.10",
            nonce="n",
            expires_at="2030-01-01T00:00:00Z",
        )

    cancel_signature(order_id=order().pk, user=demo.anna)
    _finish(order(), SignatureOrder.Status.FAILED, "RFA22")
    samples = scrape(client)["bevaka_signing_orders"]
    assert value(samples, kind="sign", outcome="cancelled") == 1
    assert value(samples, kind="sign", outcome="failed") == 1
