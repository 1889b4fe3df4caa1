"""A user's alert preferences (issue 23): quiet hours (*Tysta timmar*) and the fallback to e-mail. Each
change is atomic and audited; quiet hours are laid out as ``QuietWindow`` rows for the fan-out's SQL."""

from __future__ import annotations

import datetime

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from agreements.access import has_service_access
from agreements.models import CaseType
from audit.services import record
from bevaka import clock
from companies.models import Company, User

from . import quiet_hours
from .models import AlertPreferences, QuietWindow


class PreferenceError(Exception):
    """A refused change; ``str(error)`` says why, safe to show."""


def preferences_of(user: User) -> AlertPreferences:
    """The user's preferences, or the defaults (not stored) when they never changed any."""
    try:
        return user.alert_preferences
    except AlertPreferences.DoesNotExist:
        return AlertPreferences(user=user)


def schedule_of(preferences: AlertPreferences) -> quiet_hours.Schedule:
    return quiet_hours.Schedule(
        start=preferences.quiet_start,
        end=preferences.quiet_end,
        days_off=preferences.quiet_days_off,
        time_zone=preferences.time_zone,
    )


def _summary(preferences: AlertPreferences, direct_codes: list[str]) -> dict:
    return {
        "quiet_hours": preferences.quiet_hours,
        "from": preferences.quiet_start.strftime("%H:%M"),
        "until": preferences.quiet_end.strftime("%H:%M"),
        "days_off": preferences.quiet_days_off,
        "always_direct": sorted(direct_codes),
    }


@transaction.atomic
def save_quiet_hours(
    *,
    user: User,
    company: Company,
    enabled: bool,
    start: datetime.time,
    end: datetime.time,
    days_off: bool,
    always_direct: list[str],
    ip_address: str | None = None,
) -> bool:
    """Store the user's quiet hours (changed on ``company``'s Mina bevakningar) and lay them out; audited.
    Returns whether anything changed."""
    if not has_service_access(user=user, company=company):
        raise PreferenceError(_("Du har inte tillgång till tjänsten Bevaka ärenden för företaget."))
    if enabled and start == end:
        raise PreferenceError(_("Tysta timmar måste sluta vid en annan tid än de börjar."))
    preferences, _created = AlertPreferences.objects.select_for_update().get_or_create(user=user)
    types = list(CaseType.objects.filter(code__in=always_direct))
    if len(types) != len(set(always_direct)):
        raise PreferenceError(_("Okänd ärendetyp."))
    before = _summary(preferences, list(preferences.always_direct.values_list("code", flat=True)))
    preferences.quiet_hours = enabled
    preferences.quiet_start, preferences.quiet_end, preferences.quiet_days_off = start, end, days_off
    after = _summary(preferences, [t.code for t in types])
    if before == after:
        return False
    preferences.save()
    preferences.always_direct.set(types)
    refresh_quiet_windows(user_ids=[user.pk])
    record(action="alerts.quiet_hours", actor=user, company=company, before=before, after=after, ip_address=ip_address)
    return True


@transaction.atomic
def set_sms_fallback(*, user: User, company: Company, enabled: bool, ip_address: str | None = None) -> bool:
    """Turn the e-mail after an SMS that could not be delivered on or off; audited. Whether it changed."""
    if not has_service_access(user=user, company=company):
        raise PreferenceError(_("Du har inte tillgång till tjänsten Bevaka ärenden för företaget."))
    preferences, _created = AlertPreferences.objects.select_for_update().get_or_create(user=user)
    if preferences.sms_fallback == enabled:
        return False
    preferences.sms_fallback = enabled
    preferences.save(update_fields=["sms_fallback", "updated_at"])
    record(
        action="alerts.sms_fallback",
        actor=user,
        company=company,
        before={"sms_fallback": not enabled},
        after={"sms_fallback": enabled},
        ip_address=ip_address,
    )
    return True


def refresh_quiet_windows(*, user_ids: list[int] | None = None) -> int:
    """Lay out the quiet periods of these users (all with quiet hours when None) from yesterday to
    ``QUIET_HOURS_HORIZON_DAYS`` ahead, replacing what was stored; a user without quiet hours keeps none.
    Returns how many periods were stored."""
    now = clock.now()
    chosen = AlertPreferences.objects.all() if user_ids is None else AlertPreferences.objects.filter(user__in=user_ids)
    rows = []
    with transaction.atomic():
        stale = QuietWindow.objects.all() if user_ids is None else QuietWindow.objects.filter(user__in=user_ids)
        stale.delete()
        for preferences in chosen.filter(quiet_hours=True):
            today = timezone.localtime(now, quiet_hours.ZoneInfo(preferences.time_zone)).date()
            last = today + datetime.timedelta(days=settings.QUIET_HOURS_HORIZON_DAYS)
            for start, end in quiet_hours.periods(schedule_of(preferences), today - datetime.timedelta(days=1), last):
                rows.append(QuietWindow(user_id=preferences.user_id, starts_at=start, ends_at=end))
        QuietWindow.objects.bulk_create(rows, batch_size=1000)
    return len(rows)
