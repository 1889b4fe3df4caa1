import logging
import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bevaka.settings")

app = Celery("bevaka")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@app.task(name="bevaka.ping")
def ping() -> str:
    """Answer "pong" from a worker: proves that the broker carries tasks to a live worker."""
    logging.getLogger("bevaka.ping").info("pong")
    return "pong"


# Logging through Django's LOGGING (JSON, masked), the task id on every line, the request id carried along.
from bevaka.observability import connect_celery_signals  # noqa: E402

connect_celery_signals()
