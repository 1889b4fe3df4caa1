"""Every state change of events and source systems: keys, signature checks, recording events.

``record_events`` is the one way an event comes in (API and ``ingest_events``): it validates a whole batch
before it stores anything, stores each source id once, and publishes the fan-out after commit.
"""

from __future__ import annotations

import datetime
import hashlib
import hmac
import json
import logging
import re
import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property

from django.conf import settings
from django.db import DatabaseError, connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from agreements.models import CaseType
from companies.identity import luhn_checksum_ok
from companies.models import Company
from signing.crypto import decrypt_secret, encrypt_secret

from .models import Event, SourceKey, SourceSystem

log = logging.getLogger(__name__)

SOURCE_ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:/-]{0,127}$")
FIELDS = {"id", "type", "company", "occurred_at", "reference"}
REQUIRED = ("id", "type", "company", "occurred_at")
MAX_REFERENCE = 64
# An event may not claim to have happened later than this ahead of our clock.
FUTURE_TOLERANCE = datetime.timedelta(minutes=5)


# --- Source systems and keys ---------------------------------------------------------------------------


class SourceKeyError(ValueError):
    """A key action that is refused; the message is safe to show staff."""


def _fingerprint(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()[:12]


@transaction.atomic
def create_source_key(*, source: SourceSystem, label: str = "") -> tuple[SourceKey, str]:
    """Make a new random key for ``source`` in a free slot; returns the key and its secret (shown once).

    Raises SourceKeyError when the source already has two active keys (deactivate one first).
    """
    SourceSystem.objects.select_for_update().get(pk=source.pk)  # two staff adding keys at once
    used = set(SourceKey.objects.filter(source=source, is_active=True).values_list("slot", flat=True))
    free = [slot for slot in SourceKey.Slot.values if slot not in used]
    if not free:
        raise SourceKeyError(_("Källsystemet har redan två aktiva nycklar. Inaktivera den gamla först."))
    secret = secrets.token_urlsafe(32)
    key = SourceKey.objects.create(
        source=source,
        slot=free[0],
        label=label,
        secret_encrypted=encrypt_secret(secret.encode()),
        fingerprint=_fingerprint(secret),
    )
    log.info("source %s: key %s created in slot %s", source.name, key.fingerprint, key.slot)
    return key, secret


@transaction.atomic
def deactivate_source_key(*, key_id: int) -> bool:
    """Stop accepting signatures made with this key. Returns whether it was active."""
    updated = SourceKey.objects.filter(pk=key_id, is_active=True).update(is_active=False, deactivated_at=timezone.now())
    forget_cached_sources()
    transaction.on_commit(forget_cached_sources)  # a request in between may have remembered it again
    return bool(updated)


def key_secret(key: SourceKey) -> str:
    """The plain secret of a key (for signing in ``simulate_events`` and for verifying)."""
    return decrypt_secret(key.secret_encrypted).decode()


def sign(*, secret: str, timestamp: int | str, body: bytes) -> str:
    """The ``X-Bevaka-Signature`` value for ``body`` sent at ``timestamp``: sha256=<hex HMAC-SHA256 of
    "<timestamp>.<raw body>">."""
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


class AuthenticationFailed(Exception):
    """The request is not from a known source with a valid, fresh signature (→ 401)."""


_DUMMY_SECRET = secrets.token_urlsafe(32)

# A short per-process memory of the active source systems with their decrypted keys, and of the case types,
# so that a request does not pay two queries and a Fernet decryption to authenticate, and a query to validate
# (issue 8: most of a single event's time went there). At most EVENTS_SOURCE_CACHE_SECONDS old: a key
# deactivated or a source switched off is refused at the latest that long after, in every process; in the
# process that made the change at once (the signals in apps.py and deactivate_source_key clear it). 0: off.
_memory: dict[object, tuple[float, object]] = {}
_MEMORY_MAX_ENTRIES = 256  # unknown source names are remembered too (same cost as known ones); bounded


def forget_cached_sources(**_signal_kwargs) -> None:
    """Drop the remembered sources, keys and case types (after a change to any of them)."""
    _memory.clear()


def _remembered(key, load):
    seconds = settings.EVENTS_SOURCE_CACHE_SECONDS
    if seconds <= 0:
        return load()
    now = time.monotonic()
    hit = _memory.get(key)
    if hit is not None and hit[0] > now:
        return hit[1]
    value = load()
    if len(_memory) >= _MEMORY_MAX_ENTRIES:
        _memory.clear()
    _memory[key] = (now + seconds, value)
    return value


def _load_source(source_name: str) -> tuple[SourceSystem | None, tuple[str, ...]]:
    source = SourceSystem.objects.filter(name=source_name, is_active=True).first()
    keys = list(SourceKey.objects.filter(source=source, is_active=True)) if source else []
    return source, tuple(key_secret(key) for key in keys)


def case_type_ids() -> dict[str, int]:
    """Case type code → pk (remembered like the sources: the catalogue changes with a deploy, if ever)."""
    return _remembered(("case-types",), lambda: dict(CaseType.objects.values_list("code", "pk")))


def authenticate(
    *, source_name: str, timestamp: str, signature: str, body: bytes, now: float | None = None
) -> SourceSystem:
    """The active source system that signed ``body`` at ``timestamp`` with one of its active keys.

    Signatures are compared in constant time, against every active key (two during a rotation); an
    unknown source costs the same HMAC work. Raises AuthenticationFailed with a reason for the log.
    Sources and their keys are remembered for EVENTS_SOURCE_CACHE_SECONDS (see ``_memory``).
    """
    now = timezone.now().timestamp() if now is None else now
    if not source_name or not timestamp or not signature:
        raise AuthenticationFailed("missing headers")
    if not timestamp.isdigit() or len(timestamp) > 12:
        raise AuthenticationFailed("malformed timestamp")
    if abs(now - int(timestamp)) > settings.EVENTS_SIGNATURE_TOLERANCE_SECONDS:
        raise AuthenticationFailed("timestamp outside the window")
    source, secrets_of_source = _remembered(("source", source_name), lambda: _load_source(source_name))
    matched = False
    for secret in secrets_of_source or (_DUMMY_SECRET,):
        matched |= hmac.compare_digest(sign(secret=secret, timestamp=timestamp, body=body).encode(), signature.encode())
    if not secrets_of_source or not matched:
        raise AuthenticationFailed("unknown source or bad signature")
    return source


# --- Recording events ----------------------------------------------------------------------------------


@dataclass
class FieldError:
    field: str
    detail: str


class EventValidationError(Exception):
    """The body or some of its events are invalid (→ 400); ``errors`` says where."""

    def __init__(self, errors: list[FieldError]) -> None:
        super().__init__("; ".join(f"{e.field}: {e.detail}" for e in errors))
        self.errors = errors


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


@dataclass(frozen=True)
class CleanEvent:
    source_id: str
    case_type_code: str
    org_number: str
    occurred_at: datetime.datetime
    reference: str
    case_type_id: int | None = None  # as validated by clean_events (saves the store a lookup)

    @cached_property
    def content_sha256(self) -> str:
        """Of the canonical content; computed once per event (a batch compares it several times)."""
        canonical = json.dumps(
            [
                self.case_type_code,
                self.org_number,
                self.occurred_at.astimezone(datetime.UTC).isoformat(),
                self.reference,
            ],
            separators=(",", ":"),
        )
        return hashlib.sha256(canonical.encode()).hexdigest()


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


def _clean_one(item, prefix: str, case_types, latest: datetime.datetime, errors: list[FieldError]) -> CleanEvent | None:
    if not isinstance(item, dict):
        errors.append(FieldError(prefix.rstrip(".") or "body", "must be a JSON object"))
        return None
    before = len(errors)
    for name in sorted(set(item) - FIELDS):
        errors.append(FieldError(prefix + name, "unknown field"))
    for name in REQUIRED:
        if name not in item:
            errors.append(FieldError(prefix + name, "required"))
        elif not isinstance(item[name], str):
            errors.append(FieldError(prefix + name, "must be a string"))
    reference = item.get("reference", "")
    if reference is None:
        reference = ""
    if not isinstance(reference, str):
        errors.append(FieldError(prefix + "reference", "must be a string"))
    elif len(reference) > MAX_REFERENCE or any(ord(c) < 32 for c in reference):
        errors.append(FieldError(prefix + "reference", f"at most {MAX_REFERENCE} printable characters"))
    if len(errors) > before:
        return None
    source_id = item["id"]
    if not SOURCE_ID_PATTERN.match(source_id):
        errors.append(FieldError(prefix + "id", "1–128 characters: letters, digits and . _ : / -"))
    if item["type"] not in case_types:
        errors.append(FieldError(prefix + "type", "unknown case type; one of " + ", ".join(sorted(case_types))))
    org_number = item["company"].replace("-", "").strip()
    if not (len(org_number) == 10 and org_number.isdigit() and luhn_checksum_ok(org_number)):
        errors.append(FieldError(prefix + "company", "an organisationsnummer: 10 digits with a valid check digit"))
    occurred_at = None
    try:
        occurred_at = datetime.datetime.fromisoformat(item["occurred_at"])
    except ValueError:
        errors.append(FieldError(prefix + "occurred_at", "an ISO 8601 date and time with an offset"))
    else:
        if occurred_at.tzinfo is None:
            errors.append(FieldError(prefix + "occurred_at", "needs an offset, e.g. +01:00 or Z"))
        elif occurred_at > latest:
            errors.append(FieldError(prefix + "occurred_at", "lies in the future"))
    if len(errors) > before:
        return None
    return CleanEvent(
        source_id=source_id,
        case_type_code=item["type"],
        org_number=org_number,
        occurred_at=occurred_at,
        reference=reference,
        case_type_id=case_types[item["type"]],
    )


def clean_events(items: Sequence, *, batch: bool) -> list[CleanEvent]:
    """Validate submitted events (at most one query, for the case types). Raises EventValidationError listing
    every problem, with fields named ``events[3].type`` in a batch."""
    case_types = case_type_ids()
    latest = timezone.now() + FUTURE_TOLERANCE
    errors: list[FieldError] = []
    cleaned = []
    for index, item in enumerate(items):
        clean = _clean_one(item, f"events[{index}]." if batch else "", case_types, latest, errors)
        if clean is not None:
            cleaned.append(clean)
    if errors:
        raise EventValidationError(errors)
    return cleaned


def _publish_fan_out(event_ids: list[int]) -> None:
    """Publish the fan-out of the new events: one task for one event, tasks of EVENTS_FANOUT_BATCH_SIZE
    events for a batch (a task per event was the many-events bottleneck, docs/PERFORMANCE.md). A lost
    publish is found again by the fan-out relay."""
    from . import tasks

    try:
        if len(event_ids) == 1:
            tasks.fan_out.delay(event_id=event_ids[0])
            return
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
    queries for any number of events: on PostgreSQL one INSERT when every event is new (in a transaction
    for more than one id; one id is one statement, atomic by itself), and one more read when some are not.
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
    store = _store_postgresql if connection.vendor == "postgresql" else _store_orm
    if len(first) == 1 and connection.vendor == "postgresql":
        stored = store(source, events, first, batch)
    else:
        with transaction.atomic():
            stored = store(source, events, first, batch)
    results, new_ids = stored
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


_INSERT_SQL = """
INSERT INTO {event} (uuid, source_id, external_id, case_type_id, company_id, occurred_at, reference,
                     content_sha256, received_at, fanout_published_at)
SELECT gen_random_uuid(), %(source)s, i.e, i.t, c.id, i.at, i.r, i.h, %(now)s, %(now)s
FROM jsonb_to_recordset(%(rows)s::jsonb) AS i(e text, t bigint, o text, at timestamptz, r text, h text)
JOIN {company} c ON c.org_number = i.o
ON CONFLICT (source_id, external_id) DO NOTHING
RETURNING id, uuid, external_id
"""

_EXISTING_SQL = """
SELECT i.e, i.o, c.id IS NOT NULL, ev.id, ev.uuid, ev.content_sha256
FROM jsonb_to_recordset(%(rows)s::jsonb) AS i(e text, o text)
LEFT JOIN {company} c ON c.org_number = i.o
LEFT JOIN {event} ev ON ev.source_id = %(source)s AND ev.external_id = i.e
"""


def _tables() -> dict[str, str]:
    quote = connection.ops.quote_name
    return {"event": quote(Event._meta.db_table), "company": quote(Company._meta.db_table)}


def _store_postgresql(source, events, first, batch):
    """One INSERT … SELECT from the rows as one JSON parameter, joined with the companies, skipping ids that
    exist (a concurrent request's too: the insert waits for it). Only when fewer rows come back than ids
    went in, one read tells an unknown company, a conflict and a duplicate apart."""
    case_types = None if all(e.case_type_id for e in first.values()) else case_type_ids()
    rows = json.dumps(
        [
            {
                "e": e.source_id,
                "t": e.case_type_id or case_types[e.case_type_code],
                "o": e.org_number,
                "at": e.occurred_at.isoformat(),
                "r": e.reference,
                "h": e.content_sha256,
            }
            for e in first.values()
        ],
        ensure_ascii=False,
    )
    now = timezone.now()
    with connection.cursor() as cursor:
        cursor.execute(_INSERT_SQL.format(**_tables()), {"source": source.pk, "now": now, "rows": rows})
        stored = {sid: (pk, uuid) for pk, uuid, sid in cursor.fetchall()}
        fresh = set(stored)
        if len(stored) < len(first):
            missing = json.dumps(
                [{"e": sid, "o": e.org_number} for sid, e in first.items() if sid not in fresh], ensure_ascii=False
            )
            cursor.execute(_EXISTING_SQL.format(**_tables()), {"source": source.pk, "rows": missing})
            existing = cursor.fetchall()
            unknown_orgs = {org for _sid, org, known, *_ in existing if not known}
            if unknown_orgs:
                known = {e.org_number for e in events} - unknown_orgs
                raise UnknownCompany(_unknown_company_errors(events, known, batch))
            conflicts = []
            for sid, _org, _known, pk, uuid, sha in existing:
                if pk is None:  # neither stored nor there: cannot happen (nothing deletes events); 503
                    raise DatabaseError(f"event {sid!r} was neither stored nor found")
                if sha != first[sid].content_sha256:
                    conflicts.append(sid)
                stored[sid] = (pk, uuid)
            if conflicts:
                raise EventConflict(sorted(conflicts))
    return _results(events, first, stored, fresh)


def _store_orm(source, events, first, batch):
    """The same through the ORM, for the embedded SQLite database of `make run` (in a transaction)."""
    companies = dict(
        Company.objects.filter(org_number__in={e.org_number for e in events}).values_list("org_number", "pk")
    )
    if unknown := _unknown_company_errors(events, set(companies), batch):
        raise UnknownCompany(unknown)
    case_types = case_type_ids()
    now = timezone.now()
    new = [
        Event(
            source=source,
            external_id=e.source_id,
            case_type_id=e.case_type_id or case_types[e.case_type_code],
            company_id=companies[e.org_number],
            occurred_at=e.occurred_at,
            reference=e.reference,
            content_sha256=e.content_sha256,
            received_at=now,
            fanout_published_at=now,
        )
        for e in first.values()
    ]
    # Rows that exist already are skipped by the database; then one read tells which rows this call
    # inserted: those carrying the uuids we made.
    Event.objects.bulk_create(new, ignore_conflicts=True)
    ours = {e.uuid for e in new}
    stored = Event.objects.filter(source=source, external_id__in=list(first)).values_list(
        "external_id", "pk", "uuid", "content_sha256"
    )
    rows, fresh, conflicts = {}, set(), []
    for sid, pk, uuid, sha in stored:
        rows[sid] = (pk, uuid)
        if uuid in ours:
            fresh.add(sid)
        elif sha != first[sid].content_sha256:
            conflicts.append(sid)
    if conflicts:
        raise EventConflict(sorted(conflicts))
    return _results(events, first, rows, fresh)
