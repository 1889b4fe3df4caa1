"""The one publisher of send tasks: ids only, in batches of one lane each, after the caller's commit."""

from __future__ import annotations

import logging
from collections.abc import Iterable

from django.conf import settings

from .lanes import lane_of

log = logging.getLogger(__name__)


def publish_sends(deliveries: Iterable[tuple[int, str, str]]) -> None:
    """Publish send tasks for these deliveries, given as ``(id, purpose, channel)``: each to its lane's
    queue (``lanes.lane_of``), NOTIFICATIONS_BATCH_SIZE ids a task, so that a batch is of one lane and a
    code never waits in a batch of alerts. Call it after commit (``transaction.on_commit``): a task must
    find its rows. All of the tasks go out through one producer in one Redis pipeline. A lost publish is
    not lost work: the relay publishes queued rows again after their lease, so an error here is logged,
    not raised."""
    from . import tasks  # tasks imports the services that call this

    by_lane: dict[str, list[int]] = {}
    for pk, purpose, channel in deliveries:
        by_lane.setdefault(lane_of(purpose, channel), []).append(pk)
    if not by_lane:
        return
    size = settings.NOTIFICATIONS_BATCH_SIZE
    count = sum(len(ids) for ids in by_lane.values())
    try:
        with tasks.send_batch.app.producer_or_acquire() as producer, producer.batch():
            for lane, ids in by_lane.items():
                for start in range(0, len(ids), size):
                    tasks.send_batch.apply_async(
                        kwargs={"delivery_ids": ids[start : start + size]}, queue=lane, producer=producer
                    )
    except Exception:
        log.warning("could not publish send tasks for %d deliveries; the relay will", count)
