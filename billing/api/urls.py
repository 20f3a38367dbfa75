from django.urls import path
from rest_framework.routers import SimpleRouter

from billing.api import views
from timeline.api.views import SubjectTimelineView

router = SimpleRouter(trailing_slash=True)
router.register("invoices", views.InvoiceViewSet, basename="invoice")

app_name = "billing-api"
urlpatterns = [
    # Lifecycle entries and every entry related to the invoice: its 360° view, as the timeline serves them.
    path("invoices/<int:pk>/timeline/", SubjectTimelineView.as_view(subject_type="invoice"), name="invoice-timeline"),
    *router.urls,
]
