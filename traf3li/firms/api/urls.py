from django.urls import path

from traf3li.firms.api.views import FirmSettingsView

app_name = "firms-api"
urlpatterns = [path("firm/", FirmSettingsView.as_view(), name="firm-settings")]
