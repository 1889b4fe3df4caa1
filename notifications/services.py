"""Every state change of a delivery: queue, claim and send, record the outcome, relay, status callbacks.

Rules that hold across these functions:
- a delivery is sent only by the worker that claimed it with a conditional UPDATE (queued and due →
  sending), so a task that runs twice sends once;
- retries are scheduled in PostgreSQL (``next_attempt_at``) and picked up by the relay, never by long
  Celery countdowns;
- an outcome is written with a conditional UPDATE on the status it expects, and a provider status never
  moves a delivery to a lower rank (``models.STATUS_RANK``);
- logs name deliveries by id and masked destination only.
"""

from __future__ import annotations

import contextvars
import datetime
import logging
import os
import random
import threading
import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import NamedTuple

from django.conf import settings
from django.db import DatabaseError, InterfaceError, OperationalError, connection, transaction
from django.db.models import F, Q
from django.utils import timezone

from bevaka.metrics import observe_many

from .channels import AMBIGUOUS, PERMANENT, ChannelError, get_channel
from .masking import mask_destination
from .models import (
    STATUS_RANK,
    Channel,
    Delivery,
    DeliveryStatus,
    Purpose,
    SuspendedDestination,
    SuspensionReason,
)
from .ratelimit import RateLimited, acquire

log = logging.getLogger(__name__)

__all__ = [
    "clear_suspension",
    "is_suspended",
    "mask_destination",
    "queue_delivery",
    "record_sms_status",
    "relay_due_deliveries",
    "retry_deliveries",
    "send_deliveries",
    "send_delivery",
    "suspend_destination",
]


class DeliveryError(ValueError):
    """A delivery that cannot be queued as asked (unknown channel or purpose, empty destination)."""


def _normalise(channel: str, destination: str) -> str:
    destination = (destination or "").strip()
    return destination.lower() if channel == Channel.EMAIL else destination


def _enqueue(delivery_ids: list[int]) -> None:
    """Publish send tasks; a lost publish is not lost work: the relay finds the rows again."""
    from . import tasks

    try:
        if len(delivery_ids) == 1:
            tasks.send_delivery.delay(delivery_id=delivery_ids[0])
        else:
            size = settings.NOTIFICATIONS_BATCH_SIZE
            for start in range(0, len(delivery_ids), size):
                tasks.send_batch.delay(delivery_ids=delivery_ids[start : start + size])
    except Exception:
        log.warning("could not publish send tasks for %d deliveries; the relay will", len(delivery_ids))


@transaction.atomic
def queue_delivery(
    *,
    channel: str,
    destination: str,
    purpose: str,
    body: str,
    subject: str = "",
    html_body: str = "",
    unsubscribe_url: str = "",
    user=None,
    company=None,
) -> Delivery:
    """Record one message for sending and publish its send task after commit.

    The delivery exists once the surrounding transaction commits, whatever happens to the broker. A
    suspended destination gets a delivery that is already cancelled (with the reason), so the caller can
    show it. ``unsubscribe_url`` (e-mail only) adds RFC 8058 one-click List-Unsubscribe headers.
    Raises DeliveryError for an unknown channel or purpose or an empty destination or body.
    """
    if channel not in Channel.values:
        raise DeliveryError(f"unknown channel {channel!r}")
    if purpose not in Purpose.values:
        raise DeliveryError(f"unknown purpose {purpose!r}")
    destination = _normalise(channel, destination)
    if not destination or not body:
        raise DeliveryError("a delivery needs a destination and a body")
    now = timezone.now()
    delivery = Delivery(
        user=user,
        company=company,
        channel=channel,
        destination=destination,
        purpose=purpose,
        subject=subject,
        body=body,
        html_body=html_body,
        unsubscribe_url=unsubscribe_url if channel == Channel.EMAIL else "",
        next_attempt_at=now,
        relayed_at=now,
    )
    suspension = _suspension(channel, destination)
    if suspension is not None:
        delivery.status = DeliveryStatus.CANCELLED
        delivery.next_attempt_at = None
        delivery.last_error = f"destination suspended: {suspension.get_reason_display()}"
        delivery.error_code = suspension.error_code
        delivery.save()
        log.info("delivery %s to %s cancelled: destination suspended", delivery.pk, delivery.masked_destination)
        return delivery
    delivery.save()
    transaction.on_commit(lambda: _enqueue([delivery.pk]))
    return delivery


def _suspension(channel: str, destination: str) -> SuspendedDestination | None:
    return SuspendedDestination.objects.filter(channel=channel, destination=destination).first()


def is_suspended(*, channel: str, destination: str) -> bool:
    """Must nothing be sent to this destination on this channel (a permanent failure suspended it)?"""
    return SuspendedDestination.objects.filter(channel=channel, destination=_normalise(channel, destination)).exists()


def suspend_destination(
    *, channel: str, destination: str, reason: str, error_code: str = "", detail: str = "", delivery=None
) -> SuspendedDestination:
    """Stop every send to this destination until ``clear_suspension``; idempotent (first reason kept)."""
    suspension, _ = SuspendedDestination.objects.get_or_create(
        channel=channel,
        destination=_normalise(channel, destination),
        defaults={
            "reason": reason,
            "error_code": error_code,
            "detail": detail,
            "delivery": delivery,
            "user": getattr(delivery, "user", None),
        },
    )
    return suspension


@transaction.atomic
def clear_suspension(*, channel: str, destination: str, opted_in: bool = False) -> bool:
    """Lift a suspension, e.g. when the user verifies the destination again. Returns whether one was lifted.

    A number that opted out (Twilio 21610, the recipient sent STOP) is lifted only with ``opted_in=True``:
    the recipient must have opted in again (sent START), or Twilio keeps refusing it.
    """
    suspensions = SuspendedDestination.objects.filter(channel=channel, destination=_normalise(channel, destination))
    if not opted_in:
        suspensions = suspensions.exclude(reason=SuspensionReason.OPTED_OUT)
    deleted, _ = suspensions.delete()
    return deleted > 0


def retry_delay(attempts: int) -> float:
    """Seconds before attempt ``attempts + 1``: exponential back-off with full jitter, capped."""
    base = settings.NOTIFICATIONS_RETRY_BASE_SECONDS
    ceiling = min(settings.NOTIFICATIONS_RETRY_MAX_SECONDS, base * 2 ** max(0, attempts - 1))
    return ceiling / 2 + random.uniform(0, ceiling / 2)  # noqa: S311 - jitter, not security


def _claim(delivery_id: int) -> bool:
    now = timezone.now()
    return (
        Delivery.objects.filter(pk=delivery_id, status=DeliveryStatus.QUEUED, next_attempt_at__lte=now).update(
            status=DeliveryStatus.SENDING,
            attempts=F("attempts") + 1,
            claimed_at=now,
            next_attempt_at=now + datetime.timedelta(seconds=settings.NOTIFICATIONS_SENDING_TIMEOUT),
            updated_at=now,
        )
        == 1
    )


def send_delivery(*, delivery_id: int) -> None:
    """Send one delivery if it is queued and due, and record what happened.

    Claims the row first (queued and due → sending); a delivery that is gone, already claimed, finished
    or not yet due is left alone, so running this twice sends once. Then a rate-limit token (no token soon,
    or no Redis: a retry that does not count as an attempt). Then: a suspended destination is
    cancelled, and so is an event alert the recipient may no longer get (``events.fanout.alert_stop_reason``);
    otherwise one send through the channel, and the outcome — sent, a retry scheduled in
    ``next_attempt_at``, failed (and the destination suspended when the error says so), or, when the
    provider may have accepted it, a wait for its status callback.
    """
    if not _claim(delivery_id):
        return
    delivery = Delivery.objects.select_related("event").get(pk=delivery_id)
    # The rate-limit token first, the checks after it: waiting for a token can take up to
    # NOTIFICATIONS_RATE_LIMIT_MAX_WAIT seconds, and a revocation committed during that wait must still stop
    # the send (PRODUCT.md rule 6: the check runs as close to the provider request as we can put it).
    try:
        acquire(delivery.channel)
    except RateLimited:
        _retry_later(delivery, ChannelError("local rate limit", kind="transient"), count_attempt=False)
        return
    except Exception as error:
        # Redis (the shared bucket) unreachable: nothing was sent, so this is not an attempt either.
        log.warning("delivery %s: no rate-limit token (%s); retrying later", delivery.pk, type(error).__name__)
        _retry_later(delivery, ChannelError("rate limit unavailable", kind="transient"), count_attempt=False)
        return
    if delivery.event_id is not None and delivery.purpose == Purpose.ALERT:
        # PRODUCT.md rule 6: access, agreement and watch are checked again as they are now (one query).
        from events.fanout import alert_stop_reason

        reason = alert_stop_reason(delivery)
        if reason:
            _cancel_stopped(delivery, reason)
            return
    suspension = _suspension(delivery.channel, delivery.destination)
    if suspension is not None:
        _cancel_suspended(delivery, suspension)
        return
    try:
        provider_id = get_channel(delivery.channel).send(delivery)
    except ChannelError as error:
        _record_failure(delivery, error)
    except Exception as error:
        # A bug or a misconfiguration: keep the delivery and try again later rather than lose it.
        log.exception("delivery %s: unexpected error while sending", delivery.pk)
        _retry_later(delivery, ChannelError(f"unexpected {type(error).__name__}", kind="transient"))
    else:
        _record_sent_durably(delivery, provider_id)


def _cancel_stopped(delivery: Delivery, reason: str) -> None:
    """The send-time check (rule 6) stopped this alert: the recipient may no longer get it."""
    _finish(delivery, status=DeliveryStatus.CANCELLED, last_error=reason)
    log.info("delivery %s to %s %s", delivery.pk, delivery.masked_destination, reason)


def _cancel_suspended(delivery: Delivery, suspension: SuspendedDestination) -> None:
    _finish(
        delivery,
        status=DeliveryStatus.CANCELLED,
        last_error=f"destination suspended: {suspension.get_reason_display()}",
        error_code=suspension.error_code,
    )


def _record_sent_durably(delivery: Delivery, provider_id: str, *, at: datetime.datetime | None = None) -> None:
    """The provider has the message: failing to store that makes the relay send it again, so try hard.

    A database that cannot be reached (an outage, a failover) is retried every half second for
    ``NOTIFICATIONS_OUTCOME_RETRY_SECONDS``; any other database error stores "sent" without the provider id.
    What still cannot be stored is resent after the claim's deadline: a duplicate, never a loss.
    """
    deadline = time.monotonic() + settings.NOTIFICATIONS_OUTCOME_RETRY_SECONDS
    while True:
        try:
            _record_sent(delivery, provider_id, at=at)
            return
        except (OperationalError, InterfaceError):
            if time.monotonic() > deadline:
                raise
            log.warning("delivery %s sent; the database is unreachable, retrying the outcome", delivery.pk)
            connection.close()
            time.sleep(0.5)
        except DatabaseError:
            log.exception("delivery %s sent; its provider id could not be stored", delivery.pk)
            _record_sent(delivery, "", at=at)
            return


def _claim_many(delivery_ids: list[int]) -> list[Delivery]:
    """Claim the queued and due ones of these deliveries (queued → sending) in one transaction: rows are
    locked with SKIP LOCKED, so two workers never claim the same row; returns them as now stored, with
    their event (for the latency metric)."""
    now = timezone.now()
    deadline = now + datetime.timedelta(seconds=settings.NOTIFICATIONS_SENDING_TIMEOUT)
    with transaction.atomic():
        rows = list(
            Delivery.objects.select_related("event")
            .select_for_update(skip_locked=True, of=("self",))
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


class _Stopped:
    """A send the rule-6 re-check stopped after a long wait for its rate-limit token."""

    def __init__(self, reason: str) -> None:
        self.reason = reason


class _NoToken(Exception):
    """Redis (the shared bucket) could not be asked: nothing was sent, so this is not an attempt."""


class _Accepted(NamedTuple):
    provider_id: str
    at: datetime.datetime


def _provider_send(delivery: Delivery, checked_at: float) -> _Accepted | Exception | _Stopped:
    """One provider request; the provider id, the error, or why it was stopped. The rate-limit token
    comes first. The batch checked every alert once before (PRODUCT.md rule 6); when waiting for the
    token made that check older than NOTIFICATIONS_SEND_CHECK_MAX_AGE, this alert is checked again here,
    so a revocation committed during the wait still stops it. Otherwise no database here: the batch
    writes every outcome afterwards."""
    try:
        acquire(delivery.channel)
    except RateLimited as error:
        return error
    except Exception as error:
        return _NoToken(type(error).__name__)
    try:
        if (
            delivery.event_id is not None
            and delivery.purpose == Purpose.ALERT
            and time.monotonic() - checked_at > settings.NOTIFICATIONS_SEND_CHECK_MAX_AGE
        ):
            from events.fanout import alert_stop_reason

            try:
                reason = alert_stop_reason(delivery)
            finally:
                connection.close()  # this thread's own connection; the pool's threads live long
            if reason:
                return _Stopped(reason)
        provider_id = get_channel(delivery.channel).send(delivery)
    except Exception as error:
        return error
    return _Accepted(provider_id, timezone.now())  # sent_at: when the provider answered, not the batch's write


def send_deliveries(*, delivery_ids: Iterable[int]) -> None:
    """Send several deliveries, the provider requests concurrently (NOTIFICATIONS_SEND_CONCURRENCY), with
    the guarantees of ``send_delivery`` for each, in a constant number of queries for the batch: one claim
    (a locking SELECT and one UPDATE), one send-time check of every event alert, one suspension lookup,
    one UPDATE for every accepted send and one for provider ids a callback got to first. Only failures,
    cancellations and alerts whose rate-limit wait outlived their check are written or read one by one.
    """
    ids = sorted(set(delivery_ids))
    if not ids:
        return
    claimed = _claim_many(ids)
    if not claimed:
        return
    alerts = [d for d in claimed if d.event_id is not None and d.purpose == Purpose.ALERT]
    reasons = {}
    if alerts:
        from events.fanout import alert_stop_reasons

        reasons = alert_stop_reasons(alerts)
    checked_at = time.monotonic()
    suspended = _suspensions(claimed)
    to_send = []
    for delivery in claimed:
        reason = reasons.get(delivery.pk)
        suspension = suspended.get((delivery.channel, delivery.destination))
        if reason:
            _cancel_stopped(delivery, reason)
        elif suspension is not None:
            _cancel_suspended(delivery, suspension)
        else:
            to_send.append(delivery)
    if not to_send:
        return
    pool = _send_pool()
    # Each request runs in a copy of the task's context, so that its log lines carry the task id.
    futures = [pool.submit(contextvars.copy_context().run, _provider_send, d, checked_at) for d in to_send]
    sent = []
    for delivery, future in zip(to_send, futures, strict=True):
        outcome = future.result()
        if isinstance(outcome, _Accepted):
            sent.append((delivery, outcome))
        elif isinstance(outcome, _Stopped):
            _cancel_stopped(delivery, outcome.reason)
        elif isinstance(outcome, RateLimited):
            _retry_later(delivery, ChannelError("local rate limit", kind="transient"), count_attempt=False)
        elif isinstance(outcome, _NoToken):
            log.warning("delivery %s: no rate-limit token (%s); retrying later", delivery.pk, outcome)
            _retry_later(delivery, ChannelError("rate limit unavailable", kind="transient"), count_attempt=False)
        elif isinstance(outcome, ChannelError):
            _record_failure(delivery, outcome)
        else:
            log.error("delivery %s: unexpected error while sending", delivery.pk, exc_info=outcome)
            _retry_later(delivery, ChannelError(f"unexpected {type(outcome).__name__}", kind="transient"))
    _record_sent_many_durably(sent)


def _record_sent_many_durably(sent: list[tuple[Delivery, _Accepted]]) -> None:
    """The provider has these messages: store that as ``_record_sent_durably`` does for one — retried
    while the database cannot be reached, then one by one, so one bad row cannot leave the batch claimed."""
    deadline = time.monotonic() + settings.NOTIFICATIONS_OUTCOME_RETRY_SECONDS
    while True:
        try:
            _record_sent_many(sent)
            return
        except (OperationalError, InterfaceError):
            if time.monotonic() > deadline:
                raise  # as _record_sent_durably: the rows stay claimed and the relay resends them
            log.warning("%d deliveries sent; the database is unreachable, retrying their outcome", len(sent))
            connection.close()
            time.sleep(0.5)
        except DatabaseError:
            log.exception("could not record %d sends at once; recording them one by one", len(sent))
            break
    # One bad row: each is recorded alone, and one that still fails is stored as sent without its provider id.
    for delivery, accepted in sent:
        try:
            _record_sent_durably(delivery, accepted.provider_id, at=accepted.at)
        except DatabaseError:
            log.exception("delivery %s: sent, but its outcome could not be stored", delivery.pk)


def _suspensions(deliveries: list[Delivery]) -> dict[tuple[str, str], SuspendedDestination]:
    wanted = Q(pk__in=[])
    for channel in {d.channel for d in deliveries}:
        wanted |= Q(channel=channel, destination__in=[d.destination for d in deliveries if d.channel == channel])
    return {(s.channel, s.destination): s for s in SuspendedDestination.objects.filter(wanted)}


def _record_sent_many(sent: list[tuple[Delivery, _Accepted]]) -> None:
    if not sent:
        return
    adapt = connection.ops.adapt_datetimefield_value
    now = adapt(timezone.now())
    # In SQL, portable to SQLite: building the ORM's Case with a When for every row of the batch (two of
    # them, and again for the second statement) cost the burst's send worker 1.70 instead of 1.41 ms of CPU
    # per delivery (docs/PERFORMANCE.md, "Fifth round").
    ids = [delivery.pk for delivery, _ in sent]
    id_list = ", ".join(["%s"] * len(ids))
    provider_ids = [value for delivery, accepted in sent for value in (delivery.pk, accepted.provider_id)]
    sent_at = [value for delivery, accepted in sent for value in (delivery.pk, adapt(accepted.at))]
    when = " ".join(["WHEN %s THEN %s"] * len(sent))
    table = Delivery._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} SET status = %s, provider_id = CASE id {when} END, sent_at = CASE id {when} END, "  # noqa: S608 - our table, values are parameters
            f"next_attempt_at = NULL, last_error = '', error_code = '', updated_at = %s "
            f"WHERE id IN ({id_list}) AND status = %s",
            [DeliveryStatus.SENT, *provider_ids, *sent_at, now, *ids, DeliveryStatus.SENDING],
        )
        if cursor.rowcount < len(ids):
            # A status callback that got there first moved its row on, maybe without knowing the provider id.
            cursor.execute(
                f"UPDATE {table} SET provider_id = CASE id {when} END, updated_at = %s "  # noqa: S608 - as above
                f"WHERE id IN ({id_list}) AND provider_id = ''",
                [*provider_ids, now, *ids],
            )
    for delivery, _accepted in sent:
        log.info("delivery %s to %s sent", delivery.pk, delivery.masked_destination)
    observe_many(
        "bevaka_event_to_provider_seconds",
        [
            ((accepted.at - delivery.event.received_at).total_seconds(), {"channel": delivery.channel})
            for delivery, accepted in sent
            if delivery.event_id is not None
        ],
    )


def _record_sent(delivery: Delivery, provider_id: str, *, at: datetime.datetime | None = None) -> None:
    _record_sent_many([(delivery, _Accepted(provider_id, at or timezone.now()))])


def _finish(delivery: Delivery, *, status: str, last_error: str, error_code: str = "") -> bool:
    now = timezone.now()
    return bool(
        Delivery.objects.filter(pk=delivery.pk, status=DeliveryStatus.SENDING).update(
            status=status, last_error=last_error, error_code=error_code, next_attempt_at=None, updated_at=now
        )
    )


def _retry_later(delivery: Delivery, error: ChannelError, *, count_attempt: bool = True) -> None:
    attempts = delivery.attempts if count_attempt else delivery.attempts - 1
    if attempts >= settings.NOTIFICATIONS_MAX_ATTEMPTS:
        _finish(
            delivery,
            status=DeliveryStatus.FAILED,
            last_error=f"gave up after {attempts} attempts: {error}",
            error_code=error.code,
        )
        log.warning("delivery %s to %s failed: %s", delivery.pk, delivery.masked_destination, error)
        return
    now = timezone.now()
    Delivery.objects.filter(pk=delivery.pk, status=DeliveryStatus.SENDING).update(
        status=DeliveryStatus.QUEUED,
        attempts=attempts,
        next_attempt_at=now + datetime.timedelta(seconds=retry_delay(max(1, attempts))),
        relayed_at=None,  # the relay publishes it when due
        last_error=str(error),
        error_code=error.code,
        updated_at=now,
    )
    log.info("delivery %s to %s will be retried: %s", delivery.pk, delivery.masked_destination, error)


def _record_failure(delivery: Delivery, error: ChannelError) -> None:
    if error.kind == PERMANENT:
        with transaction.atomic():
            if error.suspension:
                suspend_destination(
                    channel=delivery.channel,
                    destination=delivery.destination,
                    reason=error.suspension,
                    error_code=error.code,
                    detail=error.message,
                    delivery=delivery,
                )
            _finish(delivery, status=DeliveryStatus.FAILED, last_error=str(error), error_code=error.code)
        log.warning("delivery %s to %s failed permanently: %s", delivery.pk, delivery.masked_destination, error)
    elif error.kind == AMBIGUOUS:
        now = timezone.now()
        Delivery.objects.filter(pk=delivery.pk, status=DeliveryStatus.SENDING).update(
            next_attempt_at=now + datetime.timedelta(seconds=settings.NOTIFICATIONS_AMBIGUOUS_WAIT_SECONDS),
            last_error=str(error),
            error_code=error.code,
            updated_at=now,
        )
        log.warning(
            "delivery %s to %s: outcome unknown, waiting for the provider: %s",
            delivery.pk,
            delivery.masked_destination,
            error,
        )
    else:
        _retry_later(delivery, error)


def relay_due_deliveries(*, limit: int | None = None) -> list[int]:
    """Publish send tasks for deliveries that are due and for sends that never reported back.

    Rows are taken with ``SELECT … FOR UPDATE SKIP LOCKED``, so several relays (beat on several machines)
    never take the same row. A queued row is published when due and not published within the last
    ``NOTIFICATIONS_RELAY_LEASE_SECONDS`` (a lost task or a lost on_commit is published again). A sending
    row past its deadline (worker crash, or no status callback after an ambiguous send) goes back to
    queued for a bounded resend, or fails when attempts or ambiguous resends are used up.
    Returns the ids published.
    """
    limit = limit or settings.NOTIFICATIONS_RELAY_LIMIT
    now = timezone.now()
    lease = now - datetime.timedelta(seconds=settings.NOTIFICATIONS_RELAY_LEASE_SECONDS)
    with transaction.atomic():
        overdue = list(
            Delivery.objects.select_for_update(skip_locked=True)
            .filter(status=DeliveryStatus.SENDING, next_attempt_at__lte=now)
            .order_by("next_attempt_at")
            .only("pk", "attempts", "ambiguous_resends", "last_error", "error_code", "provider_id")[:limit]
        )
        for delivery in overdue:
            ambiguous = delivery.last_error.startswith(AMBIGUOUS)
            if delivery.provider_id:
                # The provider acknowledged the message (a callback told us): never resend it.
                Delivery.objects.filter(pk=delivery.pk).update(
                    status=DeliveryStatus.SENT, next_attempt_at=None, sent_at=now, updated_at=now
                )
            elif delivery.attempts >= settings.NOTIFICATIONS_MAX_ATTEMPTS or (
                ambiguous and delivery.ambiguous_resends >= settings.NOTIFICATIONS_MAX_AMBIGUOUS_RESENDS
            ):
                Delivery.objects.filter(pk=delivery.pk).update(
                    status=DeliveryStatus.FAILED,
                    next_attempt_at=None,
                    last_error=f"no outcome after {delivery.attempts} attempts: "
                    + (delivery.last_error or "worker lost"),
                    updated_at=now,
                )
            else:
                Delivery.objects.filter(pk=delivery.pk).update(
                    status=DeliveryStatus.QUEUED,
                    next_attempt_at=now,
                    relayed_at=None,
                    ambiguous_resends=F("ambiguous_resends") + (1 if ambiguous else 0),
                    last_error=delivery.last_error or "worker lost while sending",
                    updated_at=now,
                )
        due = list(
            Delivery.objects.select_for_update(skip_locked=True)
            .filter(status=DeliveryStatus.QUEUED, next_attempt_at__lte=now)
            .filter(Q(relayed_at__isnull=True) | Q(relayed_at__lt=lease))
            .order_by("next_attempt_at")
            .values_list("pk", flat=True)[:limit]
        )
        if due:
            Delivery.objects.filter(pk__in=due).update(relayed_at=now)
            transaction.on_commit(lambda: _enqueue(due))
    if overdue or due:
        log.info("relay: %d overdue sends requeued or failed, %d deliveries published", len(overdue), len(due))
    return due


@transaction.atomic
def retry_deliveries(*, delivery_ids: Iterable[int]) -> int:
    """Put failed deliveries back in the queue with fresh attempts (staff's retry). Returns how many.

    Deliveries to a suspended destination are not retried: lift the suspension first.
    """
    now = timezone.now()
    failed = Delivery.objects.select_for_update().filter(pk__in=list(delivery_ids), status=DeliveryStatus.FAILED)
    ids = [d.pk for d in failed if not _suspension(d.channel, d.destination)]
    count = Delivery.objects.filter(pk__in=ids).update(
        status=DeliveryStatus.QUEUED,
        attempts=0,
        ambiguous_resends=0,
        next_attempt_at=now,
        relayed_at=now,
        updated_at=now,
    )
    if ids:
        transaction.on_commit(lambda: _enqueue(ids))
    return count


# Twilio's MessageStatus → our status (None: no change of ours, only the provider's status is kept).
TWILIO_STATUSES = {
    "accepted": None,
    "scheduled": None,
    "queued": None,
    "sending": None,
    "sent": DeliveryStatus.SENT,
    "delivered": DeliveryStatus.DELIVERED,
    "read": DeliveryStatus.DELIVERED,
    "undelivered": DeliveryStatus.FAILED,
    "failed": DeliveryStatus.FAILED,
    "canceled": DeliveryStatus.FAILED,
}


def record_sms_status(*, delivery_id: int, message_sid: str, status: str, error_code: str = "") -> bool:
    """Apply one Twilio status callback to the delivery; returns whether anything changed.

    Idempotent and monotonic: a callback for an unknown delivery, for another message than the one we
    recorded, or one that would move the delivery backwards (``sent`` after ``delivered``) changes
    nothing. A failure whose code says the number is unusable (e.g. 30006, landline) suspends it.

    Three callbacks come for every SMS, so the common ones cost one conditional UPDATE each, no lock
    and no transaction (the web's CPU per delivery in docs/PERFORMANCE.md): ``sent`` and ``delivered``
    move a row whose status ranks lower, and a status we do not track (``queued``, …) only records the
    provider id of a send whose answer we have not stored yet. The WHERE clause holds the rules, so a
    concurrent change can only make the UPDATE match nothing. Failures take the locking path.
    """
    new_status = TWILIO_STATUSES.get(status)
    if new_status == DeliveryStatus.FAILED:
        return _record_sms_failure(
            delivery_id=delivery_id, message_sid=message_sid, status=status, error_code=error_code
        )
    now = timezone.now()
    stamp = connection.ops.adapt_datetimefield_value(now)  # as the backend stores it (SQLite: naive UTC text)
    lower = [] if new_status is None else [s for s, rank in STATUS_RANK.items() if rank < STATUS_RANK[new_status]]
    with connection.cursor() as cursor:
        if new_status is not None:
            params = {
                "status": new_status,
                "provider_status": status,
                "sid": message_sid,
                "now": stamp,
                "delivered_at": stamp if new_status == DeliveryStatus.DELIVERED else None,
                "id": delivery_id,
                "sms": Channel.SMS,
            }
            cursor.execute(_MOVE_FORWARD_SQL.format(lower=_one_of("lower", lower, params)), params)
            if cursor.rowcount:
                log.info("delivery %s: Twilio reported %s", delivery_id, status)
                return True
        if not message_sid:
            return False
        # Not a step forward: the callback can still tell us that the provider has the message, when our
        # own record of its answer is missing (an ambiguous send). A resend already scheduled must not
        # happen.
        params = {
            "sid": message_sid,
            "provider_status": status,
            "sending": DeliveryStatus.SENDING,
            "timeout": connection.ops.adapt_datetimefield_value(
                now + datetime.timedelta(seconds=settings.NOTIFICATIONS_SENDING_TIMEOUT)
            ),
            "now": stamp,
            "id": delivery_id,
            "sms": Channel.SMS,
        }
        in_flight = _one_of("in_flight", [DeliveryStatus.QUEUED, DeliveryStatus.SENDING], params)
        not_forward = _one_of("not_forward", lower, params)
        cursor.execute(_RECORD_PROVIDER_ID_SQL.format(in_flight=in_flight, not_forward=not_forward), params)
        return bool(cursor.rowcount)


# The two statements of a status callback, in SQL: building them through the ORM took half of the web's
# CPU per callback (4.8 → 2.4 ms, docs/PERFORMANCE.md, "Third round"). ``sent`` and
# ``delivered`` move a row whose status ranks lower, from the same message (or one whose id we have not
# stored yet); ``delivered_at`` is only set by ``delivered``.
_MOVE_FORWARD_SQL = f"""
    UPDATE {Delivery._meta.db_table} SET
        status = %(status)s,
        provider_status = %(provider_status)s,
        provider_id = CASE WHEN provider_id = '' THEN %(sid)s ELSE provider_id END,
        next_attempt_at = NULL,
        sent_at = COALESCE(sent_at, %(now)s),
        delivered_at = COALESCE(%(delivered_at)s, delivered_at),
        last_error = '',
        error_code = '',
        updated_at = %(now)s
    WHERE id = %(id)s AND channel = %(sms)s AND {{lower}}
        AND (%(sid)s = '' OR provider_id = '' OR provider_id = %(sid)s)
"""  # noqa: S608 - the table name is ours, the values are parameters
# A status that is no step forward stores the provider's id of a send whose answer we have not recorded;
# an in-flight row becomes ``sending`` with a new timeout, so that the relay does not send it again.
_RECORD_PROVIDER_ID_SQL = f"""
    UPDATE {Delivery._meta.db_table} SET
        provider_id = %(sid)s,
        provider_status = %(provider_status)s,
        status = CASE WHEN {{in_flight}} THEN %(sending)s ELSE status END,
        next_attempt_at = CASE WHEN {{in_flight}} THEN %(timeout)s ELSE next_attempt_at END,
        updated_at = %(now)s
    WHERE id = %(id)s AND channel = %(sms)s AND provider_id = '' AND NOT ({{not_forward}})
"""  # noqa: S608 - the table name is ours, the values are parameters


def _one_of(name: str, values: list[str], params: dict) -> str:
    """``status IN (…)`` with a parameter for each value, added to ``params`` (``1 = 0`` for none): the
    statements run on SQLite too (`make run`), where a list is not a parameter."""
    if not values:
        return "1 = 0"
    keys = [f"{name}_{n}" for n in range(len(values))]
    params.update(zip(keys, values, strict=True))
    return "status IN (" + ", ".join(f"%({key})s" for key in keys) + ")"


@transaction.atomic
def _record_sms_failure(*, delivery_id: int, message_sid: str, status: str, error_code: str) -> bool:
    """``record_sms_status`` for a failure, on the locked row: it may suspend the number."""
    from .channels.sms import SUSPENDING_CODES

    delivery = Delivery.objects.select_for_update().filter(pk=delivery_id, channel=Channel.SMS).first()
    if delivery is None:
        return False
    if delivery.provider_id and message_sid and delivery.provider_id != message_sid:
        return False
    if STATUS_RANK[DeliveryStatus.FAILED] <= STATUS_RANK[delivery.status]:
        if delivery.provider_id or not message_sid:
            return False
        # Already final, but the provider id was missing: store it (as ``record_sms_status`` does).
        delivery.provider_id = message_sid
        delivery.provider_status = status
        delivery.save(update_fields=["provider_id", "provider_status", "updated_at"])
        return True
    delivery.status = DeliveryStatus.FAILED
    delivery.provider_status = status
    delivery.provider_id = delivery.provider_id or message_sid
    delivery.next_attempt_at = None
    delivery.error_code = error_code
    delivery.last_error = f"permanent: Twilio reported {status}" + (f" ({error_code})" if error_code else "")
    if error_code in SUSPENDING_CODES:
        suspend_destination(
            channel=delivery.channel,
            destination=delivery.destination,
            reason=SUSPENDING_CODES[error_code],
            error_code=error_code,
            detail=delivery.last_error,
            delivery=delivery,
        )
    delivery.save()
    log.info("delivery %s to %s: Twilio reported %s", delivery.pk, delivery.masked_destination, status)
    return True
