import logging
import os
import time

from celery import Celery
from celery.signals import task_postrun, task_prerun, worker_process_init
from django.db import close_old_connections

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bevaka.settings")

app = Celery("bevaka")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@app.task(name="bevaka.ping")
def ping() -> str:
    """Answer "pong" from a worker: proves that the broker carries tasks to a live worker."""
    logging.getLogger("bevaka.ping").info("pong")
    return "pong"


@task_prerun.connect(dispatch_uid="bevaka.connections_before_task")
@task_postrun.connect(dispatch_uid="bevaka.connections_after_task")
def _close_old_connections(**kwargs) -> None:
    """A worker keeps its database connection between tasks as the web does between requests: closed when
    it broke or outlived CONN_MAX_AGE, checked (CONN_HEALTH_CHECKS) before its next use. Celery's Django
    fixup alone closes every connection before and after every task (CELERY_DB_REUSE_MAX in settings)."""
    close_old_connections()


@worker_process_init.connect(dispatch_uid="bevaka.warm_up_worker_process")
def warm_up_worker_process(**kwargs) -> None:
    """Build the URL resolver's reverse map and load the translations, in every language, before the first
    task. A send batch's threads each reverse a status-callback URL; on a new process all of them built
    the same map at once (the resolver's guard is per thread): 12 % of the send worker's busy samples in a
    quick burst's profile (docs/PERFORMANCE.md, "Fifth round")."""
    from django.conf import settings
    from django.urls import get_resolver
    from django.utils import translation

    resolver = get_resolver()
    for code, _name in settings.LANGUAGES:
        with translation.override(code):
            resolver.reverse_dict  # noqa: B018 - populates the map for this language


_task_started: dict[str, float] = {}


@task_prerun.connect(dispatch_uid="bevaka.metrics_task_started")
def _task_started_at(task_id=None, **kwargs) -> None:
    _task_started[task_id] = time.perf_counter()


@task_postrun.connect(dispatch_uid="bevaka.metrics_task_finished")
def _record_task(task_id=None, task=None, state=None, **kwargs) -> None:
    """Count the task by name and outcome with its run time, and write everything it counted, in one round
    trip to Redis (bevaka/metrics.py)."""
    from bevaka import metrics

    started = _task_started.pop(task_id, None)
    name = getattr(task, "name", "unknown")
    metrics.count("bevaka_celery_tasks_total", task=name, outcome=str(state or "unknown").lower())
    observed = {"bevaka_celery_task_duration_seconds": [(time.perf_counter() - started, {"task": name})]}
    metrics.flush(observed if started is not None else None)


# Logging through Django's LOGGING (JSON, masked), the task id on every line, the request id carried along.
from bevaka.observability import connect_celery_signals  # noqa: E402

connect_celery_signals()
