"""The ingestion API for the bank's core systems: POST /api/v1/events and /api/v1/events/batch, and the
OpenAPI document. Thin: read a bounded body, authenticate, parse, call ``services.record_events``.

Every 4xx and 5xx is application/problem+json (RFC 9457). Nothing is stored unless the whole request is
valid; a database that cannot be reached answers 503 (the source retries later with the same ids).
"""

from __future__ import annotations

import json
import logging

from django.conf import settings
from django.db import DatabaseError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt

from bevaka.db import skip_connection_health_check

from . import services
from .api import BodyTooLarge, LengthRequired, problem, read_body
from .openapi import openapi_document
from .services import EventValidationError, FieldError

log = logging.getLogger(__name__)

SOURCE_HEADER = "X-Bevaka-Source"
TIMESTAMP_HEADER = "X-Bevaka-Timestamp"
SIGNATURE_HEADER = "X-Bevaka-Signature"


def _errors(errors) -> list[dict]:
    return [{"field": e.field, "detail": e.detail} for e in errors]


def _parse(body: bytes, *, batch: bool) -> list:
    """The submitted events as a list; raises EventValidationError for bad JSON or a bad envelope."""
    try:
        payload = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise EventValidationError([FieldError("body", "not valid UTF-8 JSON")]) from None
    except RecursionError:  # tens of thousands of "[": deeper than the parser goes, and than any event is
        raise EventValidationError([FieldError("body", "JSON nested too deeply")]) from None
    if not batch:
        return [payload]
    if not isinstance(payload, dict) or set(payload) != {"events"} or not isinstance(payload["events"], list):
        raise EventValidationError([FieldError("body", 'an object with one member, "events": a list of events')])
    events = payload["events"]
    if not events:
        raise EventValidationError([FieldError("events", "at least one event")])
    if len(events) > settings.EVENTS_MAX_BATCH_EVENTS:
        raise EventValidationError([FieldError("events", f"at most {settings.EVENTS_MAX_BATCH_EVENTS} events")])
    return events


def _ingest(request: HttpRequest, *, batch: bool) -> HttpResponse:
    if request.method != "POST":
        return problem(405, "method-not-allowed", "Use POST.", headers={"Allow": "POST"})
    skip_connection_health_check()
    limit = settings.EVENTS_MAX_BATCH_BYTES if batch else settings.EVENTS_MAX_BODY_BYTES
    try:
        body = read_body(request, limit)
    except BodyTooLarge:
        return problem(413, "body-too-large", f"The body may be at most {limit} bytes.", max_bytes=limit)
    except LengthRequired:
        return problem(411, "length-required", "Send a Content-Length (or a chunked body).")
    try:
        source = services.authenticate(
            source_name=request.headers.get(SOURCE_HEADER, ""),
            timestamp=request.headers.get(TIMESTAMP_HEADER, ""),
            signature=request.headers.get(SIGNATURE_HEADER, ""),
            body=body,
        )
        results = services.record_events(
            source=source, events=services.clean_events(_parse(body, batch=batch), batch=batch), batch=batch
        )
    except services.AuthenticationFailed as error:
        log.warning("event API: request refused (%s)", error)
        return problem(
            401,
            "unauthenticated",
            f"Sign the request: {SOURCE_HEADER}, {TIMESTAMP_HEADER} (unix seconds, within "
            f"{settings.EVENTS_SIGNATURE_TOLERANCE_SECONDS} s of our clock) and {SIGNATURE_HEADER}: "
            'sha256=<hex HMAC-SHA256 of "<timestamp>.<raw body>">.',
            headers={"WWW-Authenticate": 'Bevaka-HMAC realm="events"'},
        )
    except services.EventValidationError as error:
        return problem(
            400, "invalid-event", "The request is not valid; nothing was stored.", errors=_errors(error.errors)
        )
    except services.UnknownCompany as error:
        return problem(
            422,
            "unknown-company",
            "No customer has this organisationsnummer; nothing was stored.",
            errors=_errors(error.errors),
        )
    except services.EventConflict as error:
        return problem(
            409,
            "id-conflict",
            "These ids were already reported with other content; nothing was stored.",
            source_ids=error.source_ids,
        )
    except DatabaseError:
        log.exception("event API: database unavailable")
        return problem(503, "unavailable", "Try again later with the same ids.", headers={"Retry-After": "30"})
    if batch:
        return JsonResponse({"events": [r.as_json() for r in results]}, status=202)
    [result] = results
    # A repeated id answers with the first result; 200 says nothing new was stored.
    first = {**result.as_json(), "status": "accepted"}
    return JsonResponse(first, status=202 if result.status == "accepted" else 200)


def _guarded(view):
    """Unexpected errors are problem+json too, never Django's HTML page."""

    def wrapped(request, *args, **kwargs):
        try:
            return view(request, *args, **kwargs)
        except Exception:
            log.exception("event API: unexpected error")
            return problem(500, "internal-error", "Something went wrong on our side; try again later.")

    wrapped.__doc__ = view.__doc__
    return csrf_exempt(never_cache(wrapped))


@_guarded
def ingest_event(request: HttpRequest) -> HttpResponse:
    """POST /api/v1/events: one event (≤ EVENTS_MAX_BODY_BYTES)."""
    return _ingest(request, batch=False)


@_guarded
def ingest_batch(request: HttpRequest) -> HttpResponse:
    """POST /api/v1/events/batch: up to EVENTS_MAX_BATCH_EVENTS events, all or none."""
    return _ingest(request, batch=True)


@_guarded
def openapi(request: HttpRequest) -> HttpResponse:
    """GET /api/v1/openapi.json: the OpenAPI 3.1 description of the API."""
    if request.method not in ("GET", "HEAD"):
        return problem(405, "method-not-allowed", "Use GET.", headers={"Allow": "GET, HEAD"})
    return JsonResponse(openapi_document(), json_dumps_params={"ensure_ascii": False, "indent": 2})


@_guarded
def not_found(request: HttpRequest, path: str = "") -> HttpResponse:
    """Anything else under /api/v1/."""
    return problem(404, "not-found", "No such endpoint. See /api/v1/openapi.json.")
