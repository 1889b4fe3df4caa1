"""Celery tasks: fetch by id, call one service. Late acks, so a lost worker's task is delivered again."""

import contextvars
import logging
from concurrent.futures import ThreadPoolExecutor

from celery import shared_task
from celery.signals import task_prerun
from django.conf import settings
from django.db import connection

from . import services
from .liveness import record_task_consumed

log = logging.getLogger(__name__)

_TASK_OPTIONS = {"acks_late": True, "reject_on_worker_lost": True, "ignore_result": True}


@task_prerun.connect(dispatch_uid="notifications.record_task_consumed")
def _stamp_liveness(**kwargs) -> None:
    try:
        record_task_consumed()
    except Exception:
        log.warning("could not record worker liveness")


@shared_task(name="notifications.send_delivery", **_TASK_OPTIONS)
def send_delivery(*, delivery_id: int) -> None:
    """Send one delivery (does nothing if it is gone, already claimed or not due)."""
    services.send_delivery(delivery_id=delivery_id)


def _send_in_thread(delivery_id: int) -> None:
    try:
        services.send_delivery(delivery_id=delivery_id)
    except Exception:
        # The row stays claimed; the relay requeues it after its deadline.
        log.exception("delivery %s: send failed unexpectedly", delivery_id)
    finally:
        connection.close()


@shared_task(name="notifications.send_batch", **_TASK_OPTIONS)
def send_batch(*, delivery_ids: list[int]) -> None:
    """Send several deliveries with concurrent provider requests (NOTIFICATIONS_SEND_CONCURRENCY threads)."""
    workers = max(1, min(settings.NOTIFICATIONS_SEND_CONCURRENCY, len(delivery_ids)))
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="send") as pool:
        # Each thread runs in a copy of the task's context, so that its log lines carry the task id.
        futures = [pool.submit(contextvars.copy_context().run, _send_in_thread, pk) for pk in delivery_ids]
        for future in futures:
            future.result()


@shared_task(name="notifications.relay_due_deliveries", **_TASK_OPTIONS)
def relay_due_deliveries() -> int:
    """Beat's relay: publish what is due or stuck. Returns how many deliveries were published."""
    return len(services.relay_due_deliveries())


@shared_task(name="notifications.anonymise_old_records", **_TASK_OPTIONS)
def anonymise_old_records() -> dict:
    """Beat's daily retention run (notifications.retention). Returns how many rows it anonymised."""
    from .retention import anonymise_old_records as anonymise

    result = anonymise()
    return {"deliveries": result.deliveries, "events": result.events}
