"""Retention by partition and the purge of short-lived rows (issue 22; events.retention, bevaka.partitions).

Imported by settings.py after its own retention settings and CELERY_BEAT_SCHEDULE.
"""

from bevaka.env import settings_env

_env = settings_env()

# Monthly partitions (PostgreSQL) exist this many months ahead: beat's daily events.ensure_partitions makes
# the missing ones. A row past them lands in the default partition, never refused.
PARTITION_MONTHS_AHEAD = _env.int("PARTITION_MONTHS_AHEAD", default=3)
# A finished or expired signing order without evidence is deleted this many days after it ended.
SIGNING_ORDER_RETENTION_DAYS = _env.int("SIGNING_ORDER_RETENTION_DAYS", default=7)

_DAY = 24 * 60 * 60
RETENTION_BEAT_SCHEDULE = {
    "partitions-ensure": {"task": "events.ensure_partitions", "schedule": _DAY, "options": {"expires": 60 * 60}},
    "purge-short-lived": {
        "task": "events.purge_short_lived",
        "schedule": _env.float("PURGE_INTERVAL_SECONDS", default=60 * 60),
        "options": {"expires": 30 * 60},
    },
}
