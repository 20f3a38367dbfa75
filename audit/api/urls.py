from django.urls import path
from rest_framework.routers import SimpleRouter

from audit.api import views

router = SimpleRouter(trailing_slash=True)
router.register("audit", views.AuditEventViewSet, basename="event")

app_name = "audit-api"
urlpatterns = [
    path("cases/<int:pk>/history/", views.CaseHistoryView.as_view(), name="case-history"),
    *router.urls,
]
