"""The Celery queues (the lanes of notifications/lanes.py) and the codes' share of the rate limits.

A part of bevaka/settings.py (which takes them in with ``from bevaka.settings_queues import *``), read from
the environment as it reads its own (every NAME also as NAME_FILE, bevaka/env.py).
"""

from kombu import Queue

from bevaka.env import settings_env
from notifications.lanes import DEFAULT, LANES

_env = settings_env()

# A queue per lane, in priority order: codes, SMS, e-mail, then Celery's default queue (the fan-out, the
# relays, everything else). Sends are published to their lane's queue by notifications/publishing.py (a
# batch is of one lane), not routed by task name. A worker reads the queues its --queues names; a worker
# without --queues (make run's one worker) reads them all, on Redis the first non-empty one first.
CELERY_TASK_DEFAULT_QUEUE = DEFAULT
CELERY_TASK_QUEUES = [Queue(name) for name in LANES]
CELERY_TASK_ROUTES: dict = {}
# One-time codes are charged to their channel's rate-limit bucket like every message, so that alerts yield
# to them, but never wait behind the alerts' reservations: they wait only for a reserve of their own of
# this share of the channel's rate (notifications/ratelimit.py).
NOTIFICATIONS_CODES_RATE_SHARE = _env.float("NOTIFICATIONS_CODES_RATE_SHARE", default=0.2)
