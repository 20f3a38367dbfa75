from django.urls import path

from privacy.api import views

app_name = "privacy-api"
urlpatterns = [
    path("privacy/erase/", views.PrivacyEraseView.as_view(), name="erase"),
    path("privacy/export/", views.PrivacyExportView.as_view(), name="export"),
]
