"""JSON for every error under ``/api/``, and the docs' "Try it out" across hosts."""

from urllib.parse import urlsplit

from django.conf import settings
from django.http import HttpResponse, JsonResponse
from django.utils.translation import gettext as _
from rest_framework.response import Response

API_PREFIX = "/api/"


def host_explicit_port(host: str) -> str:
    """The port written in a Host header ("acme.localhost:8000" → "8000"), or "" when it names none."""
    _, sep, port = host.rpartition(":")
    return port if sep and port.isdigit() else ""  # "[::1]" has a colon but no port after it


def _detail(status: int) -> str:
    # DRF's own wording, so its translations apply (Accept-Language: ar).
    if status == 404:
        return _("Not found.")
    if status == 403:
        return _("You do not have permission to perform this action.")
    if status == 405:
        return _("Method not allowed.")
    if status == 413:
        return _("Request body is too large.")
    if status >= 500:
        return _("A server error occurred.")
    return _("Malformed request.")


class ApiJsonErrorsMiddleware:
    """Turns the HTML error pages Django answers under ``/api/`` into ``{"detail": "…"}``.

    DRF's views answer JSON themselves; what is left is Django's own pages: an unrouted path
    (404, also a host with no firm), an exception outside DRF (500) and the debug pages. DRF's
    responses pass untouched, so the browsable API keeps its HTML.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if (
            response.status_code >= 400
            and request.path_info.startswith(API_PREFIX)
            and not isinstance(response, Response)
            and not response.get("Content-Type", "").startswith("application/json")
            and not getattr(response, "streaming", False)
        ):
            json_response = JsonResponse({"detail": _detail(response.status_code)}, status=response.status_code)
            for header in ("X-Request-ID", "Allow", "Vary"):
                if header in response:
                    json_response[header] = response[header]
            return json_response
        return response


class DocsCorsMiddleware:
    """Lets the platform's API docs call a firm's API: "Try it out" from ``localhost`` to ``acme.localhost``.

    Only the platform origin (``BASE_DOMAIN`` on the request's port) is allowed, and never with
    credentials: the browser sends no cookies, only the token the user typed into "Authorize". The
    preflight is answered here, before authentication, which would refuse it (it carries no token).
    """

    ALLOW_HEADERS = "Authorization, Content-Type, Accept, Accept-Language, X-Request-ID"
    ALLOW_METHODS = "GET, POST, PUT, PATCH, DELETE, OPTIONS"

    def __init__(self, get_response):
        self.get_response = get_response

    @staticmethod
    def _allowed(request, origin: str) -> bool:
        parts = urlsplit(origin)
        try:
            origin_port = parts.port
        except ValueError:
            return False
        # The raw Host header: get_host() would raise for a host outside ALLOWED_HOSTS.
        host_port = host_explicit_port(request.META.get("HTTP_HOST", ""))
        return parts.hostname == settings.BASE_DOMAIN.lower() and str(origin_port or "") == host_port

    def __call__(self, request):
        origin = request.META.get("HTTP_ORIGIN", "")
        if not origin or not request.path_info.startswith(API_PREFIX) or not self._allowed(request, origin):
            return self.get_response(request)
        if request.method == "OPTIONS" and "HTTP_ACCESS_CONTROL_REQUEST_METHOD" in request.META:
            response = HttpResponse(status=204)
            response["Access-Control-Allow-Methods"] = self.ALLOW_METHODS
            response["Access-Control-Allow-Headers"] = self.ALLOW_HEADERS
            response["Access-Control-Max-Age"] = "600"
        else:
            response = self.get_response(request)
            response["Access-Control-Expose-Headers"] = "X-Request-ID"
        response["Access-Control-Allow-Origin"] = origin
        response.setdefault("Vary", "Origin")
        return response
