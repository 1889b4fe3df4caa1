"""Quiet hours (*Tysta timmar*): when a user's alerts wait, and until when. Pure functions of a schedule.

A schedule is a daily window in local time (``start``–``end``; a window whose end is not after its start
crosses midnight, 22:00–07:00) and, optionally, all of Saturdays, Sundays and Swedish public holidays
(the ``holidays`` library's calendar). Its quiet periods are the union of those, as instants: a window
running into a day off and on into the next window is one period (Friday 22:00 → Monday 07:00).

Local wall times are turned into instants in the schedule's time zone, so the windows hold across
daylight-saving changes:
- a wall time that does not exist (02:30 on the spring-forward night) is the first instant whose wall
  time is later (03:00 new time): the window starts or ends at the change;
- a wall time that happens twice (02:30 on the fall-back night) is its first occurrence.

The fan-out does not call these per recipient: ``materialise`` stores each user's periods for the next
``QUIET_HOURS_HORIZON_DAYS`` as ``QuietWindow`` rows, and the fan-out's SQL looks the event's instant up in
them (``events.eligibility.held_until``).
"""

from __future__ import annotations

import datetime
import functools
from dataclasses import dataclass
from zoneinfo import ZoneInfo

import holidays

UTC = datetime.UTC
STOCKHOLM = "Europe/Stockholm"
MIDNIGHT = datetime.time(0, 0)


@dataclass(frozen=True)
class Schedule:
    start: datetime.time
    end: datetime.time
    days_off: bool = False
    time_zone: str = STOCKHOLM


@functools.lru_cache(maxsize=64)
def _swedish_holidays(year: int) -> frozenset[datetime.date]:
    return frozenset(holidays.country_holidays("SE", years=year))


def is_day_off(day: datetime.date) -> bool:
    """Saturday, Sunday or a Swedish public holiday."""
    return day.weekday() >= 5 or day in _swedish_holidays(day.year)


def local_instant(day: datetime.date, time: datetime.time, zone: ZoneInfo) -> datetime.datetime:
    """The instant (UTC) of wall time ``time`` on ``day`` in ``zone``, as the module's docstring says for a
    wall time that does not exist or happens twice."""
    naive = datetime.datetime.combine(day, time)
    first = naive.replace(tzinfo=zone, fold=0)
    if first.astimezone(UTC).astimezone(zone).replace(tzinfo=None) == naive:
        return first.astimezone(UTC)
    # In a gap: the change lies between the two readings; find it to the second (offsets are whole seconds).
    low = naive.replace(tzinfo=zone, fold=1).astimezone(UTC)
    high = first.astimezone(UTC)
    low, high = min(low, high), max(low, high)
    while high - low > datetime.timedelta(seconds=1):
        middle = low + (high - low) / 2
        if middle.astimezone(zone).replace(tzinfo=None) >= naive:
            high = middle
        else:
            low = middle
    return high.replace(microsecond=0)


def _raw_periods(schedule: Schedule, first: datetime.date, last: datetime.date):
    zone = ZoneInfo(schedule.time_zone)
    day = first
    while day <= last:
        following = day + datetime.timedelta(days=1)
        if schedule.start < schedule.end:
            yield local_instant(day, schedule.start, zone), local_instant(day, schedule.end, zone)
        elif schedule.start > schedule.end:
            yield local_instant(day, schedule.start, zone), local_instant(following, schedule.end, zone)
        if schedule.days_off and is_day_off(day):
            yield local_instant(day, MIDNIGHT, zone), local_instant(following, MIDNIGHT, zone)
        day = following


def periods(schedule: Schedule, first: datetime.date, last: datetime.date) -> list[tuple[datetime.datetime, ...]]:
    """The quiet periods (start, end) as UTC instants, merged where they touch or overlap, of the windows
    that begin on the local days ``first`` … ``last``."""
    merged: list[list[datetime.datetime]] = []
    for start, end in sorted(_raw_periods(schedule, first, last)):
        if end <= start:
            continue
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    return [tuple(period) for period in merged]


# A run of days off is at most a long Easter or Christmas: two weeks ahead always finds a period's end.
_LOOK_AHEAD = datetime.timedelta(days=14)


def release_at(schedule: Schedule, at: datetime.datetime) -> datetime.datetime | None:
    """When an alert at ``at`` (aware) is released: the end of the quiet period it falls in, or None when it
    falls in none (it goes at once)."""
    zone = ZoneInfo(schedule.time_zone)
    day = at.astimezone(zone).date()
    for start, end in periods(schedule, day - datetime.timedelta(days=1), day + _LOOK_AHEAD):
        if start <= at < end:
            return end
    return None
