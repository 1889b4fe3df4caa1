"""Claiming and sending deliveries: one path, for one delivery or a batch.

A delivery is sent only by the worker that claimed it (queued and due → sending, rows locked with SKIP
LOCKED), so a task that runs twice sends once. Before the provider request every delivery is checked
again: its purpose's check (``purposes``: an alert's recipient may have lost access, PRODUCT.md rule 6)
and its destination's suspension. The provider requests of a batch run concurrently
(NOTIFICATIONS_SEND_CONCURRENCY threads, which never touch the database but for a late re-check), and
their outcomes are written afterwards (``outcomes``).
"""

from __future__ import annotations

import contextvars
import datetime
import logging
import os
import threading
import time
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from bevaka import metrics

from . import purposes
from .channels import AMBIGUOUS, PERMANENT, ChannelError, get_channel
from .lanes import CODES, lane_of
from .models import Delivery, DeliveryStatus
from .outcomes import Accepted, Stop, cancel, record_failure, record_sent, retry_later
from .ratelimit import RateLimited, acquire
from .suspensions import suspensions_of

log = logging.getLogger(__name__)


def send_delivery(*, delivery_id: int) -> None:
    """Send one delivery if it is queued and due, and record what happened: ``send_deliveries`` of one."""
    send_deliveries(delivery_ids=[delivery_id])


def send_deliveries(*, delivery_ids: Iterable[int]) -> None:
    """Send the queued and due ones of these deliveries and record what happened to each.

    A delivery that is gone, already claimed, finished or not yet due is left alone, so running this
    twice sends once. Each claimed one is then cancelled when its purpose's check stops it or its
    destination is suspended; otherwise it gets a rate-limit token (no token soon, or no Redis: a retry
    that does not count as an attempt) and one provider request, whose outcome is recorded — sent, a
    retry scheduled in ``next_attempt_at``, failed (and the destination suspended when the error says
    so), or, when the provider may have accepted it, a wait for its status callback.

    A constant number of queries for the batch: one claim (a locking SELECT and one UPDATE), one check
    per purpose, one suspension lookup, one UPDATE for every accepted send and one for provider ids a
    callback got to first. Only failures, cancellations and alerts whose rate-limit wait outlived their
    check are written or read one by one.
    """
    ids = sorted(set(delivery_ids))
    if not ids:
        return
    claimed = _claim(ids)
    if not claimed:
        return
    stops = send_time_stops(claimed)
    checked_at = time.monotonic()
    to_send = []
    for delivery in claimed:
        if delivery.pk in stops:
            cancel(delivery, stops[delivery.pk])
            metrics.count("bevaka_delivery_outcomes_total", channel=delivery.channel, outcome="cancelled")
        else:
            to_send.append(delivery)
    if not to_send:
        return
    sent = []
    for delivery, outcome in zip(to_send, _provider_sends(to_send, checked_at), strict=True):
        if isinstance(outcome, Accepted):
            sent.append((delivery, outcome))
            result = "sent"
        elif isinstance(outcome, Stop):
            cancel(delivery, outcome)
            result = "cancelled"
        elif isinstance(outcome, RateLimited):
            retry_later(delivery, ChannelError("local rate limit", kind="transient"), count_attempt=False)
            result = "rate_limited"
        elif isinstance(outcome, _NoToken):
            log.warning("delivery %s: no rate-limit token (%s); retrying later", delivery.pk, outcome)
            retry_later(delivery, ChannelError("rate limit unavailable", kind="transient"), count_attempt=False)
            result = "no_token"
        elif isinstance(outcome, ChannelError):
            record_failure(delivery, outcome)
            metrics.count("bevaka_provider_errors_total", channel=delivery.channel, kind=outcome.kind)
            result = {PERMANENT: "failed", AMBIGUOUS: "ambiguous"}.get(outcome.kind, "retry")
        else:
            # A bug or a misconfiguration: keep the delivery and try again later rather than lose it.
            log.error("delivery %s: unexpected error while sending", delivery.pk, exc_info=outcome)
            retry_later(delivery, ChannelError(f"unexpected {type(outcome).__name__}", kind="transient"))
            metrics.count("bevaka_provider_errors_total", channel=delivery.channel, kind="unexpected")
            result = "retry"
        # In memory only; written with the task's other counts after it (bevaka/metrics.py).
        metrics.count("bevaka_delivery_outcomes_total", channel=delivery.channel, outcome=result)
    record_sent(sent)


def send_time_stops(deliveries: Sequence[Delivery]) -> dict[int, Stop]:
    """Why each of these deliveries must not be sent now (only those that must not), as the send path
    decides it: its purpose's check first (``purposes``), then its destination's suspension. Two queries
    for any number of deliveries (one per purpose with a check, one for the suspensions)."""
    stops = {pk: Stop(reason) for pk, reason in purposes.stop_reasons(deliveries).items()}
    suspended = suspensions_of({(d.channel, d.destination) for d in deliveries})
    for delivery in deliveries:
        suspension = suspended.get((delivery.channel, delivery.destination))
        if suspension is not None and delivery.pk not in stops:
            stops[delivery.pk] = Stop(
                f"destination suspended: {suspension.get_reason_display()}", error_code=suspension.error_code
            )
    return stops


def _claim(delivery_ids: list[int]) -> list[Delivery]:
    """Claim the queued and due ones of these deliveries (queued → sending) in one transaction: rows are
    locked with SKIP LOCKED, so two workers never claim the same row; returns them as now stored."""
    now = timezone.now()
    deadline = now + datetime.timedelta(seconds=settings.NOTIFICATIONS_SENDING_TIMEOUT)
    with transaction.atomic():
        rows = list(
            Delivery.objects.select_for_update(skip_locked=True)
            .filter(pk__in=delivery_ids, status=DeliveryStatus.QUEUED, next_attempt_at__lte=now)
            .order_by("pk")
        )
        if rows:
            Delivery.objects.filter(pk__in=[d.pk for d in rows]).update(
                status=DeliveryStatus.SENDING,
                attempts=F("attempts") + 1,
                claimed_at=now,
                next_attempt_at=deadline,
                updated_at=now,
            )
    for delivery in rows:
        delivery.status = DeliveryStatus.SENDING
        delivery.attempts += 1
        delivery.claimed_at = delivery.updated_at = now
        delivery.next_attempt_at = deadline
    return rows


_pool_lock = threading.Lock()
_pool: tuple[int, ThreadPoolExecutor] | None = None


def _send_pool() -> ThreadPoolExecutor:
    """The process's sending threads (NOTIFICATIONS_SEND_CONCURRENCY), kept between batches: each keeps
    its twilio client and HTTP session (a new thread per batch built new ones every time). Made anew in
    a forked child, which inherits no threads."""
    global _pool
    with _pool_lock:
        if _pool is None or _pool[0] != os.getpid():
            _pool = (
                os.getpid(),
                ThreadPoolExecutor(max_workers=settings.NOTIFICATIONS_SEND_CONCURRENCY, thread_name_prefix="send"),
            )
        return _pool[1]


def _provider_sends(deliveries: list[Delivery], checked_at: float) -> list[Accepted | Exception | Stop]:
    """The provider requests of these deliveries, concurrently on the process's sending threads; one
    alone is sent from the calling thread (a verification code waits for no thread hand-over)."""
    if len(deliveries) == 1:
        return [_provider_send(deliveries[0], checked_at)]
    pool = _send_pool()
    # Each request runs in a copy of the task's context, so that its log lines carry the task id.
    futures = [pool.submit(contextvars.copy_context().run, _provider_send, d, checked_at) for d in deliveries]
    return [future.result() for future in futures]


class _NoToken(Exception):
    """Redis (the shared bucket) could not be asked: nothing was sent, so this is not an attempt."""


def _provider_send(delivery: Delivery, checked_at: float) -> Accepted | Exception | Stop:
    """One provider request; the provider's answer, the error, or why it was stopped. The rate-limit token
    comes first. The batch checked every delivery once before; when waiting for the token made that check
    older than NOTIFICATIONS_SEND_CHECK_MAX_AGE, a delivery whose purpose has a check is checked again
    here, so a revocation committed during the wait still stops it (PRODUCT.md rule 6: as close to the
    provider request as we can put it). Otherwise no database here: the batch writes every outcome."""
    try:
        acquire(delivery.channel, code=lane_of(delivery.purpose, delivery.channel) == CODES)
    except RateLimited as error:
        return error
    except Exception as error:
        return _NoToken(type(error).__name__)
    try:
        if (
            purposes.has_stop_check(delivery.purpose)
            and time.monotonic() - checked_at > settings.NOTIFICATIONS_SEND_CHECK_MAX_AGE
        ):
            try:
                reason = purposes.stop_reasons([delivery]).get(delivery.pk)
            finally:
                connection.close()  # this thread's own connection; the pool's threads live long
            if reason:
                return Stop(reason)
        provider_id = get_channel(delivery.channel).send(delivery)
    except Exception as error:
        return error
    return Accepted(provider_id, timezone.now())  # sent_at: when the provider answered, not the batch's write
