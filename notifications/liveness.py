"""Worker liveness: "a worker consumed a task recently", recorded by the worker, read by /statusz (bevaka/health.py).

A Celery worker can stall after a Redis reconnect while its process lives, so a process check is not
enough. Every task a worker starts stamps the time (in Redis, or a file under VAR_DIR without Redis); beat
runs the relay every few seconds, so a live worker keeps the stamp fresh.
"""

import time
from pathlib import Path

from django.conf import settings

_KEY = "bevaka:worker:last-task-consumed"


def _file() -> Path:
    return Path(settings.VAR_DIR) / "worker-last-task"


def record_task_consumed() -> None:
    now = f"{time.time():.3f}"
    if settings.REDIS_URL:
        from .ratelimit import redis_connection

        redis_connection().set(_KEY, now, ex=24 * 3600)
    else:
        _file().write_text(now)


def seconds_since_task_consumed() -> float | None:
    """Seconds since a worker last started a task, or None if none ever did (or the store is down)."""
    try:
        if settings.REDIS_URL:
            from .ratelimit import redis_connection

            value = redis_connection().get(_KEY)
        else:
            value = _file().read_text() if _file().exists() else None
    except Exception:
        return None
    if not value:
        return None
    return max(0.0, time.time() - float(value))
