"""Data retention of deliveries: a finished delivery older than the cutoff loses what identifies a person.

Counts, statuses, channels, times and error codes stay (statistics, the admin dashboard); destinations,
texts, unsubscribe links, provider ids (which lead to the provider's own logs), error texts (SMTP servers
quote addresses) and the delivery's user are cleared. The daily run (``events.retention``) calls this
next to its own.
"""

from __future__ import annotations

import datetime

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from .models import Delivery, DeliveryStatus

# A delivery still on its way is never anonymised, however old (the relay would send an empty text).
_FINISHED = [
    DeliveryStatus.SENT,
    DeliveryStatus.DELIVERED,
    DeliveryStatus.FAILED,
    DeliveryStatus.CANCELLED,
    DeliveryStatus.SUMMARISED,  # an alert held by quiet hours, sent in a summary (issue 23)
]
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


def in_batches(queryset, values: dict, batch_size: int) -> int:
    """UPDATE ``queryset`` in batches of primary keys (short transactions on a big table); returns rows."""
    total = 0
    while True:
        with transaction.atomic():
            ids = list(queryset.order_by("pk").values_list("pk", flat=True)[:batch_size])
            if not ids:
                return total
            total += queryset.model.objects.filter(pk__in=ids).update(**values)


def anonymise_deliveries(*, cutoff: datetime.datetime, batch_size: int) -> int:
    """Anonymise the finished deliveries created before ``cutoff``, ``batch_size`` rows an UPDATE;
    idempotent: a row already anonymised is not selected again. Returns how many rows changed."""
    return in_batches(
        Delivery.objects.filter(created_at__lt=cutoff, status__in=_FINISHED).filter(_not_yet_anonymised_deliveries()),
        {**_DELIVERY_CLEARED, "updated_at": timezone.now()},
        batch_size,
    )
