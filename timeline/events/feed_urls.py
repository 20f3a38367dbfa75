"""``/calendar/<token>.ics`` on a firm's host: outside the API, since calendar apps send no credentials."""

from django.urls import re_path

from timeline.events.api.views import calendar_feed

urlpatterns = [
    re_path(r"^calendar/(?P<token>[A-Za-z0-9_-]{16,128})\.ics$", calendar_feed, name="calendar-feed"),
]
