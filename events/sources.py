"""Source systems and their keys: the bank's core systems that report events, how they sign a request,
and a short per-process memory of the active ones (and of the case types) so that a request pays no
query to authenticate."""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
import time

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from agreements.models import CaseType
from signing.crypto import decrypt_secret, encrypt_secret

from .models import SourceKey, SourceSystem

log = logging.getLogger(__name__)


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
    if not (timestamp.isascii() and timestamp.isdigit()) or len(timestamp) > 12:  # not "²", not "١٢"
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
