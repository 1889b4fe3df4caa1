"""Data retention: deliveries and events older than RETENTION_DAYS leave, or lose what identifies a person.

On PostgreSQL the tables are partitioned by month (bevaka.partitions) and a month leaves whole, by
``drop_old_partitions`` (``run_retention``, beat's daily task); on SQLite (``make run``) rows are anonymised
as below. Short-lived rows (verification codes, signing orders, sessions) are purged by
``purge_short_lived``.

Anonymising (SQLite; the functions work on PostgreSQL too):

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
from django.core.management import call_command
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from audit import services as audit
from bevaka import partitions
from notifications.models import Delivery, SuspendedDestination
from notifications.retention import anonymise_deliveries, in_batches
from signing.models import SignatureOrder
from subscriptions.models import ContactVerification

from .models import Event, EventKey, FanoutDecision

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


@dataclass(frozen=True)
class DroppedPartition:
    table: str
    name: str
    start: datetime.datetime
    end: datetime.datetime
    estimated_rows: int


def run_retention(*, now: datetime.datetime | None = None) -> dict:
    """Beat's daily retention run. PostgreSQL: drop the monthly partitions of deliveries, fan-out decisions and
    events wholly past RETENTION_DAYS (``drop_old_partitions``); SQLite (``make run``, plain tables):
    anonymise row by row (``anonymise_old_records``)."""
    if connection.vendor == "postgresql" and partitions.is_partitioned("events_event"):
        dropped = drop_old_partitions(now=now)
        return {"dropped": [f"{d.name} (~{d.estimated_rows})" for d in dropped]}
    result = anonymise_old_records(now=now)
    return {"deliveries": result.deliveries, "events": result.events}


def drop_old_partitions(
    *, older_than_days: int | None = None, now: datetime.datetime | None = None
) -> list[DroppedPartition]:
    """Detach and drop every monthly partition (deliveries, fan-out decisions, events, in that order) whose
    month ended more than ``older_than_days`` (default RETENTION_DAYS) ago, each in its own transaction after
    an audit entry ``retention.partition_dropped`` that names it; the events' keys of the month go with it
    (a narrow DELETE by received_at), and a suspension that named a dropped delivery forgets it. A row of the
    default partition (a clock far off) past the cutoff is deleted. Rows stay, at most, a month past the
    window: a month leaves when its last day is past it.

    Nothing kept longer lives in these tables: the audit log, agreements, their versions and signature
    evidence have no reference into them (tests/ops/test_partitions.py)."""
    days = settings.RETENTION_DAYS if older_than_days is None else older_than_days
    if days < 90:
        raise ValueError("retention must be at least 90 days (the alert history shows 90 days)")
    cutoff = (now or timezone.now()) - datetime.timedelta(days=days)
    quote = connection.ops.quote_name
    dropped = []
    for table in partitions.DROP_ORDER:
        for name in partitions.droppable_partitions(table, cutoff):
            start, end = partitions.partitions(table)[name]
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute("SELECT greatest(reltuples, 0)::bigint FROM pg_class WHERE relname = %s", [name])
                estimated = cursor.fetchone()[0]
                audit.record(
                    action="retention.partition_dropped",
                    actor=None,
                    company=None,
                    before={"table": table, "partition": name, "from": start.isoformat(), "to": end.isoformat()},
                    after={"estimated_rows": estimated, "retention_days": days},
                )
                _forget(cursor, table, quote(name), start, end)
                partitions.drop_partition(table, name)
            dropped.append(DroppedPartition(table, name, start, end, estimated))
            log.info("retention: dropped partition %s (~%d rows)", name, estimated)
        _delete_strays(table, cutoff)
    return dropped


def _forget(cursor, table: str, partition: str, start, end) -> None:
    """Clear what points into the rows about to go: a suspension's delivery (few rows, each looked up in the
    partition's primary key), the events' keys of the month."""
    quote = connection.ops.quote_name
    if table == Delivery._meta.db_table:
        suspended = quote(SuspendedDestination._meta.db_table)
        cursor.execute(
            f"UPDATE {suspended} s SET delivery_id = NULL WHERE s.delivery_id IS NOT NULL "  # noqa: S608
            f"AND EXISTS (SELECT 1 FROM {partition} d WHERE d.id = s.delivery_id)"
        )
    elif table == Event._meta.db_table:
        cursor.execute(
            f"DELETE FROM {quote(EventKey._meta.db_table)} WHERE received_at >= %s AND received_at < %s",  # noqa: S608
            [start, end],
        )


def _delete_strays(table: str, cutoff: datetime.datetime) -> None:
    """Delete the default partition's rows past the cutoff (normally none), with what points into them."""
    quote = connection.ops.quote_name
    default = quote(f"{table}_default")
    key = quote(partitions.PARTITIONED[table])
    with transaction.atomic(), connection.cursor() as cursor:
        old = f"SELECT id FROM {default} WHERE {key} < %s"  # noqa: S608
        cursor.execute(f"SELECT min({key}) FROM {default} WHERE {key} < %s", [cutoff])  # noqa: S608
        (oldest,) = cursor.fetchone()
        if oldest is None:
            return
        if table == Delivery._meta.db_table:
            suspended = quote(SuspendedDestination._meta.db_table)
            cursor.execute(f"UPDATE {suspended} SET delivery_id = NULL WHERE delivery_id IN ({old})", [cutoff])  # noqa: S608
        elif table == Event._meta.db_table:
            cursor.execute(
                f"DELETE FROM {quote(EventKey._meta.db_table)} k USING {default} e "  # noqa: S608
                f"WHERE e.{key} < %s AND k.source_id = e.source_id AND k.external_id = e.external_id",
                [cutoff],
            )
        cursor.execute(f"DELETE FROM {default} WHERE {key} < %s", [cutoff])  # noqa: S608
        audit.record(
            action="retention.rows_deleted",
            actor=None,
            company=None,
            before={"table": f"{table}_default", "older_than": cutoff.isoformat()},
            after={"rows": cursor.rowcount},
        )


def purge_short_lived(*, now: datetime.datetime | None = None) -> dict[str, int]:
    """Beat's purge of rows that matter for minutes: verification codes expired a day ago, signing orders
    finished (or expired) SIGNING_ORDER_RETENTION_DAYS ago without evidence (evidence is kept: it PROTECTs
    its order), and expired sessions (``clearsessions``). Returns how many rows of each went."""
    now = now or timezone.now()
    codes, _ = ContactVerification.objects.filter(expires_at__lt=now - datetime.timedelta(days=1)).delete()
    old = now - datetime.timedelta(days=settings.SIGNING_ORDER_RETENTION_DAYS)
    orders, _ = (
        SignatureOrder.objects.filter(expires_at__lt=old, evidence__isnull=True)
        .filter(Q(finished_at__lt=old) | Q(finished_at__isnull=True))
        .delete()
    )
    call_command("clearsessions")
    log.info("purge: %d verification codes, %d signing orders", codes, orders)
    return {"verification_codes": codes, "signing_orders": orders}
