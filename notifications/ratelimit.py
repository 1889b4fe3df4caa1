"""A token bucket per channel, shared by every worker and every lane through Redis (process-local without
Redis).

``acquire(channel)`` reserves one token and sleeps until it is due, so the provider is fed at most
``NOTIFICATIONS_RATE_LIMITS[channel]`` messages per second across all machines. A reservation further away
than ``max_wait`` is not taken; the caller reschedules instead of holding a worker.

One-time codes (``acquire(channel, code=True)``, the ``codes`` lane) are never starved by alerts: a burst of
alerts reserves tokens seconds ahead, and a code that queued behind those reservations would wait for all
of them. A code instead takes its token from a reserve of its own (NOTIFICATIONS_CODES_RATE_SHARE of the
channel's rate, a burst of at least one) and is charged to the channel's bucket too, without waiting on it:
the alerts that reserve after it yield its slot. Only while codes and a saturating burst coincide does the
provider see more than the rate, by at most the codes' share.
"""

import threading
import time

from django.conf import settings

from bevaka import metrics

_RESERVE = """
local rate = tonumber(ARGV[1])
local capacity = tonumber(ARGV[2])
local max_wait = tonumber(ARGV[3])
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local function take(key, r, cap)
  local state = redis.call('HMGET', key, 'tokens', 'ts')
  local tokens = tonumber(state[1]) or cap
  local ts = tonumber(state[2]) or now
  return math.min(cap, tokens + math.max(0, now - ts) * r) - 1
end
local function store(key, tokens, r, cap)
  redis.call('HSET', key, 'tokens', tostring(tokens), 'ts', tostring(now))
  redis.call('EXPIRE', key, math.ceil(cap / r) + 60)
end
local tokens = take(KEYS[1], rate, capacity)
local wait = 0
if #KEYS == 2 then
  -- a code: it waits for its own reserve only, and is charged to the channel's bucket as well
  local code_rate = tonumber(ARGV[4])
  local code_capacity = tonumber(ARGV[5])
  local reserve = take(KEYS[2], code_rate, code_capacity)
  if reserve < 0 then wait = -reserve / code_rate end
  if wait > max_wait then return '-1' end
  store(KEYS[2], reserve, code_rate, code_capacity)
else
  if tokens < 0 then wait = -tokens / rate end
  if wait > max_wait then return '-1' end
end
store(KEYS[1], tokens, rate, capacity)
return tostring(wait)
"""

_redis_lock = threading.Lock()
_redis_client = None
_script = None
_local_buckets: dict[str, list[float]] = {}
_local_lock = threading.Lock()


class RateLimited(Exception):
    """No token within the allowed wait."""


def redis_connection():
    """The process's Redis client for rate limits and liveness (REDIS_URL)."""
    global _redis_client, _script
    with _redis_lock:
        if _redis_client is None:
            import redis

            _redis_client = redis.Redis.from_url(settings.REDIS_URL, socket_timeout=5)
            _script = _redis_client.register_script(_RESERVE)
    return _redis_client


def _take_locally(key: str, rate: float, capacity: float, now: float) -> float:
    tokens, ts = _local_buckets.get(key, [capacity, now])
    return min(capacity, tokens + max(0.0, now - ts) * rate) - 1


def _reserve_locally(key: str, rate: float, capacity: float, max_wait: float, code: tuple | None = None) -> float:
    """The Lua script's reservation, in this process (``code``: the reserve's key, rate and capacity)."""
    with _local_lock:
        now = time.monotonic()
        tokens = _take_locally(key, rate, capacity, now)
        if code is not None:
            code_key, code_rate, code_capacity = code
            reserve = _take_locally(code_key, code_rate, code_capacity, now)
            wait = -reserve / code_rate if reserve < 0 else 0.0
            if wait > max_wait:
                return -1.0
            _local_buckets[code_key] = [reserve, now]
        else:
            wait = -tokens / rate if tokens < 0 else 0.0
            if wait > max_wait:
                return -1.0
        _local_buckets[key] = [tokens, now]
        return wait


def acquire(channel: str, *, max_wait: float | None = None, code: bool = False) -> None:
    """Block until one message may go out on ``channel``; raise RateLimited if that is too far away.
    ``code``: a one-time code, which waits only for the codes' reserve (the module's doc)."""
    rate = float(settings.NOTIFICATIONS_RATE_LIMITS.get(channel, 0) or 0)
    if rate <= 0:
        return
    # A short burst only (NOTIFICATIONS_RATE_LIMIT_BURST_SECONDS of tokens): with a full second of burst
    # our bucket emptied the provider's own (also about a second) and the jitter of 150 ms requests then
    # met 429s (17 of 5,000 in `make bench`); a small burst leaves the provider's bucket its slack.
    capacity = max(1.0, rate * settings.NOTIFICATIONS_RATE_LIMIT_BURST_SECONDS)
    max_wait = settings.NOTIFICATIONS_RATE_LIMIT_MAX_WAIT if max_wait is None else max_wait
    key = f"bevaka:ratelimit:{channel}"
    keys, args = [key], [rate, capacity, max_wait]
    reserve = None
    if code:
        code_rate = max(rate * settings.NOTIFICATIONS_CODES_RATE_SHARE, 1e-3)
        code_capacity = max(1.0, code_rate * settings.NOTIFICATIONS_RATE_LIMIT_BURST_SECONDS)
        reserve = (f"{key}:codes", code_rate, code_capacity)
        keys.append(reserve[0])
        args += [code_rate, code_capacity]
    if settings.REDIS_URL:
        redis_connection()
        wait = float(_script(keys=keys, args=args))
    else:
        wait = _reserve_locally(key, rate, capacity, max_wait, reserve)
    if wait < 0:
        raise RateLimited(channel)
    if wait > 0:
        metrics.count("bevaka_rate_limit_waits_total", channel=channel)
        metrics.count("bevaka_rate_limit_wait_seconds_total", wait, channel=channel)
        time.sleep(wait)
