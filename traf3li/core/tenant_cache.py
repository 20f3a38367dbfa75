"""Which firm a host belongs to, remembered per process (ADR 0034).

django-tenants looks the host up on every request: a ``SET search_path`` to public, a query for the
domain and its tenant, then a ``SET search_path`` to the firm's schema. Firms and their domains
change a few times a year; requests come hundreds of times a second. So each process remembers
``host → firm`` (``traf3li.core.process_cache``) and hands each request a copy of the firm.

Invalidation: saving or deleting a firm or a domain (signals) forgets at once here and, through a
version in Redis, within ``TENANT_CACHE_CHECK_SECONDS`` in every other process; with Redis
unreachable an entry is looked up again after ``TENANT_CACHE_MAX_AGE_SECONDS``. A firm's rows
changed without ``save()`` (``QuerySet.update``) bypass the signals: call
:func:`tenant_cache_forget` after such a change. ``TENANT_CACHE_MAX_AGE_SECONDS = 0`` turns the
cache off (the tests do, since they change firm rows in rolled-back transactions).
"""

from traf3li.core.process_cache import VersionedCache

hosts = VersionedCache("tenant-cache", "TENANT_CACHE_MAX_AGE_SECONDS")
VERSION_KEY = hosts.version_key


def tenant_cache_get(hostname: str):
    """A copy of the firm remembered for ``hostname``, or None."""
    return hosts.get(hostname)


def tenant_cache_put(hostname: str, tenant) -> None:
    hosts.put(hostname, tenant)


def tenant_cache_forget(**_) -> None:
    hosts.forget()
