"""API tokens (ADR 0036): hashed and expiring, remembered per process, speaking the user's language."""

import copy

from django.db import connection
from django.utils import timezone, translation
from django.utils.translation import gettext_lazy as _
from rest_framework import authentication, exceptions

from traf3li.core.process_cache import VersionedCache
from traf3li.users.models import api_token_hash
from traf3li.users.selectors import api_token_lookup

# (firm schema, token hash) -> the token row and its user, looked up once per process (ADR 0034).
# Saving or deleting a token or a user (a revocation, a deactivation, a new role) forgets every
# entry here at once and in every process within a second; expiry is checked on every request.
tokens = VersionedCache("token-cache", "TOKEN_CACHE_MAX_AGE_SECONDS")

# DRF's own messages (its catalogues translate them).
ERROR_INVALID_TOKEN = _("Invalid token.")
ERROR_USER_INACTIVE = _("User inactive or deleted.")


class TokenAuthentication(authentication.TokenAuthentication):
    """``Authorization: Token <token>``, checked against the hashes in the firm's schema.

    After the token names its user, the request speaks that user's language (else the firm's).
    ``UserLanguageMiddleware`` picks the language from ``request.user``, but DRF authenticates a
    token inside the view, after the middleware ran: a token request was anonymous there and got the
    firm's default or Accept-Language, never the user's preference. ``LocaleMiddleware`` (ours)
    gives the thread its previous language back once the response is out, so nothing leaks.
    """

    def authenticate_credentials(self, key):
        # Here, not at the top: DRF imports this module while ``audit.services`` (which the services use) loads.
        from traf3li.users.services import api_token_touch

        now = timezone.now()
        cache_key = (connection.schema_name, api_token_hash(key))
        token = tokens.get(cache_key)
        if token is None:
            token = api_token_lookup(key)
            remember = token is not None
        else:
            token.user = copy.copy(token.user)  # this request's own copy (a view may change it)
            remember = False
        if token is None or not token.is_active_at(now):
            raise exceptions.AuthenticationFailed(ERROR_INVALID_TOKEN)
        if not token.user.is_active:
            raise exceptions.AuthenticationFailed(ERROR_USER_INACTIVE)
        if api_token_touch(token, now) or remember:
            remembered = copy.copy(token)
            remembered.user = copy.copy(token.user)  # not this request's user, which its view may change
            tokens.put(cache_key, remembered)
        return token.user, token

    def authenticate(self, request):
        result = super().authenticate(request)
        if result is not None:
            user = result[0]
            language = user.language or getattr(getattr(request._request, "tenant", None), "language", "")
            if language and language != translation.get_language():
                translation.activate(language)
                # On the HttpRequest, which DRF's Request reads through: views and LocaleMiddleware's
                # Content-Language look there.
                request._request.LANGUAGE_CODE = translation.get_language()
        return result
