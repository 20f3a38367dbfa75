"""A firm's host (``<slug>.<BASE_DOMAIN>``): its API, admin, webhooks and calendar feeds."""

from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView
from rest_framework.routers import SimpleRouter

from traf3li.admin_sites import firm_admin
from traf3li.api.views import ApiRootView
from traf3li.core.health import healthz
from traf3li.users.api.views import ApiTokenViewSet, MeView, TokenView, UserViewSet

users_router = SimpleRouter()
users_router.register("users", UserViewSet, basename="user")
users_router.register("auth/tokens", ApiTokenViewSet, basename="api-token")

api_v1 = [
    # First: the routers' own roots (DefaultRouter) list only their routes; this one lists every endpoint.
    path("", ApiRootView.as_view(), name="api-root"),
    path("auth/token/", TokenView.as_view(), name="auth-token"),
    path("me/", MeView.as_view(), name="me"),
    path("", include(users_router.urls)),
    path("", include("traf3li.crm.api.urls")),
    path("", include("traf3li.firms.api.urls")),
    path("", include("audit.api.urls")),
    path("", include("timeline.api.urls")),
    path("", include("timeline.activities.api.urls")),
    path("", include("timeline.events.api.urls")),
    path("", include("billing.api.urls")),
    path("", include("messaging.api.urls")),
    path("", include("privacy.api.urls")),
]

urlpatterns = [
    path("healthz", healthz, name="healthz"),  # answered by HealthCheckMiddleware; kept for reverse()
    path("api/v1/", include(api_v1)),
    path("hooks/", include("messaging.hooks_urls")),
    path("", include("timeline.events.feed_urls")),  # /calendar/<token>.ics
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="docs"),
    path("api/redoc/", SpectacularRedocView.as_view(url_name="schema"), name="redoc"),
    path("admin/", firm_admin.urls),
]

# An unavailable database is a 503 with Retry-After; any other uncaught error Django's 500.
handler500 = "traf3li.core.errors.server_error"
