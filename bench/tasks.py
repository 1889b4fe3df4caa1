"""The no-op task of the Celery ceiling: one round trip through the broker and a counter in Redis."""

from celery import shared_task
from django.conf import settings

_client = None


@shared_task(name="bench.noop", ignore_result=True)
def noop() -> None:
    """Count one; nothing else."""
    global _client
    if _client is None:
        import redis

        _client = redis.Redis.from_url(settings.REDIS_URL)
    _client.incr("bench:noop")
