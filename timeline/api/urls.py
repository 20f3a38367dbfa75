from django.urls import path
from rest_framework.routers import SimpleRouter

from timeline.api import views

# The 360° views of the core records; other apps add theirs (e.g. invoices) with SubjectTimelineView.
VIEWS_360 = {
    "clients": "client",
    "contacts": "contact",
    "leads": "lead",
    "cases": "case",
    "organizations": "organization",
}

router = SimpleRouter(trailing_slash=True)
router.register("timeline", views.EntryViewSet, basename="entry")

app_name = "timeline-api"
urlpatterns = [
    *(
        path(
            f"{plural}/<int:pk>/timeline/",
            views.SubjectTimelineView.as_view(subject_type=type_name),
            name=f"{type_name}-timeline",
        )
        for plural, type_name in VIEWS_360.items()
    ),
    *router.urls,
]
