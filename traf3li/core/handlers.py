"""One WSGI application, two middleware stacks: the providers' webhooks skip what only people need.

A webhook request needs its firm (the tenant lookup) and its action context for the audit log.
It has no session, no user, no CSRF token, no language or messages: running those cost about a
fifth of a delivery's time in process. ``application`` sends ``/hooks/`` to a handler built with
``HOOKS_MIDDLEWARE`` and everything else to Django's usual one; both resolve URLs with the same
urlconfs.
"""

from django.conf import settings
from django.core.handlers.wsgi import WSGIHandler

HOOKS_PREFIX = "/hooks/"


class MiddlewareHandler(WSGIHandler):
    """Django's WSGI handler with a middleware list of its own instead of ``settings.MIDDLEWARE``."""

    def __init__(self, middleware: list[str]):
        self._own_middleware = list(middleware)
        super().__init__()

    def load_middleware(self, is_async=False):
        # BaseHandler reads settings.MIDDLEWARE; it runs once, at start-up, before any request.
        everyone = settings.MIDDLEWARE
        settings.MIDDLEWARE = self._own_middleware
        try:
            super().load_middleware(is_async)
        finally:
            settings.MIDDLEWARE = everyone


class PathDispatcher:
    """``/hooks/…`` to the webhooks' handler, the rest to the full one."""

    def __init__(self, default, hooks):
        self.default, self.hooks = default, hooks

    def __call__(self, environ, start_response):
        app = self.hooks if environ.get("PATH_INFO", "").startswith(HOOKS_PREFIX) else self.default
        return app(environ, start_response)
