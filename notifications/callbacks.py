"""Twilio's status callbacks, applied to the delivery they name: idempotent and monotonic."""

from __future__ import annotations

import datetime
import logging

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from .models import STATUS_RANK, Channel, Delivery, DeliveryStatus
from .suspensions import suspend_destination

log = logging.getLogger(__name__)


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
