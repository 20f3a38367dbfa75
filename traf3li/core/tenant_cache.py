"""Which firm a host belongs to, remembered per process (ADR 0034).

django-tenants looks the host up on every request: a ``SET search_path`` to public, a query for the
domain and its tenant, then a ``SET search_path`` to the firm's schema. Firms and their domains
change a few times a year; requests come hundreds of times a second. So each process remembers
``host → firm`` and hands each request a copy of the firm (a view may change its own copy).

Invalidation:
- in the process that saves or deletes a firm or a domain, at once (signals);
- in every other process within ``TENANT_CACHE_CHECK_SECONDS``: each change bumps a version
  number in Redis, and a process compares its version with Redis's at most that often;
- with Redis unreachable, an entry older than ``TENANT_CACHE_MAX_AGE_SECONDS`` is looked up again.

A firm's rows changed without ``save()`` (``QuerySet.update``) bypass the signals: call
:func:`tenant_cache_forget` after such a change. ``TENANT_CACHE_MAX_AGE_SECONDS = 0`` turns the
cache off (the tests do, since they change firm rows in rolled-back transactions).
"""

from __future__ import annotations

import copy
import logging
import threading
import time

import redis
from django.conf import settings

log = logging.getLogger(__name__)
VERSION_KEY = "traf3li:tenant-cache:version"

_entries: dict[str, tuple[float, object]] = {}
_lock = threading.Lock()
_state = {"version": None, "checked_at": 0.0}
_client: list[redis.Redis] = []


def _redis() -> redis.Redis:
    if not _client:
        _client.append(redis.Redis.from_url(settings.REDIS_URL, socket_timeout=0.2, socket_connect_timeout=0.2))
    return _client[0]


def _check_version(now: float) -> None:
    """Forget everything when another process changed a firm or domain since we last looked."""
    if now - _state["checked_at"] < settings.TENANT_CACHE_CHECK_SECONDS:
        return
    _state["checked_at"] = now
    try:
        version = int(_redis().get(VERSION_KEY) or 0)
    except redis.RedisError:
        return  # entries still expire by age
    if version != _state["version"]:
        with _lock:
            _entries.clear()
        _state["version"] = version


def tenant_cache_get(hostname: str):
    """A copy of the firm remembered for ``hostname``, or None."""
    max_age = settings.TENANT_CACHE_MAX_AGE_SECONDS
    if not max_age:
        return None
    now = time.monotonic()
    _check_version(now)
    found = _entries.get(hostname)
    if found is None or now - found[0] > max_age:
        return None
    return copy.copy(found[1])


def tenant_cache_put(hostname: str, tenant) -> None:
    if settings.TENANT_CACHE_MAX_AGE_SECONDS:
        with _lock:
            _entries[hostname] = (time.monotonic(), copy.copy(tenant))


def tenant_cache_forget(**_) -> None:
    """Forget every host here and tell the other processes (a signal receiver, or call it yourself)."""
    with _lock:
        _entries.clear()
    try:
        _state["version"] = _redis().incr(VERSION_KEY)  # ours: what we remember from now on is current
    except redis.RedisError:
        _state["version"] = None
        log.warning("tenant cache: could not tell the other processes; their entries expire by age")
