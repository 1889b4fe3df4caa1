"""The OpenAPI 3.1 description of the ingestion API, served at /api/v1/openapi.json."""

from django.conf import settings

from agreements.case_types import CATALOGUE


def _problem(description: str, schema: str = "Problem") -> dict:
    return {
        "description": description,
        "content": {"application/problem+json": {"schema": {"$ref": f"#/components/schemas/{schema}"}}},
    }


def _json(description: str, schema: str) -> dict:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{schema}"}}},
    }


def openapi_document() -> dict:
    """The document; limits come from the settings, case types from the catalogue."""
    tolerance = settings.EVENTS_SIGNATURE_TOLERANCE_SECONDS
    headers = [
        {
            "name": "X-Bevaka-Source",
            "in": "header",
            "required": True,
            "description": "The source system's name, as registered by the bank's staff.",
            "schema": {"type": "string", "maxLength": 64},
        },
        {
            "name": "X-Bevaka-Timestamp",
            "in": "header",
            "required": True,
            "description": f"Unix time in seconds when the request was signed; at most {tolerance} s from our clock.",
            "schema": {"type": "string", "pattern": "^[0-9]{1,12}$"},
        },
        {
            "name": "X-Bevaka-Signature",
            "in": "header",
            "required": True,
            "description": "sha256=<lower-case hex HMAC-SHA256, keyed with one of the source's active keys, of "
            '"<X-Bevaka-Timestamp>.<raw request body>">.',
            "schema": {"type": "string", "pattern": "^sha256=[0-9a-f]{64}$"},
        },
    ]
    common = {
        "400": _problem("Invalid JSON or fields; `errors` lists each. Nothing is stored.", "ValidationProblem"),
        "401": _problem("Missing or bad signature, unknown source, or a timestamp outside the window."),
        "405": _problem("Only POST."),
        "409": _problem("An id already reported with other content. Nothing is stored.", "ConflictProblem"),
        "411": _problem("Neither Content-Length nor a chunked body."),
        "413": _problem("The body is larger than allowed; refused before it is read."),
        "422": _problem("No customer with this organisationsnummer. Nothing is stored.", "ValidationProblem"),
        "500": _problem("An unexpected error; retry later with the same ids."),
        "503": _problem("The database is unavailable; nothing is stored. Retry with the same ids (see Retry-After)."),
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Bevaka ärenden – case events",
            "version": "1.0.0",
            "description": "The bank's core systems report case events; each becomes alerts (SMS, e-mail) for the "
            "company's users who watch that kind of case. Requests are signed with HMAC-SHA256 and idempotent "
            "per source id: resend with the same id until you get a 2xx.",
        },
        "servers": [{"url": "/"}],
        "security": [{"BevakaHmac": []}],
        "paths": {
            "/api/v1/events": {
                "post": {
                    "operationId": "reportEvent",
                    "summary": "Report one case event",
                    "parameters": headers,
                    "requestBody": {
                        "required": True,
                        "description": f"At most {settings.EVENTS_MAX_BODY_BYTES} bytes.",
                        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Event"}}},
                    },
                    "responses": {
                        "202": _json("Accepted: stored, alerts follow.", "Accepted"),
                        "200": _json(
                            "This id was reported before with the same content: the first answer; nothing new is "
                            "stored.",
                            "Accepted",
                        ),
                        **common,
                    },
                }
            },
            "/api/v1/events/batch": {
                "post": {
                    "operationId": "reportEvents",
                    "summary": f"Report up to {settings.EVENTS_MAX_BATCH_EVENTS} case events, all or none",
                    "parameters": headers,
                    "requestBody": {
                        "required": True,
                        "description": f"At most {settings.EVENTS_MAX_BATCH_BYTES} bytes. Validated as a whole: "
                        "one invalid event and nothing is stored.",
                        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Batch"}}},
                    },
                    "responses": {"202": _json("Accepted; one item per event, in order.", "BatchAccepted"), **common},
                }
            },
            "/api/v1/openapi.json": {
                "get": {
                    "operationId": "openapi",
                    "summary": "This document",
                    "security": [],
                    "responses": {"200": {"description": "OpenAPI 3.1", "content": {"application/json": {}}}},
                }
            },
        },
        "components": {
            "securitySchemes": {
                "BevakaHmac": {
                    "type": "apiKey",
                    "in": "header",
                    "name": "X-Bevaka-Signature",
                    "description": "With X-Bevaka-Source and X-Bevaka-Timestamp; see the parameters.",
                }
            },
            "schemas": {
                "Event": {
                    "type": "object",
                    "additionalProperties": False,
                    "required": ["id", "type", "company", "occurred_at"],
                    "properties": {
                        "id": {
                            "type": "string",
                            "pattern": "^[A-Za-z0-9][A-Za-z0-9._:/-]{0,127}$",
                            "description": "The source system's own id; unique per source.",
                        },
                        "type": {"type": "string", "enum": [entry.code for entry in CATALOGUE]},
                        "company": {
                            "type": "string",
                            "pattern": "^[0-9]{6}-?[0-9]{4}$",
                            "description": "The company's organisationsnummer.",
                        },
                        "occurred_at": {
                            "type": "string",
                            "format": "date-time",
                            "description": "ISO 8601 with an offset.",
                        },
                        "reference": {
                            "type": ["string", "null"],
                            "maxLength": 64,
                            "description": "Optional and non-sensitive (no amounts, counterparties, account "
                            "numbers). Never shown in alerts.",
                        },
                    },
                },
                "Batch": {
                    "type": "object",
                    "additionalProperties": False,
                    "required": ["events"],
                    "properties": {
                        "events": {
                            "type": "array",
                            "minItems": 1,
                            "maxItems": settings.EVENTS_MAX_BATCH_EVENTS,
                            "items": {"$ref": "#/components/schemas/Event"},
                        }
                    },
                },
                "Accepted": {
                    "type": "object",
                    "required": ["id", "source_id", "status"],
                    "properties": {
                        "id": {"type": "string", "format": "uuid", "description": "Our id of the event."},
                        "source_id": {"type": "string"},
                        "status": {"type": "string", "enum": ["accepted", "duplicate"]},
                    },
                },
                "BatchAccepted": {
                    "type": "object",
                    "required": ["events"],
                    "properties": {"events": {"type": "array", "items": {"$ref": "#/components/schemas/Accepted"}}},
                },
                "Problem": {
                    "type": "object",
                    "description": "RFC 9457 problem details.",
                    "required": ["type", "title", "status"],
                    "properties": {
                        "type": {"type": "string", "format": "uri"},
                        "title": {"type": "string"},
                        "status": {"type": "integer"},
                        "detail": {"type": "string"},
                    },
                },
                "ValidationProblem": {
                    "allOf": [
                        {"$ref": "#/components/schemas/Problem"},
                        {
                            "type": "object",
                            "required": ["errors"],
                            "properties": {
                                "errors": {
                                    "type": "array",
                                    "items": {
                                        "type": "object",
                                        "required": ["field", "detail"],
                                        "properties": {"field": {"type": "string"}, "detail": {"type": "string"}},
                                    },
                                }
                            },
                        },
                    ]
                },
                "ConflictProblem": {
                    "allOf": [
                        {"$ref": "#/components/schemas/Problem"},
                        {
                            "type": "object",
                            "properties": {"source_ids": {"type": "array", "items": {"type": "string"}}},
                        },
                    ]
                },
            },
        },
    }
