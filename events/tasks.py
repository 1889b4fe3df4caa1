"""Celery tasks of the fan-out: fetch by id, call one function. Late acks: a lost worker's task comes back,
and the relay finds an event whose task was lost altogether."""

from celery import shared_task

from . import coalesce, fanout, retention

_TASK_OPTIONS = {"acks_late": True, "reject_on_worker_lost": True, "ignore_result": True}


@shared_task(name="events.fan_out", **_TASK_OPTIONS)
def fan_out(*, event_id: int) -> int:
    """Create and publish the event's deliveries (nothing if already fanned out). Returns how many."""
    return len(fanout.fan_out(event_id=event_id))


@shared_task(name="events.fan_out_batch", **_TASK_OPTIONS)
def fan_out_batch(*, event_ids: list[int]) -> int:
    """``fan_out`` for several events, their sends published together. Returns how many deliveries."""
    return len(fanout.fan_out_events(event_ids=event_ids))


@shared_task(name="events.fan_out_pending", **_TASK_OPTIONS)
def fan_out_pending() -> int:
    """The coalesced fan-out of single events (``coalesce``): every unfanned event, a bounded batch at a
    time. Returns how many deliveries."""
    return len(coalesce.fan_out_pending())


@shared_task(name="events.relay_unfanned_events", **_TASK_OPTIONS)
def relay_unfanned_events() -> int:
    """Beat's relay: publish the fan-out of events still not fanned out. Returns how many."""
    return len(fanout.relay_unfanned_events())


@shared_task(name="events.anonymise_old_records", **_TASK_OPTIONS)
def anonymise_old_records() -> dict:
    """Beat's daily retention run (events.retention). Returns how many rows it anonymised."""
    result = retention.anonymise_old_records()
    return {"deliveries": result.deliveries, "events": result.events}
