"""Redis for speed only: the webhook dedupe pre-filter, short rate windows.

Every call here degrades instead of failing: when Redis is unreachable the caller gets the answer
that keeps correctness (for dedupe, "first time seen", so the database constraint decides), and a
short circuit breaker stops each request from paying a connect timeout while Redis is down.
"""

from __future__ import annotations

import asyncio
import logging
import time

import redis.asyncio as redis
from redis.exceptions import RedisError

from shared_code.platform.settings import get_settings

log = logging.getLogger(__name__)

_BREAKER_SECONDS = 5.0
_client: redis.Redis | None = None
_client_loop: asyncio.AbstractEventLoop | None = None
_down_until = 0.0


def _get_client() -> redis.Redis | None:
    global _client, _client_loop
    if time.monotonic() < _down_until:
        return None
    url = get_settings().redis_url
    if not url:
        return None
    loop = asyncio.get_running_loop()
    if _client is None or _client_loop is not loop:
        _client = redis.Redis.from_url(
            url, socket_timeout=0.25, socket_connect_timeout=0.25, health_check_interval=0
        )
        _client_loop = loop
    return _client


def _trip(exc: BaseException) -> None:
    global _down_until
    if time.monotonic() >= _down_until:
        log.warning("redis unavailable, continuing without it: %s", type(exc).__name__)
    _down_until = time.monotonic() + _BREAKER_SECONDS


def reset() -> None:
    """Forget the client and any open breaker (tests restart Redis)."""
    global _client, _client_loop, _down_until
    _client, _client_loop, _down_until = None, None, 0.0


async def first_seen(key: str, ttl_seconds: int) -> bool:
    """True unless Redis positively knows `key` was seen within the TTL (SET NX)."""
    client = _get_client()
    if client is None:
        return True
    try:
        return bool(await client.set(key, b"1", nx=True, ex=ttl_seconds))
    except (RedisError, OSError) as exc:
        _trip(exc)
        return True


async def forget(key: str) -> None:
    """Drop `key` (the guard of work that failed: a retry must not be turned away by it)."""
    client = _get_client()
    if client is None:
        return
    try:
        await client.delete(key)
    except (RedisError, OSError) as exc:
        _trip(exc)


async def incr_window(key: str, ttl_seconds: int) -> int | None:
    """Count one use of a short window (INCR + EXPIRE); None when Redis is unavailable."""
    client = _get_client()
    if client is None:
        return None
    try:
        async with client.pipeline(transaction=True) as pipe:
            pipe.incr(key)
            pipe.expire(key, ttl_seconds)
            used, _ = await pipe.execute()
        return int(used)
    except (RedisError, OSError) as exc:
        _trip(exc)
        return None
