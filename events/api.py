"""The ingestion API's HTTP layer: bounded body reading and RFC 9457 problem details."""

from __future__ import annotations

import json

from django.http import HttpRequest, HttpResponse

PROBLEM_BASE = "https://bevaka.example/problems/"

TITLES = {
    400: "Invalid request",
    401: "Not authenticated",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    411: "Length required",
    413: "Content too large",
    422: "Unknown company",
    500: "Internal error",
    503: "Service unavailable",
}


def problem(
    status: int, slug: str, detail: str, *, errors: list[dict] | None = None, headers: dict | None = None, **extra
) -> HttpResponse:
    """An ``application/problem+json`` answer (RFC 9457): type, title, status, detail, and our extensions."""
    body = {"type": PROBLEM_BASE + slug, "title": TITLES.get(status, "Error"), "status": status, "detail": detail}
    if errors is not None:
        body["errors"] = errors
    body.update(extra)
    response = HttpResponse(
        json.dumps(body, ensure_ascii=False), status=status, content_type="application/problem+json"
    )
    for name, value in (headers or {}).items():
        response[name] = value
    response["Cache-Control"] = "no-store"
    return response


class BodyTooLarge(Exception):
    pass


class LengthRequired(Exception):
    pass


def read_body(request: HttpRequest, limit: int) -> bytes:
    """The raw body, never reading more than ``limit`` + 1 bytes of it.

    A declared Content-Length above ``limit`` is refused before anything is read. Without one (chunked
    transfer, which the WSGI server de-chunks), at most ``limit`` + 1 bytes are read from the input stream
    and a longer body is refused. Neither header: LengthRequired.
    """
    declared = request.META.get("CONTENT_LENGTH") or ""
    if declared.strip():
        try:
            length = int(declared)
        except ValueError:
            raise LengthRequired from None
        if length > limit:
            raise BodyTooLarge
        return request.body
    if "chunked" not in request.META.get("HTTP_TRANSFER_ENCODING", "").lower():
        raise LengthRequired
    stream = request.META["wsgi.input"]
    chunks, total = [], 0
    while total <= limit:
        chunk = stream.read(min(65536, limit + 1 - total))
        if not chunk:
            break
        chunks.append(chunk)
        total += len(chunk)
    if total > limit:
        raise BodyTooLarge
    return b"".join(chunks)
