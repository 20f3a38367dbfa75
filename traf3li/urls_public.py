"""The bare BASE_DOMAIN: platform pages only (health, API docs, platform admin)."""

from django.urls import path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from traf3li.admin_sites import platform_admin
from traf3li.core.health import healthz

urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("api/schema/", SpectacularAPIView.as_view(urlconf="traf3li.urls_tenant"), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="docs"),
    path("admin/", platform_admin.urls),
]
