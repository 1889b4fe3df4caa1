"""Validating submitted events: every problem of a body or a batch at once, fields named as the API's
problem details name them (``events[3].type``)."""

from __future__ import annotations

import datetime
import hashlib
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property

from django.utils import timezone

from companies.identity import luhn_checksum_ok

from .sources import case_type_ids

SOURCE_ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:/-]{0,127}\Z")  # \Z: "$" lets a final "\n" by
FIELDS = {"id", "type", "company", "occurred_at", "reference"}
REQUIRED = ("id", "type", "company", "occurred_at")
MAX_REFERENCE = 64
# An event may not claim to have happened later than this ahead of our clock.
FUTURE_TOLERANCE = datetime.timedelta(minutes=5)


@dataclass
class FieldError:
    field: str
    detail: str


class EventValidationError(Exception):
    """The body or some of its events are invalid (→ 400); ``errors`` says where."""

    def __init__(self, errors: list[FieldError]) -> None:
        super().__init__("; ".join(f"{e.field}: {e.detail}" for e in errors))
        self.errors = errors


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
    if not (len(org_number) == 10 and org_number.isascii() and org_number.isdigit() and luhn_checksum_ok(org_number)):
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
