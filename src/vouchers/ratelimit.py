"""Guessing protection: failed look-ups per client address, in memory or shared through Redis.

Each address may fail ``limit`` look-ups (``voucher_not_found``) in a fixed
window of ``window`` seconds. Once it is over, every public request from it is
refused with 429 until the window ends, so a guesser learns nothing about which
codes are real. In memory, each worker process keeps its own budget; with Redis,
every worker and server shares one.
"""

from __future__ import annotations

import ipaddress
import logging
import math
import time
from typing import Protocol

from redis.asyncio import Redis
from redis.exceptions import RedisError

from vouchers.errors import RateLimited

logger = logging.getLogger(__name__)

MAX_TRACKED_ADDRESSES = 100_000


class LookupLimiter(Protocol):
    """Counts failed look-ups per address and says when an address must wait."""

    async def retry_after(self, address: str) -> int | None:
        """Seconds this address must wait, or None when it may proceed."""

    async def record_failure(self, address: str) -> None:
        """Count one failed look-up against this address."""

    async def close(self) -> None:
        """Release any connection."""


def _window(window: int, now: float) -> tuple[int, int]:
    """The current window's number and the whole seconds left in it."""
    number = int(now // window)
    return number, max(1, math.ceil((number + 1) * window - now))


class MemoryLimiter:
    """A per-process budget: fixed windows kept in a dict."""

    def __init__(self, limit: int, window: int) -> None:
        self.limit = limit
        self.window = window
        self._counts: dict[str, tuple[int, int]] = {}

    async def retry_after(self, address: str) -> int | None:
        """Seconds this address must wait, or None when it may proceed."""
        number, left = _window(self.window, time.time())
        current, count = self._counts.get(address, (number, 0))
        if current == number and count >= self.limit:
            return left
        return None

    async def record_failure(self, address: str) -> None:
        """Count one failed look-up against this address."""
        number, _ = _window(self.window, time.time())
        current, count = self._counts.get(address, (number, 0))
        self._counts[address] = (number, count + 1 if current == number else 1)
        if len(self._counts) > MAX_TRACKED_ADDRESSES:
            self._counts = {a: c for a, c in self._counts.items() if c[0] == number}

    async def close(self) -> None:
        """Nothing to release."""


class RedisLimiter:
    """A budget shared by every worker and server through Redis (fails open if Redis is down)."""

    def __init__(self, url: str, limit: int, window: int, prefix: str) -> None:
        self.limit = limit
        self.window = window
        self.prefix = prefix
        self.redis: Redis = Redis.from_url(url, socket_timeout=1.0, socket_connect_timeout=1.0)

    def _key(self, address: str, number: int) -> str:
        return f"{self.prefix}:lookups:{address}:{number}"

    async def retry_after(self, address: str) -> int | None:
        """Seconds this address must wait, or None when it may proceed."""
        number, left = _window(self.window, time.time())
        try:
            count = await self.redis.get(self._key(address, number))
        except RedisError as error:
            logger.warning("rate limiter: Redis unavailable (%s); not limiting", error)
            return None
        return left if count is not None and int(count) >= self.limit else None

    async def record_failure(self, address: str) -> None:
        """Count one failed look-up against this address."""
        number, _ = _window(self.window, time.time())
        key = self._key(address, number)
        try:
            async with self.redis.pipeline(transaction=True) as pipe:
                pipe.incr(key)
                pipe.expire(key, self.window + 5)
                await pipe.execute()
        except RedisError as error:
            logger.warning("rate limiter: Redis unavailable (%s); failure not counted", error)

    async def close(self) -> None:
        """Close the Redis connection pool."""
        await self.redis.aclose()


Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_networks(entries: list[str]) -> list[Network]:
    """Parse trusted proxy addresses or CIDR ranges (ValueError on a bad entry)."""
    return [ipaddress.ip_network(entry.strip(), strict=False) for entry in entries if entry.strip()]


def client_address(peer: str | None, forwarded_for: str | None, trusted: list[Network]) -> str:
    """The client's address: the socket's, or from X-Forwarded-For when the peer is trusted.

    Walks X-Forwarded-For from the right, skipping trusted proxies, so a client
    cannot pick its own address by sending the header itself.
    """
    address = peer or "unknown"
    if not forwarded_for or not _is_trusted(address, trusted):
        return address
    for hop in reversed([part.strip() for part in forwarded_for.split(",") if part.strip()]):
        if not _is_ip(hop):
            return address
        if not _is_trusted(hop, trusted):
            return hop
        address = hop
    return address


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _is_trusted(address: str, trusted: list[Network]) -> bool:
    if not trusted or not _is_ip(address):
        return False
    ip = ipaddress.ip_address(address)
    return any(ip in network for network in trusted)


class Guard:
    """The public routes' gate: finds the client's address and applies the limiter."""

    def __init__(self, limiter: LookupLimiter, trusted: list[Network]) -> None:
        self.limiter = limiter
        self.trusted = trusted

    def address(self, peer: str | None, forwarded_for: str | None) -> str:
        """The address a request is counted against."""
        return client_address(peer, forwarded_for, self.trusted)

    async def check(self, address: str) -> None:
        """Raise 429 when this address is over its budget."""
        wait = await self.limiter.retry_after(address)
        if wait is not None:
            raise RateLimited(
                f"Too many unknown codes from your address; retry in {wait} seconds.",
                retry_after=wait,
            )

    async def record_failed_lookup(self, address: str) -> None:
        """Count a voucher_not_found answer."""
        await self.limiter.record_failure(address)


def build_guard(
    *, limit: int, window: int, redis_url: str | None, redis_prefix: str, trusted: list[str]
) -> Guard:
    """The guard the settings ask for: Redis-backed when a URL is set, else in memory."""
    limiter: LookupLimiter
    if redis_url:
        limiter = RedisLimiter(redis_url, limit, window, redis_prefix)
    else:
        limiter = MemoryLimiter(limit, window)
    return Guard(limiter, parse_networks(trusted))
