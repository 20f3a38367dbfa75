"""A per-process cache that every process forgets within a second of a change anywhere (ADR 0034).

Entries live in the process. A change (a signal receiver calling :meth:`VersionedCache.forget`)
clears this process's entries at once and bumps a version number in Redis; every process compares
its version with Redis's at most every ``TENANT_CACHE_CHECK_SECONDS`` and clears its entries when
it moved. With Redis unreachable, entries expire after ``max_age`` seconds. ``get`` hands out a
shallow copy, so a request that changes what it got changes only its own.
"""

from __future__ import annotations

import copy
import logging
import threading
import time

import redis
from django.conf import settings

log = logging.getLogger(__name__)
_client: list[redis.Redis] = []


def _redis() -> redis.Redis:
    if not _client:
        _client.append(redis.Redis.from_url(settings.REDIS_URL, socket_timeout=0.2, socket_connect_timeout=0.2))
    return _client[0]


class VersionedCache:
    def __init__(self, name: str, max_age_setting: str):
        self.version_key = f"traf3li:{name}:version"
        self.max_age_setting = max_age_setting
        self._entries: dict = {}
        self._lock = threading.Lock()
        self._version: int | None = None
        self._checked_at = 0.0

    def _max_age(self) -> float:
        return getattr(settings, self.max_age_setting)

    def _check_version(self, now: float) -> None:
        if now - self._checked_at < settings.TENANT_CACHE_CHECK_SECONDS:
            return
        self._checked_at = now
        try:
            version = int(_redis().get(self.version_key) or 0)
        except redis.RedisError:
            return  # entries still expire by age
        if version != self._version:
            with self._lock:
                self._entries.clear()
            self._version = version

    def get(self, key):
        max_age = self._max_age()
        if not max_age:
            return None
        now = time.monotonic()
        self._check_version(now)
        found = self._entries.get(key)
        if found is None or now - found[0] > max_age:
            return None
        return copy.copy(found[1])

    def put(self, key, value) -> None:
        if self._max_age():
            with self._lock:
                self._entries[key] = (time.monotonic(), copy.copy(value))

    def forget(self, **_) -> None:
        """Forget everything here and tell the other processes (a signal receiver, or call it yourself)."""
        with self._lock:
            self._entries.clear()
        try:
            self._version = _redis().incr(self.version_key)  # ours: what we remember from now on is current
        except redis.RedisError:
            self._version = None
            log.warning("%s: could not tell the other processes; their entries expire by age", self.version_key)
