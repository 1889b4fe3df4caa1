"""The operator's view of the real stack: gunicorn (its HTTP metrics in prometheus_client's multiprocess
mode), a fan-out worker, a send worker, beat and the fake Twilio server, on a Redis of their own (stopped
and started again here) and the test database.

- a scrape of /metrics after an event went through shows the HTTP, task, queue and delivery series with
  non-zero values;
- with Redis stopped, /readyz is 200 "degraded", the event API accepts an event, and once Redis is back the
  event's alerts are sent;
- with PostgreSQL unreachable, /readyz is 503 (and /livez still 200).
"""

import json
import os
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from events.models import Event
from harness import PrivateRedis, ProcessGroup, commands, free_port
from notifications.fakes.smtp_sink import SmtpSink
from notifications.lanes import send_lanes
from notifications.models import Delivery, DeliveryStatus
from tests.events.conftest import Source, build_world, event
from tests.notifications.conftest import notification_settings, start_fake_twilio, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

TOKEN = "stack-scrape-token"
DONE = {DeliveryStatus.SENT, DeliveryStatus.DELIVERED}


@pytest.fixture(scope="module")
def stack(django_db_setup, django_db_blocker, tmp_path_factory):
    from django.db import connection

    root = tmp_path_factory.mktemp("stack")
    redis = PrivateRedis(root / "redis").start()
    twilio = start_fake_twilio()
    sink = SmtpSink().start()
    port = free_port()
    with django_db_blocker.unblock():
        db = connection.settings_dict
    url = f"http://127.0.0.1:{port}"
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("PROMETHEUS_", "CELERY_"))},
        **{
            k: str(v)
            for k, v in notification_settings(fake_url=twilio.url, sink_port=sink.port, public_base_url=url).items()
        },
        "DJANGO_SETTINGS_MODULE": "bevaka.settings_test",
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        "REDIS_URL": redis.url,
        "METRICS_TOKEN": TOKEN,
        "EVENTS_FANOUT_LEASE_SECONDS": "2",
        "EVENTS_FANOUT_RELAY_INTERVAL": "0.5",
        # Each test makes its source's key anew (the database is emptied between tests); a gunicorn worker that
        # remembered the earlier test's key would refuse the new one (events/sources.py, _memory).
        "EVENTS_SOURCE_CACHE_SECONDS": "0",
        "CELERY_BEAT_SCHEDULE_FILENAME": str(root / "beat-schedule"),
        "BEVAKA_VAR_DIR": str(root / "var"),
        "PROMETHEUS_MULTIPROC_DIR": str(root / "prometheus"),
    }
    (root / "prometheus").mkdir()
    group = ProcessGroup(env=env)
    web = group.start(
        commands.gunicorn(port=port, workers=2), name="web", wait_url=url + "/livez", timeout=60, wait=False
    )
    fan_out = group.worker(name=f"ops-fan-{os.getpid()}", queues=["celery"], concurrency=1, wait=False)
    group.beat(wait=False)
    group.wait_ready()
    stack = type("Stack", (), {"url": url, "env": env, "group": group, "redis": redis, "web": web, "fan_out": fan_out})
    senders = []

    def start_sender():
        """The send worker, once: started by whichever test needs it first (no test depends on another)."""
        if not senders:
            senders.append(group.worker(name=f"ops-send-{os.getpid()}", queues=send_lanes(), concurrency=1))

    stack.start_sender = start_sender
    yield stack
    group.close()
    sink.stop()
    twilio.process.stop()
    redis.stop()


def get(url: str, **headers) -> tuple[int, bytes]:
    request = urllib.request.Request(url, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def post_event(stack, source: Source, payload: dict) -> int:
    body = json.dumps(payload).encode()
    headers = {"Content-Type": "application/json", **source.headers(body)}
    request = urllib.request.Request(stack.url + "/api/v1/events", data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def scrape(stack) -> dict[str, dict[tuple, float]]:
    """Every sample of /metrics: name → {sorted labels: value}."""
    status, body = get(stack.url + "/metrics", Authorization=f"Bearer {TOKEN}")
    assert status == 200, body[:500]
    samples: dict[str, dict[tuple, float]] = {}
    for family in text_string_to_metric_families(body.decode()):
        for sample in family.samples:
            samples.setdefault(sample.name, {})[tuple(sorted(sample.labels.items()))] = sample.value
    return samples


def total(samples, name: str, **labels) -> float:
    return sum(v for key, v in samples.get(name, {}).items() if all((k, labels[k]) in key for k in labels))


def sent_alerts_of(source_id: str) -> bool:
    deliveries = Delivery.objects.filter(event__external_id=source_id)
    return deliveries.exists() and not deliveries.exclude(status__in=DONE).exists()


def test_a_scrape_after_an_event_went_through_shows_http_task_queue_and_delivery_series(stack, demo):
    build_world(demo)
    source = Source()
    assert post_event(stack, source, event("ops-metrics-1")) == 202
    # No send worker yet: the fan-out's send tasks wait in their queue, and the scrape says so.
    wait_for(lambda: total(scrape(stack), "bevaka_celery_queue_length", queue="sms") > 0, 30, message="sends queued")
    stack.start_sender()
    wait_for(lambda: sent_alerts_of("ops-metrics-1"), 60, message="the event's alerts sent")

    samples = scrape(stack)
    http = "bevaka_http_requests_total"
    assert total(samples, http, view="api-events", method="POST", status="202") == 1
    # Every gunicorn worker's requests are in one scrape (the multiprocess files), not only the answering one's.
    for _ in range(8):
        assert get(stack.url + "/hjalp/bevaka-arenden/")[0] == 200
    samples = scrape(stack)
    assert total(samples, http, view="help", method="GET", status="200") == 8
    assert total(samples, "bevaka_http_request_duration_seconds_count", view="help") == 8
    assert len({path.name.rsplit("_", 1)[-1] for path in Path(stack.env["PROMETHEUS_MULTIPROC_DIR"]).glob("*.db")}) >= 2
    assert total(samples, "bevaka_celery_tasks_total", task="events.fan_out_pending", outcome="success") >= 1
    assert total(samples, "bevaka_celery_tasks_total", task="notifications.send_batch", outcome="success") >= 1
    assert total(samples, "bevaka_celery_task_duration_seconds_count", task="notifications.send_batch") >= 1
    assert total(samples, "bevaka_delivery_outcomes_total", channel="sms", outcome="sent") >= 1
    assert total(samples, "bevaka_delivery_outcomes_total", channel="email", outcome="sent") >= 1
    assert (
        total(samples, "bevaka_deliveries", channel="sms", status="delivered")
        + total(samples, "bevaka_deliveries", channel="sms", status="sent")
        >= 1
    )
    assert total(samples, "bevaka_event_to_provider_seconds_count") >= 1
    assert "queue" in dict(next(iter(samples["bevaka_celery_queue_length"])))


def test_with_redis_stopped_readyz_is_degraded_the_api_accepts_and_the_alert_goes_out_once_it_is_back(stack, demo):
    build_world(demo)
    source = Source()
    stack.redis.stop()
    try:
        status, body = get(stack.url + "/readyz")
        assert status == 200, body
        assert json.loads(body) == {"status": "degraded", "database": "ok", "broker": "fail"}
        assert post_event(stack, source, event("ops-redis-down-1")) == 202
        assert Event.objects.filter(external_id="ops-redis-down-1").exists()
        status, body = get(stack.url + "/statusz", Authorization=f"Bearer {TOKEN}")
        assert status == 503 and json.loads(body)["broker"] == "fail"
    finally:
        stack.redis.start()
    assert json.loads(get(stack.url + "/readyz")[1])["status"] == "ok"
    stack.start_sender()
    wait_for(lambda: sent_alerts_of("ops-redis-down-1"), 90, message="the event's alerts sent after Redis came back")


def test_with_postgresql_unreachable_readyz_is_503_and_livez_still_200(stack, tmp_path):
    port = free_port()
    dead = free_port()  # nothing listens there
    env = {**stack.env, "DATABASE_URL": f"postgres://postgres@127.0.0.1:{dead}/bevaka"}
    with ProcessGroup(env=env) as group:
        url = f"http://127.0.0.1:{port}"
        group.start(commands.gunicorn(port=port, workers=1), name="web-no-db", wait_url=url + "/livez", timeout=60)
        status, body = get(url + "/readyz")
        assert status == 503, body
        assert json.loads(body) == {"status": "unready", "database": "fail", "broker": "ok"}
        assert get(url + "/livez")[0] == 200
