from django.utils import timezone

from traf3li.core.context import action_context

SOURCE_BY_PREFIX = (("/admin/", "admin"), ("/hooks/", "webhook"))


def client_ip(request) -> str | None:
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
    return forwarded.split(",")[0].strip() or request.META.get("REMOTE_ADDR")


class RequestContextMiddleware:
    """Opens one action context per request: its id groups every audit event the request writes."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        source = next((s for prefix, s in SOURCE_BY_PREFIX if request.path.startswith(prefix)), "api")
        request_id = request.META.get("HTTP_X_REQUEST_ID", "")[:64] or None
        kwargs = {
            "source": source,
            "ip": client_ip(request),
            "user_agent": request.META.get("HTTP_USER_AGENT", "")[:400],
        }
        if request_id:
            kwargs["request_id"] = request_id
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            kwargs["user"] = user
        with action_context(**kwargs) as ctx:
            response = self.get_response(request)
        response["X-Request-ID"] = ctx.request_id
        return response


class FirmTimezoneMiddleware:
    """Shows and reads times in the firm's own timezone (admin pages, DRF date-times, naive input).

    Storage stays UTC; only rendering and the parsing of offset-less input follow the firm.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        tz = getattr(getattr(request, "tenant", None), "tz", None)
        if tz is None:
            return self.get_response(request)
        timezone.activate(tz)
        try:
            return self.get_response(request)
        finally:
            timezone.deactivate()
