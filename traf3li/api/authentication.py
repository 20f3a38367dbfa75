"""DRF's token authentication: remembered per process, and speaking the token user's language."""

import copy

from django.db import connection
from django.utils import translation
from rest_framework import authentication

from traf3li.core.process_cache import VersionedCache

# token key (in its firm) -> the token and its user, looked up once per process (ADR 0034). Saving or
# deleting a token or a user forgets every entry here at once and in every process within a second.
tokens = VersionedCache("token-cache", "TOKEN_CACHE_MAX_AGE_SECONDS")


class TokenAuthentication(authentication.TokenAuthentication):
    """After the token names its user, the request speaks that user's language (else the firm's).

    ``UserLanguageMiddleware`` picks the language from ``request.user``, but DRF authenticates a
    token inside the view, after the middleware ran: a token request was anonymous there and got the
    firm's default or Accept-Language, never the user's preference. ``LocaleMiddleware`` (ours)
    gives the thread its previous language back once the response is out, so nothing leaks.
    """

    def authenticate_credentials(self, key):
        cache_key = (connection.schema_name, key)
        token = tokens.get(cache_key)
        if token is None:
            user, token = super().authenticate_credentials(key)
            tokens.put(cache_key, token)
            return user, token
        token.user = copy.copy(token.user)  # this request's own copy (a view may change it)
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
