"""Quiet hours and the fallback to e-mail (issue 23). A part of bevaka/settings.py (``from
bevaka.settings_alerts import *``), read from the environment in the same way (bevaka/env.py)."""

from bevaka.env import settings_env

_env = settings_env()

# Quiet hours: each user's quiet periods are laid out this many days ahead (subscriptions.QuietWindow), daily
# and on every change; the release of held alerts runs every QUIET_HOURS_RELEASE_INTERVAL seconds.
QUIET_HOURS_HORIZON_DAYS = _env.int("QUIET_HOURS_HORIZON_DAYS", default=14)
QUIET_HOURS_RELEASE_INTERVAL = _env.float("QUIET_HOURS_RELEASE_INTERVAL", default=30.0)
# An SMS alert without a final status (delivered, undelivered, failed) this many seconds after it was sent goes
# by e-mail too (the history says the SMS's outcome was unknown); the scan runs every
# SMS_FALLBACK_INTERVAL seconds.
SMS_FALLBACK_AFTER = _env.float("SMS_FALLBACK_AFTER", default=15 * 60.0)
SMS_FALLBACK_INTERVAL = _env.float("SMS_FALLBACK_INTERVAL", default=30.0)
# Tests only: a file holding the instant that bevaka.clock.now() returns in every process (empty: the real clock).
BEVAKA_CLOCK_FILE = _env.str("BEVAKA_CLOCK_FILE", default="")

CELERY_BEAT_SCHEDULE_ALERTS = {
    "quiet-hours-release": {
        "task": "events.release_held_alerts",
        "schedule": QUIET_HOURS_RELEASE_INTERVAL,
        "options": {"expires": max(QUIET_HOURS_RELEASE_INTERVAL * 3, 5)},
    },
    "quiet-hours-windows": {
        "task": "subscriptions.refresh_quiet_windows",
        "schedule": 6 * 60 * 60.0,
        "options": {"expires": 60 * 60},
    },
    "sms-fallback": {
        "task": "events.fall_back_to_email",
        "schedule": SMS_FALLBACK_INTERVAL,
        "options": {"expires": max(SMS_FALLBACK_INTERVAL * 3, 5)},
    },
}
