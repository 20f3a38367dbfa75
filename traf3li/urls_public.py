"""The bare BASE_DOMAIN: platform pages only (health, API docs, platform admin)."""

from django.urls import path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView

from traf3li.admin_sites import platform_admin
from traf3li.core.health import healthz

# The public schema has no token table: authenticating a "Token" header here was a 500. The docs
# are public anyway; the token a user types into "Authorize" is for a firm's host (the servers).
PUBLIC = {"authentication_classes": []}

urlpatterns = [
    path("healthz", healthz, name="healthz"),  # answered by HealthCheckMiddleware; kept for reverse()
    path("api/schema/", SpectacularAPIView.as_view(urlconf="traf3li.urls_tenant", **PUBLIC), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema", **PUBLIC), name="docs"),
    # templates/drf_spectacular/redoc.html: the sidecar's ReDoc with system fonts, nothing from the internet
    path("api/redoc/", SpectacularRedocView.as_view(url_name="schema", **PUBLIC), name="redoc"),
    path("admin/", platform_admin.urls),
]

# An unavailable database is a 503 with Retry-After; any other uncaught error Django's 500.
handler500 = "traf3li.core.errors.server_error"
