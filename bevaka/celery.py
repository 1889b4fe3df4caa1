import logging
import os

from celery import Celery
from celery.signals import task_postrun, task_prerun
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


# Logging through Django's LOGGING (JSON, masked), the task id on every line, the request id carried along.
from bevaka.observability import connect_celery_signals  # noqa: E402

connect_celery_signals()
