from django.core.exceptions import DisallowedHost
from django.db import connection
from django.http import HttpResponseNotFound
from django.middleware.locale import LocaleMiddleware as DjangoLocaleMiddleware
from django.utils import timezone, translation
from django_tenants.middleware.main import TenantMainMiddleware
from django_tenants.utils import get_tenant_domain_model

from traf3li.core.context import action_context
from traf3li.core.health import healthz
from traf3li.core.proxies import client_ip, from_trusted_proxy
from traf3li.core.tenant_cache import tenant_cache_get, tenant_cache_put

SOURCE_BY_PREFIX = (("/admin/", "admin"), ("/hooks/", "webhook"))


class HealthCheckMiddleware:
    """Answers ``/healthz`` first, on any host, so a load balancer can check a node by its IP.

    It runs before the tenant middleware, whose lookup of the host's firm is a query: with the
    database down that lookup was an HTML 500 and an IP host a 404, where the contract says 503
    ``{"db": "down", …}``. The check needs no firm (``SELECT 1``) and no host validation.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.path_info == "/healthz":
            return healthz(request)
        return self.get_response(request)


class TrustedProxySchemeMiddleware:
    """A request a trusted proxy received over HTTPS is secure (``request.is_secure()``), and only
    then: Django's SECURE_PROXY_SSL_HEADER would believe the header from anyone."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if from_trusted_proxy(request):
            proto = request.META.get("HTTP_X_FORWARDED_PROTO", "").split(",")[0].strip().lower()
            if proto in ("http", "https"):
                request.META["wsgi.url_scheme"] = proto
        return self.get_response(request)


class CachedTenantMiddleware(TenantMainMiddleware):
    """django-tenants' host lookup, remembered per process (``traf3li.core.tenant_cache``, ADR 0034).

    A remembered host skips the switch to the public schema and the domain query; the connection
    then keeps its search_path when the firm is the one it already has (``traf3li.core.postgresql``).
    """

    def process_request(self, request):
        try:
            hostname = self.hostname_from_request(request)
        except DisallowedHost:
            return HttpResponseNotFound()
        tenant = tenant_cache_get(hostname)
        if tenant is None:
            connection.set_schema_to_public()
            domain_model = get_tenant_domain_model()
            try:
                tenant = self.get_tenant(domain_model, hostname)
            except domain_model.DoesNotExist:
                return self.no_tenant_found(request, hostname)
            tenant_cache_put(hostname, tenant)
        tenant.domain_url = hostname
        request.tenant = tenant
        connection.set_tenant(request.tenant)
        self.setup_url_routing(request)


class RequestContextMiddleware:
    """Opens one action context per request: its id groups every audit event the request writes."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        source = next((s for prefix, s in SOURCE_BY_PREFIX if request.path.startswith(prefix)), "api")
        # The request id is always ours (the audit log can vouch for it); a client's goes beside it.
        kwargs = {
            "source": source,
            "ip": client_ip(request),
            "user_agent": request.META.get("HTTP_USER_AGENT", "")[:400],
            "client_request_id": request.META.get("HTTP_X_REQUEST_ID", "")[:64],
        }
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


class LocaleMiddleware(DjangoLocaleMiddleware):
    """Django's (the cookie's or Accept-Language's language), giving the thread its language back afterwards.

    Django's leaves the request's language active on the thread: whatever runs there next outside
    a request (a test, an in-process task) would speak the last visitor's language.
    """

    def __call__(self, request):
        previous = translation.get_language()
        try:
            return super().__call__(request)
        finally:
            translation.activate(previous)


class UserLanguageMiddleware:
    """Speaks the user's language, else the firm's default; with neither, LocaleMiddleware's pick stands.

    It runs after AuthenticationMiddleware because the preference lives on the user; LocaleMiddleware
    (earlier, it needs only the session) has already activated the cookie's or Accept-Language's choice.
    A token-authenticated API request is anonymous here (DRF authenticates in the view), so it gets
    the firm's default or the client's Accept-Language.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = getattr(request, "user", None)
        language = user.language if user is not None and user.is_authenticated else ""
        language = language or getattr(getattr(request, "tenant", None), "language", "")
        if language and language != translation.get_language():
            translation.activate(language)
            request.LANGUAGE_CODE = translation.get_language()
        return self.get_response(request)
