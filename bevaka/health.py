"""Health, in three endpoints with one meaning each (docs/OPERATIONS.md):

- ``/livez``: the process answers. Nothing else is asked, so a restart policy (a container healthcheck,
  Kubernetes' liveness probe) restarts only a process that is stuck, never one whose database is down.
- ``/readyz``: this instance can serve: PostgreSQL answers. Redis (the broker) down is *degraded*, still
  200: the event API keeps accepting events into PostgreSQL and the relays publish them once Redis is
  back, so a load balancer must keep sending traffic. 503 only without the database. ``/healthz`` is the
  same view under its old name, for probes configured before these existed.
- ``/statusz``: the whole system, for monitoring and people, not for a load balancer: the database, the
  broker, the worker heartbeat, the relay's backlog and the queues. 503 when something needs a person
  (the database or broker unreachable, no worker consumed a task within NOTIFICATIONS_WORKER_STALE_SECONDS).
  It answers to the scraper as /metrics does (METRICS_TOKEN, METRICS_ALLOWED).

Each answer is a small JSON object; none carries anything about a person.
"""

from __future__ import annotations

from django.conf import settings
from django.db import connection
from django.http import JsonResponse
from django.urls import path
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from bevaka.metrics import relay_backlog, scrape_refusal


def _database_ok() -> bool:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        return True
    except Exception:
        return False


def _broker_ok() -> bool:
    from bevaka.celery import app

    try:
        with app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=2)
        return True
    except Exception:
        return False


def _ok(passed: bool) -> str:
    return "ok" if passed else "fail"


@never_cache
@require_GET
def livez(request):
    """200 while the process answers requests; asks nothing else."""
    return JsonResponse({"status": "ok"})


@never_cache
@require_GET
def readyz(request):
    """200 ``ok`` or ``degraded`` (the broker is down: events are still accepted), 503 ``unready`` without
    the database."""
    database, broker = _database_ok(), _broker_ok()
    status = "unready" if not database else "ok" if broker else "degraded"
    body = {"status": status, "database": _ok(database), "broker": _ok(broker)}
    return JsonResponse(body, status=200 if database else 503)


@never_cache
@require_GET
def statusz(request):
    """The system's state for monitoring: 200 when the database, the broker and a worker are fine, else 503;
    with the relay's backlog and the queues' lengths when they can be read."""
    refusal = scrape_refusal(request)
    if refusal is not None:
        return refusal
    from bevaka.metrics import queue_depths
    from notifications.liveness import seconds_since_task_consumed

    since = seconds_since_task_consumed()
    worker = since is not None and since <= settings.NOTIFICATIONS_WORKER_STALE_SECONDS
    database, broker = _database_ok(), _broker_ok()
    body: dict[str, object] = {
        "status": _ok(database and broker and worker),
        "database": _ok(database),
        "broker": _ok(broker),
        "worker": {"status": _ok(worker), "last_task_seconds_ago": None if since is None else round(since, 1)},
    }
    if database:
        body["relay_backlog"] = relay_backlog()
    if broker:
        body["queues"] = queue_depths()
    return JsonResponse(body, status=200 if body["status"] == "ok" else 503)


urlpatterns = [
    path("livez", livez, name="livez"),
    path("readyz", readyz, name="readyz"),
    path("healthz", readyz, name="healthz"),
    path("statusz", statusz, name="statusz"),
]
