import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "traf3li.settings")
everything = get_wsgi_application()  # sets Django up, then the webhooks' own stack below


def _application():
    from django.conf import settings

    from traf3li.core.handlers import MiddlewareHandler, PathDispatcher

    return PathDispatcher(everything, MiddlewareHandler(settings.HOOKS_MIDDLEWARE))


application = _application()


def _warn_if_superuser() -> None:
    from traf3li.core.db import warn_if_superuser

    warn_if_superuser()  # with DEBUG off: the product should not hold a superuser's rights (ADR 0062)


_warn_if_superuser()
