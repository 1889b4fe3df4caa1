"""Data retention: deliveries and events older than RETENTION_DAYS lose what identifies a person.

Deliveries lose their destinations, texts, provider ids, error texts and user (``notifications.retention``),
events their free-text reference and what their fan-out recorded about each member (``FanoutDecision``);
counts, statuses, channels and times stay. Audit entries are never
touched: they are the bank's record and are append-only.
"""

from __future__ import annotations

import datetime
import logging
from dataclasses import dataclass

from django.conf import settings
from django.utils import timezone

from notifications.retention import anonymise_deliveries, in_batches

from .models import Event, FanoutDecision

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RetentionResult:
    cutoff: datetime.datetime
    deliveries: int
    events: int


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
    deliveries = anonymise_deliveries(cutoff=cutoff, batch_size=batch)
    events = in_batches(Event.objects.filter(received_at__lt=cutoff).exclude(reference=""), {"reference": ""}, batch)
    FanoutDecision.objects.filter(event__received_at__lt=cutoff).delete()
    log.info("retention: anonymised %d deliveries and %d events older than %d days", deliveries, events, days)
    return RetentionResult(cutoff=cutoff, deliveries=deliveries, events=events)
