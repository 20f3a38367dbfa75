from rest_framework import serializers

from traf3li.api.bounds import MAX_LINE
from traf3li.firms.models import MAX_RETENTION_DAYS, Firm


class RetentionSettingsSerializer(serializers.ModelSerializer):
    """How long the firm keeps what ages out; the daily purge (``privacy.retention``) goes by these.
    Admins only, like every firm setting; a case or client under legal hold is never purged."""

    email_events_days = serializers.IntegerField(
        source="retention_email_events_days", min_value=1, max_value=MAX_RETENTION_DAYS
    )
    case_audit_years = serializers.IntegerField(source="retention_case_audit_years", min_value=1, max_value=100)
    unmatched_inbox_days = serializers.IntegerField(
        source="retention_unmatched_inbox_days", min_value=1, max_value=MAX_RETENTION_DAYS
    )
    webhook_deliveries_days = serializers.IntegerField(
        source="retention_webhook_deliveries_days", min_value=1, max_value=MAX_RETENTION_DAYS
    )

    class Meta:
        model = Firm
        fields = ["email_events_days", "case_audit_years", "unmatched_inbox_days", "webhook_deliveries_days"]


class FirmSettingsSerializer(serializers.ModelSerializer):
    """The firm's own settings; ``timezone`` is an IANA name (``Asia/Riyadh``), ``language`` ``en``, ``ar`` or blank;
    ``retention`` the retention settings (days, and years for a case's audit)."""

    retention = RetentionSettingsSerializer(source="*", required=False)

    class Meta:
        model = Firm
        fields = [
            "id", "slug", "name", "timezone", "vat_number", "address", "language", "phone_region", "retention",
            "created_at",
        ]  # fmt: skip
        read_only_fields = ["id", "slug", "created_at"]
        extra_kwargs = {"address": {"max_length": MAX_LINE}}
