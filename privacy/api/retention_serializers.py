from rest_framework import serializers


class RetentionPartSerializer(serializers.Serializer):
    name = serializers.CharField(help_text="The dropped partition, or the table a statement deleted from.")
    removed = serializers.IntegerField()
    oldest = serializers.DateTimeField(allow_null=True)
    newest = serializers.DateTimeField(allow_null=True)
    sha256 = serializers.CharField(help_text="sha256 of the removed ids, ascending, as decimal text joined by commas.")


class RetentionTableSerializer(serializers.Serializer):
    model = serializers.CharField(help_text='"messaging.EmailEvent", "audit.AuditEvent" …')
    method = serializers.CharField(help_text='"partition" (whole months dropped) or "delete" (row by row).')
    before = serializers.DateTimeField(help_text="The cut-off: what is older goes.")
    removed = serializers.IntegerField()
    kept_under_hold = serializers.IntegerField()
    oldest = serializers.DateTimeField(allow_null=True)
    newest = serializers.DateTimeField(allow_null=True)
    partitions_dropped = serializers.ListField(child=serializers.CharField())
    sha256 = serializers.CharField(help_text="sha256 of the parts' digests joined by newlines, in order.")
    parts = RetentionPartSerializer(many=True)


class RetentionSettingsOutSerializer(serializers.Serializer):
    email_events_days = serializers.IntegerField()
    case_audit_years = serializers.IntegerField()
    unmatched_inbox_days = serializers.IntegerField()
    webhook_deliveries_days = serializers.IntegerField()


class RetentionRunSerializer(serializers.Serializer):
    """What a purge removed (its receipt) or, for the dry run, would remove now."""

    dry_run = serializers.BooleanField()
    at = serializers.DateTimeField()
    settings = RetentionSettingsOutSerializer()
    tables = RetentionTableSerializer(many=True)
    removed = serializers.IntegerField()
    kept_under_hold = serializers.IntegerField()
