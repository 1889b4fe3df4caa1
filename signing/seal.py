"""Security-token evidence sealed with a server HMAC, and its verification.

OCRA is symmetric: the bank holds the token's secret and could compute any response itself, so a token
record proves less than a BankID signature. What the seal adds is that a record cannot be changed after
the fact without the sealing key: HMAC-SHA256 over the canonical JSON of the record, under a key from the
environment (``SIGNING_SEAL_KEYS``), whose id is stored with the record so that keys can be rotated while
older records stay verifiable (docs/SECURITY.md).
"""

from __future__ import annotations

import hashlib
import hmac
import json

from django.conf import settings

from .tokens import challenge_for
from .verification import Report

DEV_KEY_ID = "dev"


def _keys() -> dict[str, bytes]:
    configured = {key_id: secret.encode() for key_id, secret in settings.SIGNING_SEAL_KEYS.items() if secret}
    if configured:
        return configured
    # Development and tests: one key derived from SECRET_KEY (production sets SIGNING_SEAL_KEYS).
    derived = hashlib.sha256(b"bevaka-arenden/signing/seal-key\x00" + settings.SECRET_KEY.encode()).digest()
    return {DEV_KEY_ID: derived}


def _current_key_id() -> str:
    keys = _keys()
    wanted = settings.SIGNING_SEAL_KEY_ID
    if wanted and wanted in keys:
        return wanted
    return sorted(keys)[-1]


def _mac(record: dict, key: bytes) -> str:
    body = {k: v for k, v in record.items() if k not in {"seal", "sealKeyId"}}
    payload = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    return hmac.new(key, payload, hashlib.sha256).hexdigest()


def seal(record: dict) -> dict:
    """The record with ``sealKeyId`` and ``seal`` (hex HMAC-SHA256 of everything else) added."""
    key_id = _current_key_id()
    return {**record, "sealKeyId": key_id, "seal": _mac(record, _keys()[key_id])}


def verify_token_record(record: dict, *, content_sha256: str) -> Report:
    """Checks: the seal under its key id, the record's content hash, the challenge derived from both."""
    report = Report()
    key = _keys().get(str(record.get("sealKeyId") or ""))
    if key is None:
        report.add("token_seal", False, f"unknown seal key id {record.get('sealKeyId')!r}")
    else:
        ok = hmac.compare_digest(str(record.get("seal") or ""), _mac(record, key))
        report.add("token_seal", ok, f"HMAC-SHA256 under key {record['sealKeyId']!r}")
    report.add(
        "content_hash", record.get("contentSha256") == content_sha256, "the record names the signed content's SHA-256"
    )
    try:
        derived = challenge_for(content_sha256=str(record.get("contentSha256")), nonce=str(record.get("nonce")))
    except ValueError:
        derived = ""
    report.add("challenge", derived == record.get("challenge"), "the challenge is derived from the content and nonce")
    return report
