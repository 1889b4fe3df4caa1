import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bevaka.settings")

app = Celery("bevaka")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@app.task(name="bevaka.ping")
def ping() -> str:
    """Answer "pong" from a worker: proves that the broker carries tasks to a live worker."""
    return "pong"
