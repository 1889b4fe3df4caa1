"""What became of a claimed delivery, written with a conditional UPDATE on the status it expects
(``sending``): sent, cancelled, failed (the destination suspended when the error says so), a retry
scheduled in ``next_attempt_at``, or a wait for the provider's status callback. Logs name deliveries by id
and masked destination only.
"""

from __future__ import annotations

import datetime
import logging
import random
import time
from collections.abc import Callable
from typing import NamedTuple

from django.conf import settings
from django.db import DatabaseError, InterfaceError, OperationalError, connection, transaction
from django.utils import timezone

from . import purposes
from .channels import AMBIGUOUS, PERMANENT, ChannelError
from .models import Delivery, DeliveryStatus
from .suspensions import suspend_destination

log = logging.getLogger(__name__)


class Accepted(NamedTuple):
    """The provider took the message: its id for it, and when it answered."""

    provider_id: str
    at: datetime.datetime


def retry_delay(attempts: int) -> float:
    """Seconds before attempt ``attempts + 1``: exponential back-off with full jitter, capped."""
    base = settings.NOTIFICATIONS_RETRY_BASE_SECONDS
    ceiling = min(settings.NOTIFICATIONS_RETRY_MAX_SECONDS, base * 2 ** max(0, attempts - 1))
    return ceiling / 2 + random.uniform(0, ceiling / 2)  # noqa: S311 - jitter, not security


def finish(delivery: Delivery, *, status: str, last_error: str, error_code: str = "") -> bool:
    """Move a claimed delivery to a final status; False when it was no longer ``sending``."""
    now = timezone.now()
    return bool(
        Delivery.objects.filter(pk=delivery.pk, status=DeliveryStatus.SENDING).update(
            status=status, last_error=last_error, error_code=error_code, next_attempt_at=None, updated_at=now
        )
    )


class Stop(NamedTuple):
    """Why a delivery must not be sent now (its purpose's check, a suspended destination)."""

    reason: str
    error_code: str = ""


def cancel(delivery: Delivery, stop: Stop) -> None:
    """Cancel a claimed delivery that must not be sent, with the reason."""
    finish(delivery, status=DeliveryStatus.CANCELLED, last_error=stop.reason, error_code=stop.error_code)
    log.info("delivery %s to %s not sent: %s", delivery.pk, delivery.masked_destination, stop.reason)


def retry_later(delivery: Delivery, error: ChannelError, *, count_attempt: bool = True) -> None:
    """Back to the queue with a back-off, or failed when the attempts are used up. ``count_attempt=False``
    when nothing reached the provider (no rate-limit token): the claim's attempt is given back."""
    attempts = delivery.attempts if count_attempt else delivery.attempts - 1
    if attempts >= settings.NOTIFICATIONS_MAX_ATTEMPTS:
        finish(
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


def record_failure(delivery: Delivery, error: ChannelError) -> None:
    """A channel's error: permanent → failed (and suspended), ambiguous → wait for the callback, else retry."""
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
            finish(delivery, status=DeliveryStatus.FAILED, last_error=str(error), error_code=error.code)
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
        retry_later(delivery, error)


def record_sent(sent: list[tuple[Delivery, Accepted]]) -> None:
    """The provider has these messages: store that, trying hard, since failing to makes the relay send
    them again.

    A database that cannot be reached (an outage, a failover) is retried every half second for
    ``NOTIFICATIONS_OUTCOME_RETRY_SECONDS``, then raised: the rows stay claimed and are resent after the
    claim's deadline — a duplicate, never a loss. Any other database error (one bad row) records them one
    by one, and one that still fails is stored as sent without its provider id.
    """
    if not sent:
        return
    try:
        _while_unreachable(lambda: _record_sent(sent), what=f"{len(sent)} deliveries sent")
    except (OperationalError, InterfaceError):
        raise
    except DatabaseError:
        if len(sent) == 1:
            delivery, accepted = sent[0]
            log.exception("delivery %s sent; its provider id could not be stored", delivery.pk)
            _while_unreachable(lambda: _record_sent([(delivery, Accepted("", accepted.at))]), what="1 delivery sent")
        else:
            log.exception("could not record %d sends at once; recording them one by one", len(sent))
            for one in sent:
                try:
                    record_sent([one])
                except DatabaseError:
                    log.exception("delivery %s: sent, but its outcome could not be stored", one[0].pk)
        return
    for delivery, _accepted in sent:
        log.info("delivery %s to %s sent", delivery.pk, delivery.masked_destination)
    purposes.sent([(delivery, accepted.at) for delivery, accepted in sent])


def _while_unreachable(write: Callable[[], None], *, what: str) -> None:
    deadline = time.monotonic() + settings.NOTIFICATIONS_OUTCOME_RETRY_SECONDS
    while True:
        try:
            write()
            return
        except (OperationalError, InterfaceError):
            if time.monotonic() > deadline:
                raise
            log.warning("%s; the database is unreachable, retrying their outcome", what)
            connection.close()
            time.sleep(0.5)


def _record_sent(sent: list[tuple[Delivery, Accepted]]) -> None:
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
