"""Monthly range partitions of the tables that grow with traffic (PostgreSQL only; SQLite keeps plain tables).

A partitioned table ``T`` has one partition a calendar month (UTC), ``T_pYYYYMM``, holding the rows whose
partition key is in ``[first of the month, first of the next)``, and a default partition ``T_default`` for a
row outside every month (a clock far off; it stays empty in normal running, retention empties it row by row).
``ensure_partitions`` creates the months ahead (the migration for this and the next months, beat's daily
``partitions.ensure`` for ``PARTITION_MONTHS_AHEAD``); ``droppable_partitions`` names the months wholly past a
cutoff, which retention detaches and drops (``events.retention``).

``convert_to_partitioned`` turns an existing plain table into a partitioned one with the same name, columns,
indexes, checks and foreign keys: it creates the partitioned table, copies the rows, drops the old table and
takes its name. It holds an exclusive lock for the copy: fine for the small databases that exist today, a
maintenance window (or pg_partman's online tools) for a big one (docs/OPERATIONS.md).

This module imports no app: the apps name their tables and keys (``PARTITIONED``).
"""

from __future__ import annotations

import datetime
import re

from django.db import connection as default_connection
from django.db import models
from django.utils import timezone

# table → its partition key. Rows of an event (its deliveries, its fan-out decisions) are filed under the
# event's received time, so that an event and everything that refers to it sit in the same month.
PARTITIONED = {
    "notifications_delivery": "filed_at",
    "events_event": "received_at",
    "events_fanoutdecision": "event_received_at",
}
# Retention drops dependent rows before what they refer to.
DROP_ORDER = ["notifications_delivery", "events_fanoutdecision", "events_event"]

_PARTITION_NAME = re.compile(r"^(?P<table>.+)_p(?P<year>\d{4})(?P<month>\d{2})$")


def month_start(moment: datetime.datetime) -> datetime.datetime:
    moment = moment.astimezone(datetime.UTC)
    return datetime.datetime(moment.year, moment.month, 1, tzinfo=datetime.UTC)


def next_month(start: datetime.datetime) -> datetime.datetime:
    return start.replace(year=start.year + (start.month == 12), month=start.month % 12 + 1)


def partition_name(table: str, start: datetime.datetime) -> str:
    return f"{table}_p{start:%Y%m}"


def is_partitioned(table: str, connection=None) -> bool:
    connection = connection or default_connection
    if connection.vendor != "postgresql":
        return False
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT 1 FROM pg_partitioned_table p JOIN pg_class c ON c.oid = p.partrelid WHERE c.relname = %s",
            [table],
        )
        return cursor.fetchone() is not None


def partitions(table: str, connection=None) -> dict[str, tuple[datetime.datetime, datetime.datetime]]:
    """The monthly partitions of ``table``: name → (start, end), oldest first (the default one left out)."""
    connection = connection or default_connection
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "JOIN pg_class p ON p.oid = i.inhparent WHERE p.relname = %s",
            [table],
        )
        names = [row[0] for row in cursor.fetchall()]
    found = {}
    for name in names:
        if (match := _PARTITION_NAME.match(name)) and match["table"] == table:
            start = datetime.datetime(int(match["year"]), int(match["month"]), 1, tzinfo=datetime.UTC)
            found[name] = (start, next_month(start))
    return dict(sorted(found.items(), key=lambda item: item[1][0]))


def ensure_partitions(*, now: datetime.datetime, months_ahead: int, months_back: int = 0, connection=None) -> list[str]:
    """Create the monthly partitions of every partitioned table from ``months_back`` months before ``now``'s
    month to ``months_ahead`` after it, where missing. Idempotent; returns the names created. A row of such a
    month already in the default partition (a clock far ahead) is moved into the new month in the same
    transaction, so that creating the month never fails."""
    connection = connection or default_connection
    if connection.vendor != "postgresql":
        return []
    quote = connection.ops.quote_name
    first = month_start(now)
    for _ in range(months_back):
        first = (first - datetime.timedelta(days=1)).replace(day=1)
    months = [first]
    for _ in range(months_back + months_ahead):
        months.append(next_month(months[-1]))
    created = []
    for table, key in PARTITIONED.items():
        if not is_partitioned(table, connection):
            continue
        existing = partitions(table, connection)
        for start in months:
            name = partition_name(table, start)
            if name in existing:
                continue
            end = next_month(start)
            with connection.cursor() as cursor:
                default = f"{table}_default"
                cursor.execute(
                    f"SELECT 1 FROM {quote(default)} WHERE {quote(key)} >= %s AND {quote(key)} < %s LIMIT 1",  # noqa: S608
                    [start, end],
                )
                strays = cursor.fetchone() is not None
                if strays:
                    cursor.execute(
                        f"CREATE TABLE {quote(name)} (LIKE {quote(table)} INCLUDING DEFAULTS INCLUDING CONSTRAINTS)"
                    )
                    cursor.execute(
                        f"WITH moved AS (DELETE FROM {quote(default)} WHERE {quote(key)} >= %s AND {quote(key)} < %s RETURNING *) "  # noqa: S608,E501
                        f"INSERT INTO {quote(name)} SELECT * FROM moved",
                        [start, end],
                    )
                    cursor.execute(
                        f"ALTER TABLE {quote(table)} ATTACH PARTITION {quote(name)} FOR VALUES FROM (%s) TO (%s)",
                        [start, end],
                    )
                else:
                    cursor.execute(
                        f"CREATE TABLE {quote(name)} PARTITION OF {quote(table)} FOR VALUES FROM (%s) TO (%s)",
                        [start, end],
                    )
            created.append(name)
    return created


def droppable_partitions(table: str, cutoff: datetime.datetime, connection=None) -> list[str]:
    """The monthly partitions of ``table`` whose every row is older than ``cutoff`` (their month ended)."""
    return [name for name, (_start, end) in partitions(table, connection).items() if end <= cutoff]


def drop_partition(table: str, name: str, connection=None) -> None:
    """Detach and drop one partition. DETACH takes a short lock on the parent (only the catalog changes)."""
    connection = connection or default_connection
    quote = connection.ops.quote_name
    with connection.cursor() as cursor:
        # Deferred foreign-key checks of this transaction run now: a table with pending ones cannot be dropped.
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cursor.execute(f"ALTER TABLE {quote(table)} DETACH PARTITION {quote(name)}")
        cursor.execute(f"DROP TABLE {quote(name)}")


def convert_to_partitioned(schema_editor, table: str, key: str, *, now: datetime.datetime) -> None:
    """Make the plain ``table`` a partitioned one by ``key`` (monthly), keeping its name, columns, checks,
    indexes (each unique one must already include ``key``), foreign keys, identity and rows. The primary key
    becomes (id, key): Django still reads ``id`` as the primary key. PostgreSQL only."""
    connection = schema_editor.connection
    quote = connection.ops.quote_name
    new = f"{table}__partitioned"
    with connection.cursor() as cursor:
        # Indexes of their own (not those behind a constraint), then unique constraints and foreign keys.
        cursor.execute(
            "SELECT i.relname, pg_get_indexdef(i.oid) FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid "
            "WHERE x.indrelid = %s::regclass AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.oid)",
            [table],
        )
        indexes = cursor.fetchall()
        cursor.execute(
            "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = %s::regclass "
            "AND contype IN ('u', 'f') ORDER BY contype DESC",
            [table],
        )
        constraints = cursor.fetchall()
        cursor.execute(f"SELECT min({quote(key)}), max({quote(key)}) FROM {quote(table)}")  # noqa: S608
        oldest, newest = cursor.fetchone()
        cursor.execute(
            f"CREATE TABLE {quote(new)} (LIKE {quote(table)} INCLUDING DEFAULTS INCLUDING CONSTRAINTS "
            f"INCLUDING IDENTITY) PARTITION BY RANGE ({quote(key)})"
        )
        cursor.execute(f"ALTER TABLE {quote(new)} ADD PRIMARY KEY (id, {quote(key)})")
        cursor.execute(f"CREATE TABLE {quote(table + '_default__new')} PARTITION OF {quote(new)} DEFAULT")
    # The months of the rows there are, and this and the next months.
    start = month_start(oldest or now)
    last = max(month_start(newest or now), next_month(month_start(now)))
    with connection.cursor() as cursor:
        while start <= last:
            name = partition_name(table, start)
            cursor.execute(
                f"CREATE TABLE {quote(name + '__new')} PARTITION OF {quote(new)} FOR VALUES FROM (%s) TO (%s)",
                [start, next_month(start)],
            )
            start = next_month(start)
        cursor.execute(f"INSERT INTO {quote(new)} SELECT * FROM {quote(table)}")  # noqa: S608
        cursor.execute(
            f"SELECT setval(pg_get_serial_sequence(%s, 'id'), coalesce((SELECT max(id) FROM {quote(new)}), 0) + 1, false)",  # noqa: S608,E501
            [new],
        )
        cursor.execute(f"DROP TABLE {quote(table)}")
        cursor.execute(f"ALTER TABLE {quote(new)} RENAME TO {quote(table)}")
        pkey = quote(table + "_pkey")
        cursor.execute(f"ALTER TABLE {quote(table)} RENAME CONSTRAINT {quote(new + '_pkey')} TO {pkey}")
        cursor.execute(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "WHERE i.inhparent = %s::regclass",
            [table],
        )
        for (child,) in cursor.fetchall():
            cursor.execute(f"ALTER TABLE {quote(child)} RENAME TO {quote(child.removesuffix('__new'))}")
        for _name, definition in indexes:
            # CREATE [UNIQUE] INDEX name ON public.table USING …: on the partitioned table, every partition
            # gets its own index, attached to the parent's.
            cursor.execute(re.sub(r" ON (ONLY )?\S+ USING ", f" ON {quote(table)} USING ", definition, count=1))
        for name, definition in constraints:
            cursor.execute(f"ALTER TABLE {quote(table)} ADD CONSTRAINT {quote(name)} {definition}")


class PartitionKeyField(models.DateTimeField):
    """The time a row is filed under: its event's received time (``event``'s ``received_at``), so that an
    event's rows sit in the event's month and a uniqueness that includes this key is the same as one by the
    event; without an event, ``fallback`` (the row's own creation time). Filled when the row is saved or
    bulk-created (``pre_save``); the fan-out's INSERT … SELECT sets it itself."""

    def __init__(self, *args, via: str = "event", fallback: str | None = None, **kwargs):
        self.via, self.fallback = via, fallback
        kwargs.setdefault("editable", False)
        super().__init__(*args, **kwargs)

    def deconstruct(self):
        name, path, args, kwargs = super().deconstruct()
        kwargs["via"] = self.via
        if self.fallback:
            kwargs["fallback"] = self.fallback
        kwargs.pop("editable", None)
        return name, path, args, kwargs

    def pre_save(self, model_instance, add):
        value = getattr(model_instance, self.attname)
        if value is None:
            related = getattr(model_instance, self.via) if getattr(model_instance, f"{self.via}_id") else None
            if related is not None:
                value = related.received_at
            elif self.fallback:
                value = getattr(model_instance, self.fallback) or timezone.now()
            else:
                value = timezone.now()
            setattr(model_instance, self.attname, value)
        return value
