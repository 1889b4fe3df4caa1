"""Data retention: deliveries and events older than RETENTION_DAYS lose what identifies a person.

Counts, statuses, channels, times and error codes stay (statistics, the admin dashboard); destinations,
texts, unsubscribe links, provider ids (which lead to the provider's own logs), error texts (SMTP servers
quote addresses) and the delivery's user are cleared, and so is an event's free-text reference. Audit
entries are never touched: they are the bank's record and are append-only.
"""

from __future__ import annotations

import datetime
import logging
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from events.models import Event

from .models import Delivery, DeliveryStatus

log = logging.getLogger(__name__)

# A delivery still on its way is never anonymised, however old (the relay would send an empty text).
_FINISHED = [DeliveryStatus.SENT, DeliveryStatus.DELIVERED, DeliveryStatus.FAILED, DeliveryStatus.CANCELLED]
_DELIVERY_CLEARED = {
    "destination": "",
    "subject": "",
    "body": "",
    "html_body": "",
    "unsubscribe_url": "",
    "provider_id": "",
    "last_error": "",
    "user": None,
}


@dataclass(frozen=True)
class RetentionResult:
    cutoff: datetime.datetime
    deliveries: int
    events: int


def _not_yet_anonymised_deliveries() -> Q:
    return (
        ~Q(destination="")
        | ~Q(body="")
        | ~Q(subject="")
        | ~Q(html_body="")
        | ~Q(unsubscribe_url="")
        | ~Q(provider_id="")
        | ~Q(last_error="")
        | Q(user__isnull=False)
    )


def _in_batches(queryset, values: dict, batch_size: int) -> int:
    """UPDATE ``queryset`` in batches of primary keys (short transactions on a big table); returns rows."""
    total = 0
    while True:
        with transaction.atomic():
            ids = list(queryset.order_by("pk").values_list("pk", flat=True)[:batch_size])
            if not ids:
                return total
            total += queryset.model.objects.filter(pk__in=ids).update(**values)


def anonymise_old_records(
    *, older_than_days: int | None = None, now: datetime.datetime | None = None
) -> RetentionResult:
    """Anonymise finished deliveries created, and events received, more than ``older_than_days`` ago
    (default RETENTION_DAYS). Bulk UPDATEs in batches of RETENTION_BATCH_SIZE; idempotent: a row already
    anonymised is not selected again, so a second run changes nothing. Raises ValueError below 90 days,
    the alert history *Mina bevakningar* shows."""
    days = settings.RETENTION_DAYS if older_than_days is None else older_than_days
    if days < 90:
        raise ValueError("retention must be at least 90 days (the alert history shows 90 days)")
    cutoff = (now or timezone.now()) - datetime.timedelta(days=days)
    batch = max(1, settings.RETENTION_BATCH_SIZE)
    deliveries = _in_batches(
        Delivery.objects.filter(created_at__lt=cutoff, status__in=_FINISHED).filter(_not_yet_anonymised_deliveries()),
        {**_DELIVERY_CLEARED, "updated_at": timezone.now()},
        batch,
    )
    events = _in_batches(Event.objects.filter(received_at__lt=cutoff).exclude(reference=""), {"reference": ""}, batch)
    log.info("retention: anonymised %d deliveries and %d events older than %d days", deliveries, events, days)
    return RetentionResult(cutoff=cutoff, deliveries=deliveries, events=events)
