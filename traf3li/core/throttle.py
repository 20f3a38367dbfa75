"""Slowing password guessing: failed logins counted per firm and username, and per client address.

Both doors count: the API's ``POST /api/v1/auth/token/`` and the admin's login page. A failure
(Django's ``user_login_failed`` signal, which both send) adds one to two counters in the cache
(Redis): the firm's schema and the username lower-cased, and the client's address (as
``traf3li.core.proxies.client_ip`` trusts it). Past ``LOGIN_THROTTLE["per_username"]`` failures
within ``window`` seconds for one username, or ``per_ip`` for one address, that key is blocked for
``window`` seconds: the next attempt, right password or not, is answered 429 with ``Retry-After``.
A successful login clears its username's count.

With Redis unreachable the throttle fails open (a warning is logged): logins go on, unthrottled.
"""

from __future__ import annotations

import logging
import math
import time

from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.http import HttpResponse, JsonResponse
from django.utils.translation import gettext as _

from traf3li.core.proxies import client_ip

log = logging.getLogger(__name__)


def _keys(request, username: str) -> list[str]:
    schema = getattr(connection, "schema_name", "public")
    keys = [f"login-throttle:user:{schema}:{(username or '').strip().lower()}"]
    address = client_ip(request) if request is not None else None
    if address:
        keys.append(f"login-throttle:ip:{address}")
    return keys


def _limit(key: str) -> int:
    return settings.LOGIN_THROTTLE["per_ip" if ":ip:" in key else "per_username"]


def blocked_for(request, username: str) -> int:
    """Seconds until ``username`` (from this client) may try again; 0 when it may now."""
    try:
        until = [cache.get(f"{key}:blocked") for key in _keys(request, username)]
    except Exception:  # noqa: BLE001 - Redis down: fail open
        log.warning("login throttle unavailable (cache down): not throttling", exc_info=True)
        return 0
    remaining = max((value - time.time() for value in until if value), default=0)
    return math.ceil(remaining) if remaining > 0 else 0


def failed(request, username: str) -> None:
    window = settings.LOGIN_THROTTLE["window"]
    try:
        for key in _keys(request, username):
            cache.add(key, 0, timeout=window)
            if cache.incr(key) >= _limit(key):
                cache.set(f"{key}:blocked", time.time() + window, timeout=window)
    except Exception:  # noqa: BLE001 - Redis down: fail open
        log.warning("login throttle unavailable (cache down): failure not counted", exc_info=True)


def succeeded(request, username: str) -> None:
    try:
        cache.delete(_keys(request, username)[0])
    except Exception:  # noqa: BLE001
        log.warning("login throttle unavailable (cache down)", exc_info=True)


def too_many(seconds: int, *, json: bool = True) -> HttpResponse:
    """429 with ``Retry-After``: JSON for the API, a line of text for the admin's login page."""
    message = _("Too many failed logins. Try again in %(seconds)d seconds.") % {"seconds": seconds}
    response = JsonResponse({"detail": message}, status=429) if json else HttpResponse(message, status=429)
    response["Retry-After"] = str(seconds)
    return response


def on_login_failed(sender, credentials, request=None, **kwargs) -> None:
    failed(request, credentials.get("username", ""))


def on_logged_in(sender, request, user, **kwargs) -> None:
    succeeded(request, user.get_username())
