"""DRF's token authentication, speaking the token user's language for the rest of the request."""

from django.utils import translation
from rest_framework import authentication


class TokenAuthentication(authentication.TokenAuthentication):
    """After the token names its user, the request speaks that user's language (else the firm's).

    ``UserLanguageMiddleware`` picks the language from ``request.user``, but DRF authenticates a
    token inside the view, after the middleware ran: a token request was anonymous there and got the
    firm's default or Accept-Language, never the user's preference. ``LocaleMiddleware`` (ours)
    gives the thread its previous language back once the response is out, so nothing leaks.
    """

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
