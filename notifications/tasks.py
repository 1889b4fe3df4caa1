"""Celery tasks: fetch by id, call one service. Late acks, so a lost worker's task is delivered again."""

import logging

from celery import shared_task
from celery.signals import task_prerun

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
    """Send one delivery (does nothing if it is gone, already claimed or not due). Nothing publishes it any
    more (``publishing.publish_sends`` publishes ``send_batch``); kept for the tasks already queued."""
    services.send_delivery(delivery_id=delivery_id)


@shared_task(name="notifications.send_batch", **_TASK_OPTIONS)
def send_batch(*, delivery_ids: list[int]) -> None:
    """Send several deliveries: one claim and one outcome write for the batch, concurrent provider
    requests (NOTIFICATIONS_SEND_CONCURRENCY threads, which never touch the database)."""
    services.send_deliveries(delivery_ids=delivery_ids)


@shared_task(name="notifications.relay_due_deliveries", **_TASK_OPTIONS)
def relay_due_deliveries() -> int:
    """Beat's relay: publish what is due or stuck. Returns how many deliveries were published."""
    return len(services.relay_due_deliveries())
