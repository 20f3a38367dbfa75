from django.urls import path

from privacy.api import retention_views, views

app_name = "privacy-api"
urlpatterns = [
    path("privacy/erase/", views.PrivacyEraseView.as_view(), name="erase"),
    path("privacy/erase/<str:erasure_id>/", views.PrivacyEraseStatusView.as_view(), name="erase-status"),
    path("privacy/export/", views.PrivacyExportView.as_view(), name="export"),
    path("privacy/retention/dry-run/", retention_views.RetentionDryRunView.as_view(), name="retention-dry-run"),
    path("privacy/export/download/<str:token>/", views.PrivacyExportDownloadView.as_view(), name="export-download"),
    path("privacy/export/<str:export_id>/", views.PrivacyExportStatusView.as_view(), name="export-status"),
]
