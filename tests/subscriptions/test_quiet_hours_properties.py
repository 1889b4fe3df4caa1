"""Quiet hours' windows as properties (hypothesis) over windows, time zones and DST transitions: an alert is
held ⇔ its local wall time falls in the window (or on a day off); the release is the window's end in local
time, and every instant before it is quiet too. No database: ``subscriptions.quiet_hours`` is pure."""

import datetime
from zoneinfo import ZoneInfo

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from subscriptions.quiet_hours import UTC, Schedule, is_day_off, local_instant, release_at

ZONES = ["Europe/Stockholm", "America/New_York", "Australia/Sydney", "Asia/Kolkata", "America/St_Johns", "UTC"]
times = st.builds(datetime.time, st.integers(0, 23), st.sampled_from([0, 15, 30, 45]))
schedules = st.builds(Schedule, start=times, end=times, days_off=st.booleans(), time_zone=st.sampled_from(ZONES))
# Instants around the DST changes of 2026 (Europe: 29 March, 25 October; US: 8 March, 1 November;
# Sydney: 5 April, 4 October) and anywhere in the years around them.
changes = [
    datetime.datetime(2026, 3, 29, 1, tzinfo=UTC),
    datetime.datetime(2026, 10, 25, 1, tzinfo=UTC),
    datetime.datetime(2026, 3, 8, 7, tzinfo=UTC),
    datetime.datetime(2026, 11, 1, 6, tzinfo=UTC),
    datetime.datetime(2026, 4, 4, 16, tzinfo=UTC),
    datetime.datetime(2026, 10, 3, 16, tzinfo=UTC),
    datetime.datetime(2026, 12, 24, 12, tzinfo=UTC),
]
near_changes = st.builds(
    lambda base, minutes: base + datetime.timedelta(minutes=minutes),
    st.sampled_from(changes),
    st.integers(-3 * 24 * 60, 3 * 24 * 60),
)
anywhere = st.datetimes(min_value=datetime.datetime(2025, 1, 1), max_value=datetime.datetime(2028, 1, 1)).map(
    lambda naive: naive.replace(tzinfo=UTC, microsecond=0)
)
instants = st.one_of(near_changes, anywhere)


def wall_clock_quiet(schedule: Schedule, at: datetime.datetime) -> bool:
    """The oracle, in wall-clock terms only: the local time is in the daily window, or the day is off."""
    local = at.astimezone(ZoneInfo(schedule.time_zone))
    t = local.time().replace(tzinfo=None)
    if schedule.days_off and is_day_off(local.date()):
        return True
    if schedule.start < schedule.end:
        return schedule.start <= t < schedule.end
    if schedule.start > schedule.end:
        return t >= schedule.start or t < schedule.end
    return False


def ambiguous(zone: ZoneInfo, at: datetime.datetime) -> bool:
    """A wall time that happens twice (the fall-back hour): the module takes its first occurrence."""
    local = at.astimezone(zone).replace(tzinfo=None)
    return local.replace(tzinfo=zone, fold=0).utcoffset() != local.replace(tzinfo=zone, fold=1).utcoffset()


def in_gap(zone: ZoneInfo, day: datetime.date, time: datetime.time) -> bool:
    naive = datetime.datetime.combine(day, time)
    return naive.replace(tzinfo=zone).astimezone(UTC).astimezone(zone).replace(tzinfo=None) != naive


@settings(max_examples=400, deadline=None)
@given(schedule=schedules, at=instants)
def test_held_exactly_when_the_wall_clock_is_in_the_window(schedule, at):
    zone = ZoneInfo(schedule.time_zone)
    assume(not ambiguous(zone, at))
    assert (release_at(schedule, at) is not None) == wall_clock_quiet(schedule, at)


@settings(max_examples=400, deadline=None)
@given(schedule=schedules, at=instants)
def test_release_is_the_windows_end_in_local_time(schedule, at):
    zone = ZoneInfo(schedule.time_zone)
    release = release_at(schedule, at)
    assume(release is not None)
    assert release > at
    local = release.astimezone(zone)
    # The end of a daily window, or the midnight that ends a day off; a wall time that does not exist that
    # day (the spring-forward gap) ends at the change, the first instant after it.
    ends = {schedule.end, datetime.time(0, 0)}
    expected = {local_instant(local.date(), end, zone) for end in ends}
    assert release in expected, (release, local)
    if not any(in_gap(zone, local.date(), end) for end in ends):
        assert local.time().replace(tzinfo=None) in ends
    # Not quiet at the release, and quiet all the way up to it (sampled).
    assert release_at(schedule, release) is None
    span = release - at
    for fraction in (0.25, 0.5, 0.75):
        between = at + span * fraction
        assert release_at(schedule, between) == release


def test_a_window_across_midnight_and_the_weekend_is_one_period():
    schedule = Schedule(start=datetime.time(22), end=datetime.time(7), days_off=True)
    friday_night = datetime.datetime(2026, 12, 4, 23, 30, tzinfo=ZoneInfo("Europe/Stockholm"))
    assert release_at(schedule, friday_night) == datetime.datetime(2026, 12, 7, 7, tzinfo=ZoneInfo("Europe/Stockholm"))


def test_spring_forward_and_fall_back_in_stockholm():
    stockholm = ZoneInfo("Europe/Stockholm")
    schedule = Schedule(start=datetime.time(22), end=datetime.time(2, 30))
    # 29 March 2026: 02:30 does not exist; the window ends at the change (03:00 summer time).
    at = datetime.datetime(2026, 3, 28, 23, 0, tzinfo=stockholm)
    assert release_at(schedule, at) == datetime.datetime(2026, 3, 29, 1, 0, tzinfo=UTC)
    # 25 October 2026: 02:30 happens twice; the window ends at the first.
    at = datetime.datetime(2026, 10, 24, 23, 0, tzinfo=stockholm)
    assert release_at(schedule, at) == datetime.datetime(2026, 10, 25, 0, 30, tzinfo=UTC)
    # Swedish public holiday (Christmas Day, a Friday) with days off: quiet all day.
    assert release_at(
        Schedule(datetime.time(22), datetime.time(7), True), datetime.datetime(2026, 12, 25, 12, tzinfo=stockholm)
    )
