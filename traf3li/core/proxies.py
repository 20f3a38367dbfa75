"""Who sent a request, and to which URL, when a proxy stands in front (``TRUSTED_PROXIES``).

``X-Forwarded-For``, ``X-Forwarded-Proto`` and ``X-Forwarded-Host`` are believed only when the
request comes from a proxy listed in ``TRUSTED_PROXIES`` (addresses or networks): anyone else
could write them. The client is then the nearest address in ``X-Forwarded-For`` that isn't a
trusted proxy itself. Twilio signs the public URL it called, which behind a TLS proxy is not the
one gunicorn sees: ``public_url`` rebuilds it from the trusted headers.
"""

import ipaddress
from functools import cache

from django.conf import settings


@cache
def _networks(proxies: tuple[str, ...]) -> tuple:
    return tuple(ipaddress.ip_network(value.strip(), strict=False) for value in proxies if value.strip())


def is_trusted_proxy(address: str | None) -> bool:
    if not address:
        return False
    try:
        ip = ipaddress.ip_address(address.strip())
    except ValueError:
        return False
    return any(ip in network for network in _networks(tuple(settings.TRUSTED_PROXIES)))


def from_trusted_proxy(request) -> bool:
    return is_trusted_proxy(request.META.get("REMOTE_ADDR"))


def client_ip(request) -> str | None:
    """The client's address: ``REMOTE_ADDR``, unless a trusted proxy forwarded the request."""
    remote = request.META.get("REMOTE_ADDR")
    if not from_trusted_proxy(request):
        return remote
    hops = [hop.strip() for hop in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if hop.strip()]
    for hop in reversed(hops):  # the right-most hops were added by our own proxies
        if not is_trusted_proxy(hop):
            return hop
    return hops[0] if hops else remote


def _first(value: str) -> str:
    return value.split(",")[0].strip()


def public_url(request) -> str:
    """The URL the client called: scheme and host from a trusted proxy's headers, else the request's."""
    scheme, host = request.scheme, request.get_host()
    if from_trusted_proxy(request):
        proto = _first(request.META.get("HTTP_X_FORWARDED_PROTO", ""))
        if proto in ("http", "https"):
            scheme = proto
        host = _first(request.META.get("HTTP_X_FORWARDED_HOST", "")) or host
    return f"{scheme}://{host}{request.get_full_path()}"
