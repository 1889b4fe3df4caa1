"""The one publisher of send tasks: ids only, in batches, after the caller's commit."""

from __future__ import annotations

import logging

from django.conf import settings

log = logging.getLogger(__name__)


def publish_sends(delivery_ids: list[int]) -> None:
    """Publish send tasks for these deliveries, NOTIFICATIONS_BATCH_SIZE ids a task. Call it after commit
    (``transaction.on_commit``): a task must find its rows. A lost publish is not lost work: the relay
    publishes queued rows again after their lease, so an error here is logged, not raised."""
    from . import tasks  # tasks imports the services that call this

    size = settings.NOTIFICATIONS_BATCH_SIZE
    try:
        for start in range(0, len(delivery_ids), size):
            tasks.send_batch.delay(delivery_ids=delivery_ids[start : start + size])
    except Exception:
        log.warning("could not publish send tasks for %d deliveries; the relay will", len(delivery_ids))
