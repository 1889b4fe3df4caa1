"""Coalesced fan-out of events accepted one by one.

One fan-out task per single event fell 30–40 s behind the API's own rate (docs/PERFORMANCE.md): each paid a
task, a transaction and its statements for one event. Instead, a single event's commit asks for a fan-out
(``request``) and only the first ask of an idle period publishes one: a Redis flag (SET NX, with a TTL)
says one is pending. The task (``fan_out_pending``) clears the flag *before* it scans, then takes the
unfanned events in order of arrival, ``EVENTS_COALESCE_BOUND`` at a time with ``FOR UPDATE SKIP LOCKED``,
and loops while a full batch suggests more are waiting. So the first event of an idle period is fanned out
at once, and the events that arrive while a fan-out runs are taken together by the next one.

Nothing is lost in between: an event committed before the task cleared the flag is committed before its
scan, so the scan sees it (or a concurrent fan-out holds it locked and fans it out); one committed after
finds the flag cleared and publishes a task of its own. A lost task (a worker killed before it ran) leaves
the flag until its TTL (``EVENTS_COALESCE_FLAG_SECONDS``, 2 s: the longest a lost task delays the events
after it, which then publish another) and its events unfanned: the fan-out relay publishes them again after
``EVENTS_FANOUT_LEASE_SECONDS``, as for every lost publish. Without Redis (``make run``'s filesystem broker)
there is no shared flag: every ask publishes, and a task that finds nothing left does nothing.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.db import transaction

from .fanout import fan_out_locked
from .models import Event

log = logging.getLogger(__name__)

FLAG = "bevaka:fanout:pending"


def _redis():
    from notifications.ratelimit import redis_connection

    return redis_connection() if settings.REDIS_URL else None


def request() -> None:
    """After a single event's commit: publish a coalesced fan-out unless one is pending already. A lost
    publish is the relay's (the event's ``fanout_published_at`` is its lease); an error here is logged."""
    from . import tasks

    try:
        redis = _redis()
        ttl_ms = max(100, int(settings.EVENTS_COALESCE_FLAG_SECONDS * 1000))
        if redis is not None and not redis.set(FLAG, 1, nx=True, px=ttl_ms):
            return  # a pending fan-out will take this event: it clears the flag only before it scans
        tasks.fan_out_pending.delay()
    except Exception:
        log.warning("could not publish a coalesced fan-out; the relay will")


def fan_out_pending(*, bound: int | None = None) -> list[int]:
    """Fan out the unfanned events, oldest first, ``bound`` at a time (each batch one transaction of a
    constant number of statements), while more are waiting. Returns the new delivery ids."""
    bound = bound or settings.EVENTS_COALESCE_BOUND
    redis = _redis()
    if redis is not None:
        redis.delete(FLAG)
    delivery_ids: list[int] = []
    while True:
        try:
            with transaction.atomic():
                events = _lock_unfanned(bound)
                delivery_ids += fan_out_locked(events)
        except Exception:
            # One event that cannot be fanned out must not hold the others back, run after run: each of
            # this batch on its own, the failing one logged and left to the relay.
            log.exception("a coalesced fan-out failed; fanning out its events one by one")
            events = _one_by_one(bound, delivery_ids)
        if len(events) < bound:
            return delivery_ids


def _lock_unfanned(bound: int) -> list[Event]:
    return list(
        Event.objects.select_for_update(skip_locked=True, of=("self",))
        .select_related("company", "case_type")
        .filter(fanned_out_at__isnull=True)
        .order_by("received_at")[:bound]
    )


def _one_by_one(bound: int, delivery_ids: list[int]) -> list[Event]:
    """Fan out up to ``bound`` unfanned events each in a transaction of its own; returns them (a failure
    is logged, its event stays unfanned for the relay)."""
    with transaction.atomic():
        events = _lock_unfanned(bound)
    for event in events:
        try:
            with transaction.atomic():
                delivery_ids += fan_out_locked(_lock_event(event.pk))
        except Exception:
            log.exception("event %s could not be fanned out; the relay will publish it again", event.pk)
    return [] if len(events) < bound else events


def _lock_event(pk: int) -> list[Event]:
    return list(
        Event.objects.select_for_update(skip_locked=True, of=("self",))
        .select_related("company", "case_type")
        .filter(pk=pk, fanned_out_at__isnull=True)
    )
