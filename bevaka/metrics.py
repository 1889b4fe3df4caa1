"""Prometheus metrics at /metrics, correct whichever process or machine is scraped.

Web, workers and beat are separate processes, often on separate machines, so two kinds of figures:

- **Cluster-wide, the same from every web instance** (this module):
  - *counts computed at scrape time* from where the truth is: deliveries by channel and status, the relay's
    backlog and unfanned events from PostgreSQL (three aggregate queries), the Celery queue depth from the
    broker (Redis list lengths);
  - *counters and latency histograms recorded where things happen* (tasks, sends, provider errors,
    rate-limit waits, signing orders, throttling; the fan-out's and the provider's latency) and kept in
    Redis. ``count()`` only adds to a dict in memory; ``flush()`` writes what was counted in one pipelined
    round trip at the end of each Celery task and of each request that counted something, so a send batch
    costs one round trip, not one per delivery, and no database query. Every worker on every machine adds
    to the same series; a scrape reads them back. Losing Redis resets them, which Prometheus reads as a
    counter reset. Without Redis (``make run`` on embedded defaults) they are not recorded.
- **Per web instance** (``bevaka/http_metrics.py``): HTTP requests and their latency, counted on every
  request without a network round trip, by prometheus_client in its multiprocess mode under gunicorn.

prometheus_client's multiprocess mode is not used for the first kind: its files are per machine, so a scrape
of one web machine would miss the workers on the others. Labels carry task names, channels, statuses and
kinds only, never anything about a person.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
import threading
import time
from collections.abc import Iterable

from django.conf import settings
from django.db.models import Count, Q
from django.http import HttpResponse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from bevaka import http_metrics
from bevaka.http import client_ip

log = logging.getLogger(__name__)

BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 900.0, 3600.0)
HISTOGRAMS: dict[str, tuple[str, tuple[str, ...]]] = {
    "bevaka_fanout_latency_seconds": (
        "From an event's arrival to its alert deliveries being created (queueing plus the fan-out).",
        (),
    ),
    "bevaka_event_to_provider_seconds": (
        "From an event's arrival to the provider (Twilio, the SMTP server) accepting one of its alerts.",
        ("channel",),
    ),
    "bevaka_celery_task_duration_seconds": ("Run time of Celery tasks, by task name.", ("task",)),
}
COUNTERS: dict[str, tuple[str, tuple[str, ...]]] = {
    "bevaka_celery_tasks_total": (
        "Celery tasks run, by task name and outcome (success, failure, retry).",
        ("task", "outcome"),
    ),
    "bevaka_delivery_outcomes_total": (
        "What send attempts ended in, by channel: sent, retry, failed, ambiguous (waiting for the provider's "
        "callback), cancelled (rule 6, suspension), rate_limited or no_token (tried again, not an attempt).",
        ("channel", "outcome"),
    ),
    "bevaka_provider_errors_total": (
        "Errors from the provider (Twilio, the SMTP server), by channel and kind: permanent, transient, "
        "ambiguous, unexpected.",
        ("channel", "kind"),
    ),
    "bevaka_rate_limit_waits_total": ("Sends that waited for a token of their channel's rate limit.", ("channel",)),
    "bevaka_rate_limit_wait_seconds_total": ("Seconds sends waited for rate-limit tokens.", ("channel",)),
    "bevaka_signing_orders_total": (
        "Signing and login orders that ended, by kind (sign, auth) and outcome (complete, failed, cancelled).",
        ("kind", "outcome"),
    ),
    "bevaka_throttle_blocks_total": ("Blocks started after too many failed attempts, by scope.", ("scope",)),
    "bevaka_throttle_refusals_total": ("Attempts refused while their key was blocked, by scope.", ("scope",)),
}
_PREFIX = "bevaka:metrics"
_pending_lock = threading.Lock()
_pending: dict[tuple[str, tuple[str, ...]], float] = {}


def count(name: str, amount: float = 1, **labels: object) -> None:
    """Add to a cluster-wide counter (declared in COUNTERS). In memory only: ``flush()`` writes it."""
    key = (name, tuple(str(labels[label]) for label in COUNTERS[name][1]))
    with _pending_lock:
        _pending[key] = _pending.get(key, 0) + amount


def has_pending() -> bool:
    return bool(_pending)


def flush(observations: dict[str, list[tuple[float, dict[str, str]]]] | None = None) -> None:
    """Write the counts made since the last flush, and these histogram observations, to Redis in one round
    trip. Never raises: when Redis cannot take them the counts are kept for the next flush."""
    global _pending
    with _pending_lock:
        counts, _pending = _pending, {}
    if not settings.REDIS_URL or not (counts or observations):
        return
    try:
        from notifications.ratelimit import redis_connection

        pipe = redis_connection().pipeline(transaction=False)
        for (name, values), amount in counts.items():
            pipe.hincrbyfloat(f"{_PREFIX}:{name}", "|".join(values), amount)
        for name, observed in (observations or {}).items():
            _add_observations(pipe, name, observed)
        pipe.execute()
    except Exception:
        log.warning("could not record %d metric series; keeping the counts for the next try", len(counts))
        with _pending_lock:
            for key, amount in counts.items():
                _pending[key] = _pending.get(key, 0) + amount


def _series_key(name: str, label_values: tuple[str, ...]) -> str:
    return f"{_PREFIX}:{name}:" + "|".join(label_values)


def observe(name: str, seconds: float, **labels: str) -> None:
    """Add one observation to a histogram shared by all processes (in Redis). Never raises."""
    observe_many(name, [(seconds, labels)])


def observe_many(name: str, observations: Iterable[tuple[float, dict[str, str]]]) -> None:
    """Add several observations in one round trip to Redis (a batch of sends: one per delivery was a
    round trip per delivery). Never raises."""
    if not settings.REDIS_URL:
        return
    try:
        from notifications.ratelimit import redis_connection

        pipe = redis_connection().pipeline(transaction=False)
        if _add_observations(pipe, name, observations):
            pipe.execute()
    except Exception:
        log.warning("could not record metric %s", name)


def _add_observations(pipe, name: str, observations: Iterable[tuple[float, dict[str, str]]]) -> bool:
    """Queue the Redis commands that add these observations to the histogram ``name``; whether there were any."""
    label_names = HISTOGRAMS[name][1]
    totals: dict[tuple[str, ...], dict[str, float]] = {}
    for seconds, labels in observations:
        values = tuple(str(labels[label]) for label in label_names)
        bucket = next((str(bound) for bound in BUCKETS if seconds <= bound), "+Inf")
        series = totals.setdefault(values, {"count": 0, "sum": 0.0})
        series[bucket] = series.get(bucket, 0) + 1
        series["count"] += 1
        series["sum"] += max(0.0, seconds)
    for values, series in totals.items():
        key = _series_key(name, values)
        pipe.sadd(f"{_PREFIX}:{name}:series", "|".join(values))
        for field, amount in series.items():
            if field == "sum":
                pipe.hincrbyfloat(key, field, amount)
            else:
                pipe.hincrby(key, field, int(amount))
    return bool(totals)


def _counters(redis) -> Iterable[CounterMetricFamily]:
    for name, (documentation, label_names) in COUNTERS.items():
        family = CounterMetricFamily(name, documentation, labels=label_names)
        for series, amount in sorted(redis.hgetall(f"{_PREFIX}:{name}").items()):
            values = series.decode().split("|") if label_names else []
            family.add_metric(values, float(amount))
        yield family


def _histograms(redis) -> Iterable[HistogramMetricFamily]:
    for name, (documentation, label_names) in HISTOGRAMS.items():
        family = HistogramMetricFamily(name, documentation, labels=label_names)
        for series in sorted(s.decode() for s in redis.smembers(f"{_PREFIX}:{name}:series")):
            values = tuple(series.split("|")) if label_names else ()
            raw = {k.decode(): v.decode() for k, v in redis.hgetall(_series_key(name, values)).items()}
            cumulative, buckets = 0, []
            for bound in BUCKETS:
                cumulative += int(raw.get(str(bound), 0))
                buckets.append((str(bound), cumulative))
            buckets.append(("+Inf", int(raw.get("count", 0))))
            family.add_metric(list(values), buckets, float(raw.get("sum", 0)))
        yield family


def celery_queue_names() -> list[str]:
    """The queues workers read: the lanes (CELERY_TASK_QUEUES), the default one and any a route names."""
    names = {getattr(settings, "CELERY_TASK_DEFAULT_QUEUE", "celery")}
    names.update(queue.name for queue in getattr(settings, "CELERY_TASK_QUEUES", None) or [])
    for route in (getattr(settings, "CELERY_TASK_ROUTES", None) or {}).values():
        if isinstance(route, dict) and route.get("queue"):
            names.add(route["queue"])
    return sorted(names)


def queue_depths() -> dict[str, int]:
    """Messages waiting in each Celery queue: Redis list lengths (kombu's priority lists included), or the
    files of the embedded filesystem broker; nothing for another broker (RabbitMQ has its own exporter)."""
    broker = settings.CELERY_BROKER_URL
    if broker.startswith(("redis://", "rediss://")):
        from notifications.ratelimit import redis_connection

        if broker == settings.REDIS_URL:
            redis = redis_connection()
        else:
            import redis as redis_client

            redis = redis_client.Redis.from_url(broker, socket_timeout=5)
        depths = {}
        for queue in celery_queue_names():
            keys = [queue] + [f"{queue}\x06\x16{priority}" for priority in (3, 6, 9)]
            pipe = redis.pipeline(transaction=False)
            for key in keys:
                pipe.llen(key)
            depths[queue] = sum(pipe.execute())
        return depths
    if not broker.startswith("filesystem://"):
        return {}
    from pathlib import Path

    folder = Path(settings.CELERY_BROKER_TRANSPORT_OPTIONS.get("data_folder_in", ""))
    return {"celery": sum(1 for _ in folder.glob("*.msg")) if folder.is_dir() else 0}


def relay_backlog() -> dict[str, int]:
    """Deliveries the relay has to act on now: queued and due, or sending past their deadline (one query)."""
    from notifications.models import Delivery, DeliveryStatus

    return Delivery.objects.filter(
        status__in=[DeliveryStatus.QUEUED, DeliveryStatus.SENDING], next_attempt_at__lte=timezone.now()
    ).aggregate(
        due=Count("id", filter=Q(status=DeliveryStatus.QUEUED)),
        overdue_sending=Count("id", filter=Q(status=DeliveryStatus.SENDING)),
    )


class BevakaCollector:
    """Computes the gauges at scrape time from PostgreSQL and the broker; reads the histograms from Redis."""

    def collect(self):
        from events.models import Event
        from notifications.liveness import seconds_since_task_consumed
        from notifications.models import Channel, Delivery, DeliveryStatus, Purpose

        deliveries = GaugeMetricFamily(
            "bevaka_deliveries", "Deliveries (SMS, e-mail) by channel and status, now.", labels=["channel", "status"]
        )
        counts = {
            (row["channel"], row["status"]): row["n"]
            for row in Delivery.objects.order_by().values("channel", "status").annotate(n=Count("id"))
        }
        for channel in Channel.values:
            for status in DeliveryStatus.values:
                deliveries.add_metric([channel, status], counts.get((channel, status), 0))
        yield deliveries

        backlog = relay_backlog()
        relay = GaugeMetricFamily(
            "bevaka_relay_backlog",
            "Deliveries the relay has to act on: queued and due, or sending past their deadline.",
            labels=["kind"],
        )
        relay.add_metric(["due"], backlog["due"])
        relay.add_metric(["overdue_sending"], backlog["overdue_sending"])
        yield relay
        pending = GaugeMetricFamily(
            "bevaka_deliveries_pending",
            "Deliveries not sent yet (queued or sending), by purpose: alert, verification (codes), notice.",
            labels=["purpose"],
        )
        waiting = dict(
            Delivery.objects.filter(status__in=[DeliveryStatus.QUEUED, DeliveryStatus.SENDING])
            .order_by()
            .values_list("purpose")
            .annotate(n=Count("id"))
        )
        for purpose in Purpose.values:
            pending.add_metric([purpose], waiting.get(purpose, 0))
        yield pending
        since = seconds_since_task_consumed()
        if since is not None:
            yield GaugeMetricFamily(
                "bevaka_worker_last_task_timestamp_seconds",
                "When a worker last started a task (Unix time; beat's relays keep a live worker busy).",
                value=time.time() - since,
            )
        yield GaugeMetricFamily(
            "bevaka_events_unfanned",
            "Events received but not fanned out into deliveries yet.",
            value=Event.objects.filter(fanned_out_at__isnull=True).count(),
        )

        queue = GaugeMetricFamily("bevaka_celery_queue_length", "Messages waiting in a Celery queue.", labels=["queue"])
        try:
            for name, depth in queue_depths().items():
                queue.add_metric([name], depth)
        except Exception:
            log.warning("could not read the Celery queue depth")
        yield queue

        if settings.REDIS_URL:
            from notifications.ratelimit import redis_connection

            try:
                redis = redis_connection()
                yield from _histograms(redis)
                yield from _counters(redis)
            except Exception:
                log.warning("could not read the counters and histograms in Redis")


def _address_allowed(request) -> bool:
    networks = settings.METRICS_ALLOWED
    address = client_ip(request)
    if not networks or not address:
        return False
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in ipaddress.ip_network(network, strict=False) for network in networks)


def scrape_refusal(request) -> HttpResponse | None:
    """None when this request may read the monitoring endpoints (/metrics, /statusz), else the refusal.

    Allowed: the bearer token METRICS_TOKEN, or a client address in METRICS_ALLOWED (addresses or CIDRs,
    the client as ``bevaka.http.client_ip`` sees it). With neither set the endpoints are open only with
    DEBUG (``make run``); in production they answer no one, and ``check --deploy`` says so (bevaka.checks).
    """
    token = settings.METRICS_TOKEN
    if token:
        given = request.headers.get("Authorization", "")
        if hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
            return None
    if _address_allowed(request):
        return None
    if not token and not settings.METRICS_ALLOWED and settings.DEBUG:
        return None
    if token:
        response = HttpResponse("unauthorised\n", status=401, content_type="text/plain")
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    return HttpResponse("forbidden\n", status=403, content_type="text/plain")


@never_cache
@require_GET
def metrics(request):
    """Prometheus' text format; 401 without the bearer token when METRICS_TOKEN is set (scrape_refusal)."""
    refusal = scrape_refusal(request)
    if refusal is not None:
        return refusal
    flush()  # this process's own counts first
    registry = CollectorRegistry(auto_describe=False)
    registry.register(BevakaCollector())
    http_metrics.collect_into(registry)
    return HttpResponse(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)
