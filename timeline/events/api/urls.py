from django.urls import path
from rest_framework.routers import DefaultRouter

from timeline.events.api import views

router = DefaultRouter(trailing_slash=True)
router.register("events", views.EventViewSet, basename="event")

app_name = "events-api"
urlpatterns = [
    path("me/calendar-feed/", views.CalendarFeedView.as_view(), name="calendar-feed-token"),
    *router.urls,
]
