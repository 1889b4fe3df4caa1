"""Throttling of failed attempts (PSD2 RTS art. 4(3)(b): at most five failed authentication attempts in a
row before a temporary block).

A ``Limit`` counts failures per key in the database (``AttemptCounter``): one row per scope and key, locked
while it changes, so concurrent requests on several processes count every failure. Limits are keyed per
person (a personnummer, a user) so that one address cannot lock out a whole company; a per-address limit
is only a much looser outer bound. A block ends by itself after ``Limit.block``.

Usage, around any check of something secret::

    throttling.check(limit=CONTACT_CODE, key=user.pk)             # raises Blocked while blocked
    if wrong: throttling.record_failure(limit=CONTACT_CODE, key=user.pk)
    else:     throttling.record_success(limit=CONTACT_CODE, key=user.pk)
"""

from __future__ import annotations

import datetime
import hashlib
import hmac
import math
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.db.models.functions import Greatest
from django.utils import timezone
from django.utils.translation import ngettext

from bevaka import metrics

from .models import AttemptCounter


@dataclass(frozen=True)
class Limit:
    """At most ``max_failures`` failures, then blocked for ``block``.

    ``window`` None: failures in a row, forgotten on a success. Otherwise: failures within ``window`` of
    the first one, whatever happened in between (for the outer, per-address bounds).
    """

    scope: str
    max_failures: int
    block: datetime.timedelta
    window: datetime.timedelta | None = None
    counts: str = "person"  # whose attempts: "person", "browser" or "address" (the refusal says so)


def _refusal(counts: str, minutes: int) -> str:
    """What a refused person is told: the truth about whose attempts led to it, and when to try again."""
    if counts == "address":
        # Everyone behind the same address (an office, a NAT) shares this count: it was not necessarily them.
        text = ngettext(
            "Just nu görs ovanligt många inloggningsförsök från ditt nätverk. Försök igen om %(minutes)d minut.",
            "Just nu görs ovanligt många inloggningsförsök från ditt nätverk. Försök igen om %(minutes)d minuter.",
            minutes,
        )
    elif counts == "browser":
        text = ngettext(
            "Inloggning med BankID har påbörjats för många gånger i rad i den här webbläsaren utan att slutföras. "
            "Försök igen om %(minutes)d minut.",
            "Inloggning med BankID har påbörjats för många gånger i rad i den här webbläsaren utan att slutföras. "
            "Försök igen om %(minutes)d minuter.",
            minutes,
        )
    else:
        text = ngettext(
            "För många misslyckade försök. Försök igen om %(minutes)d minut.",
            "För många misslyckade försök. Försök igen om %(minutes)d minuter.",
            minutes,
        )
    return text % {"minutes": minutes}


class Blocked(Exception):
    """Refused for now; ``str()`` says why in the user's language (whose attempts), with when to try again."""

    def __init__(self, until: datetime.datetime, counts: str = "person") -> None:
        minutes = max(1, math.ceil((until - timezone.now()).total_seconds() / 60))
        super().__init__(_refusal(counts, minutes))
        self.until = until


def _minutes(name: str, default: float) -> datetime.timedelta:
    return datetime.timedelta(minutes=getattr(settings, name, default))


def _digest(scope: str, key: object) -> str:
    secret = hashlib.sha256(f"throttling:{settings.SECRET_KEY}".encode()).digest()
    return hmac.new(secret, f"{scope}:{key}".encode(), hashlib.sha256).hexdigest()


def _expired(counter: AttemptCounter, limit: Limit, now: datetime.datetime) -> bool:
    """Whether the counter's past no longer counts: its block is over, or its window has passed."""
    if counter.blocked_until is not None:
        return counter.blocked_until <= now
    return limit.window is not None and counter.window_started_at <= now - limit.window


def check(*, limit: Limit, key: object) -> None:
    """Raise Blocked if ``key`` is blocked for ``limit`` now; otherwise do nothing (one query)."""
    blocked = AttemptCounter.objects.filter(
        scope=limit.scope, key=_digest(limit.scope, key), blocked_until__gt=timezone.now()
    )
    until = blocked.values_list("blocked_until", flat=True).first()
    if until is not None:
        metrics.count("bevaka_throttle_refusals_total", scope=limit.scope)
        raise Blocked(until, limit.counts)


def record_failure(*, limit: Limit, key: object) -> int:
    """Count one failed attempt; returns how many are left before a block (0: blocked from now on).

    Runs in its own transaction (or the caller's): call it where the caller's refusal will not roll it back.
    """
    now = timezone.now()
    with transaction.atomic():
        counter, _created = AttemptCounter.objects.select_for_update().get_or_create(
            scope=limit.scope, key=_digest(limit.scope, key), defaults={"window_started_at": now}
        )
        if _expired(counter, limit, now):
            counter.failures, counter.blocked_until, counter.window_started_at = 0, None, now
        counter.failures += 1
        if counter.failures >= limit.max_failures:
            if counter.blocked_until is None:
                metrics.count("bevaka_throttle_blocks_total", scope=limit.scope)
            counter.blocked_until = now + limit.block
        counter.save(update_fields=["failures", "blocked_until", "window_started_at", "updated_at"])
    return max(0, limit.max_failures - counter.failures)


def record_success(*, limit: Limit, key: object) -> None:
    """Forget the failures in a row of ``key`` (never lifts a block that is in force)."""
    AttemptCounter.objects.filter(scope=limit.scope, key=_digest(limit.scope, key), blocked_until__isnull=True).delete()


def forgive_one(*, limit: Limit, key: object) -> None:
    """Take back one counted attempt (an attempt that turned out well) from a windowed limit."""
    AttemptCounter.objects.filter(scope=limit.scope, key=_digest(limit.scope, key), blocked_until__isnull=True).update(
        failures=Greatest(F("failures") - 1, 0)
    )


# --- The limits ----------------------------------------------------------------------------------------
# Per person: five failures in a row, then a temporary block.
_IN_A_ROW = getattr(settings, "THROTTLE_MAX_FAILURES_IN_A_ROW", 5)
LOGIN_PERSON = Limit("login-person", _IN_A_ROW, _minutes("THROTTLE_BLOCK_MINUTES", 15))
CONTACT_CODE = Limit("contact-code", _IN_A_ROW, _minutes("THROTTLE_BLOCK_MINUTES", 15))
ADMIN_LOGIN = Limit("admin-login", _IN_A_ROW, _minutes("THROTTLE_BLOCK_MINUTES", 15))
BANKID_LOGIN_SESSION = Limit("bankid-session", _IN_A_ROW, _minutes("THROTTLE_BLOCK_MINUTES", 15), counts="browser")
# Per address, the loose outer bounds: a company's office behind one address must not be locked out.
LOGIN_ADDRESS = Limit(
    "login-address",
    getattr(settings, "THROTTLE_ADDRESS_MAX_FAILURES", 100),
    _minutes("THROTTLE_BLOCK_MINUTES", 15),
    window=datetime.timedelta(hours=1),
    counts="address",
)
# Starting a BankID login costs nothing to an attacker without cookies, and every colleague behind the same
# address shares this count: so it only bounds a flood (far above an office's own rate), and what it refuses
# it refuses for a short cool-down, not the 15 minutes of a person's block (docs/SECURITY.md has the numbers).
BANKID_LOGIN_ADDRESS = Limit(
    "bankid-address",
    getattr(settings, "THROTTLE_BANKID_STARTS_PER_ADDRESS", 1000),
    datetime.timedelta(seconds=getattr(settings, "THROTTLE_BANKID_ADDRESS_COOLDOWN_SECONDS", 60)),
    window=datetime.timedelta(minutes=10),
    counts="address",
)
