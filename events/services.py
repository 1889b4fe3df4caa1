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
from collections.abc import Sequence
from dataclasses import dataclass, field

from django.conf import settings
from django.db import transaction
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


def authenticate(
    *, source_name: str, timestamp: str, signature: str, body: bytes, now: float | None = None
) -> SourceSystem:
    """The active source system that signed ``body`` at ``timestamp`` with one of its active keys.

    Signatures are compared in constant time, against every active key (two during a rotation); an
    unknown source costs the same HMAC work. Raises AuthenticationFailed with a reason for the log.
    """
    now = timezone.now().timestamp() if now is None else now
    if not source_name or not timestamp or not signature:
        raise AuthenticationFailed("missing headers")
    if not timestamp.isdigit() or len(timestamp) > 12:
        raise AuthenticationFailed("malformed timestamp")
    if abs(now - int(timestamp)) > settings.EVENTS_SIGNATURE_TOLERANCE_SECONDS:
        raise AuthenticationFailed("timestamp outside the window")
    source = SourceSystem.objects.filter(name=source_name, is_active=True).first()
    keys = list(SourceKey.objects.filter(source=source, is_active=True)) if source else []
    secrets_to_try = [key_secret(key) for key in keys] or [_DUMMY_SECRET]
    matched = False
    for secret in secrets_to_try:
        matched |= hmac.compare_digest(sign(secret=secret, timestamp=timestamp, body=body).encode(), signature.encode())
    if not keys or not matched:
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

    @property
    def content_sha256(self) -> str:
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


@dataclass
class Recorded:
    """What became of one submitted event: ``status`` is "accepted" (stored now) or "duplicate"."""

    event: Event
    status: str

    def as_json(self) -> dict:
        return {"id": str(self.event.uuid), "source_id": self.event.external_id, "status": self.status}


def _clean_one(item, prefix: str, case_types: set[str], errors: list[FieldError]) -> CleanEvent | None:
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
        elif occurred_at > timezone.now() + FUTURE_TOLERANCE:
            errors.append(FieldError(prefix + "occurred_at", "lies in the future"))
    if len(errors) > before:
        return None
    return CleanEvent(
        source_id=source_id,
        case_type_code=item["type"],
        org_number=org_number,
        occurred_at=occurred_at,
        reference=reference,
    )


def clean_events(items: Sequence, *, batch: bool) -> list[CleanEvent]:
    """Validate submitted events (one query, for the case types). Raises EventValidationError listing every
    problem, with fields named ``events[3].type`` in a batch."""
    case_types = set(CaseType.objects.values_list("code", flat=True))
    errors: list[FieldError] = []
    cleaned = []
    for index, item in enumerate(items):
        clean = _clean_one(item, f"events[{index}]." if batch else "", case_types, errors)
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
        for start in range(0, len(event_ids), size):
            tasks.fan_out_batch.delay(event_ids=event_ids[start : start + size])
    except Exception:
        log.warning("could not publish the fan-out of %d events; the relay will", len(event_ids))


@dataclass
class _Lookup:
    companies: dict[str, int] = field(default_factory=dict)
    case_types: dict[str, int] = field(default_factory=dict)


@transaction.atomic
def record_events(*, source: SourceSystem, events: Sequence[CleanEvent], batch: bool = True) -> list[Recorded]:
    """Store these validated events from ``source``, each source id once, all or none.

    An id seen before (or twice in this batch) with the same content is a "duplicate" and changes
    nothing; with other content the whole call raises EventConflict. A company that is not a customer
    raises UnknownCompany. New events are fanned out by a task published after commit. Constant number of
    queries for any number of events.
    """
    org_numbers = {e.org_number for e in events}
    lookup = _Lookup(
        companies=dict(Company.objects.filter(org_number__in=org_numbers).values_list("org_number", "pk")),
        case_types=dict(CaseType.objects.values_list("code", "pk")),
    )
    unknown = [
        FieldError((f"events[{i}]." if batch else "") + "company", "no customer with this organisationsnummer")
        for i, e in enumerate(events)
        if e.org_number not in lookup.companies
    ]
    if unknown:
        raise UnknownCompany(unknown)

    first: dict[str, CleanEvent] = {}
    conflicts = []
    for event in events:
        seen = first.setdefault(event.source_id, event)
        if seen.content_sha256 != event.content_sha256:
            conflicts.append(event.source_id)
    if conflicts:
        raise EventConflict(sorted(set(conflicts)))

    now = timezone.now()
    new = [
        Event(
            source=source,
            external_id=e.source_id,
            case_type_id=lookup.case_types[e.case_type_code],
            company_id=lookup.companies[e.org_number],
            occurred_at=e.occurred_at,
            reference=e.reference,
            content_sha256=e.content_sha256,
            received_at=now,
            fanout_published_at=now,
        )
        for e in first.values()
    ]
    # Rows that exist already are skipped by the database (a concurrent request included); then one read
    # tells which rows this call inserted: those carrying the uuids we made.
    Event.objects.bulk_create(new, ignore_conflicts=True)
    stored = {
        row.external_id: row for row in Event.objects.filter(source=source, external_id__in=list(first)).order_by()
    }
    ours = {e.uuid for e in new}
    conflicts = [sid for sid, clean in first.items() if stored[sid].content_sha256 != clean.content_sha256]
    if conflicts:
        raise EventConflict(sorted(conflicts))

    results = []
    reported: set[str] = set()
    for event in events:
        row = stored[event.source_id]
        fresh = row.uuid in ours and event.source_id not in reported
        reported.add(event.source_id)
        results.append(Recorded(event=row, status="accepted" if fresh else "duplicate"))
    new_ids = [stored[sid].pk for sid in first if stored[sid].uuid in ours]
    if new_ids:
        transaction.on_commit(lambda: _publish_fan_out(new_ids))
    log.info("source %s: %d events, %d new", source.name, len(events), len(new_ids))
    return results
