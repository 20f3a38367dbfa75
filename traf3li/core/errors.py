"""The answer to a request that failed on an unavailable database: 503 with ``Retry-After``, not 500.

PostgreSQL restarting, failing over or refusing connections is an outage the client should wait
out and retry (a provider's webhook then comes again; the SPA backs off). Any other uncaught error
is still Django's own 500. A connection that fails is a connection exception (SQLSTATE class 08),
a shutting-down or starting server (57P01-57P03), or a failure before any SQLSTATE came back
(refused, reset, closed): psycopg raises those as its ``OperationalError`` without one. A deadlock,
a timeout or a constraint keeps its own meaning.
"""

import sys

import psycopg
from django.db import InterfaceError, OperationalError
from django.http import HttpResponse, JsonResponse
from django.utils.translation import gettext
from django.views import defaults

RETRY_AFTER_SECONDS = 5
UNAVAILABLE_STATES = ("08", "57P01", "57P02", "57P03")


def database_unavailable(exc: BaseException | None) -> bool:
    if not isinstance(exc, OperationalError | InterfaceError):
        return False
    if isinstance(exc, InterfaceError):  # "the connection is closed": it was lost mid-request
        return True
    cause = exc.__cause__
    if not isinstance(cause, psycopg.OperationalError):
        return False
    state = cause.sqlstate
    return state is None or state.startswith(UNAVAILABLE_STATES)


def server_error(request, template_name=defaults.ERROR_500_TEMPLATE_NAME):
    """``handler500`` of both urlconfs; reads the exception being handled (Django passes none)."""
    if not database_unavailable(sys.exc_info()[1]):
        return defaults.server_error(request, template_name)
    message = gettext("The service is briefly unavailable. Try again in a few seconds.")
    if request.path_info.startswith(("/api/", "/hooks/")):
        response = JsonResponse({"detail": message}, status=503)
    else:
        response = HttpResponse(message, status=503, content_type="text/plain; charset=utf-8")
    response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response
