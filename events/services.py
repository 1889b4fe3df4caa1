"""Every state change of events and source systems: keys (``sources``), recording events.

``record_events`` is the one way an event comes in (API and ``ingest_events``): it validates a whole batch
(``validation``) before it stores anything, stores each source id once, and publishes the fan-out after
commit.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Sequence

from django.conf import settings
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from companies.models import Company

from .models import Event, SourceSystem
from .sources import (
    AuthenticationFailed,
    SourceKeyError,
    authenticate,
    case_type_ids,
    create_source_key,
    deactivate_source_key,
    forget_cached_sources,
    key_secret,
    sign,
)
from .validation import CleanEvent, EventValidationError, FieldError, clean_events

log = logging.getLogger(__name__)

__all__ = [
    "AuthenticationFailed",
    "CleanEvent",
    "EventConflict",
    "EventValidationError",
    "FieldError",
    "Recorded",
    "SourceKeyError",
    "UnknownCompany",
    "authenticate",
    "case_type_ids",
    "clean_events",
    "create_source_key",
    "deactivate_source_key",
    "forget_cached_sources",
    "key_secret",
    "record_events",
    "sign",
]


class UnknownCompany(Exception):
    """An event names a company that is not a customer (→ 422)."""

    def __init__(self, errors: list[FieldError]) -> None:
        super().__init__("; ".join(f"{e.field}: {e.detail}" for e in errors))
        self.errors = errors


class EventConflict(Exception):
    """A source id already recorded with other content (→ 409)."""

    def __init__(self, source_ids: list[str]) -> None:
        super().__init__(", ".join(source_ids))
        self.source_ids = source_ids


class Recorded:
    """What became of one submitted event: ``status`` is "accepted" (stored now) or "duplicate".

    It carries the stored row's id, uuid and source id; ``event``, the model instance, is read when first
    asked for (the API answers from the ids alone, and building 1,000 instances was much of a batch's cost).
    """

    __slots__ = ("_event", "external_id", "pk", "status", "uuid")

    def __init__(self, *, pk: int, uuid, external_id: str, status: str) -> None:
        self.pk, self.uuid, self.external_id, self.status = pk, uuid, external_id, status
        self._event = None

    @property
    def event(self) -> Event:
        if self._event is None:
            self._event = Event.objects.get(pk=self.pk)
        return self._event

    def as_json(self) -> dict:
        return {"id": str(self.uuid), "source_id": self.external_id, "status": self.status}

    def __repr__(self) -> str:
        return f"Recorded({self.external_id!r}, {self.status})"


def _publish_fan_out(event_ids: list[int]) -> None:
    """Publish the fan-out of the new events: a coalesced fan-out for one event (``coalesce.request``: one
    task for the events that arrive while another runs), tasks of EVENTS_FANOUT_BATCH_SIZE events for a
    batch (a task per event was the many-events bottleneck, docs/PERFORMANCE.md). A lost publish is found
    again by the fan-out relay."""
    from . import coalesce, tasks

    if len(event_ids) == 1:
        coalesce.request()
        return
    try:
        size = settings.EVENTS_FANOUT_BATCH_SIZE
        # One producer and one Redis pipeline for all of a batch's tasks (kombu's Producer.batch): a publish
        # of its own made a Redis client and a round trip per task, most of a 1,000-event request's time.
        with tasks.fan_out_batch.app.producer_or_acquire() as producer, producer.batch():
            for start in range(0, len(event_ids), size):
                tasks.fan_out_batch.apply_async(
                    kwargs={"event_ids": event_ids[start : start + size]}, producer=producer
                )
    except Exception:
        log.warning("could not publish the fan-out of %d events; the relay will", len(event_ids))


def _unknown_company_errors(events: Sequence[CleanEvent], known: set[str], batch: bool) -> list[FieldError]:
    return [
        FieldError((f"events[{i}]." if batch else "") + "company", "no customer with this organisationsnummer")
        for i, e in enumerate(events)
        if e.org_number not in known
    ]


def record_events(*, source: SourceSystem, events: Sequence[CleanEvent], batch: bool = True) -> list[Recorded]:
    """Store these validated events from ``source``, each source id once, all or none.

    An id seen before (or twice in this batch) with the same content is a "duplicate" and changes
    nothing; with other content the whole call raises EventConflict. A company that is not a customer
    raises UnknownCompany. New events are fanned out by a task published after commit. Constant number of
    queries for any number of events: one INSERT when every event is new (in a transaction for more than
    one id; one id is one statement, atomic by itself), and one more read when some are not.
    """
    first: dict[str, CleanEvent] = {}
    in_batch_conflicts = []
    for event in events:
        seen = first.setdefault(event.source_id, event)
        if seen is not event and seen.content_sha256 != event.content_sha256:
            in_batch_conflicts.append(event.source_id)
    if in_batch_conflicts:
        # An unknown company is the answer before a conflict, as it always was.
        orgs = {e.org_number for e in events}
        known = set(Company.objects.filter(org_number__in=orgs).values_list("org_number", flat=True))
        if unknown := _unknown_company_errors(events, known, batch):
            raise UnknownCompany(unknown)
        raise EventConflict(sorted(set(in_batch_conflicts)))
    if len(first) == 1:
        results, new_ids = _store(source, events, first, batch)
    else:
        with transaction.atomic():
            results, new_ids = _store(source, events, first, batch)
    if new_ids:
        transaction.on_commit(lambda: _publish_fan_out(new_ids))
    log.info("source %s: %d events, %d new", source.name, len(events), len(new_ids))
    return results


def _results(events, first, rows: dict[str, tuple[int, object]], fresh: set[str]) -> tuple[list[Recorded], list]:
    """One Recorded per submitted event, in order (a repeated id is a duplicate of its first), and the pks
    of the new rows. ``rows``: source id → (pk, uuid); ``fresh``: the source ids this call inserted."""
    results = []
    reported: set[str] = set()
    for event in events:
        sid = event.source_id
        pk, uuid = rows[sid]
        status = "accepted" if sid in fresh and sid not in reported else "duplicate"
        reported.add(sid)
        results.append(Recorded(pk=pk, uuid=uuid, external_id=sid, status=status))
    return results, [rows[sid][0] for sid in first if sid in fresh]


# One statement stores a whole batch: the rows go in as one JSON parameter, joined with the companies,
# skipping ids that exist (a concurrent request's too: the insert waits for it). PostgreSQL and SQLite
# (`make run`) both run it; they only name the function that turns a JSON array into rows differently.
_INSERT_SQL = """
INSERT INTO {event} (uuid, source_id, external_id, case_type_id, company_id, occurred_at, reference,
                     content_sha256, received_at, fanout_published_at)
SELECT i.u, %(source)s, i.e, i.t, c.id, i.at, i.r, i.h, %(now)s, %(now)s
FROM {rows} JOIN {company} c ON c.org_number = i.o
WHERE true
ON CONFLICT (source_id, external_id) DO NOTHING
RETURNING id, uuid, external_id
"""

_EXISTING_SQL = """
SELECT i.e, i.o, c.id IS NOT NULL, ev.id, ev.uuid, ev.content_sha256
FROM {rows}
LEFT JOIN {company} c ON c.org_number = i.o
LEFT JOIN {event} ev ON ev.source_id = %(source)s AND ev.external_id = i.e
"""

_COLUMNS = ("u", "e", "t", "o", "at", "r", "h")


def _rows_from_json(columns: Sequence[str]) -> str:
    """``i``, the rows of the JSON array parameter ``%(rows)s`` (objects with these keys), as SQL. The one
    difference between the backends: PostgreSQL types the columns in ``jsonb_to_recordset``; SQLite reads
    each key with ``json_extract`` (its columns have no types; the values are stored as the ORM stores
    them, see ``_stored``)."""
    if connection.vendor == "postgresql":
        types = {"u": "uuid", "e": "text", "t": "bigint", "o": "text", "at": "timestamptz", "r": "text", "h": "text"}
        return f"jsonb_to_recordset(%(rows)s::jsonb) AS i({', '.join(f'{c} {types[c]}' for c in columns)})"
    extracted = ", ".join(f"json_extract(value, '$.{c}') AS {c}" for c in columns)
    return f"(SELECT {extracted} FROM json_each(%(rows)s)) AS i"  # noqa: S608 - our column names only


def _stored(field_name: str, value) -> str:
    """A value as ``Event.<field_name>`` stores it on this database, as JSON text (a uuid on SQLite is 32
    hex digits, a datetime naive UTC text; on PostgreSQL they are typed by the recordset)."""
    stored = Event._meta.get_field(field_name).get_db_prep_value(value, connection)
    return stored.isoformat() if hasattr(stored, "isoformat") else str(stored)


def _sql(template: str, columns: Sequence[str]) -> str:
    quote = connection.ops.quote_name
    return template.format(
        event=quote(Event._meta.db_table), company=quote(Company._meta.db_table), rows=_rows_from_json(columns)
    )


def _store(source, events, first, batch):
    """Insert the new ones of ``first`` (source id → event) in one statement; only when fewer rows come
    back than ids went in, one read tells an unknown company, a conflict and a duplicate apart."""
    case_types = None if all(e.case_type_id for e in first.values()) else case_type_ids()
    rows = json.dumps(
        [
            {
                "u": _stored("uuid", uuid.uuid4()),
                "e": e.source_id,
                "t": e.case_type_id or case_types[e.case_type_code],
                "o": e.org_number,
                "at": _stored("occurred_at", e.occurred_at),
                "r": e.reference,
                "h": e.content_sha256,
            }
            for e in first.values()
        ],
        ensure_ascii=False,
    )
    now = connection.ops.adapt_datetimefield_value(timezone.now())
    with connection.cursor() as cursor:
        cursor.execute(_sql(_INSERT_SQL, _COLUMNS), {"source": source.pk, "now": now, "rows": rows})
        stored = {sid: (pk, uuid.UUID(str(uid))) for pk, uid, sid in cursor.fetchall()}
        fresh = set(stored)
        if len(stored) < len(first):
            missing = json.dumps(
                [{"e": sid, "o": e.org_number} for sid, e in first.items() if sid not in fresh], ensure_ascii=False
            )
            cursor.execute(_sql(_EXISTING_SQL, ("e", "o")), {"source": source.pk, "rows": missing})
            existing = cursor.fetchall()
            unknown_orgs = {org for _sid, org, known, *_ in existing if not known}
            if unknown_orgs:
                known = {e.org_number for e in events} - unknown_orgs
                raise UnknownCompany(_unknown_company_errors(events, known, batch))
            conflicts = []
            for sid, _org, _known, pk, uid, sha in existing:
                if pk is None:  # neither stored nor there: cannot happen (nothing deletes events); 503
                    raise DatabaseError(f"event {sid!r} was neither stored nor found")
                if sha != first[sid].content_sha256:
                    conflicts.append(sid)
                stored[sid] = (pk, uuid.UUID(str(uid)))
            if conflicts:
                raise EventConflict(sorted(conflicts))
    return _results(events, first, stored, fresh)
