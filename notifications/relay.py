"""The relay: beat's safety net for deliveries whose send task was lost, whose retry is due, or whose
send never reported back (a worker killed mid-send, an ambiguous send without a status callback)."""

from __future__ import annotations

import datetime
import logging

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from .channels import AMBIGUOUS
from .models import Delivery, DeliveryStatus
from .publishing import publish_sends

log = logging.getLogger(__name__)


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
            .values_list("pk", "purpose", "channel")[:limit]
        )
        if due:
            Delivery.objects.filter(pk__in=[pk for pk, _purpose, _channel in due]).update(relayed_at=now)
            transaction.on_commit(lambda: publish_sends(due))
    if overdue or due:
        log.info("relay: %d overdue sends requeued or failed, %d deliveries published", len(overdue), len(due))
    return [pk for pk, _purpose, _channel in due]
