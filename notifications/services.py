"""The sending engine's state changes, as one API: queue, send, relay, retry, status callbacks, suspensions.

The engine knows nothing of why a message is sent: a purpose's own checks reach it through ``purposes``.
Rules that hold across its modules:
- a delivery is sent only by the worker that claimed it with a conditional UPDATE (queued and due →
  sending), so a task that runs twice sends once (``sending``);
- retries are scheduled in PostgreSQL (``next_attempt_at``) and picked up by the relay (``relay``), never
  by long Celery countdowns;
- an outcome is written with a conditional UPDATE on the status it expects (``outcomes``), and a provider
  status never moves a delivery to a lower rank (``models.STATUS_RANK``, ``callbacks``);
- logs name deliveries by id and masked destination only.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from django.db import transaction
from django.utils import timezone

from .callbacks import record_sms_status
from .masking import mask_destination
from .models import Channel, Delivery, DeliveryStatus, Purpose
from .outcomes import retry_delay
from .publishing import publish_sends
from .relay import relay_due_deliveries
from .sending import send_deliveries, send_delivery
from .suspensions import (
    clear_suspension,
    is_suspended,
    normalise,
    suspend_destination,
    suspension_of,
    suspensions_of,
)

log = logging.getLogger(__name__)

__all__ = [
    "DeliveryError",
    "clear_suspension",
    "is_suspended",
    "mask_destination",
    "publish_sends",
    "queue_delivery",
    "record_sms_status",
    "relay_due_deliveries",
    "retry_delay",
    "retry_deliveries",
    "send_deliveries",
    "send_delivery",
    "suspend_destination",
]


class DeliveryError(ValueError):
    """A delivery that cannot be queued as asked (unknown channel or purpose, empty destination)."""


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
    destination = normalise(channel, destination)
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
    suspension = suspension_of(channel, destination)
    if suspension is not None:
        delivery.status = DeliveryStatus.CANCELLED
        delivery.next_attempt_at = None
        delivery.last_error = f"destination suspended: {suspension.get_reason_display()}"
        delivery.error_code = suspension.error_code
        delivery.save()
        log.info("delivery %s to %s cancelled: destination suspended", delivery.pk, delivery.masked_destination)
        return delivery
    delivery.save()
    transaction.on_commit(lambda: publish_sends([(delivery.pk, delivery.purpose, delivery.channel)]))
    return delivery


@transaction.atomic
def retry_deliveries(*, delivery_ids: Iterable[int]) -> int:
    """Put failed deliveries back in the queue with fresh attempts (staff's retry). Returns how many.

    Deliveries to a suspended destination are not retried: lift the suspension first.
    """
    now = timezone.now()
    failed = list(Delivery.objects.select_for_update().filter(pk__in=list(delivery_ids), status=DeliveryStatus.FAILED))
    suspended = suspensions_of({(d.channel, d.destination) for d in failed})
    retried = [(d.pk, d.purpose, d.channel) for d in failed if (d.channel, d.destination) not in suspended]
    ids = [pk for pk, _purpose, _channel in retried]
    count = Delivery.objects.filter(pk__in=ids).update(
        status=DeliveryStatus.QUEUED,
        attempts=0,
        ambiguous_resends=0,
        next_attempt_at=now,
        relayed_at=now,
        updated_at=now,
    )
    if ids:
        transaction.on_commit(lambda: publish_sends(retried))
    return count
