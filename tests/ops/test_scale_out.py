"""State that several machines must share lives in Redis or PostgreSQL, never in one process's memory."""

import uuid

import pytest

from harness import MANAGE, run_command
from notifications import ratelimit


def test_the_cache_is_shared_by_every_process_through_redis():
    from django.core.cache import cache

    key = f"ops-shared-{uuid.uuid4().hex}"
    result = run_command([*MANAGE, "shell", "-c", f"from django.core.cache import cache; cache.set({key!r}, 42, 60)"])
    assert result.returncode == 0, result.stdout
    assert cache.get(key) == 42
    cache.delete(key)


def test_a_token_taken_by_another_process_is_gone_for_this_one(settings):
    """The rate-limit bucket is one per channel for all workers: another process empties it, we wait."""
    channel = f"ops-{uuid.uuid4().hex[:8]}"
    settings.NOTIFICATIONS_RATE_LIMITS = {**settings.NOTIFICATIONS_RATE_LIMITS, channel: 0.05}  # one per 20 s
    result = run_command(
        [
            *MANAGE,
            "shell",
            "-c",
            "from django.conf import settings; from notifications import ratelimit; "
            f"settings.NOTIFICATIONS_RATE_LIMITS[{channel!r}] = 0.05; ratelimit.acquire({channel!r}, max_wait=0)",
        ]
    )
    assert result.returncode == 0, result.stdout
    with pytest.raises(ratelimit.RateLimited):
        ratelimit.acquire(channel, max_wait=1)
    ratelimit.redis_connection().delete(f"bevaka:ratelimit:{channel}")
